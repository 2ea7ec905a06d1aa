//! `mp::Pool` against CONFORMANCE section 15 (CPython's `_TestPool`, `_TestPoolWorkerErrors`,
//! `_TestPoolWorkerLifetime`, `TestInitializers`, and the `[src]` lines read from `pool.py`),
//! each behaviour under every start method.

use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use mp::pool::RemoteTraceback;
use mp::{ErrorKind, Pool, StartMethod};

const LONG: Duration = Duration::from_secs(60);

fn pool(m: StartMethod, n: usize) -> Pool {
    Pool::builder()
        .processes(n)
        .start_method(m)
        .build()
        .expect("pool")
}

#[mp::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[mp::task]
fn sqr_slow(x: i64, ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(ms));
    x * x
}

#[mp::task]
fn mul(a: i64, b: i64) -> i64 {
    a * b
}

#[mp::task]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[mp::task]
fn key_error(k: String) -> Result<i32, String> {
    Err(format!("KeyError: {k:?}"))
}

#[mp::task]
fn raise_at(x: u32, bad: u32) -> u32 {
    if x == bad {
        panic!("SayWhenError at {x}");
    }
    x
}

#[mp::task]
fn my_pid() -> i32 {
    std::process::id() as i32
}

#[mp::task]
fn my_name(_i: u32) -> String {
    mp::current_process().name()
}

/// A type whose serialization always fails.
#[derive(Debug)]
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this type refuses to be serialized",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Unserializable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unserializable)
    }
}

#[mp::task]
fn bad_result(_x: u8) -> Unserializable {
    Unserializable
}

#[mp::task]
fn takes_bad(_x: Unserializable) {}

fn remote(e: &mp::Error) -> &RemoteTraceback {
    e.source()
        .and_then(|s| s.downcast_ref::<RemoteTraceback>())
        .expect("a RemoteTraceback source")
}

/// An iterator that panics at item `at` (Python's `SayWhenError` iterable).
fn say_when(n: u32, at: u32) -> impl Iterator<Item = u32> + Send + 'static {
    (0..n).inspect(move |&i| {
        if i == at {
            panic!("SayWhenError from the input at {i}");
        }
    })
}

#[mp::test]
fn apply_map_starmap_equal_serial() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 4);
        assert_eq!(p.apply(sqr, (5,)).unwrap(), 25);
        assert_eq!(p.apply(mul, (3, 7)).unwrap(), 21);
        let serial: Vec<i64> = (0..10).map(|x| x * x).collect();
        assert_eq!(p.map(sqr, 0..10).unwrap(), serial);
        let serial: Vec<i64> = (0..100).map(|x| x * x).collect();
        assert_eq!(p.chunksize(20).map(sqr, 0..100).unwrap(), serial);
        assert_eq!(p.map_async(sqr, 0..100).unwrap().get().unwrap(), serial);
        let pairs: Vec<(i64, i64)> = (0..10).map(|i| (i, i + 1)).collect();
        let serial: Vec<i64> = pairs.iter().map(|(a, b)| a * b).collect();
        assert_eq!(p.starmap(mul, pairs.clone()).unwrap(), serial);
        assert_eq!(p.chunksize(3).starmap(mul, pairs.clone()).unwrap(), serial);
        assert_eq!(
            p.starmap_async(mul, pairs.clone()).unwrap().get().unwrap(),
            serial
        );
        assert_eq!(
            p.chunksize(3)
                .starmap_async(mul, pairs)
                .unwrap()
                .get()
                .unwrap(),
            serial
        );
    }
}

#[mp::test]
fn map_async_callbacks() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let ec = Arc::new(AtomicUsize::new(0));
        let ec2 = ec.clone();
        p.map_async(sqr, 0..10)
            .unwrap()
            .callback(move |v| c.lock().unwrap().push(v.clone()))
            .error_callback(move |_| {
                ec2.fetch_add(1, Ordering::SeqCst);
            })
            .wait();
        assert_eq!(
            *calls.lock().unwrap(),
            vec![(0..10).map(|x| x * x).collect::<Vec<i64>>()]
        );
        assert_eq!(ec.load(Ordering::SeqCst), 0);

        let (tx, rx) = mpsc::channel();
        let ok_calls = Arc::new(AtomicUsize::new(0));
        let ok2 = ok_calls.clone();
        let r = p
            .chunksize(1)
            .map_async(raise_at_5, 0..10u32)
            .unwrap()
            .callback(move |_| {
                ok2.fetch_add(1, Ordering::SeqCst);
            })
            .error_callback(move |e| tx.send(e.kind()).unwrap());
        assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Remote);
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ErrorKind::Remote);
        assert!(rx.try_recv().is_err(), "error_callback called once");
        assert_eq!(ok_calls.load(Ordering::SeqCst), 0);
    }
}

