//! Condition (CONFORMANCE section 9), waiters mixing processes (every start method) and
//! threads, plus dead waiters and dead lock holders.

mod sync_common;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mp::synchronize::AnyLock;
use mp::{Condition, ErrorKind, Event, Lock, Process, Semaphore, StartMethod, Value};
use sync_common::*;

const SHORT: Duration = Duration::from_millis(150);

/// Python's `_TestCondition.f`.
#[mp::task]
fn waiter(
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

#[mp::task]
fn waitfor_child(c: Condition, state: Value<i32>) -> mp::Result<()> {
    let _g = c.lock()?;
    state.set(0)?;
    c.notify(1)?;
    let ok = c.wait_for_timeout(|| state.get().unwrap_or(-1) == 4, LONG)?;
    if !ok || state.get()? != 4 {
        return Err(mp::Error::new(ErrorKind::Assertion, "predicate never held"));
    }
    Ok(())
}

#[mp::task]
fn waitfor_timeout_child(c: Condition, success: Value<u8>, started: Semaphore) -> mp::Result<()> {
    started.release()?;
    let _g = c.lock()?;
    let t = Instant::now();
    let r = c.wait_for_timeout(|| false, Duration::from_millis(100))?;
    if !r && t.elapsed() >= Duration::from_millis(100) {
        success.set(1)?;
    }
    Ok(())
}

#[mp::task]
fn notify_from_child(c: Condition, flag: Value<u8>) -> mp::Result<()> {
    let _g = c.lock()?;
    flag.set(1)?;
    c.notify_all()
}

#[mp::task]
fn wait_forever(c: Condition, sleeping: Semaphore) -> mp::Result<()> {
    c.acquire()?;
    sleeping.release()?;
    c.wait()?;
    Ok(())
}

#[mp::task]
fn hold_condition_forever(c: Condition, held: Event) -> mp::Result<()> {
    c.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

fn spawn_waiter(
    m: StartMethod,
    c: &Condition,
    sleeping: &Semaphore,
    woken: &Semaphore,
    timeout: Duration,
) -> Process {
    let p = Process::builder(
        waiter,
        (c.clone(), sleeping.clone(), woken.clone(), timeout),
    )
    .start_method(m)
    .daemon(true)
    .build();
    start(&p);
    p
}

fn thread_waiter(
    c: &Condition,
    sleeping: &Semaphore,
    woken: &Semaphore,
    timeout: Duration,
) -> JoinHandle<mp::Result<()>> {
    let (c, s, w) = (c.clone(), sleeping.clone(), woken.clone());
    std::thread::spawn(move || waiter(c, s, w, timeout))
}

/// Takes `n` units from `sem`, each within `LONG`.
fn take(sem: &Semaphore, n: usize) {
    for i in 0..n {
        assert!(
            sem.acquire_timeout(LONG).unwrap(),
            "unit {i} of {n} never came"
        );
    }
}

/// Checks that nothing more arrives on `sem` for a while (a lower bound on a timed wait, not
/// a sleep).
fn nothing_more(sem: &Semaphore) {
    assert!(
        !sem.acquire_timeout(SHORT).unwrap(),
        "one waiter too many woke up"
    );
}

fn notify(c: &Condition, n: usize) {
    let _g = c.lock().unwrap();
    c.notify(n).unwrap();
}

/// No wakeup is left pending: a new waiter times out.
fn check_invariant(c: &Condition) {
    let _g = c.lock().unwrap();
    assert!(!c.wait_timeout(Duration::from_millis(50)).unwrap());
}

#[mp::test]
fn notify_wakes_exactly_one() {
    for m in methods() {
        for c in [
            Condition::new().unwrap(),
            Condition::with_lock(Lock::new().unwrap()).unwrap(),
        ] {
            let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
            let p = spawn_waiter(m, &c, &sleeping, &woken, LONG);
            let t = thread_waiter(&c, &sleeping, &woken, LONG);
            take(&sleeping, 2);
            nothing_more(&woken);
            notify(&c, 1);
            take(&woken, 1);
            nothing_more(&woken);
            notify(&c, 1);
            take(&woken, 1);
            t.join().unwrap().unwrap();
            join_ok(&p);
            check_invariant(&c);
        }
    }
}

#[mp::test]
fn timed_out_waiters_are_not_counted_and_notify_all() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        // Three waiters that time out.
        let p1 = spawn_waiter(m, &c, &sleeping, &woken, Duration::from_millis(50));
        let p2 = spawn_waiter(m, &c, &sleeping, &woken, Duration::from_millis(50));
        let t1 = thread_waiter(&c, &sleeping, &woken, Duration::from_millis(50));
        take(&sleeping, 3);
        take(&woken, 3);
        t1.join().unwrap().unwrap();
        join_ok(&p1);
        join_ok(&p2);
        // Six that wait for real.
        let ps: Vec<Process> = (0..3)
            .map(|_| spawn_waiter(m, &c, &sleeping, &woken, LONG))
            .collect();
        let ts: Vec<_> = (0..3)
            .map(|_| thread_waiter(&c, &sleeping, &woken, LONG))
            .collect();
        take(&sleeping, 6);
        nothing_more(&woken);
        // The timed-out ones do not use up notifications.
        notify(&c, 2);
        take(&woken, 2);
        nothing_more(&woken);
        {
            let _g = c.lock().unwrap();
            c.notify_all().unwrap();
        }
        take(&woken, 4);
        nothing_more(&woken);
        for t in ts {
            t.join().unwrap().unwrap();
        }
        for p in &ps {
            join_ok(p);
        }
        check_invariant(&c);
    }
}

