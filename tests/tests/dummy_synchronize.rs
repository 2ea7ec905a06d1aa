//! The `WithThreads` variants of CPython's Lock, Semaphore, Condition, Event and Barrier tests
//! (CONFORMANCE sections 7-11 and 17), ported to `mp::dummy`.
//!
//! Source: `Lib/test/_test_multiprocessing.py` of python/cpython (`_TestLock`,
//! `_TestSemaphore`, `_TestCondition`, `_TestEvent`, `_TestBarrier`), main branch at
//! 00811485ee5f. Copyright (c) 2001-2024 Python Software Foundation; All Rights Reserved; used
//! under the PSF License Agreement. Only the behaviours are ported, not the code.
//!
//! Tweaks: threads are `mp::dummy::Process`es; every wait is bounded; the error kinds are
//! `threading`'s (`RuntimeError` where the process primitives raise `ValueError` or
//! `AssertionError`); timing asserts keep CPython's lower bounds and loosen the upper ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::dummy::synchronize::AnyLock;
use mp::dummy::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, Process, Queue, RLock, Semaphore, Value,
};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(150);

fn assert_took_at_least(t: Instant, d: Duration) {
    let e = t.elapsed();
    assert!(e >= d, "returned after {e:?}, expected at least {d:?}");
    assert!(e < d + Duration::from_secs(20), "returned after {e:?}");
}

