//! The `WithThreadsQueue` variant of CPython's queue tests (CONFORMANCE sections 6 and 17),
//! ported to `mp::dummy`.
//!
//! Source: `Lib/test/_test_multiprocessing.py` of python/cpython (`_TestQueue`,
//! `TestSimpleQueue`), main branch at 00811485ee5f. Copyright (c) 2001-2024 Python Software
//! Foundation; All Rights Reserved; used under the PSF License Agreement. Only the behaviours
//! are ported, not the code.
//!
//! Tweaks: the producers and consumers are `mp::dummy::Process`es (threads); every wait is
//! bounded; `close` semantics are mp's (CPython's `queue.Queue` has no `close`); timing asserts
//! keep CPython's lower bounds and loosen the upper ones (shared machine).

use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::dummy::{Event, JoinableQueue, Process, Queue, SimpleQueue};
use mp::queues::{GetError, PutError, TryGetError, TryPutError};

const TIMEOUT1: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(60);

fn assert_took_at_least(t: Instant, d: Duration) {
    let e = t.elapsed();
    assert!(e >= d, "returned after {e:?}, expected at least {d:?}");
    assert!(e < d + Duration::from_secs(20), "returned after {e:?}");
}

#[mp::task]
fn drain(q: Queue<u32>, child_can_start: Event, parent_can_continue: Event) -> mp::Result<()> {
    child_can_start.wait();
    for _ in 0..6 {
        q.get()?;
    }
    parent_can_continue.set();
    Ok(())
}

/// `_TestQueue.test_put`.
#[test]
fn put_full_empty_and_timeouts() -> mp::Result<()> {
    const MAXSIZE: usize = 6;
    let q = Queue::new(MAXSIZE)?;
    let (start, cont) = (Event::new()?, Event::new()?);
    let p = Process::builder(drain, (q.clone(), start.clone(), cont.clone()))
        .daemon(true)
        .start()?;
    assert!(q.empty()?);
    assert!(!q.full());
    q.put(1)?;
    q.put(2)?;
    q.put_timeout(3, LONG)?;
    q.put_timeout(4, LONG)?;
    q.put_nowait(5)?;
    q.put_nowait(6)?;
    assert!(!q.empty()?);
    assert!(q.full());
    assert_eq!(q.qsize(), MAXSIZE);
    // Not blocking: Full at once, the item handed back.
    let t = Instant::now();
    match q.put_nowait(7) {
        Err(TryPutError::Full(7)) => {}
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    // Blocking with a timeout: Full after about the timeout.
    let t = Instant::now();
    assert!(q.put_timeout(7, TIMEOUT1).unwrap_err().is_full());
    assert_took_at_least(t, TIMEOUT1);
    let err = q.put_timeout(7, TIMEOUT1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Full);
    assert_eq!(err.into_inner(), 7);
    start.set();
    assert!(cont.wait_timeout(LONG));
    assert!(q.empty()?);
    assert!(!q.full());
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}

#[mp::task]
fn fill(q: Queue<u32>, child_can_start: Event, parent_can_continue: Event) -> mp::Result<()> {
    child_can_start.wait();
    for i in 1..=5 {
        q.put(i)?;
    }
    parent_can_continue.set();
    Ok(())
}

/// `_TestQueue.test_get` and `test_timeout`.
#[test]
fn get_fifo_empty_and_timeouts() -> mp::Result<()> {
    let q = Queue::new(0)?;
    let (start, cont) = (Event::new()?, Event::new()?);
    let p = Process::builder(fill, (q.clone(), start.clone(), cont.clone()))
        .daemon(true)
        .start()?;
    assert!(q.empty()?);
    start.set();
    assert!(cont.wait_timeout(LONG));
    assert!(!q.empty()?);
    assert_eq!(q.get()?, 1);
    assert_eq!(q.get_timeout(LONG)?, 2);
    assert_eq!(q.get_timeout(Duration::from_secs(1))?, 3);
    assert_eq!(q.get_nowait()?, 4);
    assert_eq!(q.get_nowait()?, 5);
    assert!(q.empty()?);
    let t = Instant::now();
    assert!(matches!(q.get_nowait(), Err(TryGetError::Empty)));
    assert!(t.elapsed() < Duration::from_secs(5));
    let t = Instant::now();
    let err = q.get_timeout(TIMEOUT1).unwrap_err();
    assert!(err.is_empty());
    assert_eq!(err.kind(), ErrorKind::Empty);
    assert_took_at_least(t, TIMEOUT1);
    // `test_timeout`: get(True, 0.2) must block at least 0.1 s.
    let t = Instant::now();
    assert!(q.get_timeout(Duration::from_millis(200)).is_err());
    assert_took_at_least(t, Duration::from_millis(100));
    p.join_timeout(LONG)?;
    Ok(())
}

/// `_TestQueue.test_fork`, for threads: items put before the consumer starts and items put
/// by another thread all arrive, in order.
#[test]
fn items_from_before_and_after_a_thread_starts() -> mp::Result<()> {
    let q = Queue::new(0)?;
    for i in 0..10 {
        q.put(i)?;
    }
    let q2 = q.clone();
    let p = Process::new(
        move || -> mp::Result<()> {
            for i in 10..20 {
                q2.put(i)?;
            }
            Ok(())
        },
        (),
    );
    p.start()?;
    p.join_timeout(LONG)?;
    let got: Vec<u32> = (0..20)
        .map(|_| q.get_timeout(LONG))
        .collect::<Result<_, _>>()?;
    assert_eq!(got, (0..20).collect::<Vec<u32>>());
    assert!(q.get_nowait().unwrap_err().is_empty());
    Ok(())
}

/// `_TestQueue.test_qsize`.
#[test]
fn qsize() -> mp::Result<()> {
    let q = Queue::new(0)?;
    assert_eq!(q.qsize(), 0);
    q.put(1)?;
    assert_eq!(q.qsize(), 1);
    q.put(5)?;
    assert_eq!(q.qsize(), 2);
    q.get()?;
    assert_eq!(q.qsize(), 1);
    q.get()?;
    assert_eq!(q.qsize(), 0);
    Ok(())
}

#[mp::task]
fn worker(q: JoinableQueue<Option<u32>>) -> mp::Result<()> {
    while let Some(_item) = q.get()? {
        q.task_done()?;
    }
    q.task_done()?;
    Ok(())
}

/// `_TestQueue.test_task_done`.
#[test]
fn task_done_and_join() -> mp::Result<()> {
    let q = JoinableQueue::new(0)?;
    let workers: Vec<Process> = (0..4).map(|_| Process::new(worker, (q.clone(),))).collect();
    for w in &workers {
        w.start()?;
    }
    for i in 0..10 {
        q.put(Some(i))?;
    }
    assert!(q.join_timeout(LONG)?);
    assert_eq!(q.unfinished_tasks(), 0);
    for _ in &workers {
        q.put(None)?;
    }
    for w in &workers {
        w.join_timeout(LONG)?;
        assert_eq!(w.exitcode(), Some(0));
    }
    assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
    Ok(())
}

/// `_TestQueue.test_closed_queue_empty_exceptions` and `test_closed_queue_put_get_exceptions`
/// (mp's `close`).
#[test]
fn close() -> mp::Result<()> {
    let unused = Queue::<u8>::new(0)?;
    unused.close();
    unused.join_thread()?;
    assert!(unused.empty()?, "a never-used closed queue still answers");
    let q = Queue::new(0)?;
    q.put(1u8)?;
    q.get()?;
    assert!(q.join_thread().is_err(), "join_thread before close");
    q.close();
    q.join_thread()?;
    let e = q.empty().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Os);
    assert!(e.to_string().contains("is closed"));
    match q.put(2) {
        Err(PutError::Closed(2)) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(q.get(), Err(GetError::Closed)));
    assert_eq!(q.get().unwrap_err().kind(), ErrorKind::Value);
    assert!(q.get().unwrap_err().to_string().contains("is closed"));
    Ok(())
}

