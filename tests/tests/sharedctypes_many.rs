//! Thousands of shared objects: `Value`s, `Array`s and locks live in blocks of shared arenas
//! (CPython's `multiprocessing.heap`), so they cost no descriptor each. 10,000 `Value`s and
//! 10,000 `Lock`s fit under a descriptor limit of 1,024, a child receives 1,000 of them in its
//! arguments under every start method, freed blocks are reused, and a block stays alive while
//! any process holds it.
//!
//! The tests of this file lower the process's descriptor limit: they run one at a time.

use mp::{Array, Connection, Lock, Process, Queue, RawValue, Value};
use mp_tests::{TIMEOUT, count_open_fds, global_lock, join, methods};

/// Sets the soft descriptor limit; returns the old one.
fn set_fd_limit(n: u64) -> u64 {
    // SAFETY: `rlimit` is plain data, filled by getrlimit and read by setrlimit.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        let old = r.rlim_cur;
        r.rlim_cur = n.min(r.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
        old
    }
}

/// The arenas this process has open (memfds named `mp-arena`).
fn open_arenas() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().contains("memfd:mp-arena"))
        .count()
}

#[mp::task]
fn touch_all(values: Vec<Value<u64>>, locks: Vec<Lock>, report: Connection) {
    for v in &values {
        let mut g = v.lock().unwrap();
        *g += 1;
    }
    let taken = locks.iter().filter(|l| l.try_acquire().unwrap()).count();
    report.send(&(taken, mp_tests::count_open_fds())).unwrap();
}

#[mp::test]
fn ten_thousand_values_and_locks_under_a_limit_of_1024_descriptors() {
    let _g = global_lock();
    let old = set_fd_limit(1024);
    let before = count_open_fds();
    let values: Vec<Value<u64>> = (0..10_000u64).map(|i| Value::new(i).unwrap()).collect();
    let locks: Vec<Lock> = (0..10_000).map(|_| Lock::new().unwrap()).collect();
    // A handful of arenas, not 30,000 descriptors.
    let used = count_open_fds() - before;
    assert!(used <= 16, "{used} descriptors for 20,000 objects");
    for m in methods() {
        let (r, w) = mp::Pipe(false).unwrap();
        let some: Vec<Value<u64>> = values.iter().step_by(10).cloned().collect();
        let some_locks: Vec<Lock> = locks.iter().step_by(10).cloned().collect();
        assert_eq!(some.len(), 1000);
        let p = Process::builder(touch_all, (some, some_locks, w))
            .start_method(m)
            .start()
            .unwrap();
        assert!(r.poll_timeout(TIMEOUT).unwrap(), "{m}: no report");
        let (taken, child_fds): (usize, usize) = r.recv().unwrap();
        assert_eq!(join(&p), Some(0), "{m}");
        assert_eq!(taken, 1000, "{m}");
        // The child got its 1,000 objects through a few arena descriptors.
        assert!(
            child_fds < 64,
            "{m}: the child has {child_fds} descriptors open"
        );
        for l in locks.iter().step_by(10) {
            assert!(l.locked(), "{m}");
            l.release().unwrap();
        }
    }
    let n = methods().len() as u64;
    for (i, v) in values.iter().enumerate() {
        let bump = if i % 10 == 0 { n } else { 0 };
        assert_eq!(v.get().unwrap(), i as u64 + bump);
    }
    drop((values, locks));
    set_fd_limit(old);
}

#[mp::test]
fn freed_blocks_are_reused() {
    let _g = global_lock();
    // Warm up: the arenas of whatever earlier tests left.
    drop(Value::new(0u64).unwrap());
    let arenas = open_arenas();
    for i in 0..50_000u64 {
        let v = Value::new(i).unwrap();
        let l = Lock::new().unwrap();
        let a = Array::<u8>::new(100).unwrap();
        assert_eq!(v.get().unwrap(), i);
        // A reused block starts zeroed, as a new one.
        assert!(a.to_vec().unwrap().iter().all(|&b| b == 0));
        a.set(0, 1).unwrap();
        drop((v, l, a));
    }
    assert!(
        open_arenas() <= arenas + 1,
        "{} arenas after 150,000 objects made and dropped (from {arenas})",
        open_arenas()
    );
}

#[mp::task]
fn hold_then_read(v: RawValue<u64>, go: Connection, out: Connection) {
    // Wait until the parent dropped its handle and made new objects.
    let _: () = go.recv().unwrap();
    out.send(&v.get().unwrap()).unwrap();
}

#[mp::test]
fn a_block_lives_while_any_process_holds_it() {
    let _g = global_lock();
    for m in methods() {
        let (go_r, go_w) = mp::Pipe(false).unwrap();
        let (out_r, out_w) = mp::Pipe(false).unwrap();
        let v = RawValue::new(42u64).unwrap();
        let p = Process::builder(hold_then_read, (v, go_r, out_w))
            .start_method(m)
            .start()
            .unwrap();
        // The parent's handle went with the arguments. New objects of the same size must not
        // take the child's block.
        let fresh: Vec<RawValue<u64>> = (0..1000).map(|_| RawValue::new(7).unwrap()).collect();
        go_w.send(&()).unwrap();
        assert!(out_r.poll_timeout(TIMEOUT).unwrap(), "{m}");
        assert_eq!(out_r.recv::<u64>().unwrap(), 42, "{m}");
        assert_eq!(join(&p), Some(0), "{m}");
        assert!(fresh.iter().all(|f| f.get().unwrap() == 7), "{m}");
    }
}

#[mp::test]
fn a_block_in_a_queue_outlives_its_sender_s_handle() {
    let _g = global_lock();
    let q: Queue<RawValue<u64>> = Queue::new(0).unwrap();
    let v = RawValue::new(99u64).unwrap();
    q.put(v).unwrap();
    // The queue's item holds the only reference: new objects do not take its block.
    let fresh: Vec<RawValue<u64>> = (0..1000).map(|_| RawValue::new(5).unwrap()).collect();
    let got = q.get_timeout(TIMEOUT).unwrap();
    assert_eq!(got.get().unwrap(), 99);
    assert!(fresh.iter().all(|f| f.get().unwrap() == 5));
}

#[mp::task]
fn sum_of(values: Vec<RawValue<u64>>) -> u64 {
    values.iter().map(|v| v.get().unwrap()).sum()
}

#[mp::test]
fn a_pool_s_tasks_and_initializer_take_shared_objects() {
    let _g = global_lock();
    for m in methods() {
        let pool = mp::Pool::builder()
            .processes(2)
            .start_method(m)
            .build()
            .unwrap();
        let values: Vec<RawValue<u64>> = (1..=100).map(|i| RawValue::new(i).unwrap()).collect();
        assert_eq!(pool.apply(sum_of, (values.clone(),)).unwrap(), 5050, "{m}");
        let chunks: Vec<(Vec<RawValue<u64>>,)> = values.chunks(10).map(|c| (c.to_vec(),)).collect();
        let sums = pool.starmap(sum_of, chunks).unwrap();
        assert_eq!(sums.iter().sum::<u64>(), 5050, "{m}");
        pool.close().unwrap();
        pool.join().unwrap();
        // The values are intact after the workers are gone.
        assert_eq!(
            values.iter().map(|v| v.get().unwrap()).sum::<u64>(),
            5050,
            "{m}"
        );
    }
    let arenas = open_arenas();
    for _ in 0..10_000 {
        drop(RawValue::new(1u64).unwrap());
    }
    assert!(open_arenas() <= arenas + 1);
}
