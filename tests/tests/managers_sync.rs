//! A manager's synchronization primitives used from child processes (CONFORMANCE section
//! 14, `TestSyncManagerTypes`), under every start method.

use std::time::{Duration, Instant};

use mp::managers::{
    BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, ListProxy, LockProxy,
    RLockProxy, SemaphoreProxy, SyncManager,
};
use mp::{ErrorKind, StartMethod};

const LONG: Duration = Duration::from_secs(60);

fn manager(method: StartMethod) -> SyncManager {
    SyncManager::builder()
        .start_method(method)
        .start()
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn start<F, A>(method: StartMethod, f: F, args: A) -> mp::Process
where
    F: mp::process::Target<A>,
    F::Output: mp::process::ProcessOutput,
    A: serde::Serialize + Send + 'static,
{
    let p = mp::Process::builder(f, args).start_method(method).build();
    p.start().unwrap();
    p
}

fn joined_ok(p: &mp::Process, what: &str) {
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0), "{what}");
}

fn fail(msg: &str) -> mp::Error {
    mp::Error::new(ErrorKind::Value, msg)
}

#[mp::task]
fn lock_in_child(l: LockProxy, r: RLockProxy) -> mp::Result<()> {
    // The parent holds `l`: a Lock may be released by anyone (another process here).
    if l.try_acquire()? {
        return Err(fail("lock was free"));
    }
    l.release()?;
    l.acquire()?;
    l.release()?;
    r.acquire()?;
    r.acquire()?;
    r.release()?;
    r.release()?;
    Ok(())
}

#[mp::test]
fn lock_and_rlock_work_from_a_child() {
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let l = m.lock().unwrap();
        let r = m.rlock().unwrap();
        l.acquire().unwrap();
        assert!(l.locked().unwrap());
        let p = start(method, lock_in_child, (l.clone(), r.clone()));
        joined_ok(&p, &format!("{method}"));
        assert!(!l.locked().unwrap());
        // An extra release of a Lock is a RuntimeError.
        assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Runtime);
        // An RLock is owned: releasing one held by nobody fails.
        assert_eq!(r.release().unwrap_err().kind(), ErrorKind::Runtime);
        let t0 = Instant::now();
        l.acquire().unwrap();
        assert!(!l.acquire_timeout(Duration::from_millis(100)).unwrap());
        assert!(t0.elapsed() >= Duration::from_millis(90));
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn rlock_belongs_to_the_thread_that_acquired_it() {
    let m = manager(StartMethod::Fork);
    let r = m.rlock().unwrap();
    r.acquire().unwrap();
    let r2 = r.clone();
    let other =
        std::thread::spawn(move || (r2.try_acquire().unwrap(), r2.release().unwrap_err().kind()));
    assert_eq!(other.join().unwrap(), (false, ErrorKind::Runtime));
    r.release().unwrap();
}

#[mp::task]
fn take_one(s: SemaphoreProxy, b: BoundedSemaphoreProxy) -> mp::Result<()> {
    s.acquire()?;
    b.acquire()?;
    b.release()?;
    Ok(())
}