#[test]
fn close_wakes_blocked_callers() -> mp::Result<()> {
    let q = Queue::<u8>::new(1)?;
    let q2 = q.clone();
    let getter = std::thread::spawn(move || q2.get().map_err(|e| e.kind()));
    let full = Queue::<u8>::new(1)?;
    full.put(0)?;
    let f2 = full.clone();
    let putter = std::thread::spawn(move || f2.put(1).map_err(|e| e.kind()));
    std::thread::sleep(Duration::from_millis(50));
    q.close();
    full.close();
    assert_eq!(getter.join().expect("thread"), Err(ErrorKind::Value));
    assert_eq!(putter.join().expect("thread"), Err(ErrorKind::Value));
    Ok(())
}

#[mp::task]
fn get_or_shutdown(q: JoinableQueue<u32>, out: Queue<ErrorKind>) -> mp::Result<()> {
    match q.get() {
        Ok(_) => out.put(ErrorKind::Value)?,
        Err(e) => out.put(e.kind())?,
    }
    Ok(())
}

/// `_TestQueue.test_shutdown_empty`.
#[test]
fn shutdown_empty() -> mp::Result<()> {
    let q = JoinableQueue::<u32>::new(0)?;
    let out = Queue::new(0)?;
    let blocked = Process::new(get_or_shutdown, (q.clone(), out.clone()));
    blocked.start()?;
    let q2 = q.clone();
    let joiner = std::thread::spawn(move || q2.join());
    q.shutdown(false)?;
    assert!(q.is_shutdown());
    assert_eq!(q.qsize(), 0);
    joiner.join().expect("thread")?;
    assert_eq!(out.get_timeout(LONG)?, ErrorKind::ShutDown);
    blocked.join_timeout(LONG)?;
    assert!(matches!(q.put(1), Err(PutError::ShutDown(1))));
    assert!(matches!(q.put_nowait(1), Err(TryPutError::ShutDown(1))));
    assert!(matches!(q.get(), Err(GetError::ShutDown)));
    assert!(matches!(q.get_nowait(), Err(TryGetError::ShutDown)));
    Ok(())
}

