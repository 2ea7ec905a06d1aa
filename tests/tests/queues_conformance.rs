//! CPython's queue conformance tests (CONFORMANCE.md section 6), ported to mp.
//!
//! Source: `Lib/test/_test_multiprocessing.py` of python/cpython (`_TestQueue`,
//! `TestSimpleQueue`), main branch at 00811485ee5f. Copyright (c) 2001-2024 Python Software
//! Foundation; All Rights Reserved; used under the PSF License Agreement. Only the behaviours
//! are ported, not the code.
//!
//! Written once for both flavours (CONFORMANCE section 17: "the `WithThreads` variants run the
//! same suites"): the suite in `conformance!` is compiled against `mp` (processes, under each
//! start method) and against `mp::dummy` (thread processes) by changing only its `use` lines.
//! What only one flavour has (an item that does not serialize, a queue serialized outside a
//! transport; items moved without serialization) is tested after it, and in
//! `dummy_queues.rs`.
//!
//! Tweaks:
//! - every test runs under each start method (`mp::get_all_start_methods()`), not just one
//!   per test class;
//! - `Event`s become small `Queue<()>`s, and every wait is bounded by a timeout;
//! - CPython sleeps after `put` because a feeder thread may not have flushed yet; mp's `put` is
//!   synchronous, so the tests check `empty()`/`qsize()` at once (a stronger claim);
//! - an unpicklable item is an error of `put` in mp (the item comes back), not a traceback from
//!   the feeder thread; there is no feeder error hook to override (`test_queue_feeder_on_queue_
//!   feeder_error` has nothing to port);
//! - `test_no_import_lock_contention` has no Rust counterpart (no code runs at import time);
//! - timing asserts keep CPython's lower bounds and loosen the upper ones (shared machine).

use queues_util::parity;
mod queues_util;

use std::time::{Duration, Instant};

use mp::queues::PutError;
use mp::{ErrorKind, JoinableQueue, Queue, SimpleQueue, StartMethod};
use queues_util::{LONG, join_ok, start};

/// CPython's `TIMEOUT1`.
const TIMEOUT1: Duration = Duration::from_millis(100);
/// How late a timed-out call may return on a loaded machine.
const SLACK: Duration = Duration::from_secs(5);

fn methods() -> Vec<StartMethod> {
    mp::get_all_start_methods()
}

fn assert_at_once(t: Instant) {
    assert!(t.elapsed() < SLACK, "took {:?}", t.elapsed());
}

fn assert_about(t: Instant, d: Duration) {
    let e = t.elapsed();
    assert!(e >= d && e < d + SLACK, "took {e:?}, expected about {d:?}");
}