#[mp::test]
fn semaphores_from_a_child() {
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let s = m.semaphore(2).unwrap();
        let b = m.bounded_semaphore(1).unwrap();
        let p = start(method, take_one, (s.clone(), b.clone()));
        joined_ok(&p, &format!("{method}"));
        assert!(s.try_acquire().unwrap()); // 2 - 1 (child) - 1 (here)
        assert!(!s.try_acquire().unwrap());
        s.release().unwrap();
        s.release().unwrap();
        s.release().unwrap(); // unbounded: may go above its start
        assert_eq!(b.release().unwrap_err().kind(), ErrorKind::Value);
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn notify_after_setting(c: ConditionProxy, state: ListProxy<i32>) -> mp::Result<()> {
    c.acquire()?;
    state.append(1)?;
    c.notify_all()?;
    c.release()
}

#[mp::test]
fn condition_wait_for_a_child_notify() {
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let c = m.condition().unwrap();
        let state: ListProxy<i32> = m.list().unwrap();
        c.acquire().unwrap();
        let p = start(method, notify_after_setting, (c.clone(), state.clone()));
        let ok = c
            .wait_for(|| state.len().unwrap_or(0) == 1, Some(LONG))
            .unwrap();
        assert!(ok, "{method}");
        c.release().unwrap();
        joined_ok(&p, &format!("{method}"));
        assert_eq!(c.wait().unwrap_err().kind(), ErrorKind::Runtime);
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn set_event(e: EventProxy) -> mp::Result<()> {
    e.set()
}

#[mp::test]
fn event_set_by_a_child() {
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let e = m.event().unwrap();
        assert!(!e.is_set().unwrap());
        let t0 = Instant::now();
        assert!(!e.wait_timeout(Duration::from_millis(100)).unwrap());
        assert!(t0.elapsed() >= Duration::from_millis(90));
        let p = start(method, set_event, (e.clone(),));
        assert!(e.wait_timeout(LONG).unwrap());
        joined_ok(&p, &format!("{method}"));
        e.clear().unwrap();
        assert!(!e.is_set().unwrap());
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn meet(b: BarrierProxy) -> mp::Result<()> {
    b.wait_timeout(LONG).map(drop)
}

#[mp::test]
fn barrier_between_processes() {
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let b = m.barrier(3).unwrap();
        assert_eq!(b.parties().unwrap(), 3);
        let p1 = start(method, meet, (b.clone(),));
        let p2 = start(method, meet, (b.clone(),));
        let i = b.wait_timeout(LONG).unwrap();
        assert!(i < 3);
        joined_ok(&p1, &format!("{method}"));
        joined_ok(&p2, &format!("{method}"));
        // A timeout breaks the barrier for everyone.
        assert_eq!(
            b.wait_timeout(Duration::from_millis(50))
                .unwrap_err()
                .kind(),
            ErrorKind::BrokenBarrier
        );
        assert!(b.broken().unwrap());
        b.reset().unwrap();
        assert!(!b.broken().unwrap());
        assert_eq!(b.n_waiting().unwrap(), 0);
        b.abort().unwrap();
        assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
        m.shutdown().unwrap();
    }
}

fn wait_for_lock(l: LockProxy, s: SemaphoreProxy, ready: mp::Connection) -> mp::Result<()> {
    ready.send(&())?;
    // Both block (the parent holds them) until this process is killed.
    s.acquire()?;
    l.acquire()?;
    Ok(())
}

/// A client killed while it waits on a manager's lock or semaphore: the serving thread that
/// waited for it gives up, and what it may have acquired meanwhile goes back, so the lock is
/// not held forever on behalf of nobody.
#[mp::test]
fn a_client_killed_while_waiting_takes_nothing_with_it() {
    let m = manager(StartMethod::Fork);
    let l = m.lock().unwrap();
    let s = m.semaphore(0).unwrap();
    l.acquire().unwrap();
    let (r, w) = mp::Pipe(false).unwrap();
    let p = start(StartMethod::Fork, wait_for_lock, (l.clone(), s.clone(), w));
    assert!(r.poll_timeout(LONG).unwrap(), "the child never got ready");
    let () = r.recv().unwrap();
    p.kill().unwrap();
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(-9));
    l.release().unwrap();
    s.release().unwrap();
    assert!(
        l.acquire_timeout(LONG).unwrap(),
        "the lock went to the dead client"
    );
    assert!(
        s.acquire_timeout(LONG).unwrap(),
        "the semaphore went to the dead client"
    );
}

fn wait_on_condition(c: ConditionProxy, ready: mp::Connection) -> mp::Result<()> {
    c.acquire()?;
    ready.send(&())?;
    c.wait()?;
    c.release()?;
    ready.send(&())
}

/// A client killed while it waits on a manager's condition: its serving thread stops waiting
/// and gives the lock back, and a notification that reached it goes on to a live waiter.
#[mp::test]
fn a_client_killed_while_waiting_on_a_condition_passes_its_turn_on() {
    let m = manager(StartMethod::Fork);
    let c = m.condition().unwrap();
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let (r, w) = mp::Pipe(false).unwrap();
        let p = start(StartMethod::Fork, wait_on_condition, (c.clone(), w));
        assert!(r.poll_timeout(LONG).unwrap(), "a waiter never got ready");
        let () = r.recv().unwrap();
        // The waiter holds the lock until its wait() gives it up: it waits once we get it.
        assert!(c.acquire_timeout(LONG).unwrap());
        c.release().unwrap();
        waiters.push((p, r));
    }
    // The first waiter (first in line for a notification) dies.
    let (dead, _) = &waiters[0];
    dead.kill().unwrap();
    dead.join_timeout(LONG).unwrap();
    assert!(
        c.acquire_timeout(LONG).unwrap(),
        "the dead waiter kept the lock"
    );
    c.notify(1).unwrap();
    c.release().unwrap();
    let (live, r) = &waiters[1];
    assert!(
        r.poll_timeout(LONG).unwrap(),
        "the live waiter was never woken"
    );
    let () = r.recv().unwrap();
    joined_ok(live, "the live waiter");
}

fn wait_at_barrier(b: BarrierProxy) -> mp::Result<()> {
    b.wait()?;
    Ok(())
}

/// A party killed while it waits at a manager's barrier breaks the barrier for everybody, as
/// a timeout does, instead of leaving a serving thread counted as a party forever.
#[mp::test]
fn a_party_killed_at_a_barrier_breaks_it() {
    let m = manager(StartMethod::Fork);
    let b = m.barrier(2).unwrap();
    let p = start(StartMethod::Fork, wait_at_barrier, (b.clone(),));
    assert!(
        mp_tests::wait_until(LONG, || b.n_waiting().unwrap() == 1),
        "the party never arrived"
    );
    p.kill().unwrap();
    p.join_timeout(LONG).unwrap();
    assert!(
        mp_tests::wait_until(LONG, || b.broken().unwrap()),
        "the barrier still counts the dead party"
    );
    assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
}

fn get_one(q: mp::managers::QueueProxy<i32>, ready: mp::Connection) -> mp::Result<()> {
    ready.send(&())?;
    q.get()?;
    Ok(())
}

/// A client killed while it waits in a manager queue's `get`: its serving thread stops
/// waiting and the next item goes to a live getter, not to the dead one.
#[mp::test]
fn a_getter_killed_while_waiting_swallows_nothing() {
    let m = manager(StartMethod::Fork);
    let q = m.queue::<i32>(0).unwrap();
    let (r, w) = mp::Pipe(false).unwrap();
    let p = start(StartMethod::Fork, get_one, (q.clone(), w));
    assert!(r.poll_timeout(LONG).unwrap(), "the getter never got ready");
    let () = r.recv().unwrap();
    p.kill().unwrap();
    p.join_timeout(LONG).unwrap();
    q.put(7).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), 7);
}
