//! The `WithThreadsPool` variant of CPython's pool tests (CONFORMANCE sections 15 and 17),
//! ported to `mp::dummy::Pool` (Python's `ThreadPool`).
//!
//! Source: `Lib/test/_test_multiprocessing.py` of python/cpython (`_TestPool`,
//! `_TestPoolWorkerErrors`, `_TestPoolWorkerLifetime`, `TestInitializers`), main branch at
//! 00811485ee5f. Copyright (c) 2001-2024 Python Software Foundation; All Rights Reserved; used
//! under the PSF License Agreement. Only the behaviours are ported, not the code.
//!
//! Tweaks: targets are `#[mp::task]` fns (called directly in the worker threads); "the
//! exception type" is mp's error kind (`Remote` for a task's failure, as `mp::Pool`), with the
//! task's own message; `terminate` fails pending results with `ShutDown` (as `mp::Pool`);
//! every wait is bounded; timing asserts keep CPython's lower bounds only.

use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::dummy::{Pool, Queue};
use mp::pool::RemoteTraceback;

const LONG: Duration = Duration::from_secs(60);

#[mp::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[mp::task]
fn sqr_wait(x: i64, wait_ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(wait_ms));
    x * x
}

#[mp::task]
fn mul(x: i64, y: i64) -> i64 {
    x * y
}

#[mp::task]
fn raising() -> Result<(), String> {
    Err("key".into())
}

#[mp::task]
fn panicking(x: i64) -> i64 {
    if x == 7 {
        panic!("seven is not allowed");
    }
    x
}

#[mp::task]
fn failing(x: i64) -> Result<i64, String> {
    if x % 10 == 3 {
        Err(format!("{x} ends in 3"))
    } else {
        Ok(x)
    }
}

#[mp::task]
fn tid() -> i32 {
    mp::dummy::current_process().ident()
}

#[mp::task]
fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// `_TestPool.test_apply`, `test_map`, `test_starmap`, `test_starmap_async`, `test_map_async`.
#[test]
fn results_equal_the_serial_ones() -> mp::Result<()> {
    let pool = Pool::new(4)?;
    assert_eq!(pool.apply(sqr, (5,))?, 25);
    assert_eq!(pool.apply(mul, (3, 4))?, 12);
    let serial: Vec<i64> = (0..10).map(|x| x * x).collect();
    assert_eq!(pool.map(sqr, 0..10)?, serial);
    let serial: Vec<i64> = (0..100).map(|x| x * x).collect();
    assert_eq!(pool.chunksize(20).map(sqr, 0..100)?, serial);
    let pairs: Vec<(i64, i64)> = (0..10).map(|i| (i, i + 1)).collect();
    let want: Vec<i64> = pairs.iter().map(|(a, b)| a * b).collect();
    assert_eq!(pool.starmap(mul, pairs.clone())?, want);
    assert_eq!(pool.chunksize(3).starmap(mul, pairs.clone())?, want);
    assert_eq!(
        pool.starmap_async(mul, pairs.clone())?.get_timeout(LONG)?,
        want
    );
    assert_eq!(
        pool.chunksize(4)
            .starmap_async(mul, pairs)?
            .get_timeout(LONG)?,
        want
    );
    assert_eq!(
        pool.map_async(sqr, 0..10)?.get_timeout(LONG)?,
        (0..10).map(|x| x * x).collect::<Vec<_>>()
    );
    Ok(())
}

/// `_TestPool.test_map_async_callbacks`.
#[test]
fn map_async_callbacks() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let r = pool
        .map_async(sqr, 0..5)?
        .callback(move |v| tx.send(Ok(v.clone())).expect("send"))
        .error_callback(move |e| tx2.send(Err(e.kind())).expect("send"));
    r.wait_timeout(LONG);
    assert_eq!(
        rx.recv_timeout(LONG).expect("callback"),
        Ok(vec![0, 1, 4, 9, 16])
    );
    assert!(rx.try_recv().is_err(), "callback called once");
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let r = pool
        .map_async(failing, 0..5)?
        .callback(move |v| tx.send(Ok(v.len())).expect("send"))
        .error_callback(move |e| tx2.send(Err(e.kind())).expect("send"));
    assert!(r.get_timeout(LONG).is_err());
    assert_eq!(
        rx.recv_timeout(LONG).expect("callback"),
        Err(ErrorKind::Remote)
    );
    assert!(rx.try_recv().is_err());
    Ok(())
}