#[mp::task]
fn raise_at_5(x: u32) -> u32 {
    raise_at(x, 5)
}

#[mp::test]
fn unserializable_arguments_fail_fast() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let t = Instant::now();
        let e = p
            .map(takes_bad, vec![Unserializable, Unserializable])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Serialization);
        assert!(e.to_string().contains("refuses"), "{e}");
        let e = p.apply(takes_bad, (Unserializable,)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Serialization);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(p.apply(sqr, (3,)).unwrap(), 9, "the pool goes on");
    }
}

#[mp::test]
fn empty_inputs() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        assert!(p.map(sqr, Vec::new()).unwrap().is_empty());
        assert!(
            p.chunksize(1)
                .map_async(sqr, Vec::new())
                .unwrap()
                .get_timeout(LONG)
                .unwrap()
                .is_empty()
        );
        assert_eq!(p.imap(sqr, Vec::new()).unwrap().count(), 0);
        assert_eq!(p.imap_unordered(sqr, Vec::new()).unwrap().count(), 0);
        assert!(p.starmap(mul, Vec::new()).unwrap().is_empty());
    }
}

#[mp::test]
fn input_iterator_panic_propagates_from_map() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        for at in [0, 3, 9] {
            let e = p.map(raise_at_5, say_when(10, at)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Runtime, "{e}");
            assert!(e.to_string().contains("SayWhenError"), "{e}");
            assert!(
                e.source().is_none(),
                "the caller's own error is not a remote one"
            );
        }
        assert_eq!(
            p.map(sqr, 0..3).unwrap(),
            [0, 1, 4],
            "the pool stays usable"
        );
    }
}

#[mp::test]
fn async_get_and_timeout() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let r = p.apply_async(sqr_slow, (7, 100)).unwrap();
        assert_eq!(r.get().unwrap(), 49);
        let r = p.apply_async(sqr_slow, (6, 2000)).unwrap();
        let t = Instant::now();
        let e = r.get_timeout(Duration::from_millis(200)).unwrap_err();
        let took = t.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert_eq!(r.get_timeout(LONG).unwrap(), 36, "asking again works");
    }
}

#[mp::test]
fn imap_in_order() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 3);
        let mut it = p.imap(sqr, 0..10).unwrap();
        for i in 0..10 {
            assert_eq!(it.next().unwrap().unwrap(), i * i);
        }
        assert!(it.next().is_none());
        assert!(it.next().is_none());
        let mut it = p.chunksize(100).imap(sqr, 0..1000).unwrap();
        for i in 0..1000 {
            assert_eq!(it.next().unwrap().unwrap(), i * i);
        }
        assert!(it.next().is_none());
    }
}

#[mp::test]
fn imap_failing_input() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        // chunksize 1: every earlier result, then the error at the failing index.
        let got: Vec<mp::Result<u32>> = p.imap(raise_at_5, say_when(10, 4)).unwrap().collect();
        assert_eq!(got.len(), 5);
        for (i, r) in got[..4].iter().enumerate() {
            assert_eq!(*r.as_ref().unwrap(), i as u32);
        }
        let e = got[4].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Runtime);
        assert!(e.to_string().contains("SayWhenError"));
        // chunksize 2, failing at 5: chunks [0,1] [2,3] complete, the error where [4,5] starts.
        let got: Vec<mp::Result<u32>> = p
            .chunksize(2)
            .imap(raise_at_5, say_when(10, 5))
            .unwrap()
            .collect();
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[..4]
                .iter()
                .map(|r| *r.as_ref().unwrap())
                .collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!(got[4].is_err());
        // A failure at the first item.
        let got: Vec<_> = p.imap(raise_at_5, say_when(10, 0)).unwrap().collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }
}

