//! async/await over mp's objects (the `aio` module), written once and compiled against `mp`
//! (OS processes under every start method, the shared-memory queue, socket connections) and
//! `mp::dummy` (threads, the local queue, in-memory connections), each run under tokio and
//! under async-io. Every future runs on a single-threaded executor beside the other half of
//! its test (`both`): a future that blocked the thread would starve it and time the test out.

mod aio_util;
mod parity;

macro_rules! suite {
    ($name:ident, $($api:ident)::+, $util:ident) => {
        mod $name {
            use std::time::Duration;

            use $($api)::+::{
                Barrier, Event, JoinableQueue, Lock, Pipe, Pool, Queue, Semaphore, SimpleQueue,
            };
            use mp::connection::wait_async;

            use crate::aio_util::{RUNTIMES, beside_a_counter, both, nap, next, run, within};
            use crate::parity::$util::{LONG, join_ok, methods, start};

            #[mp::task]
            fn sleep_then_exit(ms: u64) {
                std::thread::sleep(Duration::from_millis(ms));
            }

            #[mp::task]
            fn sleep_then_put(q: Queue<u32>, ms: u64, n: u32) -> mp::Result<()> {
                std::thread::sleep(Duration::from_millis(ms));
                for i in 0..n {
                    q.put(i)?;
                }
                Ok(())
            }

            #[mp::task]
            fn take_and_mark_done(q: JoinableQueue<u32>, n: u32) -> mp::Result<()> {
                for _ in 0..n {
                    q.get_timeout(LONG).expect("an item in time");
                    std::thread::sleep(Duration::from_millis(5));
                    q.task_done()?;
                }
                Ok(())
            }

            #[mp::task]
            fn square(x: u64) -> u64 {
                x * x
            }

            #[mp::task]
            fn nap_then_square(x: u64) -> u64 {
                std::thread::sleep(Duration::from_millis(20));
                x * x
            }

            #[mp::task]
            fn failing(x: u64) -> Result<u64, String> {
                Err(format!("no {x}"))
            }

            #[mp::task]
            fn echo_later(conn: $($api)::+::Connection) -> mp::Result<()> {
                let v: Vec<u8> = conn.recv()?;
                std::thread::sleep(Duration::from_millis(50));
                conn.send(&v)?;
                let b = conn.recv_bytes()?;
                conn.send_bytes(&b)
            }

            #[mp::test]
            fn a_process_is_joined_without_blocking_the_executor() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let p = start(method, sleep_then_exit, (100,));
                        let ticks = run(rt, move || async move {
                            // The counter runs only if the join leaves the thread free.
                            let (joined, ticks) = beside_a_counter(p.join_async()).await;
                            joined.unwrap();
                            assert_eq!(p.exitcode(), Some(0), "{rt:?} {method}");
                            ticks
                        });
                        assert_eq!(ticks, 3);
                    }
                }
            }

            #[mp::test]
            fn join_async_before_start_is_an_error() {
                for rt in RUNTIMES {
                    let err = run(rt, || async {
                        let p = $($api)::+::Process::new(sleep_then_exit, (0,));
                        p.join_async().await.unwrap_err()
                    });
                    assert_eq!(err.kind(), mp::ErrorKind::Assertion, "{rt:?}");
                }
            }

            #[mp::test]
            fn connections_send_and_receive_asynchronously() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let (a, b) = Pipe(true).unwrap();
                        let p = start(method, echo_later, (b,));
                        let got = run(rt, move || async move {
                            let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
                            a.send_async(&big).await.unwrap();
                            let back: Vec<u8> = a.recv_async().await.unwrap();
                            assert!(back == big);
                            a.send_bytes_async(b"raw").await.unwrap();
                            a.recv_bytes_async().await
                        });
                        assert_eq!(got.unwrap(), b"raw", "{rt:?} {method}");
                        join_ok(&p, method);
                    }
                }
            }

            #[mp::test]
            fn a_dropped_recv_loses_no_message() {
                for rt in RUNTIMES {
                    let (a, b) = Pipe(true).unwrap();
                    run(rt, move || async move {
                        assert!(within(Duration::from_millis(30), b.recv_async::<u32>()).await.is_none());
                        a.send(&5u32).unwrap();
                        assert_eq!(b.recv_async::<u32>().await.unwrap(), 5);
                        // A closed peer ends a waiting receive with an error, not a hang.
                        drop(a);
                        assert!(b.recv_async::<u32>().await.is_err());
                    });
                }
            }

            #[mp::test]
            fn a_connection_awaited_under_two_runtimes_then_closed_ends_its_peer() {
                let (a, b) = Pipe(true).unwrap();
                let (a, b) = run(RUNTIMES[0], move || async move {
                    // Nothing to read: this wait registers with the reactor.
                    assert!(within(Duration::from_millis(20), a.recv_async::<u8>()).await.is_none());
                    b.send(&1u8).unwrap();
                    assert_eq!(a.recv_async::<u8>().await.unwrap(), 1);
                    (a, b)
                });
                let (mut a, b) = run(RUNTIMES[1], move || async move {
                    let (got, ()) = both(a.recv_async::<u8>(), async {
                        nap(Duration::from_millis(20)).await;
                        b.send(&2u8).unwrap();
                    })
                    .await;
                    assert_eq!(got.unwrap(), 2);
                    (a, b)
                });
                a.close();
                // The reactor's duplicate went with it: the peer sees end of file.
                assert!(b.poll_timeout(LONG).unwrap());
                assert!(b.recv::<u8>().is_err());
            }

            #[mp::test]
            fn wait_async_returns_the_ready_objects() {
                for rt in RUNTIMES {
                    let (r1, w1) = Pipe(false).unwrap();
                    let (r2, w2) = Pipe(false).unwrap();
                    run(rt, move || async move {
                        let (ready, ()) = both(wait_async(&[&r1, &r2]), async {
                            nap(Duration::from_millis(20)).await;
                            w2.send(&1u8).unwrap();
                        })
                        .await;
                        assert_eq!(ready.unwrap(), vec![1]);
                        w1.send(&1u8).unwrap();
                        let mut both_ready = wait_async(&[&r1, &r2]).await.unwrap();
                        both_ready.sort();
                        assert_eq!(both_ready, vec![0, 1]);
                        assert!(wait_async::<&$($api)::+::Connection>(&[]).await.unwrap().is_empty());
                    });
                }
            }

            #[mp::test]
            fn queue_items_from_children_are_awaited() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let q = Queue::new(0).unwrap();
                        let p = start(method, sleep_then_put, (q.clone(), 50, 100));
                        let got = run(rt, move || async move {
                            let mut got = Vec::new();
                            for _ in 0..100 {
                                got.push(q.get_async().await.unwrap());
                            }
                            got
                        });
                        assert_eq!(got, (0..100).collect::<Vec<u32>>(), "{rt:?} {method}");
                        join_ok(&p, method);
                    }
                }
            }

            #[mp::test]
            fn a_full_queue_takes_an_awaited_put_once_room_comes() {
                for rt in RUNTIMES {
                    let q: Queue<u32> = Queue::new(1).unwrap();
                    run(rt, move || async move {
                        q.put_async(1).await.unwrap();
                        // Full: a put that is given up leaves the queue as it was.
                        assert!(within(Duration::from_millis(30), q.put_async(2)).await.is_none());
                        assert_eq!(q.qsize(), 1);
                        let (put, got) = both(q.put_async(3), async {
                            nap(Duration::from_millis(20)).await;
                            q.get_async().await.unwrap()
                        })
                        .await;
                        put.unwrap();
                        assert_eq!(got, 1);
                        assert_eq!(q.get_async().await.unwrap(), 3);
                    });
                }
            }

            #[mp::test]
            fn a_dropped_get_loses_no_item() {
                for rt in RUNTIMES {
                    let q: Queue<u32> = Queue::new(0).unwrap();
                    let s: SimpleQueue<u32> = SimpleQueue::new().unwrap();
                    run(rt, move || async move {
                        assert!(within(Duration::from_millis(30), q.get_async()).await.is_none());
                        assert!(within(Duration::from_millis(30), s.get_async()).await.is_none());
                        q.put(7).unwrap();
                        s.put_async(8).await.unwrap();
                        assert_eq!(q.get_async().await.unwrap(), 7);
                        assert_eq!(s.get_async().await.unwrap(), 8);
                        // Two getters wait at once; three items come: each goes to one.
                        let ((a, b), ()) = both(both(q.get_async(), q.get_async()), async {
                            nap(Duration::from_millis(20)).await;
                            for i in 10..13 {
                                q.put(i).unwrap();
                            }
                        })
                        .await;
                        let mut all = vec![a.unwrap(), b.unwrap(), q.get_async().await.unwrap()];
                        all.sort();
                        assert_eq!(all, [10, 11, 12]);
                        assert!(q.empty().unwrap());
                    });
                }
            }

            #[mp::test]
            fn shutdown_and_close_end_awaited_gets() {
                for rt in RUNTIMES {
                    let q: Queue<u32> = Queue::new(0).unwrap();
                    let q2 = q.clone();
                    let err = run(rt, move || async move {
                        let (got, ()) = both(q.get_async(), async {
                            nap(Duration::from_millis(20)).await;
                            q2.shutdown(false).unwrap();
                        })
                        .await;
                        got.unwrap_err()
                    });
                    assert!(matches!(err, mp::queues::GetError::ShutDown), "{rt:?}: {err:?}");
                }
            }

            #[mp::test]
            fn a_joinable_queue_is_joined_asynchronously() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let q = JoinableQueue::new(0).unwrap();
                        for i in 0..5 {
                            q.put(i).unwrap();
                        }
                        let p = start(method, take_and_mark_done, (q.clone(), 5));
                        run(rt, move || async move {
                            q.join_async().await.unwrap();
                            assert_eq!(q.unfinished_tasks(), 0);
                        });
                        join_ok(&p, method);
                    }
                }
            }

            #[mp::test]
            fn many_pending_gets_cost_no_thread_each() {
                for rt in RUNTIMES {
                    let queues: Vec<Queue<u32>> = (0..200).map(|_| Queue::new(0).unwrap()).collect();
                    let putters = queues.clone();
                    let sum = run(rt, move || async move {
                        let gets = queues.iter().map(|q| Box::pin(q.get_async())).collect::<Vec<_>>();
                        let feeder = async {
                            nap(Duration::from_millis(30)).await;
                            for (i, q) in putters.iter().enumerate() {
                                q.put(i as u32).unwrap();
                            }
                        };
                        let all = async {
                            let mut sum = 0;
                            for g in gets {
                                sum += g.await.unwrap();
                            }
                            sum
                        };
                        both(all, feeder).await.0
                    });
                    assert_eq!(sum, (0..200).sum::<u32>(), "{rt:?}");
                }
            }

            #[mp::test]
            fn pool_results_are_awaited() {
                for (rt, method) in RUNTIMES
                    .into_iter()
                    .flat_map(|rt| methods().into_iter().map(move |m| (rt, m)))
                {
                    let pool = Pool::builder()
                        .processes(2)
                        .start_method(method)
                        .build()
                        .unwrap();
                    run(rt, move || async move {
                        assert_eq!(pool.apply_async(nap_then_square, (3,)).unwrap().await.unwrap(), 9);
                        assert_eq!(pool.map_async(square, 0..5u64).unwrap().await.unwrap(), [0, 1, 4, 9, 16]);
                        let err = pool.apply_async(failing, (4,)).unwrap().await.unwrap_err();
                        assert_eq!(err.kind(), mp::ErrorKind::Remote);
                        let r = pool.apply_async(square, (5,)).unwrap();
                        r.wait_async().await;
                        assert_eq!(r.get().unwrap(), 25);

                        let mut stream = pool.imap(nap_then_square, 0..6u64).unwrap();
                        let mut got = Vec::new();
                        while let Some(x) = next(&mut stream).await {
                            got.push(x.unwrap());
                        }
                        assert_eq!(got, [0, 1, 4, 9, 16, 25]);
                        let mut unordered = pool.imap_unordered(square, 0..20u64).unwrap();
                        let mut got = Vec::new();
                        while let Some(x) = next(&mut unordered).await {
                            got.push(x.unwrap());
                        }
                        got.sort();
                        assert_eq!(got, (0..20u64).map(|x| x * x).collect::<Vec<_>>());
                        pool.close().unwrap();
                        pool.join().unwrap();
                    });
                }
            }

            #[mp::task]
            fn hold_then_release(l: Lock, ready: Event, ms: u64) -> mp::Result<()> {
                l.acquire()?;
                ready.set();
                std::thread::sleep(Duration::from_millis(ms));
                l.release()
            }

            #[mp::task]
            fn set_later(e: Event, ms: u64) {
                std::thread::sleep(Duration::from_millis(ms));
                e.set();
            }

            #[mp::task]
            fn release_later(s: Semaphore, ms: u64) -> mp::Result<()> {
                std::thread::sleep(Duration::from_millis(ms));
                s.release()
            }

            #[mp::test]
            fn a_lock_held_elsewhere_is_acquired_asynchronously() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let (l, ready) = (Lock::new().unwrap(), Event::new().unwrap());
                        let p = start(method, hold_then_release, (l.clone(), ready.clone(), 100));
                        assert!(ready.wait_timeout(LONG));
                        let l2 = l.clone();
                        let ticks = run(rt, move || async move {
                            let (got, ticks) = beside_a_counter(l2.lock_async()).await;
                            let guard = got.unwrap();
                            assert!(l2.locked());
                            drop(guard);
                            ticks
                        });
                        assert_eq!(ticks, 3, "{rt:?} {method}");
                        assert!(!l.locked());
                        join_ok(&p, method);
                    }
                }
            }

            #[mp::test]
            fn a_dropped_acquire_holds_nothing_and_wakes_the_next_waiter() {
                for rt in RUNTIMES {
                    let l = Lock::new().unwrap();
                    l.acquire().unwrap();
                    let l2 = l.clone();
                    run(rt, move || async move {
                        assert!(within(Duration::from_millis(30), l2.acquire_async()).await.is_none());
                    });
                    // A blocking waiter gets the lock promptly once it is released.
                    let l3 = l.clone();
                    let waiter = std::thread::spawn(move || {
                        let t = std::time::Instant::now();
                        l3.acquire().unwrap();
                        l3.release().unwrap();
                        t.elapsed()
                    });
                    std::thread::sleep(Duration::from_millis(20));
                    l.release().unwrap();
                    assert!(waiter.join().unwrap() < LONG, "{rt:?}");
                    assert!(!l.locked());
                }
            }

            #[mp::test]
            fn events_and_semaphores_are_awaited() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let e = Event::new().unwrap();
                        let s = Semaphore::new(0).unwrap();
                        let p1 = start(method, set_later, (e.clone(), 50));
                        let p2 = start(method, release_later, (s.clone(), 50));
                        run(rt, move || async move {
                            e.wait_async().await.unwrap();
                            s.acquire_async().await.unwrap();
                            assert_eq!(s.get_value(), 0);
                            // Already set / available: at once.
                            e.wait_async().await.unwrap();
                            s.release().unwrap();
                            s.acquire_async().await.unwrap();
                        });
                        join_ok(&p1, method);
                        join_ok(&p2, method);
                    }
                }
            }

            #[mp::task]
            fn wait_at(b: Barrier, ms: u64) -> mp::Result<()> {
                std::thread::sleep(Duration::from_millis(ms));
                b.wait().map(drop)
            }

            #[mp::test]
            fn a_barrier_is_awaited_with_other_processes() {
                for rt in RUNTIMES {
                    for method in methods() {
                        let b = Barrier::new(3).unwrap();
                        let p1 = start(method, wait_at, (b.clone(), 20));
                        let p2 = start(method, wait_at, (b.clone(), 60));
                        let b2 = b.clone();
                        let index = run(rt, move || async move {
                            // A party given up before the round is complete leaves it: the
                            // barrier stays whole and the round still needs three.
                            assert!(within(Duration::from_millis(5), b2.wait_async()).await.is_none());
                            assert!(!b2.broken());
                            b2.wait_async().await.unwrap()
                        });
                        assert!(index < 3, "{rt:?} {method}");
                        join_ok(&p1, method);
                        join_ok(&p2, method);
                        assert!(!b.broken());
                        assert_eq!(b.n_waiting(), 0);
                    }
                }
            }

            #[mp::test]
            fn an_awaited_barrier_reports_a_broken_round() {
                for rt in RUNTIMES {
                    let b = Barrier::new(2).unwrap();
                    let b2 = b.clone();
                    let err = run(rt, move || async move {
                        let (got, ()) = both(b2.wait_async(), async {
                            nap(Duration::from_millis(20)).await;
                            b2.abort();
                        })
                        .await;
                        got.unwrap_err()
                    });
                    assert_eq!(err.kind(), mp::ErrorKind::BrokenBarrier, "{rt:?}");
                    b.reset();
                    assert!(!b.broken());
                }
            }

            #[test]
            fn futures_of_shared_objects_are_send() {
                fn send<T: Send>(_: &T) {}
                let q: Queue<u32> = Queue::new(0).unwrap();
                send(&q.get_async());
                send(&q.put_async(1));
                let (a, _b) = Pipe(true).unwrap();
                send(&a.recv_async::<u32>());
                send(&wait_async(&[&a]));
                let _ = LONG;
            }
        }
    };
}