/// `_TestQueue.test_shutdown_nonempty`.
#[test]
fn shutdown_nonempty() -> mp::Result<()> {
    let q = JoinableQueue::new(0)?;
    q.put("data")?;
    q.shutdown(false)?;
    assert_eq!(q.qsize(), 1);
    assert!(!q.join_timeout(Duration::from_millis(50))?);
    assert_eq!(q.put("more").unwrap_err().kind(), ErrorKind::ShutDown);
    assert_eq!(q.get()?, "data");
    assert!(
        !q.join_timeout(Duration::from_millis(50))?,
        "join waits for task_done"
    );
    q.task_done()?;
    assert!(q.join_timeout(LONG)?);
    assert_eq!(q.get().unwrap_err().kind(), ErrorKind::ShutDown);
    Ok(())
}

/// `_TestQueue.test_shutdown_immediate` and `test_shutdown_immediate_with_unfinished`.
#[test]
fn shutdown_immediate() -> mp::Result<()> {
    let q = JoinableQueue::new(0)?;
    q.put("Y")?;
    q.put("D")?;
    assert_eq!(q.get()?, "Y");
    q.shutdown(true)?;
    assert_eq!(q.qsize(), 0);
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "the item taken still needs its task_done"
    );
    assert!(!q.join_timeout(Duration::from_millis(50))?);
    q.task_done()?;
    assert!(q.join_timeout(LONG)?);
    assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
    assert_eq!(q.get().unwrap_err().kind(), ErrorKind::ShutDown);
    assert_eq!(q.put("x").unwrap_err().kind(), ErrorKind::ShutDown);
    // Immediate on a fresh one releases join waiters.
    let r = JoinableQueue::new(0)?;
    r.put(1)?;
    let r2 = r.clone();
    let joiner = std::thread::spawn(move || r2.join_timeout(LONG));
    std::thread::sleep(Duration::from_millis(20));
    r.shutdown(true)?;
    assert!(joiner.join().expect("thread")?);
    Ok(())
}

/// `TestSimpleQueue.test_empty`, `test_close`, `test_closed`.
#[test]
fn simple_queue() -> mp::Result<()> {
    let q = SimpleQueue::new()?;
    assert!(q.empty()?);
    let q2 = q.clone();
    let p = Process::new(
        move || -> mp::Result<()> {
            q2.put(4)?;
            q2.put(5)?;
            Ok(())
        },
        (),
    );
    p.start()?;
    p.join_timeout(LONG)?;
    assert!(!q.empty()?);
    assert_eq!(q.get()?, 4);
    assert_eq!(q.get()?, 5);
    assert!(q.empty()?);
    assert!(q.get_timeout(TIMEOUT1).unwrap_err().is_empty());
    q.close();
    q.close();
    let e = q.empty().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Os);
    assert!(e.to_string().contains("is closed"));
    assert!(q.put(1).is_err());
    assert!(q.get().is_err());
    Ok(())
}

/// Items need not be serializable: they are moved.
#[test]
fn any_send_item() -> mp::Result<()> {
    let q: Queue<Box<dyn FnOnce() -> u32 + Send>> = Queue::new(0)?;
    q.put(Box::new(|| 42)).map_err(mp::Error::from)?;
    let f = q.get()?;
    assert_eq!(f(), 42);
    Ok(())
}

#[test]
fn many_producers_and_consumers() -> mp::Result<()> {
    let q = Queue::new(8)?;
    let out = Queue::new(0)?;
    let producers: Vec<Process> = (0..4)
        .map(|k| {
            let q = q.clone();
            Process::new(
                move || -> mp::Result<()> {
                    for i in 0..250u32 {
                        q.put(k * 1000 + i)?;
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    let consumers: Vec<Process> = (0..3)
        .map(|_| {
            let (q, out) = (q.clone(), out.clone());
            Process::new(
                move || -> mp::Result<()> {
                    while let Ok(x) = q.get() {
                        out.put(x)?;
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    for p in producers.iter().chain(&consumers) {
        p.start()?;
    }
    for p in &producers {
        p.join_timeout(LONG)?;
    }
    let mut got: Vec<u32> = (0..1000)
        .map(|_| out.get_timeout(LONG))
        .collect::<Result<_, _>>()?;
    q.shutdown(false)?;
    for c in &consumers {
        c.join_timeout(LONG)?;
        assert!(!c.is_alive());
    }
    got.sort_unstable();
    let mut want: Vec<u32> = (0..4)
        .flat_map(|k| (0..250).map(move |i| k * 1000 + i))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    Ok(())
}