#[mp::test]
fn imap_task_error_at_its_position_then_goes_on() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let got: Vec<_> = p.imap(raise_at_5, 0..10u32).unwrap().collect();
        assert_eq!(got.len(), 10);
        for (i, r) in got.iter().enumerate() {
            if i == 5 {
                assert_eq!(r.as_ref().unwrap_err().kind(), ErrorKind::Remote);
            } else {
                assert_eq!(*r.as_ref().unwrap(), i as u32);
            }
        }
    }
}

#[mp::test]
fn imap_unordered_all_results() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 3);
        let mut got: Vec<i64> = p
            .imap_unordered(sqr, 0..50)
            .unwrap()
            .collect::<mp::Result<_>>()
            .unwrap();
        got.sort();
        assert_eq!(got, (0..50).map(|x| x * x).collect::<Vec<_>>());
        let mut got: Vec<i64> = p
            .chunksize(7)
            .imap_unordered(sqr, 0..50)
            .unwrap()
            .collect::<mp::Result<_>>()
            .unwrap();
        got.sort();
        assert_eq!(got.len(), 50);
        // A failing input eventually surfaces.
        let got: Vec<_> = p
            .imap_unordered(raise_at_5, say_when(10, 7))
            .unwrap()
            .collect();
        assert!(
            got.iter()
                .any(|r| r.as_ref().is_err_and(|e| e.kind() == ErrorKind::Runtime))
        );
        // Items 0..7 ran (item 5 fails in the task), then the input failed.
        assert_eq!(got.len(), 8);
        assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 6);
    }
}

#[mp::test]
fn make_pool() {
    assert_eq!(Pool::new(0).unwrap_err().kind(), ErrorKind::Value);
    for m in mp::get_all_start_methods() {
        let p = pool(m, 3);
        assert_eq!(p.processes(), 3);
        assert_eq!(p.worker_pids().len(), 3);
        p.close().unwrap();
        p.join().unwrap();
    }
    let p = Pool::builder()
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    assert_eq!(
        p.processes(),
        mp::cpu_count(),
        "default processes is cpu_count()"
    );
}

#[mp::test]
fn large_pool() {
    for m in mp::get_all_start_methods() {
        let n = if m == StartMethod::Spawn { 50 } else { 200 };
        let p = pool(m, n);
        assert_eq!(p.worker_pids().len(), n);
        assert_eq!(p.map(sqr, 0..400).unwrap().len(), 400);
        p.close().unwrap();
        p.join().unwrap();
    }
}

#[mp::test]
fn terminate_with_long_tasks_queued() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let r = p
            .chunksize(1)
            .map_async(nap, vec![10_000u64; 2000])
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let pids = p.worker_pids();
        let t = Instant::now();
        p.terminate().unwrap();
        p.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert_eq!(r.get_timeout(LONG).unwrap_err().kind(), ErrorKind::ShutDown);
        for pid in pids {
            // A zombie (a forkserver worker the server has yet to reap) does not run.
            let alive = mp_tests::pid_running(pid);
            assert!(!alive, "worker {pid} left behind");
        }
    }
}

#[mp::test]
fn drop_terminates_and_submissions_fail_after() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let pids = p.worker_pids();
        assert_eq!(p.map(sqr, [1, 2]).unwrap(), [1, 4]);
        drop(p);
        for pid in pids {
            // A zombie (a forkserver worker the server has yet to reap) does not run.
            let alive = mp_tests::pid_running(pid);
            assert!(!alive, "worker {pid} left behind");
        }
        let p = pool(m, 2);
        p.terminate().unwrap();
        let e = p.map_async(sqr, [1]).unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (ErrorKind::Value, "Pool not running")
        );
        p.join().unwrap();
    }
}

