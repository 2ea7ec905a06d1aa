//! `Pool::apply` lets the calling thread read its answer from an idle worker itself (the pool
//! thread stays asleep; `docs/design/pool.md`, performance notes). What must hold whatever
//! reads the answers: values and errors arrive, a worker that dies during an `apply` gives a
//! `WorkerLost` error and is replaced, `terminate` ends a waiting `apply`, tasks queued behind
//! an `apply` run, `apply_async` on a worker that `apply` callers read still completes (with
//! its callback on the pool thread), and the pool closes and joins. Under every start method.

use std::sync::mpsc;
use std::time::Duration;

use mp::{ErrorKind, Pool, StartMethod};
use mp_tests::methods;

const LONG: Duration = Duration::from_secs(60);

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

/// Says it runs (`started`), then waits for `go` (at most `LONG`) and returns `v`: the test
/// decides when it ends, instead of guessing with sleeps.
#[mp::task]
fn gated(started: mp::Event, go: mp::Event, v: u64) -> u64 {
    started.set();
    assert!(go.wait_timeout(LONG), "never told to go");
    v
}

/// Starts `p.apply(gated, ..)` on a thread and returns once the task runs in the worker,
/// with the thread and the `go` event that ends the task.
fn apply_running(
    p: &std::sync::Arc<Pool>,
    v: u64,
) -> (std::thread::JoinHandle<mp::Result<u64>>, mp::Event) {
    let (started, go) = (mp::Event::new().unwrap(), mp::Event::new().unwrap());
    let q = p.clone();
    let (s2, g2) = (started.clone(), go.clone());
    let waiter = std::thread::spawn(move || q.apply(gated, (s2, g2, v)));
    assert!(started.wait_timeout(LONG), "the apply's task did not start");
    (waiter, go)
}

#[mp::task]
fn fails(x: u32) -> Result<u32, String> {
    Err(format!("no {x}"))
}

#[mp::task]
fn die() -> u32 {
    // SAFETY: signalling ourselves.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    0
}

#[mp::task]
fn my_pid() -> i32 {
    std::process::id() as i32
}

/// Runs `f` on a thread and fails the test if it does not return within `LONG` (an `apply`
/// has no timeout of its own).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LONG)
        .unwrap_or_else(|_| panic!("{what}: no answer within {LONG:?}"))
}

fn pool(n: usize, m: StartMethod) -> std::sync::Arc<Pool> {
    std::sync::Arc::new(
        Pool::builder()
            .processes(n)
            .start_method(m)
            .build()
            .unwrap(),
    )
}

#[mp::test]
fn sequential_applies_return_values_and_errors() {
    for m in methods() {
        let p = pool(2, m);
        let q = p.clone();
        within("applies", move || {
            for i in 0..200u64 {
                assert_eq!(q.apply(square, (i,)).unwrap(), i * i, "{m}");
                if i % 50 == 0 {
                    let e = q.apply(fails, (i as u32,)).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Remote, "{m}");
                    assert!(e.to_string().contains(&format!("no {i}")), "{m}: {e}");
                }
            }
        });
        p.close().unwrap();
        within("join", move || p.join().unwrap());
    }
}

#[mp::test]
fn a_worker_dying_during_an_apply_is_reported_and_replaced() {
    for m in methods() {
        let p = pool(1, m);
        let q = p.clone();
        within("apply", move || {
            let before = q.apply(my_pid, ()).unwrap();
            let e = q.apply(die, ()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WorkerLost, "{m}: {e}");
            // A replacement answers.
            let after = q.apply(my_pid, ()).unwrap();
            assert_ne!(before, after, "{m}");
            assert_eq!(q.apply(square, (7,)).unwrap(), 49, "{m}");
        });
    }
}

#[mp::test]
fn a_worker_killed_while_idle_is_replaced() {
    for m in methods() {
        let p = pool(1, m);
        let q = p.clone();
        within("apply", move || {
            let pid = q.apply(my_pid, ()).unwrap();
            // SAFETY: killing our pool's worker.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // The next apply may meet the dying worker: it either runs elsewhere or is lost,
            // never stuck.
            let deadline = std::time::Instant::now() + LONG;
            loop {
                match q.apply(my_pid, ()) {
                    Ok(p2) => {
                        assert_ne!(p2, pid, "{m}");
                        break;
                    }
                    Err(e) => assert_eq!(e.kind(), ErrorKind::WorkerLost, "{m}: {e}"),
                }
                assert!(std::time::Instant::now() < deadline);
            }
        });
    }
}

#[mp::test]
fn terminate_ends_a_waiting_apply() {
    for m in methods() {
        let p = pool(1, m);
        // The apply's task runs (and would run until `go`) when the pool is terminated.
        let (waiter, _go) = apply_running(&p, 1);
        p.terminate().unwrap();
        let r = within("apply after terminate", move || waiter.join().unwrap());
        let e = r.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::ShutDown | ErrorKind::Value),
            "{m}: {e}"
        );
        within("join", move || p.join().unwrap());
    }
}

#[mp::test]
fn tasks_queued_behind_an_apply_run() {
    for m in methods() {
        let p = pool(1, m);
        let (waiter, go) = apply_running(&p, 200);
        // The only worker is busy with the apply: these wait in the queue.
        let rs: Vec<_> = (0..5u64)
            .map(|i| p.apply_async(square, (i,)).unwrap())
            .collect();
        go.set();
        assert_eq!(
            within("apply", move || waiter.join().unwrap()).unwrap(),
            200,
            "{m}"
        );
        for (i, r) in rs.into_iter().enumerate() {
            assert_eq!(r.get_timeout(LONG).unwrap(), (i * i) as u64, "{m}");
        }
    }
}

#[mp::test]
fn apply_async_after_apply_completes_on_the_pool_thread() {
    for m in methods() {
        let p = pool(1, m);
        let q = p.clone();
        // The worker is now read by `apply` callers...
        within("apply", move || {
            assert_eq!(q.apply(square, (3,)).unwrap(), 9)
        });
        // ...and an `apply_async` hands it back to the pool thread, which runs callbacks.
        let (tx, rx) = mpsc::channel();
        // The task ends only once the callback is attached.
        let (started, go) = (mp::Event::new().unwrap(), mp::Event::new().unwrap());
        let r = p
            .apply_async(gated, (started, go.clone(), 300))
            .unwrap()
            .callback(move |v: &u64| {
                let name = std::thread::current().name().map(str::to_string);
                tx.send((*v, name)).unwrap();
            });
        go.set();
        assert_eq!(r.get_timeout(LONG).unwrap(), 300, "{m}");
        let (v, name) = rx.recv_timeout(LONG).unwrap();
        assert_eq!(v, 300);
        assert_eq!(name.as_deref(), Some("mp-pool"), "{m}");
        // And `apply` works again afterwards.
        let q = p.clone();
        within("apply", move || {
            assert_eq!(q.apply(square, (5,)).unwrap(), 25)
        });
        p.close().unwrap();
        within("join", move || p.join().unwrap());
    }
}

#[mp::test]
fn concurrent_applies_from_many_threads() {
    for m in methods() {
        let p = pool(2, m);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let q = p.clone();
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        assert_eq!(
                            q.apply(square, (t * 1000 + i,)).unwrap(),
                            (t * 1000 + i).pow(2)
                        );
                    }
                })
            })
            .collect();
        within("threads", move || {
            for t in threads {
                t.join().unwrap();
            }
        });
        p.close().unwrap();
        within("join", move || p.join().unwrap());
    }
}
