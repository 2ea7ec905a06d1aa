//! A chaos soak (`docs/reliability.md`): a mixed workload of processes of every start method
//! (a shared queue in and out, a pipe each, a lock around a shared counter, a managed list),
//! a pool and a manager, while the parent SIGKILLs random workers and pool workers. Then
//! checks what mp promises under faults: no wait outlives its bound, no queue item is
//! duplicated and at most one is lost per kill, every error is of a documented kind, and no
//! zombie, descriptor, `/dev/shm` entry or manager server is left behind.
//!
//! Ignored by default (it runs for a while): `.ci/run` runs it for 120 s,
//! `CHAOS_SECONDS=600 cargo test --release -p mp-tests --test chaos_soak -- --ignored` longer.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mp::managers::ListProxy;
use mp::queues::TryGetError;
use mp::sharedctypes::RawValue;
use mp::{Connection, ErrorKind, Lock, Process, Queue, StartMethod};

mod sync_common;
use sync_common::{dev_shm, open_fds};

/// Every wait of the soak is bounded by this: a wait that outlives it is a hang, and fails.
const BOUND: Duration = Duration::from_secs(30);

/// How a worker ended, besides being killed.
const EXIT_OK: i32 = 0;
const EXIT_UNDOCUMENTED: i32 = 3;
const EXIT_HUNG: i32 = 4;

/// The error kinds a survivor may see when a peer is killed: documented in
/// `docs/reliability.md`.
fn documented(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::OwnerDied | ErrorKind::Empty | ErrorKind::WorkerLost | ErrorKind::Eof
    )
}

/// A worker: takes items until `None`, and for each bumps the counter under the lock, appends
/// it to the managed list, tells the parent through its pipe, and puts it out.
#[mp::task]
fn worker(
    input: Queue<Option<u64>>,
    output: Queue<u64>,
    lock: Lock,
    counter: RawValue<u64>,
    list: ListProxy<u64>,
    pipe: Connection,
) -> i32 {
    let fail = |e: mp::Error| {
        eprintln!("worker {}: {e}", std::process::id());
        if documented(e.kind()) {
            EXIT_OK
        } else {
            EXIT_UNDOCUMENTED
        }
    };
    loop {
        let item = match input.get_timeout(BOUND) {
            Ok(Some(x)) => x,
            Ok(None) => return EXIT_OK,
            Err(TryGetError::Empty) => return EXIT_HUNG,
            Err(e) => return fail(e.into()),
        };
        let locked = match lock.acquire_timeout(BOUND) {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::OwnerDied => {
                // A worker died holding it: what it guards (a counter) is consistent at
                // every step, so take the lock over.
                lock.recover();
                match lock.acquire_timeout(BOUND) {
                    Ok(l) => l,
                    Err(e) => return fail(e),
                }
            }
            Err(e) => return fail(e),
        };
        if !locked {
            return EXIT_HUNG;
        }
        // The manager call inside the lock widens the window in which a kill leaves the
        // lock to a dead holder.
        let bumped = counter
            .get()
            .and_then(|n| counter.set(n + 1))
            .and_then(|()| list.append(item));
        if let Err(e) = lock.release() {
            return fail(e);
        }
        if let Err(e) = bumped {
            return fail(e);
        }
        if let Err(e) = pipe.send(&item) {
            return fail(e);
        }
        if let Err(e) = output.put(item) {
            return fail(e.into());
        }
    }
}

/// A pool task that takes a moment, so that some kills find it running.
#[mp::task]
fn square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(x % 4));
    x * x
}

/// What became of the pool's tasks.
#[derive(Default)]
struct PoolTally {
    ok: usize,
    lost: usize,
    undocumented: Vec<String>,
}

impl PoolTally {
    /// Takes a task's result: right, or `WorkerLost` (its worker was killed).
    fn settle(&mut self, x: u64, r: &mp::AsyncResult<u64>) {
        match r.get_timeout(BOUND) {
            Ok(v) => {
                assert_eq!(v, x * x);
                self.ok += 1;
            }
            Err(e) if e.kind() == ErrorKind::WorkerLost => self.lost += 1,
            Err(e) => self.undocumented.push(format!("pool: {e}")),
        }
    }
}

struct Worker {
    process: Process,
    pipe: Connection,
}

/// A small xorshift generator (no dependency; seeded from the clock, printed for replays).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn zombies() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str()) {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn kill(pid: i32) {
    // SAFETY: SIGKILL to a child of this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[mp::test]