#[mp::test]
fn every_submission_fails_after_close_or_terminate() {
    for m in mp::get_all_start_methods() {
        for terminate in [false, true] {
            let p = pool(m, 1);
            assert_eq!(p.join().unwrap_err().to_string(), "Pool is still running");
            if terminate {
                p.terminate().unwrap();
            } else {
                p.close().unwrap();
            }
            let errs = [
                p.apply(sqr, (1,)).unwrap_err(),
                p.apply_async(sqr, (1,)).unwrap_err(),
                p.map(sqr, [1]).unwrap_err(),
                p.map_async(sqr, [1]).unwrap_err(),
                p.starmap(mul, [(1, 2)]).unwrap_err(),
                p.starmap_async(mul, [(1, 2)]).unwrap_err(),
                p.imap(sqr, [1]).unwrap_err(),
                p.imap_unordered(sqr, [1]).unwrap_err(),
                p.chunksize(2).map(sqr, [1]).unwrap_err(),
                p.chunksize(2).imap(sqr, [1]).unwrap_err(),
            ];
            for e in errs {
                assert_eq!(e.kind(), ErrorKind::Value);
                assert_eq!(e.to_string(), "Pool not running");
            }
            p.join().unwrap();
        }
    }
}

#[mp::test]
fn remote_errors_carry_message_and_location() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let e = p.apply(raise_at, (3, 3)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        let tb = remote(&e);
        assert_eq!(tb.message(), "SayWhenError at 3");
        assert!(tb.panicked());
        let loc = tb.location().unwrap();
        assert!(loc.starts_with("tests/tests/pool_api.rs:"), "{loc}");
        assert!(e.to_string().contains("pool_api.rs:"), "{e}");
        assert!(tb.worker().contains("PoolWorker-"));
        assert!(tb.to_string().contains("SayWhenError at 3"));
        // An Err value: the message is its Display.
        let e = p.apply(key_error, ("k".into(),)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        assert_eq!(remote(&e).message(), "KeyError: \"k\"");
        assert!(!remote(&e).panicked());
        // The pool goes on after errors.
        assert_eq!(p.apply(sqr, (4,)).unwrap(), 16);
    }
}

#[mp::test]
fn error_callback_receives_the_workers_error() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let (tx, rx) = mpsc::channel();
        let r = p
            .apply_async(key_error, ("missing".into(),))
            .unwrap()
            .error_callback(move |e| tx.send(e.to_string()).unwrap());
        let e = r.get().unwrap_err();
        assert!(e.to_string().contains("KeyError"));
        assert!(rx.recv_timeout(LONG).unwrap().contains("KeyError"));
        assert!(!r.successful().unwrap());
    }
}

#[mp::test]
fn unserializable_result_is_an_error_naming_the_type() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let pids = p.worker_pids();
        for _ in 0..20 {
            let (tx, rx) = mpsc::channel();
            let r = p
                .apply_async(bad_result, (1,))
                .unwrap()
                .error_callback(move |e| tx.send(e.kind()).unwrap());
            let e = r.get_timeout(LONG).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Serialization);
            assert!(e.to_string().contains("Unserializable"), "{e}");
            assert_eq!(rx.recv_timeout(LONG).unwrap(), ErrorKind::Serialization);
        }
        let e = p.map(bad_result, [1, 2, 3]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Serialization);
        assert_eq!(p.worker_pids(), pids, "no worker was lost");
    }
}

#[mp::test]
fn map_does_not_fail_fast() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let done = p
            .chunksize(1)
            .map_async(raise_at_0_or_nap, 0..6u32)
            .unwrap();
        let t = Instant::now();
        p.close().unwrap();
        p.join().unwrap();
        // The failing item is first; join still waited for the 5 naps of 200 ms on 2 workers.
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        assert!(done.ready());
        assert!(!done.successful().unwrap());
    }
}

#[mp::task]
fn raise_at_0_or_nap(x: u32) -> u32 {
    if x == 0 {
        panic!("first");
    }
    std::thread::sleep(Duration::from_millis(200));
    x
}

#[mp::task]
fn conn_arg(c: mp::Connection) -> bool {
    c.send(&1u8).is_ok()
}

#[mp::test]
fn task_arguments_are_released() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let (a, b) = mp::Pipe(true).unwrap();
        assert!(p.apply(conn_arg, (b,)).unwrap());
        assert_eq!(a.recv::<u8>().unwrap(), 1);
        // The pool kept no copy of the argument's handle: the worker's was the last one.
        assert!(a.poll_timeout(LONG).unwrap());
        assert_eq!(a.recv::<u8>().unwrap_err().kind(), ErrorKind::Eof);
    }
}