/// `_TestPool.test_map_chunksize` and `test_empty_iterable`.
#[test]
fn empty_inputs() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    assert!(
        pool.chunksize(1)
            .map_async(sqr, Vec::new())?
            .get_timeout(LONG)?
            .is_empty()
    );
    assert!(pool.map(sqr, Vec::new())?.is_empty());
    assert!(
        pool.map_async(sqr, Vec::new())?
            .get_timeout(LONG)?
            .is_empty()
    );
    assert_eq!(pool.imap(sqr, Vec::new())?.count(), 0);
    assert_eq!(pool.imap_unordered(sqr, Vec::new())?.count(), 0);
    Ok(())
}

/// An input iterator that panics at `at`, like Python's `SayWhenError` iterables.
fn exploding(at: i64) -> impl Iterator<Item = i64> + Send + 'static {
    (0..).inspect(move |&i| {
        if i == at {
            panic!("Somebody said when");
        }
    })
}

/// `_TestPool.test_map_handle_iterable_exception`: the error propagates, the pool stays usable.
#[test]
fn map_handles_iterable_exceptions() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    for at in [0, 5] {
        let e = pool.map(sqr, exploding(at)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Runtime);
        assert!(e.to_string().contains("Somebody said when"), "{e}");
        assert!(
            e.source().is_none(),
            "the caller's own error is not chained"
        );
        let e = pool.chunksize(1).map(sqr, exploding(at)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Runtime);
    }
    assert_eq!(pool.map(sqr, 0..3)?, [0, 1, 4]);
    Ok(())
}

/// `_TestPool.test_async` and `test_async_timeout`.
#[test]
fn async_results() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    let r = pool.apply_async(sqr_wait, (7, 100))?;
    assert_eq!(r.get_timeout(LONG)?, 49);
    assert!(r.ready());
    assert!(r.successful()?);
    let r = pool.apply_async(sqr_wait, (6, 1000))?;
    assert_eq!(r.successful().unwrap_err().kind(), ErrorKind::Value);
    let t = Instant::now();
    assert_eq!(
        r.get_timeout(Duration::from_millis(100))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(!r.wait_timeout(Duration::from_millis(10)));
    assert_eq!(r.get_timeout(LONG)?, 36);
    assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Value, "taken once");
    Ok(())
}

/// `_TestPool.test_imap` and `test_imap_unordered`.
#[test]
fn imap() -> mp::Result<()> {
    let pool = Pool::new(3)?;
    let mut it = pool.imap(sqr, 0..10)?;
    for i in 0..10 {
        assert_eq!(it.next().expect("an item")?, i * i);
    }
    assert!(it.next().is_none());
    let mut it = pool.chunksize(100).imap(sqr, 0..1000)?;
    for i in 0..1000 {
        assert_eq!(it.next_timeout(LONG).expect("an item")?, i * i);
    }
    assert!(it.next().is_none());
    let mut v: Vec<i64> = pool
        .imap_unordered(sqr, 0..100)?
        .collect::<mp::Result<_>>()?;
    v.sort_unstable();
    assert_eq!(v, (0..100).map(|x| x * x).collect::<Vec<_>>());
    let mut v: Vec<i64> = pool
        .chunksize(53)
        .imap_unordered(sqr, 0..1000)?
        .collect::<mp::Result<_>>()?;
    v.sort_unstable();
    assert_eq!(v.len(), 1000);
    // An endless input is read lazily.
    let mut endless = pool.imap(sqr, 0..)?;
    assert_eq!(endless.next().expect("item")?, 0);
    assert_eq!(endless.next().expect("item")?, 1);
    drop(endless);
    assert_eq!(
        pool.chunksize(0).imap(sqr, 0..1).unwrap_err().kind(),
        ErrorKind::Value
    );
    Ok(())
}

