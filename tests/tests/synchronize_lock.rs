//! Lock and RLock (CONFORMANCE section 7), under every start method, plus mp's dead-holder
//! detection (SIGKILL a holder).

mod sync_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mp::sharedctypes::RawValue;
use mp::synchronize::AnyLock;
use mp::{Connection, ErrorKind, Event, Lock, Process, RLock};
use sync_common::*;

// ------------------------------------------------------------------------------------------
// Tasks
// ------------------------------------------------------------------------------------------

#[mp::task]
fn hold_lock(l: Lock, held: Event, release: Event, seen: RawValue<u8>) -> mp::Result<()> {
    l.acquire()?;
    seen.set(l.locked() as u8)?;
    held.set();
    if !release.wait_timeout(LONG) {
        return Err(mp::Error::new(ErrorKind::Timeout, "never released"));
    }
    l.release()
}

#[mp::task]
fn hold_rlock(l: RLock, held: Event, release: Event, seen: RawValue<u8>) -> mp::Result<()> {
    l.acquire()?;
    l.acquire()?;
    seen.set(l.locked() as u8)?;
    held.set();
    if !release.wait_timeout(LONG) {
        return Err(mp::Error::new(ErrorKind::Timeout, "never released"));
    }
    l.release()?;
    l.release()
}

#[mp::task]
fn release_other(l: Lock) -> mp::Result<()> {
    l.release()
}

#[mp::task]
fn release_rlock_not_owner(l: RLock, out: RawValue<u8>) -> mp::Result<()> {
    let e = l.release().unwrap_err();
    out.set((e.kind() == ErrorKind::Assertion) as u8)
}

#[mp::task]
fn repr_lock(l: Lock, conn: Connection) -> mp::Result<()> {
    l.acquire()?;
    conn.send(&format!("{l:?}"))
}

#[mp::task]
fn repr_rlock(l: RLock, conn: Connection) -> mp::Result<()> {
    l.acquire()?;
    conn.send(&format!("{l:?}"))
}