#[mp::test]
fn maxtasksperchild_replaces_every_worker() {
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(3)
            .maxtasksperchild(10)
            .start_method(m)
            .build()
            .unwrap();
        let before = p.worker_pids();
        let rs: Vec<_> = (0..100)
            .map(|_| p.apply_async(my_pid, ()).unwrap())
            .collect();
        for r in &rs {
            assert!(r.get_timeout(LONG).unwrap() > 0);
        }
        // Replacements start as workers retire: wait (bounded) until the pool is full again.
        let deadline = Instant::now() + LONG;
        let mut after = p.worker_pids();
        while after.len() != 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            after = p.worker_pids();
        }
        assert_eq!(after.len(), 3);
        assert!(
            after.iter().all(|pid| *pid > 0 && !before.contains(pid)),
            "{before:?} {after:?}"
        );
    }
}

#[mp::test]
fn maxtasksperchild_one_with_early_close() {
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(3)
            .maxtasksperchild(1)
            .start_method(m)
            .build()
            .unwrap();
        let rs: Vec<_> = (0..6)
            .map(|i| p.apply_async(sqr_slow, (i, 20)).unwrap())
            .collect();
        p.close().unwrap();
        p.join().unwrap();
        for (i, r) in rs.iter().enumerate() {
            assert_eq!(r.get_timeout(LONG).unwrap(), (i * i) as i64);
        }
    }
}

#[mp::test]
fn maxtasksperchild_invalid() {
    let e = Pool::builder().maxtasksperchild(0).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
}

#[mp::task]
fn init_counter(v: u32) {
    INIT.store(v, Ordering::SeqCst);
}

static INIT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[mp::task]
fn read_init(_i: u32) -> u32 {
    INIT.load(Ordering::SeqCst)
}

#[mp::test]
fn initializer_runs_in_each_worker() {
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(2)
            .initializer(init_counter, (42,))
            .start_method(m)
            .build()
            .unwrap();
        let v = p.chunksize(1).map(read_init, 0..20).unwrap();
        assert!(v.iter().all(|x| *x == 42), "{v:?}");
        assert_eq!(INIT.load(Ordering::SeqCst), 0, "not in the parent");
    }
}

#[mp::task]
fn failing_init() {
    panic!("initializer exploded");
}

#[mp::test]
fn failing_initializer_breaks_the_pool() {
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(2)
            .initializer(failing_init, ())
            .start_method(m)
            .build()
            .unwrap();
        let e = p.apply(sqr, (2,)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
        assert!(e.to_string().contains("initializer exploded"), "{e}");
        let e = p.apply(sqr, (2,)).unwrap_err();
        assert!(e.to_string().contains("initializer exploded"), "{e}");
    }
}

#[mp::test]
fn async_result_states() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 1);
        let r = p.apply_async(nap, (1000,)).unwrap();
        let t = Instant::now();
        assert!(!r.ready());
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "ready() does not block"
        );
        assert_eq!(r.successful().unwrap_err().kind(), ErrorKind::Value);
        assert!(!r.wait_timeout(Duration::from_millis(10)));
        r.wait();
        assert!(r.ready() && r.successful().unwrap());
        assert_eq!(r.get().unwrap(), 1000);
        assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Value, "taken");
    }
}

#[mp::test]
fn imap_next_timeout_and_bad_chunksize() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 1);
        let mut it = p.imap(nap, [500, 0]).unwrap();
        let t = Instant::now();
        let e = it
            .next_timeout(Duration::from_millis(50))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(it.next_timeout(LONG).unwrap().unwrap(), 500);
        assert_eq!(it.next_timeout(LONG).unwrap().unwrap(), 0);
        assert!(it.next_timeout(LONG).is_none());
        assert_eq!(
            p.chunksize(0).imap(sqr, [1]).unwrap_err().kind(),
            ErrorKind::Value
        );
        assert_eq!(
            p.chunksize(0).imap_unordered(sqr, [1]).unwrap_err().kind(),
            ErrorKind::Value
        );
        assert_eq!(
            p.chunksize(0).map(sqr, [1]).unwrap_err().kind(),
            ErrorKind::Value
        );
    }
}