macro_rules! conformance {
    ($name:ident, $($api:ident)::+, $util:ident) => {
        mod $name {
            use std::time::{Duration, Instant};

            use mp::ErrorKind;
            use mp::queues::{GetError, PutError, TryGetError, TryPutError};
            use $($api)::+::{JoinableQueue, Queue, SimpleQueue};

            use crate::parity::$util::{LONG, join_ok, methods, start, start_daemon};
            use super::{TIMEOUT1, assert_about, assert_at_once};

            // ----- test_put -----

            #[mp::task]
            fn drain_six(q: Queue<i32>, can_start: Queue<()>, can_continue: Queue<()>) -> mp::Result<()> {
                can_start.get_timeout(LONG)?;
                for _ in 0..6 {
                    q.get_timeout(LONG)?;
                }
                can_continue.put(())?;
                Ok(())
            }

            #[mp::test]
            fn test_put() {
                for method in methods() {
                    const MAXSIZE: usize = 6;
                    let q = Queue::new(MAXSIZE).unwrap();
                    let (can_start, can_continue) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
                    let p = start_daemon(
                        method,
                        drain_six,
                        (q.clone(), can_start.clone(), can_continue.clone()),
                    );
                    assert!(q.empty().unwrap());
                    assert!(!q.full());

                    // put(1), put(2, True), put(3, True, None), put(4, False), put(5, False, None),
                    // put_nowait(6)
                    q.put(1).unwrap();
                    q.put(2).unwrap();
                    q.put_timeout(3, LONG).unwrap();
                    q.put_nowait(4).unwrap();
                    q.put_nowait(5).unwrap();
                    q.put_nowait(6).unwrap();
                    assert!(!q.empty().unwrap());
                    assert!(q.full());
                    assert_eq!(q.qsize(), 6);

                    // Non-blocking puts on a full queue fail at once (a timeout is ignored).
                    for _ in 0..3 {
                        let t = Instant::now();
                        assert!(matches!(q.put_nowait(7), Err(TryPutError::Full(7))));
                        assert_at_once(t);
                    }
                    // Blocking puts with a timeout fail after it.
                    let t = Instant::now();
                    assert!(matches!(
                        q.put_timeout(7, TIMEOUT1),
                        Err(TryPutError::Full(7))
                    ));
                    assert_about(t, TIMEOUT1);
                    let t = Instant::now();
                    let err = q.put_timeout(7, 2 * TIMEOUT1).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Full);
                    assert_about(t, 2 * TIMEOUT1);

                    can_start.put(()).unwrap();
                    can_continue.get_timeout(LONG).unwrap();
                    assert!(q.empty().unwrap());
                    assert!(!q.full());
                    join_ok(&p, method);
                }
            }

            // ----- test_get -----

            #[mp::task]
            fn put_two_to_five(q: Queue<i32>, can_start: Queue<()>, can_continue: Queue<()>) -> mp::Result<()> {
                can_start.get_timeout(LONG)?;
                for i in 2..=5 {
                    q.put(i)?;
                }
                can_continue.put(())?;
                Ok(())
            }

            #[mp::test]
            fn test_get() {
                for method in methods() {
                    let q = Queue::new(0).unwrap();
                    let (can_start, can_continue) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
                    let p = start_daemon(
                        method,
                        put_two_to_five,
                        (q.clone(), can_start.clone(), can_continue.clone()),
                    );
                    assert!(q.empty().unwrap());
                    can_start.put(()).unwrap();
                    can_continue.get_timeout(LONG).unwrap();
                    assert!(!q.empty().unwrap());

                    // get(True, None), get(True), get(timeout=1), get_nowait(): FIFO.
                    assert_eq!(q.get().unwrap(), 2);
                    assert_eq!(q.get_timeout(LONG).unwrap(), 3);
                    assert_eq!(q.get_timeout(Duration::from_secs(1)).unwrap(), 4);
                    assert_eq!(q.get_nowait().unwrap(), 5);
                    assert!(q.empty().unwrap());

                    // get(False), get(False, None), get_nowait(), get(False, t): Empty at once.
                    for _ in 0..3 {
                        let t = Instant::now();
                        assert!(matches!(q.get_nowait(), Err(TryGetError::Empty)));
                        assert_at_once(t);
                    }
                    // get(True, t), get(timeout=t): Empty after t.
                    let t = Instant::now();
                    assert!(q.get_timeout(TIMEOUT1).unwrap_err().is_empty());
                    assert_about(t, TIMEOUT1);
                    let t = Instant::now();
                    assert_eq!(
                        q.get_timeout(2 * TIMEOUT1).unwrap_err().kind(),
                        ErrorKind::Empty
                    );
                    assert_about(t, 2 * TIMEOUT1);
                    join_ok(&p, method);
                }
            }

            /// `test_timeout`: `get(True, 0.2)` blocks at least 0.1 s.
            #[mp::test]
            fn test_timeout() {
                let q = Queue::<u8>::new(0).unwrap();
                let t = Instant::now();
                assert!(q.get_timeout(Duration::from_millis(200)).is_err());
                assert!(t.elapsed() >= Duration::from_millis(100));
            }

            // ----- test_fork -----

            #[mp::task]
            fn put_ten_to_twenty(q: Queue<i32>) -> mp::Result<()> {
                for i in 10..20 {
                    q.put(i)?;
                }
                Ok(())
            }

            #[mp::test]
            fn test_fork() {
                for method in methods() {
                    let q = Queue::new(0).unwrap();
                    for i in 0..10 {
                        q.put(i).unwrap();
                    }
                    let p = start_daemon(method, put_ten_to_twenty, (q.clone(),));
                    for i in 0..20 {
                        assert_eq!(q.get_timeout(LONG).unwrap(), i, "{method}");
                    }
                    assert!(q.get_nowait().unwrap_err().is_empty());
                    join_ok(&p, method);
                }
            }

            // ----- test_qsize, empty right after put -----

            #[mp::test]
            fn test_qsize() {
                let q = Queue::new(0).unwrap();
                assert_eq!(q.qsize(), 0);
                q.put(1).unwrap();
                assert_eq!(q.qsize(), 1);
                q.put(5).unwrap();
                assert_eq!(q.qsize(), 2);
                q.get().unwrap();
                assert_eq!(q.qsize(), 1);
                q.get().unwrap();
                assert_eq!(q.qsize(), 0);
            }

            #[mp::task]
            fn put_one(q: Queue<i32>, n: i32) -> mp::Result<()> {
                q.put(n)?;
                Ok(())
            }

            /// CPython allows `empty()` to be true right after `put` (feeder latency); in mp it never is,
            /// and `qsize()` counts items put by another process as soon as its `put` returned.
            #[mp::test]
            fn test_empty_and_qsize_are_exact_at_once() {
                for method in methods() {
                    let q = Queue::new(0).unwrap();
                    q.put(0).unwrap();
                    assert!(!q.empty().unwrap());
                    let p = start(method, put_one, (q.clone(), 1));
                    join_ok(&p, method);
                    assert_eq!(q.qsize(), 2);
                    assert_eq!((q.get().unwrap(), q.get().unwrap()), (0, 1));
                    assert!(q.empty().unwrap());
                }
            }

            // ----- test_task_done -----

            #[mp::task]
            fn task_done_worker(q: JoinableQueue<Option<i32>>) -> mp::Result<()> {
                while let Some(_job) = q.get_timeout(LONG)? {
                    std::thread::sleep(Duration::from_millis(5)); // the "work"
                    q.task_done()?;
                }
                Ok(())
            }

            #[mp::test]
            fn test_task_done() {
                for method in methods() {
                    let q = JoinableQueue::new(0).unwrap();
                    let workers: Vec<_> = (0..4)
                        .map(|_| start_daemon(method, task_done_worker, (q.clone(),)))
                        .collect();
                    for i in 0..10 {
                        q.put(Some(i)).unwrap();
                    }
                    assert!(q.join_timeout(LONG).unwrap(), "{method}: join timed out");
                    assert_eq!((q.qsize(), q.unfinished_tasks()), (0, 0));
                    for _ in &workers {
                        q.put(None).unwrap();
                    }
                    for p in &workers {
                        join_ok(p, method);
                    }
                }
            }

            /// `task_done()` called more times than items were put raises ValueError.
            #[mp::test]
            fn test_task_done_too_many() {
                let q = JoinableQueue::new(0).unwrap();
                let err = q.task_done().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Value);
                assert!(
                    err.to_string()
                        .contains("task_done() called too many times")
                );
                q.put(1).unwrap();
                q.get().unwrap();
                q.task_done().unwrap();
                assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
            }

            // ----- closing -----

            #[mp::test]
            fn test_closed_queue_empty_exceptions() {
                // close() and join_thread() on an unused queue are no-ops; empty() still answers.
                let q = Queue::<String>::new(0).unwrap();
                q.close();
                q.join_thread().unwrap();
                assert!(q.empty().unwrap());
                let q = JoinableQueue::<String>::new(0).unwrap();
                q.close();
                q.join_thread().unwrap();
                assert!(q.empty().unwrap());

                // Once used, empty() after close() + join_thread() raises OSError "is closed".
                let q = Queue::new(0).unwrap();
                q.put("foo".to_string()).unwrap();
                q.close();
                q.join_thread().unwrap();
                let err = q.empty().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Os);
                assert!(err.to_string().contains("is closed"), "{err}");
                let q = JoinableQueue::new(0).unwrap();
                q.put("foo".to_string()).unwrap();
                q.close();
                q.join_thread().unwrap();
                assert_eq!(q.empty().unwrap_err().kind(), ErrorKind::Os);
            }

            #[mp::test]
            fn test_closed_queue_put_get_exceptions() {
                // join_thread() before close() is an assertion.
                let q = Queue::<u8>::new(0).unwrap();
                assert_eq!(q.join_thread().unwrap_err().kind(), ErrorKind::Assertion);
                let q = Queue::new(0).unwrap();
                q.close();
                let err = q.put("foo".to_string()).unwrap_err();
                assert!(matches!(&err, PutError::Closed(s) if s == "foo"));
                assert_eq!(err.kind(), ErrorKind::Value);
                assert!(err.to_string().contains("is closed"));
                let err = q.get().unwrap_err();
                assert!(matches!(err, GetError::Closed));
                assert_eq!(err.kind(), ErrorKind::Value);
                assert!(mp::Error::from(err).to_string().contains("is closed"));

                let q = JoinableQueue::<String>::new(0).unwrap();
                q.close();
                assert_eq!(q.put("foo".into()).unwrap_err().kind(), ErrorKind::Value);
                assert_eq!(q.get().unwrap_err().kind(), ErrorKind::Value);
            }

            #[mp::task]
            fn put_after_parent_closed(q: Queue<i32>) -> mp::Result<()> {
                q.put(9)?;
                Ok(())
            }

            /// `close()` concerns this process's handle only.
            #[mp::test]
            fn test_close_is_per_process() {
                for method in methods() {
                    let q = Queue::new(0).unwrap();
                    let reader = q.clone();
                    let p = start(method, put_after_parent_closed, (q.clone(),));
                    join_ok(&p, method);
                    assert_eq!(reader.get_timeout(LONG).unwrap(), 9);
                    q.close();
                    assert!(
                        reader.get_nowait().is_err(),
                        "clones share the closed state"
                    );
                }
            }

            // ----- shutdown (CPython main) -----

            #[mp::task]
            fn expect_shutdown_everywhere(q: JoinableQueue<String>) -> mp::Result<()> {
                assert!(q.is_shutdown());
                assert!(matches!(q.put("x".into()), Err(PutError::ShutDown(_))));
                assert!(matches!(
                    q.put_nowait("x".into()),
                    Err(TryPutError::ShutDown(_))
                ));
                assert!(matches!(q.get(), Err(GetError::ShutDown)));
                assert!(matches!(q.get_nowait(), Err(TryGetError::ShutDown)));
                Ok(())
            }

            #[mp::task]
            fn blocked_get(q: JoinableQueue<String>, ready: Queue<()>) -> mp::Result<()> {
                ready.put(())?;
                match q.get_timeout(LONG) {
                    Err(TryGetError::ShutDown) => Ok(()),
                    other => Err(mp::Error::new(
                        ErrorKind::Assertion,
                        format!("expected ShutDown, got {other:?}"),
                    )),
                }
            }

            #[mp::test]
            fn test_shutdown_empty() {
                for method in methods() {
                    let q = JoinableQueue::new(0).unwrap();
                    let ready = Queue::new(0).unwrap();
                    let getter = start(method, blocked_get, (q.clone(), ready.clone()));
                    ready.get_timeout(LONG).unwrap();
                    q.shutdown(false).unwrap();
                    assert_eq!(q.qsize(), 0);
                    // A join() returns: nothing is unfinished.
                    assert!(q.join_timeout(LONG).unwrap());
                    assert!(matches!(q.put("data".into()), Err(PutError::ShutDown(_))));
                    assert!(matches!(
                        q.put_nowait("data".into()),
                        Err(TryPutError::ShutDown(_))
                    ));
                    assert!(matches!(q.get(), Err(GetError::ShutDown)));
                    assert!(matches!(q.get_nowait(), Err(TryGetError::ShutDown)));
                    // The blocked getter in the other process woke up with ShutDown.
                    join_ok(&getter, method);
                    // And a process started afterwards sees the same.
                    let p = start(method, expect_shutdown_everywhere, (q.clone(),));
                    join_ok(&p, method);
                }
            }

            #[mp::task]
            fn blocked_put(q: JoinableQueue<String>, ready: Queue<()>) -> mp::Result<()> {
                ready.put(())?;
                match q.put_timeout("data2".into(), LONG) {
                    Err(TryPutError::ShutDown(item)) if item == "data2" => Ok(()),
                    other => Err(mp::Error::new(
                        ErrorKind::Assertion,
                        format!("expected ShutDown, got {other:?}"),
                    )),
                }
            }

            #[mp::test]
            fn test_shutdown_nonempty() {
                for method in methods() {
                    let q = JoinableQueue::new(1).unwrap();
                    q.put_nowait("data".to_string()).unwrap();
                    let ready = Queue::new(0).unwrap();
                    let putter = start(method, blocked_put, (q.clone(), ready.clone()));
                    ready.get_timeout(LONG).unwrap();
                    q.shutdown(false).unwrap();
                    assert_eq!(q.qsize(), 1);
                    join_ok(&putter, method); // its blocked put raised ShutDown
                    assert!(matches!(q.put("x".into()), Err(PutError::ShutDown(_))));
                    // The queued item can still be taken; then gets raise ShutDown.
                    assert_eq!(q.get().unwrap(), "data");
                    assert!(matches!(q.get_nowait(), Err(TryGetError::ShutDown)));
                    // join() stays blocked until task_done().
                    assert!(!q.join_timeout(TIMEOUT1).unwrap());
                    q.task_done().unwrap();
                    assert!(q.join_timeout(LONG).unwrap());
                }
            }

            #[mp::task]
            fn join_then_report(
                q: JoinableQueue<String>,
                ready: Queue<()>,
                done: Queue<bool>,
            ) -> mp::Result<()> {
                ready.put(())?;
                done.put(q.join_timeout(LONG)?)?;
                Ok(())
            }

            #[mp::test]
            fn test_shutdown_immediate() {
                for method in methods() {
                    let q = JoinableQueue::new(0).unwrap();
                    q.put_nowait("data".to_string()).unwrap();
                    let (ready, done) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
                    let joiner = start(
                        method,
                        join_then_report,
                        (q.clone(), ready.clone(), done.clone()),
                    );
                    ready.get_timeout(LONG).unwrap();
                    q.shutdown(true).unwrap();
                    assert_eq!(q.qsize(), 0);
                    // The join() waiter in the other process was released.
                    assert!(done.get_timeout(LONG).unwrap(), "{method}");
                    join_ok(&joiner, method);
                    assert!(q.join_timeout(LONG).unwrap());
                    assert!(matches!(q.put("data".into()), Err(PutError::ShutDown(_))));
                    assert!(matches!(
                        q.put_nowait("data".into()),
                        Err(TryPutError::ShutDown(_))
                    ));
                    assert!(matches!(q.get(), Err(GetError::ShutDown)));
                    assert!(matches!(q.get_nowait(), Err(TryGetError::ShutDown)));
                    assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
                }
            }

            #[mp::test]
            fn test_shutdown_immediate_with_unfinished() {
                for method in methods() {
                    let q = JoinableQueue::new(0).unwrap();
                    q.put_nowait("data".to_string()).unwrap();
                    q.put_nowait("data".to_string()).unwrap();
                    let (ready, done) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
                    let joiner = start(
                        method,
                        join_then_report,
                        (q.clone(), ready.clone(), done.clone()),
                    );
                    ready.get_timeout(LONG).unwrap();
                    assert_eq!(q.get().unwrap(), "data");
                    q.shutdown(true).unwrap();
                    assert_eq!(q.qsize(), 0);
                    // The item already taken still needs its task_done().
                    assert!(done.get_timeout(TIMEOUT1).unwrap_err().is_empty());
                    assert!(!q.join_timeout(TIMEOUT1).unwrap());
                    assert!(matches!(q.put("data".into()), Err(PutError::ShutDown(_))));
                    assert!(matches!(q.get_nowait(), Err(TryGetError::ShutDown)));
                    q.task_done().unwrap();
                    assert!(done.get_timeout(LONG).unwrap(), "{method}");
                    join_ok(&joiner, method);
                    assert!(q.join_timeout(LONG).unwrap());
                    assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
                }
            }

            /// queue.Queue's allowed transitions: shutting down again, and making it immediate later.
            #[mp::test]
            fn test_shutdown_allowed_transitions() {
                let q = Queue::new(0).unwrap();
                q.put(1).unwrap();
                assert!(!q.is_shutdown());
                q.shutdown(false).unwrap();
                assert!(q.is_shutdown());
                assert_eq!(q.qsize(), 1);
                q.shutdown(true).unwrap();
                assert_eq!(q.qsize(), 0);
                q.shutdown(false).unwrap();
                assert!(q.is_shutdown());
                q.close();
                assert_eq!(q.shutdown(false).unwrap_err().kind(), ErrorKind::Value);
            }

            // ----- SimpleQueue -----

            #[mp::task]
            fn simple_put_empty_twice(
                q: SimpleQueue<bool>,
                can_start: Queue<()>,
                can_continue: Queue<()>,
            ) -> mp::Result<()> {
                can_start.get_timeout(LONG)?;
                // issue 30301: the child sees the queue's state.
                let r = (|| {
                    q.put(q.empty()?)?;
                    q.put(q.empty()?)?;
                    mp::Result::Ok(())
                })();
                can_continue.put(())?;
                r
            }

            #[mp::test]
            fn test_simplequeue_empty() {
                for method in methods() {
                    let q = SimpleQueue::new().unwrap();
                    let (can_start, can_continue) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
                    let p = start_daemon(
                        method,
                        simple_put_empty_twice,
                        (q.clone(), can_start.clone(), can_continue.clone()),
                    );
                    assert!(q.empty().unwrap());
                    can_start.put(()).unwrap();
                    can_continue.get_timeout(LONG).unwrap();
                    assert!(!q.empty().unwrap());
                    assert!(q.get().unwrap());
                    assert!(!q.get().unwrap());
                    assert!(q.empty().unwrap());
                    join_ok(&p, method);
                }
            }

            #[mp::test]
            fn test_simplequeue_close() {
                let q = SimpleQueue::<u8>::new().unwrap();
                q.close();
                q.close(); // closing twice does not fail
                // Unlike Queue, even an unused SimpleQueue's empty() raises OSError once closed.
                let err = q.empty().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Os);
                assert!(err.to_string().contains("is closed"));
                assert!(matches!(q.put(1), Err(PutError::Closed(1))));
                assert!(matches!(q.get(), Err(GetError::Closed)));
            }
        }
    };
}