#[mp::task]
fn hold_forever(l: Lock, held: Event) -> mp::Result<()> {
    l.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

#[mp::task]
fn hold_rlock_forever(l: RLock, held: Event) -> mp::Result<()> {
    l.acquire()?;
    l.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

#[mp::task]
fn count_under_lock(l: Lock, counter: RawValue<u64>, n: u32) -> mp::Result<()> {
    for _ in 0..n {
        let _g = l.lock()?;
        let v = counter.get()?;
        counter.set(v + 1)?;
    }
    Ok(())
}

#[mp::task]
fn lock_from_pipe(conn: Connection, out: RawValue<u8>) -> mp::Result<()> {
    let l: Lock = conn.recv()?;
    let got = l.try_acquire()?;
    out.set(got as u8)?;
    conn.send(&l)?; // and back again
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Lock
// ------------------------------------------------------------------------------------------

#[test]
fn lock_basics() {
    let l = Lock::new().unwrap();
    l.acquire().unwrap();
    assert!(l.locked());
    assert!(!l.try_acquire().unwrap(), "a Lock is not recursive");
    l.release().unwrap();
    assert!(!l.locked());
    let e = l.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(e.to_string().contains("released too many times"), "{e}");
}

#[test]
fn lock_guard_is_with_statement() {
    let l = Lock::new().unwrap();
    {
        let _g = l.lock().unwrap();
        assert!(l.locked());
    }
    assert!(!l.locked());
    let r = RLock::new().unwrap();
    {
        let _a = r.lock().unwrap();
        let _b = r.lock().unwrap();
        assert_eq!(r.count(), 2);
    }
    assert!(!r.locked());
}

#[test]
fn lock_acquire_timeout() {
    let l = Lock::new().unwrap();
    l.acquire().unwrap();
    let t = Instant::now();
    assert!(!l.acquire_timeout(Duration::from_millis(200)).unwrap());
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "{:?}",
        t.elapsed()
    );
    // Zero (Python's negative timeout) returns at once.
    let t = Instant::now();
    assert!(!l.acquire_timeout(Duration::ZERO).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5));
    l.release().unwrap();
    assert!(l.acquire_timeout(Duration::ZERO).unwrap());
}

#[test]
fn lock_released_by_another_thread() {
    let l = Lock::new().unwrap();
    l.acquire().unwrap();
    let l2 = l.clone();
    std::thread::spawn(move || l2.release().unwrap())
        .join()
        .unwrap();
    assert!(!l.locked());
}

#[mp::test]
fn lock_locked_2processes() {
    for m in methods() {
        let l = Lock::new().unwrap();
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let seen = RawValue::new(0u8).unwrap();
        let p = Process::builder(
            hold_lock,
            (l.clone(), held.clone(), release.clone(), seen.clone()),
        )
        .start_method(m)
        .build();
        start(&p);
        assert!(held.wait_timeout(LONG), "{m}: child never held the lock");
        assert!(l.locked(), "{m}: the parent sees the child's lock");
        assert_eq!(seen.get().unwrap(), 1, "{m}: the child sees it locked");
        assert!(!l.try_acquire().unwrap());
        release.set();
        join_ok(&p);
        assert!(!l.locked(), "{m}");
    }
}

#[mp::test]
fn lock_released_by_another_process() {
    for m in methods() {
        let l = Lock::new().unwrap();
        l.acquire().unwrap();
        let p = Process::builder(release_other, (l.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert!(!l.locked(), "{m}");
        // And an unlocked lock released in a child is an error there.
        let p = Process::builder(release_other, (l.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_code(&p, 1);
    }
}

#[mp::test]
fn lock_between_threads_and_processes() {
    for m in methods() {
        let l = Lock::new().unwrap();
        let counter = RawValue::new(0u64).unwrap();
        let n = 2000;
        let procs: Vec<Process> = (0..2)
            .map(|_| {
                Process::builder(count_under_lock, (l.clone(), counter.clone(), n))
                    .start_method(m)
                    .build()
            })
            .collect();
        for p in &procs {
            start(p);
        }
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (l, c) = (l.clone(), counter.clone());
                std::thread::spawn(move || count_under_lock(l, c, n).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for p in &procs {
            join_ok(p);
        }
        assert_eq!(counter.get().unwrap(), 4 * n as u64, "{m}");
    }
}

#[mp::test]
fn lock_travels_through_a_connection() {
    for m in methods() {
        let (ours, theirs) = mp::Pipe(true).unwrap();
        let out = RawValue::new(0u8).unwrap();
        let p = Process::builder(lock_from_pipe, (theirs, out.clone()))
            .start_method(m)
            .build();
        start(&p);
        let l = Lock::new().unwrap();
        ours.send(&l).unwrap();
        assert!(ours.poll_timeout(LONG).unwrap());
        let back: Lock = ours.recv().unwrap();
        join_ok(&p);
        assert_eq!(out.get().unwrap(), 1, "{m}");
        assert!(l.locked(), "{m}: the child's acquisition is visible");
        assert!(back.locked());
        back.release().unwrap();
        assert!(!l.locked());
    }
}

#[mp::test]
fn lock_repr() {
    let l = Lock::new().unwrap();
    assert_eq!(format!("{l:?}"), "<Lock(owner=None)>");
    l.acquire().unwrap();
    let me = format!("{l:?}");
    assert!(me.starts_with("<Lock(owner=MainProcess"), "{me}");
    l.release().unwrap();

    // Acquired by a thread named T1: its own view, then ours.
    let l2 = l.clone();
    let inner = std::thread::Builder::new()
        .name("T1".into())
        .spawn(move || {
            l2.acquire().unwrap();
            format!("{l2:?}")
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(inner, "<Lock(owner=MainProcess|T1)>");
    assert_eq!(format!("{l:?}"), "<Lock(owner=SomeOtherThread)>");
    l.release().unwrap();

    for m in methods() {
        // A child named P1 sees itself as the owner; we see SomeOtherProcess.
        let (ours, theirs) = mp::Pipe(true).unwrap();
        let p = Process::builder(repr_lock, (l.clone(), theirs))
            .name("P1")
            .start_method(m)
            .build();
        start(&p);
        assert!(ours.poll_timeout(LONG).unwrap());
        assert_eq!(ours.recv::<String>().unwrap(), "<Lock(owner=P1)>", "{m}");
        join_ok(&p);
        assert_eq!(format!("{l:?}"), "<Lock(owner=SomeOtherProcess)>", "{m}");
        l.release().unwrap();
    }
}

// ------------------------------------------------------------------------------------------
// RLock
// ------------------------------------------------------------------------------------------

#[test]
fn rlock_basics() {
    let l = RLock::new().unwrap();
    l.acquire().unwrap();
    l.acquire().unwrap();
    l.acquire().unwrap();
    assert!(l.locked());
    assert_eq!(l.count(), 3);
    l.release().unwrap();
    l.release().unwrap();
    assert!(l.locked(), "still held once");
    l.release().unwrap();
    assert!(!l.locked());
    let e = l.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Assertion);
    assert!(
        e.to_string()
            .contains("attempt to release recursive lock not owned by thread"),
        "{e}"
    );
}

#[test]
fn rlock_owner_only_releases() {
    let l = RLock::new().unwrap();
    l.acquire().unwrap();
    let l2 = l.clone();
    let kind = std::thread::spawn(move || l2.release().unwrap_err().kind())
        .join()
        .unwrap();
    assert_eq!(kind, ErrorKind::Assertion);
    assert!(l.locked());
    // Another thread blocks (try fails) until the owner releases.
    let l3 = l.clone();
    assert!(
        !std::thread::spawn(move || l3.try_acquire().unwrap())
            .join()
            .unwrap()
    );
    l.release().unwrap();
}

#[mp::test]
fn rlock_locked_2processes() {
    for m in methods() {
        let l = RLock::new().unwrap();
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let seen = RawValue::new(0u8).unwrap();
        let p = Process::builder(
            hold_rlock,
            (l.clone(), held.clone(), release.clone(), seen.clone()),
        )
        .start_method(m)
        .build();
        start(&p);
        assert!(held.wait_timeout(LONG), "{m}");
        assert!(l.locked(), "{m}");
        assert_eq!(l.count(), 0, "{m}: not ours");
        assert_eq!(seen.get().unwrap(), 1);
        assert!(!l.try_acquire().unwrap());
        // Not the owner: releasing here is an assertion error.
        assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Assertion);
        release.set();
        join_ok(&p);
        assert!(!l.locked(), "{m}");
    }
}

#[mp::test]
fn rlock_release_by_other_process_is_assertion() {
    for m in methods() {
        let l = RLock::new().unwrap();
        l.acquire().unwrap();
        let out = RawValue::new(0u8).unwrap();
        let p = Process::builder(release_rlock_not_owner, (l.clone(), out.clone()))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(out.get().unwrap(), 1, "{m}");
        assert!(l.locked());
        l.release().unwrap();
    }
}

#[mp::test]
fn rlock_repr() {
    let l = RLock::new().unwrap();
    assert_eq!(format!("{l:?}"), "<RLock(None, 0)>");
    l.acquire().unwrap();
    l.acquire().unwrap();
    l.acquire().unwrap();
    let me = format!("{l:?}");
    assert!(
        me.starts_with("<RLock(MainProcess") && me.ends_with(", 3)>"),
        "{me}"
    );
    let l2 = l.clone();
    let other = std::thread::spawn(move || format!("{l2:?}"))
        .join()
        .unwrap();
    assert_eq!(other, "<RLock(SomeOtherThread, nonzero)>");
    for _ in 0..3 {
        l.release().unwrap();
    }
    let l2 = l.clone();
    let inner = std::thread::Builder::new()
        .name("T1".into())
        .spawn(move || {
            l2.acquire().unwrap();
            let s = format!("{l2:?}");
            l2.release().unwrap();
            s
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(inner, "<RLock(MainProcess|T1, 1)>");
    for m in methods() {
        let (ours, theirs) = mp::Pipe(true).unwrap();
        let p = Process::builder(repr_rlock, (l.clone(), theirs))
            .name("P1")
            .start_method(m)
            .build();
        start(&p);
        assert!(ours.poll_timeout(LONG).unwrap());
        assert_eq!(ours.recv::<String>().unwrap(), "<RLock(P1, 1)>", "{m}");
        join_ok(&p);
        // The child exited holding it: from here it is some other process.
        assert_eq!(
            format!("{l:?}"),
            "<RLock(SomeOtherProcess, nonzero)>",
            "{m}"
        );
        assert!(l.recover() || l.owner_died().is_none());
        if l.locked() {
            // Not yet noticed as dead (nobody waited): a dead holder is recovered by hand.
            let e = l.acquire_timeout(LONG).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::OwnerDied);
            assert!(l.recover());
        }
        assert!(!l.locked());
    }
}

// ------------------------------------------------------------------------------------------
// A holder killed while holding the lock
// ------------------------------------------------------------------------------------------

#[mp::test]
fn killed_lock_holder_is_reported_and_recoverable() {
    for m in methods() {
        let l = Lock::new().unwrap();
        let held = Event::new().unwrap();
        let p = Process::builder(hold_forever, (l.clone(), held.clone()))
            .start_method(m)
            .build();
        start(&p);
        assert!(held.wait_timeout(LONG), "{m}");
        let pid = p.pid().unwrap();
        // A thread already blocked in acquire() when the holder dies.
        let l2 = l.clone();
        let blocked = std::thread::spawn(move || l2.acquire());
        p.kill().unwrap();
        join_code(&p, -9);
        let e = blocked.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OwnerDied, "{m}: {e}");
        assert!(e.to_string().contains(&pid.to_string()), "{m}: {e}");
        // Everybody keeps getting the error until recover().
        assert_eq!(l.try_acquire().unwrap_err().kind(), ErrorKind::OwnerDied);
        assert_eq!(l.owner_died(), Some(pid));
        assert!(l.recover());
        assert!(!l.locked());
        assert!(l.try_acquire().unwrap());
        l.release().unwrap();
    }
}

#[mp::test]
fn killed_rlock_holder_is_reported_and_recoverable() {
    for m in methods() {
        let l = RLock::new().unwrap();
        let held = Event::new().unwrap();
        let p = Process::builder(hold_rlock_forever, (l.clone(), held.clone()))
            .start_method(m)
            .build();
        start(&p);
        assert!(held.wait_timeout(LONG), "{m}");
        let pid = p.pid().unwrap();
        p.kill().unwrap();
        join_code(&p, -9);
        let t = Instant::now();
        let e = l.acquire_timeout(LONG).unwrap_err();
        assert!(t.elapsed() < LONG);
        assert_eq!(e.kind(), ErrorKind::OwnerDied, "{m}: {e}");
        assert!(e.to_string().contains(&pid.to_string()));
        assert!(l.recover());
        assert_eq!(l.count(), 0);
        l.acquire().unwrap();
        assert_eq!(l.count(), 1);
        l.release().unwrap();
        assert!(!l.locked());
    }
}

#[test]
fn any_lock_is_the_same_lock() {
    let l = Lock::new().unwrap();
    let a: AnyLock = l.clone().into();
    let b: AnyLock = l.into();
    assert_eq!(a, b);
    assert_ne!(a, AnyLock::new_rlock().unwrap());
    let shared = Arc::new(a);
    assert!(shared.try_acquire().unwrap());
    assert!(b.locked());
}