#[mp::test]
fn map_result_keeps_the_first_failure_and_waits_for_all_chunks() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 4);
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let r = p
            .chunksize(1)
            .map_async(first_fails_fast_others_slow, 0..4u32)
            .unwrap()
            .error_callback(move |e| {
                assert!(e.to_string().contains("item 0"), "{e}");
                c.fetch_add(1, Ordering::SeqCst);
            });
        // Item 0 fails at once, the others take 1 s: not ready before they finish.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!r.ready());
        assert_eq!(called.load(Ordering::SeqCst), 0);
        let e = r.get_timeout(LONG).unwrap_err();
        assert!(e.to_string().contains("item 0"), "the first failure: {e}");
        assert_eq!(called.load(Ordering::SeqCst), 1);
    }
}

#[mp::task]
fn first_fails_fast_others_slow(x: u32) -> Result<u32, String> {
    if x == 0 {
        return Err("item 0".into());
    }
    std::thread::sleep(Duration::from_millis(1000));
    Err(format!("item {x}"))
}

#[mp::test]
fn default_chunksize_is_cpythons() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        // 100 items, 2 workers: chunks of ceil(100 / 8) = 13; item 20 is index 7 of chunk 1.
        let e = p.map(raise_at_20, 0..100u32).unwrap_err();
        assert_eq!(remote(&e).index_in_chunk(), 7);
    }
}

#[mp::task]
fn raise_at_20(x: u32) -> u32 {
    raise_at(x, 20)
}

#[mp::test]
fn worker_names_follow_the_start_method() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 2);
        let prefix = match m {
            StartMethod::Fork => "ForkPoolWorker-",
            StartMethod::Spawn => "SpawnPoolWorker-",
            StartMethod::Forkserver => "ForkServerPoolWorker-",
        };
        let names = p.chunksize(1).map(my_name, 0..8).unwrap();
        assert!(names.iter().all(|n| n.starts_with(prefix)), "{names:?}");
    }
}

#[mp::test]
fn pool_from_a_context() {
    for m in mp::get_all_start_methods() {
        let p = mp::Context::new(m).pool(2).unwrap();
        assert_eq!(p.map(sqr, [2, 3]).unwrap(), [4, 9]);
    }
}

#[mp::test]
fn pool_methods_from_another_process_are_errors() {
    let p = Arc::new(pool(StartMethod::Fork, 1));
    let p2 = p.clone();
    let child = mp::Process::builder(
        move || -> () {
            let e = p2.apply(sqr, (2,)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Value);
            assert!(p2.close().is_err() && p2.terminate().is_err());
            std::process::exit(if e.to_string().contains("process that created") {
                7
            } else {
                1
            });
        },
        (),
    )
    .start_method(StartMethod::Fork)
    .start()
    .unwrap();
    child.join_timeout(LONG).unwrap();
    assert_eq!(child.exitcode(), Some(7));
    assert_eq!(
        p.apply(sqr, (3,)).unwrap(),
        9,
        "the creator's pool is intact"
    );
}

#[mp::task]
fn leak_a_pool() {
    let p = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    assert_eq!(p.apply(sqr, (2,)).unwrap(), 4);
    std::mem::forget(p);
}

#[mp::test]
fn a_pool_left_open_at_exit_does_not_hang() {
    for m in mp::get_all_start_methods() {
        let child = mp::Process::builder(leak_a_pool, ())
            .start_method(m)
            .start()
            .unwrap();
        child.join_timeout(LONG).unwrap();
        assert_eq!(child.exitcode(), Some(0), "{m}");
    }
}

#[mp::test]
fn callbacks_run_before_join_returns() {
    for m in mp::get_all_start_methods() {
        let p = pool(m, 3);
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..7 {
            let s = seen.clone();
            p.apply_async(sqr_slow, (i, 30))
                .unwrap()
                .callback(move |v| s.lock().unwrap().push(*v));
        }
        p.close().unwrap();
        p.join().unwrap();
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, [0, 1, 4, 9, 16, 25, 36]);
    }
}