/// `_TestPool.test_imap_handle_iterable_exception` and the unordered variant.
#[test]
fn imap_handles_iterable_exceptions() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    let mut it = pool.imap(sqr, exploding(10))?;
    for i in 0..10 {
        assert_eq!(it.next_timeout(LONG).expect("item")?, i * i);
    }
    let e = it.next_timeout(LONG).expect("the error").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Runtime);
    assert!(it.next_timeout(LONG).is_none());
    // With a chunksize, every result of the completed chunks, then the error.
    let mut it = pool.chunksize(2).imap(sqr, exploding(10))?;
    for i in 0..10 {
        assert_eq!(it.next_timeout(LONG).expect("item")?, i * i);
    }
    assert!(it.next_timeout(LONG).expect("the error").is_err());
    let n = pool
        .imap_unordered(sqr, exploding(10))?
        .filter(|r| r.is_err())
        .count();
    assert_eq!(n, 1, "the error surfaces eventually");
    Ok(())
}

/// `_TestPool.test_make_pool` and `MiscTestCase.test_large_pool`.
#[test]
fn make_pool() -> mp::Result<()> {
    assert_eq!(Pool::new(0).unwrap_err().kind(), ErrorKind::Value);
    let p = Pool::new(3)?;
    assert_eq!(p.processes(), 3);
    p.close()?;
    p.join()?;
    let big = Pool::new(200)?;
    assert_eq!(big.map(sqr, 0..400)?.len(), 400);
    big.close()?;
    big.join()?;
    assert_eq!(Pool::builder().build()?.processes(), mp::cpu_count());
    Ok(())
}

/// `_TestPool.test_terminate`: returns promptly with many queued tasks.
#[test]
fn terminate_with_queued_work() -> mp::Result<()> {
    let pool = Pool::new(4)?;
    let results: Vec<_> = (0..10_000)
        .map(|_| pool.apply_async(nap, (50,)))
        .collect::<mp::Result<_>>()?;
    let t = Instant::now();
    pool.terminate()?;
    pool.join()?;
    assert!(t.elapsed() < Duration::from_secs(30));
    let shut = results
        .iter()
        .filter(|r| matches!(r.get_timeout(LONG), Err(e) if e.kind() == ErrorKind::ShutDown))
        .count();
    assert!(shut >= 9_990, "{shut} results were shut down");
    Ok(())
}

/// `_TestPool.test_context` / `test_enter`: after terminate (Python's `with` exit), submits
/// fail with ValueError and `join` is allowed.
#[test]
fn after_close_and_terminate() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    assert_eq!(
        pool.join().unwrap_err().to_string(),
        "Pool is still running"
    );
    pool.terminate()?;
    for e in [
        pool.map_async(sqr, [1]).unwrap_err(),
        pool.apply_async(sqr, (1,)).unwrap_err(),
        pool.imap(sqr, [1]).unwrap_err(),
        pool.starmap(mul, [(1, 2)]).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Value);
        assert_eq!(e.to_string(), "Pool not running");
    }
    pool.join()?;
    let pool = Pool::new(1)?;
    pool.close()?;
    assert_eq!(pool.map(sqr, [1]).unwrap_err().kind(), ErrorKind::Value);
    pool.join()?;
    Ok(())
}