#[mp::test]
fn notify_n() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        let mut ps = Vec::new();
        let mut ts = Vec::new();
        for _ in 0..3 {
            ps.push(spawn_waiter(m, &c, &sleeping, &woken, LONG));
            ts.push(thread_waiter(&c, &sleeping, &woken, LONG));
        }
        take(&sleeping, 6);
        nothing_more(&woken);
        notify(&c, 2);
        take(&woken, 2);
        nothing_more(&woken);
        notify(&c, 4);
        take(&woken, 4);
        // Nobody left: does nothing, and leaves nothing pending.
        notify(&c, 3);
        nothing_more(&woken);
        for t in ts {
            t.join().unwrap().unwrap();
        }
        for p in &ps {
            join_ok(p);
        }
        check_invariant(&c);
    }
}

#[test]
fn wait_timeout_returns_false() {
    let c = Condition::new().unwrap();
    let _g = c.lock().unwrap();
    let t = Instant::now();
    assert!(!c.wait_timeout(Duration::from_millis(200)).unwrap());
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(190), "{e:?}");
    assert!(!c.wait_timeout(Duration::ZERO).unwrap());
    assert!(c.get_lock().is_mine(), "the lock is held again after wait");
}

#[mp::test]
fn wait_result_true_when_notified() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let flag = Value::new(0u8).unwrap();
        let _g = c.lock().unwrap();
        assert!(!c.wait_timeout(Duration::ZERO).unwrap());
        assert!(!c.wait_timeout(Duration::from_millis(100)).unwrap());
        let p = Process::builder(notify_from_child, (c.clone(), flag.clone()))
            .start_method(m)
            .build();
        start(&p);
        // The child needs the lock to notify, which wait() releases.
        assert!(c.wait_timeout(LONG).unwrap(), "{m}");
        assert_eq!(flag.get().unwrap(), 1);
        join_ok(&p);
    }
}

#[mp::test]
fn wait_for_another_process() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let state = Value::new(-1i32).unwrap();
        let p = Process::builder(waitfor_child, (c.clone(), state.clone()))
            .start_method(m)
            .build();
        start(&p);
        {
            let _g = c.lock().unwrap();
            let ok = c
                .wait_for_timeout(|| state.get().unwrap() == 0, LONG)
                .unwrap();
            assert!(ok, "{m}");
            assert_eq!(state.get().unwrap(), 0);
        }
        for _ in 0..4 {
            let _g = c.lock().unwrap();
            *state.lock().unwrap() += 1;
            c.notify(1).unwrap();
        }
        join_ok(&p);
    }
}

#[mp::test]
fn wait_for_timeout_in_a_child() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let success = Value::new(0u8).unwrap();
        let started = Semaphore::new(0).unwrap();
        let p = Process::builder(
            waitfor_timeout_child,
            (c.clone(), success.clone(), started.clone()),
        )
        .start_method(m)
        .build();
        start(&p);
        assert!(started.acquire_timeout(LONG).unwrap());
        // Notifications that do not make the predicate true do not end the wait early.
        for _ in 0..3 {
            notify(&c, 1);
        }
        join_ok(&p);
        assert_eq!(success.get().unwrap(), 1, "{m}");
    }
}

#[test]
fn wait_and_notify_need_the_lock() {
    let c = Condition::new().unwrap();
    let e = c.wait_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Assertion);
    assert!(
        e.to_string()
            .contains("must acquire() condition before using wait()")
    );
    let e = c.notify(1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Assertion);
    assert!(e.to_string().contains("lock is not owned"));
    assert_eq!(c.notify_all().unwrap_err().kind(), ErrorKind::Assertion);
    // Held by another thread is not held by us.
    c.acquire().unwrap();
    let c2 = c.clone();
    let kind = std::thread::spawn(move || c2.notify(1).unwrap_err().kind())
        .join()
        .unwrap();
    assert_eq!(kind, ErrorKind::Assertion);
    c.release().unwrap();
    assert!(matches!(c.get_lock(), AnyLock::RLock(_)));
}

#[mp::test]
fn a_dead_waiter_does_not_swallow_a_notification() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        let p = Process::builder(wait_forever, (c.clone(), sleeping.clone()))
            .start_method(m)
            .build();
        start(&p);
        take(&sleeping, 1);
        // Once we get the lock, the child is inside wait() (which released it).
        drop(c.lock().unwrap());
        p.kill().unwrap();
        join_code(&p, -9);
        // The dead process waited first; the notification must reach the live thread.
        let t = thread_waiter(&c, &sleeping, &woken, LONG);
        take(&sleeping, 1);
        notify(&c, 1);
        take(&woken, 1);
        t.join().unwrap().unwrap();
        check_invariant(&c);
    }
}

#[mp::test]
fn a_dead_lock_holder_is_reported() {
    for m in methods() {
        let c = Condition::new().unwrap();
        let held = Event::new().unwrap();
        let p = Process::builder(hold_condition_forever, (c.clone(), held.clone()))
            .start_method(m)
            .build();
        start(&p);
        assert!(held.wait_timeout(LONG));
        let pid = p.pid().unwrap();
        p.kill().unwrap();
        join_code(&p, -9);
        let e = c.acquire_timeout(LONG).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OwnerDied, "{m}: {e}");
        assert!(e.to_string().contains(&pid.to_string()));
        assert!(c.get_lock().recover());
        let _g = c.lock().unwrap();
        assert!(!c.wait_timeout(Duration::from_millis(10)).unwrap());
    }
}
