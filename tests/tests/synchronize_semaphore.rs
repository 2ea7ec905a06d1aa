//! Semaphore and BoundedSemaphore (CONFORMANCE section 8), under every start method.

mod sync_common;

use std::time::{Duration, Instant};

use mp::{BoundedSemaphore, ErrorKind, Process, Semaphore};
use sync_common::*;

#[mp::task]
fn release_sem(s: Semaphore, n: u32) -> mp::Result<()> {
    for _ in 0..n {
        s.release()?;
    }
    Ok(())
}

#[mp::task]
fn acquire_sem(s: Semaphore, done: Semaphore) -> mp::Result<()> {
    if !s.acquire_timeout(LONG)? {
        return Err(mp::Error::new(ErrorKind::Timeout, "never acquired"));
    }
    done.release()
}

#[mp::task]
fn bounded_over_release(s: BoundedSemaphore) -> mp::Result<()> {
    match s.release() {
        Err(e) if e.kind() == ErrorKind::Value => Ok(()),
        other => Err(mp::Error::new(
            ErrorKind::Assertion,
            format!("expected a ValueError, got {other:?}"),
        )),
    }
}

#[mp::task]
fn inside_at_most(s: Semaphore, inside: mp::Value<u32>, max: mp::Value<u32>) -> mp::Result<()> {
    for _ in 0..50 {
        let _g = s.lock()?;
        let now = {
            let mut g = inside.lock()?;
            *g += 1;
            *g
        };
        {
            let mut m = max.lock()?;
            *m = (*m).max(now);
        }
        std::thread::yield_now();
        *inside.lock()? -= 1;
    }
    Ok(())
}

#[test]
fn semaphore_values() {
    let s = Semaphore::new(2).unwrap();
    assert_eq!(s.get_value(), 2);
    s.acquire().unwrap();
    assert_eq!(s.get_value(), 1);
    assert!(s.try_acquire().unwrap());
    assert_eq!(s.get_value(), 0);
    assert!(!s.try_acquire().unwrap());
    assert_eq!(s.get_value(), 0);
    s.release().unwrap();
    assert_eq!(s.get_value(), 1);
    s.release().unwrap();
    assert_eq!(s.get_value(), 2);
    // A plain semaphore may go above its initial value.
    s.release().unwrap();
    assert_eq!(s.get_value(), 3);
    s.release().unwrap();
    assert_eq!(s.get_value(), 4);
    assert_eq!(format!("{s:?}"), "<Semaphore(value=4)>");
}

#[test]
fn bounded_semaphore_values() {
    let s = BoundedSemaphore::new(2).unwrap();
    s.acquire().unwrap();
    assert!(s.try_acquire().unwrap());
    assert!(!s.try_acquire().unwrap());
    s.release().unwrap();
    s.release().unwrap();
    assert_eq!(s.get_value(), 2);
    let e = s.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(e.to_string().contains("released too many times"));
    assert_eq!(s.get_value(), 2, "nothing changed");
    assert_eq!(format!("{s:?}"), "<BoundedSemaphore(value=2, maxvalue=2)>");
}

#[test]
fn semaphore_timeouts() {
    let s = Semaphore::new(0).unwrap();
    let t = Instant::now();
    assert!(!s.try_acquire().unwrap());
    assert!(!s.acquire_timeout(Duration::ZERO).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5));
    let t = Instant::now();
    assert!(!s.acquire_timeout(Duration::from_millis(300)).unwrap());
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(290), "{e:?}");
}

#[test]
fn semaphore_guard() {
    let s = BoundedSemaphore::new(1).unwrap();
    {
        let _g = s.lock().unwrap();
        assert_eq!(s.get_value(), 0);
    }
    assert_eq!(s.get_value(), 1);
}

#[test]
fn semaphore_wakes_a_thread() {
    let s = Semaphore::new(0).unwrap();
    let s2 = s.clone();
    let t = std::thread::spawn(move || s2.acquire_timeout(LONG).unwrap());
    s.release().unwrap();
    assert!(t.join().unwrap());
    assert_eq!(s.get_value(), 0);
}

#[mp::test]
fn semaphore_across_processes() {
    for m in methods() {
        // Children block until we release; each signals `done`.
        let s = Semaphore::new(0).unwrap();
        let done = Semaphore::new(0).unwrap();
        let ps: Vec<Process> = (0..3)
            .map(|_| {
                Process::builder(acquire_sem, (s.clone(), done.clone()))
                    .start_method(m)
                    .build()
            })
            .collect();
        for p in &ps {
            start(p);
        }
        assert!(!done.acquire_timeout(Duration::from_millis(50)).unwrap());
        s.release_n(3).unwrap();
        for _ in 0..3 {
            assert!(done.acquire_timeout(LONG).unwrap(), "{m}");
        }
        for p in &ps {
            join_ok(p);
        }
        // A child releases above the initial value.
        let p = Process::builder(release_sem, (s.clone(), 2))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(s.get_value(), 2, "{m}");
    }
}

#[mp::test]
fn bounded_semaphore_in_a_child() {
    for m in methods() {
        let s = BoundedSemaphore::new(1).unwrap();
        let p = Process::builder(bounded_over_release, (s.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
    }
}

#[mp::test]
fn semaphore_bounds_concurrency() {
    for m in methods() {
        let s = Semaphore::new(2).unwrap();
        let inside = mp::Value::new(0u32).unwrap();
        let max = mp::Value::new(0u32).unwrap();
        let ps: Vec<Process> = (0..4)
            .map(|_| {
                Process::builder(inside_at_most, (s.clone(), inside.clone(), max.clone()))
                    .start_method(m)
                    .build()
            })
            .collect();
        for p in &ps {
            start(p);
        }
        for p in &ps {
            join_ok(p);
        }
        let max = max.get().unwrap();
        assert!((1..=2).contains(&max), "{m}: {max} inside at once");
        assert_eq!(s.get_value(), 2);
    }
}