#[ignore = "a soak: run by .ci/run with CHAOS_SECONDS=120"]
fn chaos_soak() {
    let secs: u64 = std::env::var("CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("chaos soak: {secs} s, seed {seed}");
    let mut rng = Rng(seed);
    let methods = mp::get_all_start_methods();
    let shm_before = dev_shm();

    let manager = mp::Manager().unwrap();
    let manager_pid = manager.pid().unwrap();
    let input: Queue<Option<u64>> = Queue::new(0).unwrap();
    let output: Queue<u64> = Queue::new(0).unwrap();
    let lock = Lock::new().unwrap();
    let counter = RawValue::new(0u64).unwrap();
    let list: ListProxy<u64> = manager.list().unwrap();
    let pool = mp::Pool::new(2).unwrap();
    // Descriptors are counted once everything long-lived exists.
    let fds_before = open_fds();

    let start_worker = |method: StartMethod| {
        let (r, w) = mp::Pipe(false).unwrap();
        let process = Process::builder(
            worker,
            (
                input.clone(),
                output.clone(),
                lock.clone(),
                counter.clone(),
                list.clone(),
                w,
            ),
        )
        .start_method(method)
        .start()
        .unwrap();
        Worker { process, pipe: r }
    };

    let mut workers: Vec<Worker> = (0..4)
        .map(|i| start_worker(methods[i % methods.len()]))
        .collect();
    let mut produced = 0u64;
    let mut outputs: Vec<u64> = Vec::new();
    let mut piped: Vec<u64> = Vec::new();
    let mut kills = 0usize;
    let mut pool_results = Vec::new();
    let mut pool_kills = 0usize;
    let mut tally = PoolTally::default();
    let drain_pipe = |w: &Worker, piped: &mut Vec<u64>| {
        while w.pipe.poll().unwrap_or(false) {
            match w.pipe.recv::<u64>() {
                Ok(x) => piped.push(x),
                Err(_) => break, // EOF: the worker is gone
            }
        }
    };

    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut next_kill = Instant::now() + Duration::from_millis(50 + rng.below(150));
    while Instant::now() < deadline {
        // Keep work queued.
        while input.qsize() < 32 {
            input.put(Some(produced)).unwrap();
            produced += 1;
        }
        while let Ok(x) = output.get_timeout(Duration::from_millis(2)) {
            outputs.push(x);
        }
        for w in &workers {
            drain_pipe(w, &mut piped);
        }
        // Pool tasks, some of whose workers die.
        if pool_results.len() < 8 {
            let x = rng.below(1000);
            pool_results.push((x, pool.apply_async(square, (x,)).unwrap()));
        }
        pool_results.retain(|(x, r): &(u64, mp::AsyncResult<u64>)| {
            if !r.ready() {
                return true;
            }
            tally.settle(*x, r);
            false
        });
        if Instant::now() >= next_kill {
            next_kill = Instant::now() + Duration::from_millis(50 + rng.below(150));
            if rng.below(4) == 0 {
                let pids = pool.worker_pids();
                if !pids.is_empty() {
                    kill(pids[rng.below(pids.len() as u64) as usize]);
                    pool_kills += 1;
                }
            } else {
                let i = rng.below(workers.len() as u64) as usize;
                let w = workers.swap_remove(i);
                w.process.kill().unwrap();
                w.process.join_timeout(BOUND).unwrap();
                assert_eq!(
                    w.process.exitcode(),
                    Some(-9),
                    "a killed worker's exit code"
                );
                drain_pipe(&w, &mut piped);
                kills += 1;
                let m = methods[rng.below(methods.len() as u64) as usize];
                workers.push(start_worker(m));
            }
        }
    }

    // Stop: one `None` per worker, after every item.
    for _ in &workers {
        input.put(None).unwrap();
    }
    let stop_by = Instant::now() + BOUND;
    for w in &workers {
        let left = stop_by.saturating_duration_since(Instant::now());
        w.process.join_timeout(left).unwrap();
        let code = w.process.exitcode();
        assert!(code.is_some(), "a worker hung at the end");
        match code {
            Some(EXIT_OK) => {}
            Some(EXIT_UNDOCUMENTED) => tally
                .undocumented
                .push("a worker saw an undocumented error".into()),
            Some(EXIT_HUNG) => panic!("a worker's wait ran out: a hang"),
            other => panic!("a worker ended with {other:?}"),
        }
        drain_pipe(w, &mut piped);
    }
    while let Ok(x) = output.get_timeout(Duration::from_millis(50)) {
        outputs.push(x);
    }
    for (x, r) in &pool_results {
        tally.settle(*x, r);
    }
    println!(
        "chaos soak: {produced} items, {} out, {kills} workers and {pool_kills} pool workers \
         killed; pool tasks {} done, {} lost",
        outputs.len(),
        tally.ok,
        tally.lost
    );

    // No duplicates; at most one item lost per killed worker.
    let distinct: HashSet<u64> = outputs.iter().copied().collect();
    assert_eq!(distinct.len(), outputs.len(), "a queue item came out twice");
    assert!(outputs.iter().all(|x| *x < produced), "an item nobody put");
    let lost = produced as usize - outputs.len();
    assert!(lost <= kills, "{lost} items lost for {kills} kills");
    // The pipe, the counter and the list saw every output, and at most one more per kill.
    let piped_set: HashSet<u64> = piped.iter().copied().collect();
    assert_eq!(piped_set.len(), piped.len(), "a pipe message came twice");
    assert!(
        distinct.is_subset(&piped_set),
        "an item put out but not piped"
    );
    assert!(piped.len() <= outputs.len() + kills);
    let count = counter.get().unwrap() as usize;
    assert!(
        count >= outputs.len() && count <= outputs.len() + kills,
        "counter {count}"
    );
    let listed = list.copy().unwrap();
    let listed_set: HashSet<u64> = listed.iter().copied().collect();
    assert_eq!(listed_set.len(), listed.len(), "a list append came twice");
    assert!(distinct.is_subset(&listed_set));
    assert!(listed.len() <= outputs.len() + kills);
    assert!(tally.ok > 0, "the pool did no work");
    assert!(
        tally.undocumented.is_empty(),
        "undocumented errors: {:?}",
        tally.undocumented
    );

    // Nothing left behind.
    drop(workers);
    drop(pool);
    drop(list);
    manager.shutdown().unwrap();
    let by = Instant::now() + BOUND;
    while alive(manager_pid) || !zombies().is_empty() {
        assert!(
            Instant::now() < by,
            "left behind: manager alive {}, zombies {:?}",
            alive(manager_pid),
            zombies()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop((input, output, lock, counter));
    let by = Instant::now() + BOUND;
    loop {
        let leaked: Vec<String> = dev_shm().difference(&shm_before).cloned().collect();
        let fd_now = open_fds();
        if leaked.is_empty() && fd_now <= fds_before {
            break;
        }
        assert!(
            Instant::now() < by,
            "left behind: /dev/shm {leaked:?}, descriptors {fd_now} (were {fds_before})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