/// `_TestPool.test_traceback` and `test_wrapped_exception` for a thread pool: the task's own
/// error (mp's kind, the task's message), with a traceback naming the worker thread.
#[test]
fn task_errors_are_not_wrapped() -> mp::Result<()> {
    let pool = Pool::new(1)?;
    let e = pool.apply(raising, ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert_eq!(e.to_string(), "task `raising` failed: key");
    let tb = e
        .source()
        .and_then(|s| s.downcast_ref::<RemoteTraceback>())
        .expect("a traceback");
    assert_eq!(tb.message(), "key");
    assert!(!tb.panicked());
    assert!(tb.task().ends_with("::raising"));
    assert!(
        tb.worker().starts_with("ThreadPoolWorker-"),
        "{}",
        tb.worker()
    );
    let e = pool.apply(panicking, (7,)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(e.to_string().contains("seven is not allowed"));
    let tb = e
        .source()
        .and_then(|s| s.downcast_ref::<RemoteTraceback>())
        .expect("a traceback");
    assert!(tb.panicked());
    assert!(
        tb.location()
            .expect("a location")
            .contains("dummy_pool.rs:")
    );
    // The index within the chunk of the failing item.
    let e = pool.chunksize(5).map(failing, 0..10).unwrap_err();
    let tb = e
        .source()
        .and_then(|s| s.downcast_ref::<RemoteTraceback>())
        .expect("a traceback");
    assert_eq!(tb.index_in_chunk(), 3);
    assert_eq!(tb.message(), "3 ends in 3");
    // A panicking task does not kill its worker.
    assert_eq!(pool.apply(panicking, (1,))?, 1);
    Ok(())
}

/// `_TestPool.test_map_no_failfast`: close + join still wait for every submitted task.
#[test]
fn map_no_failfast() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    let done = Arc::new(AtomicUsize::new(0));
    let r = pool.map_async(failing, 0..40)?;
    let d2 = done.clone();
    let slow = pool.apply_async(sqr_wait, (1, 200))?.callback(move |_| {
        d2.fetch_add(1, Ordering::SeqCst);
    });
    pool.close()?;
    pool.join()?;
    assert!(r.get().is_err());
    assert_eq!(slow.get()?, 1);
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "the callback ran before join returned"
    );
    Ok(())
}

/// `_TestPoolWorkerErrors.test_async_error_callback`.
#[test]
fn async_error_callback() -> mp::Result<()> {
    let pool = Pool::new(2)?;
    let seen: Arc<Mutex<Option<(ErrorKind, String)>>> = Default::default();
    let s2 = seen.clone();
    let r = pool
        .apply_async(raising, ())?
        .error_callback(move |e| *s2.lock().unwrap() = Some((e.kind(), e.to_string())));
    let e = r.get_timeout(LONG).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    let got = seen.lock().unwrap().clone().expect("error_callback ran");
    assert_eq!(got.0, ErrorKind::Remote);
    assert!(got.1.contains("key"));
    assert!(!r.successful()?);
    Ok(())
}

/// `_TestPoolWorkerLifetime.test_pool_worker_lifetime`: workers are replaced.
#[test]
fn maxtasksperchild() -> mp::Result<()> {
    let pool = Pool::builder().processes(3).maxtasksperchild(10).build()?;
    let results: Vec<_> = (0..100)
        .map(|_| pool.apply_async(tid, ()))
        .collect::<mp::Result<_>>()?;
    let tids: std::collections::HashSet<i32> = results
        .iter()
        .map(|r| r.get_timeout(LONG))
        .collect::<mp::Result<_>>()?;
    assert!(
        tids.len() >= 10,
        "100 tasks, 10 per worker: {} workers",
        tids.len()
    );
    assert!(tids.iter().all(|&t| t > 0));
    pool.close()?;
    pool.join()?;
    assert_eq!(
        Pool::builder()
            .maxtasksperchild(0)
            .build()
            .unwrap_err()
            .kind(),
        ErrorKind::Value
    );
    Ok(())
}

/// `_TestPoolWorkerLifetime.test_pool_worker_lifetime_early_close`.
#[test]
fn maxtasksperchild_early_close() -> mp::Result<()> {
    let pool = Pool::builder().processes(3).maxtasksperchild(1).build()?;
    let results: Vec<_> = (0..6)
        .map(|i| pool.apply_async(sqr_wait, (i, 20)))
        .collect::<mp::Result<_>>()?;
    pool.close()?;
    pool.join()?;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.get_timeout(LONG)?, (i * i) as i64);
    }
    Ok(())
}

static INITS: AtomicUsize = AtomicUsize::new(0);

#[mp::task]
fn initializer(q: Queue<i32>, n: i32) -> mp::Result<()> {
    INITS.fetch_add(1, Ordering::SeqCst);
    q.put(n)?;
    Ok(())
}

#[mp::task]
fn bad_initializer() -> Result<(), String> {
    Err("cannot initialize".into())
}