conformance!(processes, mp, processes);
conformance!(threads, mp::dummy, threads);

// ----- test_queue_feeder_donot_stop_onexc -----

/// An item whose serialization fails.
#[derive(Debug, PartialEq, serde::Deserialize)]
enum Item {
    Good(bool),
    Bad,
}

impl serde::Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Good(b) => s.serialize_newtype_variant("Item", 0, "Good", b),
            Item::Bad => Err(serde::ser::Error::custom("this item cannot be serialized")),
        }
    }
}

#[mp::task]
fn put_bad_then_good(q: Queue<Item>) -> mp::Result<()> {
    match q.put(Item::Bad) {
        Err(PutError::Failed(Item::Bad, e)) if e.kind() == ErrorKind::Serialization => {}
        other => panic!("{other:?}"),
    }
    q.put(Item::Good(true))?;
    Ok(())
}

#[mp::test]
fn test_queue_feeder_donot_stop_onexc() {
    let q = Queue::new(0).unwrap();
    let err = q.put(Item::Bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert_eq!(err.into_inner(), Item::Bad);
    q.put(Item::Good(true)).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), Item::Good(true));

    // bpo-33078: with maxsize=1 the failed item takes no slot.
    let q = Queue::new(1).unwrap();
    assert!(q.put(Item::Bad).is_err());
    q.put(Item::Good(true)).unwrap();
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_timeout(LONG).unwrap(), Item::Good(true));
    assert!(q.empty().unwrap());

    // The same when the failing put happens in another process.
    for method in methods() {
        let q = Queue::new(1).unwrap();
        let p = start(method, put_bad_then_good, (q.clone(),));
        join_ok(&p, method);
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_timeout(LONG).unwrap(), Item::Good(true));
        assert!(q.empty().unwrap());
    }
}

// ----- pickling outside process start -----

/// CPython: pickling a Queue outside process start raises RuntimeError. mp: a queue serializes
/// only through an mp transport (process start, Connection, Queue), which carries its memory.
#[mp::test]
fn test_serializing_outside_a_transport_fails() {
    let q = Queue::<u8>::new(0).unwrap();
    let err = serde_json::to_string(&q).unwrap_err();
    assert!(err.to_string().contains("mp transport"), "{err}");
    let s = SimpleQueue::<u8>::new().unwrap();
    assert!(serde_json::to_string(&s).is_err());
    let j = JoinableQueue::<u8>::new(0).unwrap();
    assert!(serde_json::to_string(&j).is_err());
}
