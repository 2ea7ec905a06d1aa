//! A walk through mp's queues (Python's `multiprocessing.queues`): `Queue`, `JoinableQueue`,
//! `SimpleQueue`, across processes of every start method.
//!
//! `cargo run -p mp-examples --example tour -- queues`

use std::time::{Duration, Instant};

use mp::queues::{TryGetError, TryPutError};
use mp::{Connection, JoinableQueue, Process, Queue, SimpleQueue, StartMethod};

#[mp::task]
fn hello(q: Queue<String>) -> mp::Result<()> {
    q.put(format!("hello from {}", mp::current_process().name()))?;
    Ok(())
}

#[mp::task]
fn worker(jobs: JoinableQueue<Option<u64>>, results: SimpleQueue<(u64, u64)>) -> mp::Result<()> {
    while let Some(n) = jobs.get()? {
        results.put((n, n * n))?;
        jobs.task_done()?;
    }
    jobs.task_done()?;
    Ok(())
}

#[mp::task]
fn put_a_megabyte(q: Queue<String>) -> mp::Result<()> {
    q.put("X".repeat(1_000_000))?;
    Ok(())
}

#[mp::task]
fn echo_on(q: Queue<Connection>) -> mp::Result<()> {
    let conn = q.get()?;
    let msg: String = conn.recv()?;
    conn.send(&msg.to_uppercase())?;
    Ok(())
}

#[mp::task]
fn produce(q: Queue<u64>, n: u64) -> mp::Result<()> {
    for i in 0..n {
        q.put(i)?;
    }
    Ok(())
}

pub(crate) fn run() -> mp::Result<()> {
    println!("== Queue basics (no feeder thread: put copies into shared memory)");
    let q = Queue::new(2)?;
    q.put(1)?;
    q.put(2)?;
    println!("qsize={} empty={} full={}", q.qsize(), q.empty()?, q.full());
    match q.put_nowait(3) {
        Err(TryPutError::Full(item)) => println!("put_nowait(3) -> Full, item {item} handed back"),
        other => panic!("{other:?}"),
    }
    println!("get -> {}, get -> {}", q.get()?, q.get()?);
    let t = Instant::now();
    match q.get_timeout(Duration::from_millis(50)) {
        Err(TryGetError::Empty) => println!("get_timeout(50ms) -> Empty after {:?}", t.elapsed()),
        other => panic!("{other:?}"),
    }

    println!("== one queue, children of every start method");
    let q = Queue::new(0)?;
    for method in mp::get_all_start_methods() {
        let p = Process::builder(hello, (q.clone(),))
            .start_method(method)
            .build();
        p.start()?;
        p.join()?;
        println!("{method}: {}", q.get()?);
    }

    println!("== JoinableQueue: workers, task_done and join");
    let jobs = JoinableQueue::new(0)?;
    let results = SimpleQueue::new()?;
    let workers: Vec<Process> = (0..2)
        .map(|_| Process::new(worker, (jobs.clone(), results.clone())))
        .collect();
    for p in &workers {
        p.start()?;
    }
    for n in 1..=5 {
        jobs.put(Some(n))?;
    }
    jobs.join()?;
    let mut squares: Vec<(u64, u64)> = (0..5).map(|_| results.get()).collect::<Result<_, _>>()?;
    squares.sort();
    println!("join() returned; squares: {squares:?}");
    for _ in &workers {
        jobs.put(None)?;
    }
    for p in &workers {
        p.join()?;
    }
    assert_eq!(squares, [(1, 1), (2, 4), (3, 9), (4, 16), (5, 25)]);

    println!("== shutdown (Python 3.14)");
    let q = Queue::new(0)?;
    q.put("last".to_string())?;
    q.shutdown(false)?;
    println!(
        "after shutdown: put -> {}, get -> {:?}, get again -> {}",
        q.put("more".into()).unwrap_err(),
        q.get()?,
        q.get().unwrap_err()
    );

    println!("== put and exit: the deadlock of CPython's guidelines does not happen");
    let q = Queue::new(0)?;
    let p = Process::new(put_a_megabyte, (q.clone(),));
    p.start()?;
    p.join()?; // CPython deadlocks here
    println!(
        "child joined with exit code {:?}, then got {} bytes",
        p.exitcode(),
        q.get()?.len()
    );

    println!("== handles inside items");
    let q = Queue::new(0)?;
    let p = Process::builder(echo_on, (q.clone(),))
        .start_method(StartMethod::Spawn)
        .build();
    p.start()?;
    let (ours, theirs) = mp::Pipe(true)?;
    q.put(theirs)?;
    ours.send(&"a connection travelled through the queue".to_string())?;
    println!("{}", ours.recv::<String>()?);
    p.join()?;

    println!("== throughput, one producer process and one consumer");
    let q = Queue::new(0)?;
    let n = 200_000;
    let p = Process::new(produce, (q.clone(), n));
    p.start()?;
    let t = Instant::now();
    for i in 0..n {
        assert_eq!(q.get()?, i);
    }
    let e = t.elapsed();
    p.join()?;
    println!(
        "{n} messages in {e:?}: {:.2} M msg/s (CPython: ~0.26){}",
        n as f64 / e.as_secs_f64() / 1e6,
        if cfg!(debug_assertions) {
            "; this is a debug build, use --release for the real figure"
        } else {
            ""
        }
    );
    Ok(())
}