/// `TestInitializers.test_pool_initializer`: it runs in each worker.
#[test]
fn initializer_runs_in_each_worker() -> mp::Result<()> {
    let q = Queue::new(0)?;
    let pool = Pool::builder()
        .processes(3)
        .initializer(initializer, (q.clone(), 7))
        .build()?;
    for _ in 0..3 {
        assert_eq!(q.get_timeout(LONG)?, 7);
    }
    pool.close()?;
    pool.join()?;
    assert!(INITS.load(Ordering::SeqCst) >= 3);
    // A failing initializer breaks the pool.
    let pool = Pool::builder()
        .processes(2)
        .initializer(bad_initializer, ())
        .build()?;
    let t = Instant::now();
    let e = loop {
        match pool.apply_async(sqr, (1,)) {
            Err(e) => break e,
            Ok(r) => match r.get_timeout(LONG) {
                Err(e) => break e,
                Ok(_) => assert!(t.elapsed() < LONG, "the pool never broke"),
            },
        }
    };
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(e.to_string().contains("cannot initialize"), "{e}");
    Ok(())
}

/// Callbacks run in a worker thread; joining the pool from one is an error, not a deadlock.
#[test]
fn join_from_a_callback() -> mp::Result<()> {
    let pool = Arc::new(Pool::new(1)?);
    let (tx, rx) = mpsc::channel();
    let p2 = pool.clone();
    pool.apply_async(sqr, (2,))?.callback(move |_| {
        let _ = p2.close();
        tx.send(p2.join().map_err(|e| e.kind())).expect("send");
    });
    assert_eq!(
        rx.recv_timeout(LONG).expect("callback"),
        Err(ErrorKind::Runtime)
    );
    pool.join()?;
    Ok(())
}

/// `with ThreadPool() as p:` exits by terminating: dropping the pool fails what is pending and
/// waits for the running tasks.
#[test]
fn drop_terminates() -> mp::Result<()> {
    let pool = Pool::new(1)?;
    let running = pool.apply_async(sqr_wait, (3, 100))?;
    let queued = pool.apply_async(sqr_wait, (4, 100))?;
    let t = Instant::now();
    drop(pool);
    assert!(t.elapsed() < LONG);
    assert_eq!(
        queued.get_timeout(LONG).unwrap_err().kind(),
        ErrorKind::ShutDown
    );
    assert_eq!(
        running.get_timeout(LONG).unwrap_err().kind(),
        ErrorKind::ShutDown
    );
    Ok(())
}

/// Work really runs in parallel threads (I/O-style waits overlap).
#[test]
fn waits_overlap() -> mp::Result<()> {
    let pool = Pool::new(8)?;
    let t = Instant::now();
    pool.chunksize(1).map(nap, vec![200; 8])?;
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(200));
    assert!(
        e < Duration::from_millis(1600),
        "8 naps of 200 ms took {e:?}"
    );
    Ok(())
}

/// No thread is left behind: once `join` (or drop) returns, the worker threads are gone.
#[test]
fn no_leaked_threads() -> mp::Result<()> {
    let alive = |t: i32| std::path::Path::new(&format!("/proc/self/task/{t}")).exists();
    // A joined thread's kernel task may linger for a moment after `pthread_join` returns.
    let gone = |ts: &[i32]| {
        let t0 = Instant::now();
        while ts.iter().any(|&t| alive(t)) {
            if t0.elapsed() > LONG {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    };
    let pool = Pool::new(3)?;
    // Every worker has run at least one task, so that all of them reported their thread id.
    let r: Vec<_> = (0..30)
        .map(|_| pool.apply_async(sqr_wait, (1, 5)))
        .collect::<mp::Result<_>>()?;
    for x in &r {
        x.get_timeout(LONG)?;
    }
    let worker_tids = pool.worker_pids();
    assert!(!worker_tids.is_empty());
    assert!(worker_tids.iter().all(|&t| alive(t)));
    pool.close()?;
    pool.join()?;
    assert!(gone(&worker_tids), "worker threads left: {worker_tids:?}");
    let pool = Pool::new(2)?;
    pool.map(sqr, 0..100)?;
    let worker_tids = pool.worker_pids();
    drop(pool);
    assert!(
        gone(&worker_tids),
        "worker threads left after drop: {worker_tids:?}"
    );
    // A dummy Process's thread is gone once joined.
    let p = mp::dummy::Process::new(|| {}, ());
    p.start()?;
    let thread = p.ident().expect("started");
    p.join()?;
    assert!(gone(&[thread]));
    Ok(())
}