suite!(processes, mp, processes);
suite!(threads, mp::dummy, threads);

/// A listener accepts without blocking the executor, with the authentication handshake.
#[mp::test]
fn a_listener_accepts_asynchronously() {
    use mp::connection::{Client, Listener};
    for rt in aio_util::RUNTIMES {
        let l = Listener::builder().authkey(b"secret").bind().unwrap();
        let address = l.address().clone();
        let got = aio_util::run(rt, move || async move {
            let (conn, ()) = aio_util::both(l.accept_async(), async {
                aio_util::nap(std::time::Duration::from_millis(20)).await;
                let address = address.clone();
                std::thread::spawn(move || {
                    let c = Client::builder(&address)
                        .authkey(b"secret")
                        .connect()
                        .unwrap();
                    c.send(&"hello".to_string()).unwrap();
                    // Keep the connection until the server read.
                    let _ = c.poll_timeout(aio_util::LONG);
                });
            })
            .await;
            let conn = conn.unwrap();
            let s: String = conn.recv_async().await.unwrap();
            conn.send_async(&1u8).await.unwrap();
            s
        });
        assert_eq!(got, "hello", "{rt:?}");
    }
}

#[mp::task]
fn hold_forever(l: mp::Lock, ready: mp::Event) -> mp::Result<()> {
    l.acquire()?;
    ready.set();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// A lock whose holder is killed: the awaited acquire reports it (as `acquire` does), it does
/// not wait forever.
#[mp::test]
fn an_awaited_lock_reports_a_dead_holder() {
    for rt in aio_util::RUNTIMES {
        for method in mp::get_all_start_methods() {
            let (l, ready) = (mp::Lock::new().unwrap(), mp::Event::new().unwrap());
            let p = parity::processes::start(method, hold_forever, (l.clone(), ready.clone()));
            assert!(ready.wait_timeout(aio_util::LONG));
            let l2 = l.clone();
            let err = aio_util::run(rt, move || async move {
                let (got, ()) = aio_util::both(l2.acquire_async(), async {
                    aio_util::nap(std::time::Duration::from_millis(20)).await;
                    p.kill().unwrap();
                    p.join_timeout(aio_util::LONG).unwrap();
                })
                .await;
                got.unwrap_err()
            });
            assert_eq!(err.kind(), mp::ErrorKind::OwnerDied, "{rt:?} {method}");
            assert!(l.recover());
        }
    }
}