fn join_all(ps: &[Process]) -> mp::Result<()> {
    for p in ps {
        p.join_timeout(LONG)?;
        assert!(!p.is_alive(), "{p:?} still running");
        assert_eq!(p.exitcode(), Some(0), "{p:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lock / RLock
// ---------------------------------------------------------------------------------------------

/// `_TestLock.test_lock`, thread flavour: releasing an unlocked lock is a RuntimeError.
#[test]
fn lock() -> mp::Result<()> {
    let l = Lock::new()?;
    l.acquire()?;
    assert!(l.locked());
    assert!(!l.try_acquire()?);
    assert!(!l.acquire_timeout(Duration::from_millis(10))?);
    l.release()?;
    assert!(!l.locked());
    let e = l.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Runtime);
    Ok(())
}

/// A thread lock may be released by another thread; `locked()` is seen by every thread.
#[test]
fn lock_released_by_another_thread() -> mp::Result<()> {
    let l = Lock::new()?;
    l.acquire()?;
    let l2 = l.clone();
    let p = Process::new(
        move || -> mp::Result<()> {
            assert!(l2.locked());
            l2.release()
        },
        (),
    );
    p.start()?;
    join_all(&[p])?;
    assert!(!l.locked());
    Ok(())
}

#[mp::task]
fn hold_then_release(l: Lock, held: Event, go: Event) -> mp::Result<()> {
    let _g = l.lock()?;
    held.set();
    go.wait();
    Ok(())
}

/// `_TestLock.test_lock_locked_2processes`, for threads.
#[test]
fn lock_contention() -> mp::Result<()> {
    let l = Lock::new()?;
    let (held, go) = (Event::new()?, Event::new()?);
    let p = Process::new(hold_then_release, (l.clone(), held.clone(), go.clone()));
    p.start()?;
    assert!(held.wait_timeout(LONG));
    assert!(l.locked());
    let t = Instant::now();
    assert!(!l.acquire_timeout(SHORT)?);
    assert_took_at_least(t, SHORT);
    go.set();
    assert!(l.acquire_timeout(LONG)?);
    l.release()?;
    join_all(&[p])
}

/// Mutual exclusion under load: a counter incremented by 8 threads under the lock.
#[test]
fn lock_mutual_exclusion() -> mp::Result<()> {
    let l = Lock::new()?;
    let count = Arc::new(AtomicUsize::new(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let ps: Vec<Process> = (0..8)
        .map(|_| {
            let (l, count, inside) = (l.clone(), count.clone(), inside.clone());
            Process::new(
                move || -> mp::Result<()> {
                    for _ in 0..2000 {
                        let _g = l.lock()?;
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        count.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    for p in &ps {
        p.start()?;
    }
    join_all(&ps)?;
    assert_eq!(count.load(Ordering::SeqCst), 16_000);
    Ok(())
}

/// `_TestLock.test_rlock`, thread flavour.
#[test]
fn rlock() -> mp::Result<()> {
    let l = RLock::new()?;
    l.acquire()?;
    l.acquire()?;
    l.acquire()?;
    assert!(l.locked());
    assert_eq!(l.count(), 3);
    assert_eq!(
        format!("{l:?}"),
        "<RLock(MainThread, 3)>".replace("MainThread", &mp::dummy::current_process().name())
    );
    l.release()?;
    l.release()?;
    assert!(l.locked());
    l.release()?;
    assert!(!l.locked());
    assert_eq!(format!("{l:?}"), "<RLock(None, 0)>");
    assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Runtime);
    Ok(())
}

/// An RLock released by a thread that does not own it is a RuntimeError; another thread sees
/// it locked (`test_rlock_locked_2processes`, for threads).
#[test]
fn rlock_other_thread() -> mp::Result<()> {
    let l = RLock::new()?;
    l.acquire()?;
    let l2 = l.clone();
    let p = Process::new(
        move || -> mp::Result<()> {
            assert!(l2.locked());
            assert!(!l2.is_mine());
            assert_eq!(l2.count(), 0);
            assert!(!l2.try_acquire()?);
            assert_eq!(l2.release().unwrap_err().kind(), ErrorKind::Runtime);
            assert!(format!("{l2:?}").contains("SomeOtherThread"));
            Ok(())
        },
        (),
    );
    p.start()?;
    join_all(&[p])?;
    l.release()?;
    Ok(())
}

/// `_TestLock.test_lock_context` / `test_rlock_context`: guards.
#[test]
fn guards() -> mp::Result<()> {
    let l = Lock::new()?;
    {
        let _g = l.lock()?;
        assert!(l.locked());
    }
    assert!(!l.locked());
    let r = RLock::new()?;
    {
        let _a = r.lock()?;
        let _b = r.lock()?;
        assert_eq!(r.count(), 2);
    }
    assert!(!r.locked());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Semaphore
// ---------------------------------------------------------------------------------------------

/// `_TestSemaphore.test_semaphore` and `test_bounded_semaphore`.
#[test]
fn semaphores() -> mp::Result<()> {
    let s = Semaphore::new(2)?;
    assert_eq!(s.get_value(), 2);
    assert!(s.try_acquire()?);
    assert_eq!(s.get_value(), 1);
    s.acquire()?;
    assert_eq!(s.get_value(), 0);
    assert!(!s.try_acquire()?);
    s.release()?;
    assert_eq!(s.get_value(), 1);
    s.release()?;
    assert_eq!(s.get_value(), 2);
    s.release()?; // above the initial value
    assert_eq!(s.get_value(), 3);
    s.release()?;
    assert_eq!(s.get_value(), 4);
    let b = BoundedSemaphore::new(2)?;
    b.acquire()?;
    b.acquire()?;
    b.release()?;
    b.release()?;
    assert_eq!(b.get_value(), 2);
    let e = b.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert_eq!(b.get_value(), 2);
    Ok(())
}

/// `_TestSemaphore.test_timeout`.
#[test]
fn semaphore_timeouts() -> mp::Result<()> {
    let s = Semaphore::new(0)?;
    let t = Instant::now();
    assert!(!s.try_acquire()?);
    assert!(!s.acquire_timeout(Duration::ZERO)?);
    assert!(t.elapsed() < Duration::from_secs(5));
    let t = Instant::now();
    assert!(!s.acquire_timeout(SHORT)?);
    assert_took_at_least(t, SHORT);
    Ok(())
}

/// A semaphore limits how many threads are inside.
#[test]
fn semaphore_limits_concurrency() -> mp::Result<()> {
    let s = Semaphore::new(3)?;
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let ps: Vec<Process> = (0..10)
        .map(|_| {
            let (s, inside, most) = (s.clone(), inside.clone(), most.clone());
            Process::new(
                move || -> mp::Result<()> {
                    for _ in 0..50 {
                        let _g = s.lock()?;
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    for p in &ps {
        p.start()?;
    }
    join_all(&ps)?;
    assert!(most.load(Ordering::SeqCst) <= 3);
    assert_eq!(s.get_value(), 3);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Condition
// ---------------------------------------------------------------------------------------------

/// Python's `_TestCondition.f`.
#[mp::task]
fn cond_waiter(
    c: Condition,
    sleeping: Semaphore,
    woken: Semaphore,
    timeout: Duration,
) -> mp::Result<()> {
    c.acquire()?;
    sleeping.release()?;
    c.wait_timeout(timeout)?;
    woken.release()?;
    c.release()
}

/// Waits until `s` has been released `n` times (Python's `assertReachesEventually`).
fn take_n(s: &Semaphore, n: usize) -> mp::Result<()> {
    for _ in 0..n {
        assert!(s.acquire_timeout(LONG)?, "a waiter did not arrive");
    }
    Ok(())
}

/// Whether anything else is released within a short while.
fn nothing_more(s: &Semaphore) -> mp::Result<bool> {
    Ok(!s.acquire_timeout(Duration::from_millis(100))?)
}

fn start_waiters(
    c: &Condition,
    n: usize,
    timeout: Duration,
) -> mp::Result<(Vec<Process>, Semaphore, Semaphore)> {
    let (sleeping, woken) = (Semaphore::new(0)?, Semaphore::new(0)?);
    let ps: Vec<Process> = (0..n)
        .map(|_| {
            Process::new(
                cond_waiter,
                (c.clone(), sleeping.clone(), woken.clone(), timeout),
            )
        })
        .collect();
    for p in &ps {
        p.start()?;
    }
    take_n(&sleeping, n)?;
    Ok((ps, sleeping, woken))
}

/// `_TestCondition.test_notify`.
#[test]
fn condition_notify() -> mp::Result<()> {
    let c = Condition::new()?;
    let (ps, _sleeping, woken) = start_waiters(&c, 2, LONG)?;
    assert!(nothing_more(&woken)?);
    {
        let _g = c.lock()?;
        c.notify(1)?;
    }
    take_n(&woken, 1)?;
    assert!(nothing_more(&woken)?, "notify() woke more than one");
    {
        let _g = c.lock()?;
        c.notify(1)?;
    }
    take_n(&woken, 1)?;
    join_all(&ps)
}

/// `_TestCondition.test_notify_all`: timed-out waiters are not counted.
#[test]
fn condition_notify_all() -> mp::Result<()> {
    let c = Condition::new()?;
    // Three waiters that time out by themselves.
    let (timed, _s1, woken1) = start_waiters(&c, 3, SHORT)?;
    take_n(&woken1, 3)?;
    join_all(&timed)?;
    // Three that wait for a notification.
    let (ps, _s2, woken2) = start_waiters(&c, 3, LONG)?;
    assert!(nothing_more(&woken2)?);
    {
        let _g = c.lock()?;
        c.notify_all()?;
    }
    take_n(&woken2, 3)?;
    join_all(&ps)
}

/// `_TestCondition.test_notify_n` and `check_invariant`.
#[test]
fn condition_notify_n() -> mp::Result<()> {
    let c = Condition::new()?;
    let (ps, _sleeping, woken) = start_waiters(&c, 6, LONG)?;
    {
        let _g = c.lock()?;
        c.notify(2)?;
    }
    take_n(&woken, 2)?;
    assert!(nothing_more(&woken)?);
    {
        let _g = c.lock()?;
        c.notify(4)?;
    }
    take_n(&woken, 4)?;
    assert!(nothing_more(&woken)?);
    {
        let _g = c.lock()?;
        c.notify(3)?; // nobody waits
    }
    // No wakeup is left pending: a new waiter times out.
    let _g = c.lock()?;
    assert!(!c.wait_timeout(Duration::from_millis(50))?);
    drop(_g);
    join_all(&ps)
}

/// `_TestCondition.test_timeout` and `test_wait_result`.
#[test]
fn condition_wait_results() -> mp::Result<()> {
    let c = Condition::new()?;
    let _g = c.lock()?;
    let t = Instant::now();
    assert!(!c.wait_timeout(SHORT)?);
    assert_took_at_least(t, SHORT);
    assert!(!c.wait_timeout(Duration::ZERO)?);
    assert!(!c.wait_timeout(Duration::from_millis(100))?);
    drop(_g);
    // wait(60) returns True when notified.
    let c2 = c.clone();
    let ready = Event::new()?;
    let r2 = ready.clone();
    let p = Process::new(
        move || -> mp::Result<()> {
            let _g = c2.lock()?;
            r2.set();
            if !c2.wait_timeout(LONG)? {
                return Err(mp::Error::new(ErrorKind::Assertion, "not notified"));
            }
            Ok(())
        },
        (),
    );
    p.start()?;
    assert!(ready.wait_timeout(LONG));
    {
        // The waiter set `ready` holding the lock; taking it means it is waiting.
        let _g = c.lock()?;
        c.notify(1)?;
    }
    join_all(&[p])
}

/// `_TestCondition.test_waitfor` and `test_waitfor_timeout`.
#[test]
fn condition_wait_for() -> mp::Result<()> {
    let c = Condition::new()?;
    let state = Value::new(-1i32)?;
    let (c2, s2) = (c.clone(), state.clone());
    let p = Process::new(
        move || -> mp::Result<()> {
            let _g = c2.lock()?;
            s2.set(0)?;
            c2.notify(1)?;
            let ok = c2.wait_for_timeout(|| s2.get().unwrap_or(-1) == 4, LONG)?;
            if !ok {
                return Err(mp::Error::new(ErrorKind::Assertion, "predicate never held"));
            }
            Ok(())
        },
        (),
    );
    {
        let _g = c.lock()?;
        p.start()?;
        assert!(c.wait_for_timeout(|| state.get().unwrap_or(-1) == 0, LONG)?);
    }
    for i in 1..=4 {
        std::thread::sleep(Duration::from_millis(10));
        let _g = c.lock()?;
        state.set(i)?;
        c.notify(1)?;
    }
    join_all(&[p])?;
    let _g = c.lock()?;
    let t = Instant::now();
    assert!(!c.wait_for_timeout(|| false, Duration::from_millis(100))?);
    assert_took_at_least(t, Duration::from_millis(100));
    c.wait_for(|| true)?;
    Ok(())
}

/// `wait`/`notify` without the lock: RuntimeError for threads.
#[test]
fn condition_without_the_lock() -> mp::Result<()> {
    let c = Condition::new()?;
    assert_eq!(
        c.wait_timeout(SHORT).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    assert_eq!(c.notify(1).unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(c.notify_all().unwrap_err().kind(), ErrorKind::Runtime);
    // With a plain Lock held by another thread, this thread does not own it either.
    let l = Lock::new()?;
    let c = Condition::with_lock(l.clone())?;
    assert!(matches!(c.get_lock(), AnyLock::Lock(_)));
    l.acquire()?;
    c.wait_timeout(Duration::ZERO)?;
    c.notify(1)?;
    l.release()?;
    Ok(())
}

/// An RLock-based condition held recursively restores the count after `wait`.
#[test]
fn condition_with_recursive_holder() -> mp::Result<()> {
    let r = RLock::new()?;
    let c = Condition::with_lock(r.clone())?;
    c.acquire()?;
    c.acquire()?;
    assert!(!c.wait_timeout(Duration::from_millis(20))?);
    assert_eq!(r.count(), 2);
    c.release()?;
    c.release()?;
    assert!(!r.locked());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

/// `_TestEvent.test_event`.
#[test]
fn event() -> mp::Result<()> {
    let e = Event::new()?;
    assert!(!e.is_set());
    let t = Instant::now();
    assert!(!e.wait_timeout(Duration::ZERO));
    assert!(t.elapsed() < Duration::from_secs(5));
    let t = Instant::now();
    assert!(!e.wait_timeout(SHORT));
    assert_took_at_least(t, SHORT);
    e.set();
    assert!(e.is_set());
    e.wait();
    assert!(e.wait_timeout(SHORT));
    e.clear();
    assert!(!e.is_set());
    let e2 = e.clone();
    let p = Process::new(
        move || {
            std::thread::sleep(Duration::from_millis(50));
            e2.set();
        },
        (),
    );
    p.start()?;
    assert!(e.wait_timeout(LONG));
    join_all(&[p])?;
    assert!(format!("{e:?}").ends_with(" set>"));
    Ok(())
}

#[test]
fn event_wakes_every_waiter() -> mp::Result<()> {
    let e = Event::new()?;
    let out = Queue::new(0)?;
    let ps: Vec<Process> = (0..5)
        .map(|i| {
            let (e, out) = (e.clone(), out.clone());
            Process::new(
                move || -> mp::Result<()> {
                    if e.wait_timeout(LONG) {
                        out.put(i)?;
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    for p in &ps {
        p.start()?;
    }
    e.set();
    join_all(&ps)?;
    assert_eq!(out.qsize(), 5);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Barrier
// ---------------------------------------------------------------------------------------------

const N: u32 = 5;

fn run_parties(
    n: usize,
    f: impl Fn(usize) -> mp::Result<()> + Send + Sync + 'static,
) -> mp::Result<Vec<Process>> {
    let f = Arc::new(f);
    let ps: Vec<Process> = (0..n)
        .map(|i| {
            let f = f.clone();
            Process::new(move || f(i), ())
        })
        .collect();
    for p in &ps {
        p.start()?;
    }
    Ok(ps)
}

/// `_TestBarrier.test_barrier` and `test_barrier_10`: parties pass in lock-step.
#[test]
fn barrier_rounds() -> mp::Result<()> {
    for passes in [1usize, 10] {
        let b = Barrier::new(N)?;
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (b2, l2) = (b.clone(), log.clone());
        let ps = run_parties(N as usize - 1, move |_| {
            for round in 0..passes {
                l2.lock().unwrap().push(round);
                b2.wait_timeout(LONG)?;
            }
            Ok(())
        })?;
        for round in 0..passes {
            log.lock().unwrap().push(round);
            b.wait_timeout(LONG)?;
            // Everybody logged this round before anybody passed it.
            let seen = log.lock().unwrap().clone();
            assert!(seen.iter().filter(|&&r| r == round).count() == N as usize);
        }
        join_all(&ps)?;
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
    }
    Ok(())
}

/// `_TestBarrier.test_wait_return`: distinct indices, exactly one 0.
#[test]
fn barrier_wait_return() -> mp::Result<()> {
    let b = Barrier::new(N)?;
    let out = Queue::new(0)?;
    let (b2, o2) = (b.clone(), out.clone());
    let ps = run_parties(N as usize, move |_| {
        let i = b2.wait_timeout(LONG)?;
        o2.put(i)?;
        Ok(())
    })?;
    join_all(&ps)?;
    let mut got: Vec<usize> = (0..N)
        .map(|_| out.get_timeout(LONG))
        .collect::<Result<_, _>>()?;
    got.sort_unstable();
    assert_eq!(got, (0..N as usize).collect::<Vec<_>>());
    Ok(())
}

static ACTIONS: AtomicUsize = AtomicUsize::new(0);

#[mp::task]
fn count_action() {
    ACTIONS.fetch_add(1, Ordering::SeqCst);
}

/// `_TestBarrier.test_action`: once per round, before anybody is released.
#[test]
fn barrier_action() -> mp::Result<()> {
    let b = Barrier::builder(N).action(count_action).build()?;
    let before = ACTIONS.load(Ordering::SeqCst);
    let b2 = b.clone();
    let ps = run_parties(N as usize - 1, move |_| {
        b2.wait_timeout(LONG)?;
        b2.wait_timeout(LONG)?;
        Ok(())
    })?;
    b.wait_timeout(LONG)?;
    assert!(ACTIONS.load(Ordering::SeqCst) > before);
    b.wait_timeout(LONG)?;
    join_all(&ps)?;
    assert_eq!(ACTIONS.load(Ordering::SeqCst) - before, 2);
    // A closure action too (mp::dummy only).
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let c = Barrier::builder(1)
        .action_fn(move || {
            n2.fetch_add(1, Ordering::SeqCst);
        })
        .build()?;
    c.wait()?;
    c.wait()?;
    assert_eq!(n.load(Ordering::SeqCst), 2);
    // A failing action breaks the barrier.
    let f = Barrier::builder(1)
        .action_fn(|| panic!("action failed"))
        .build()?;
    let e = f.wait().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenBarrier);
    assert!(f.broken());
    Ok(())
}

/// Python's `_test_abort_f`: the party with index N/2 aborts instead of waiting again.
fn abort_party(b: &Barrier, results1: &AtomicUsize, results2: &AtomicUsize) -> mp::Result<()> {
    match b.wait_timeout(LONG) {
        Ok(i) if i == N as usize / 2 => b.abort(),
        Ok(_) => match b.wait_timeout(LONG) {
            Ok(_) => {
                results1.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if e.kind() == ErrorKind::BrokenBarrier => {
                results2.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => return Err(e),
        },
        Err(e) if e.kind() == ErrorKind::BrokenBarrier => {
            results2.fetch_add(1, Ordering::SeqCst);
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// `_TestBarrier.test_abort`.
#[test]
fn barrier_abort() -> mp::Result<()> {
    let b = Barrier::new(N)?;
    let (results1, results2) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (b2, r1, r2) = (b.clone(), results1.clone(), results2.clone());
    let ps = run_parties(N as usize - 1, move |_| abort_party(&b2, &r1, &r2))?;
    abort_party(&b, &results1, &results2)?;
    join_all(&ps)?;
    assert_eq!(results1.load(Ordering::SeqCst), 0);
    assert_eq!(results2.load(Ordering::SeqCst), N as usize - 1);
    assert!(b.broken());
    Ok(())
}

/// `_TestBarrier.test_reset`: waiters get BrokenBarrier, then everybody passes again.
#[test]
fn barrier_reset() -> mp::Result<()> {
    let b = Barrier::new(3)?;
    let b2 = b.clone();
    let broke = Arc::new(AtomicUsize::new(0));
    let k2 = broke.clone();
    let ps = run_parties(1, move |_| {
        match b2.wait_timeout(LONG) {
            Err(e) if e.kind() == ErrorKind::BrokenBarrier => {
                k2.fetch_add(1, Ordering::SeqCst);
            }
            other => {
                return Err(mp::Error::new(ErrorKind::Assertion, format!("{other:?}")));
            }
        }
        Ok(())
    })?;
    // Wait until the party waits, then reset.
    let t = Instant::now();
    while b.n_waiting() < 1 {
        assert!(t.elapsed() < LONG);
        std::thread::sleep(Duration::from_millis(1));
    }
    b.reset();
    join_all(&ps)?;
    assert_eq!(broke.load(Ordering::SeqCst), 1);
    assert!(!b.broken());
    // Usable again.
    let b3 = b.clone();
    let ps = run_parties(2, move |_| b3.wait_timeout(LONG).map(drop))?;
    b.wait_timeout(LONG)?;
    join_all(&ps)
}

/// `_TestBarrier.test_abort_and_reset`.
#[test]
fn barrier_abort_and_reset() -> mp::Result<()> {
    let b = Barrier::new(2)?;
    b.abort();
    assert!(b.broken());
    assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    b.reset();
    assert!(!b.broken());
    let b2 = b.clone();
    let ps = run_parties(1, move |_| b2.wait_timeout(LONG).map(drop))?;
    b.wait_timeout(LONG)?;
    join_all(&ps)
}

/// `_TestBarrier.test_timeout` and `test_default_timeout`.
#[test]
fn barrier_timeouts() -> mp::Result<()> {
    let b = Barrier::new(2)?;
    let t = Instant::now();
    assert_eq!(
        b.wait_timeout(Duration::from_millis(200))
            .unwrap_err()
            .kind(),
        ErrorKind::BrokenBarrier
    );
    assert_took_at_least(t, Duration::from_millis(200));
    assert!(b.broken());
    // The late party finds it broken too.
    assert_eq!(
        b.wait_timeout(LONG).unwrap_err().kind(),
        ErrorKind::BrokenBarrier
    );
    let d = Barrier::builder(2)
        .timeout(Duration::from_millis(100))
        .build()?;
    assert_eq!(d.timeout(), Some(Duration::from_millis(100)));
    let t = Instant::now();
    assert_eq!(d.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    assert_took_at_least(t, Duration::from_millis(100));
    Ok(())
}

/// `_TestBarrier.test_single_thread`.
#[test]
fn barrier_single() -> mp::Result<()> {
    let b = Barrier::new(1)?;
    for _ in 0..5 {
        assert_eq!(b.wait()?, 0);
    }
    assert!(Barrier::new(0).is_err());
    Ok(())
}

/// `_TestBarrier.test_thousand`: rounds stay grouped.
#[test]
fn barrier_thousand() -> mp::Result<()> {
    let b = Barrier::new(N)?;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (b2, l2) = (b.clone(), log.clone());
    let ps = run_parties(N as usize, move |_| {
        for round in 0..1000 {
            b2.wait_timeout(LONG)?;
            l2.lock().unwrap().push(round);
        }
        Ok(())
    })?;
    join_all(&ps)?;
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1000 * N as usize);
    for (i, chunk) in log.chunks(N as usize).enumerate() {
        assert!(chunk.iter().all(|&r| r == i), "round {i}: {chunk:?}");
    }
    Ok(())
}
