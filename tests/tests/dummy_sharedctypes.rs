//! `mp::dummy::Value` and `Array` (CONFORMANCE sections 12 and 17): mp's API on thread-shared
//! data.
//!
//! Source of the behaviours: `_TestValue` and `_TestArray` of `Lib/test/_test_multiprocessing.py`
//! (CPython main at 00811485ee5f; PSF License Agreement) and `Lib/multiprocessing/dummy/
//! __init__.py`. Tweaks: CPython's dummy `Value` has no lock and its `Array` is an
//! `array.array`; mp::dummy keeps mp's API (`get_lock`, guards), so the tests are mp's.

use std::time::Duration;

use mp::ErrorKind;
use mp::dummy::synchronize::AnyLock;
use mp::dummy::{Array, Lock, Process, RLock, RawArray, RawValue, Value};

const LONG: Duration = Duration::from_secs(60);

#[mp::task]
fn modify(n: Value<f64>, a: Array<i32>, s: Array<u8>) -> mp::Result<()> {
    n.set(n.get()?.powi(2))?;
    for x in a.lock()?.iter_mut() {
        *x *= 2;
    }
    s.set_value(b"HELLO")?;
    Ok(())
}

/// `_TestValue.test_value`, `_TestArray.test_array`, the Python docs' `Value`/`Array` program: a
/// thread's writes are seen by the creator.
#[test]
fn writes_are_shared() -> mp::Result<()> {
    let n = Value::new(1.5f64)?;
    let a = Array::from_values(0..10)?;
    let s = Array::from_slice(b"hello world")?;
    let p = Process::new(modify, (n.clone(), a.clone(), s.clone()));
    p.start()?;
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(n.get()?, 2.25);
    assert_eq!(a.to_vec()?, (0..10).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(s.value()?, b"HELLO");
    assert_eq!(s.raw()?, b"HELLO\0world");
    Ok(())
}

/// `with v.get_lock(): v.value += 1` from many threads gives an exact count.
#[test]
fn locked_increments_are_exact() -> mp::Result<()> {
    let v = Value::new(0u64)?;
    let ps: Vec<Process> = (0..8)
        .map(|_| {
            let v = v.clone();
            Process::new(
                move || -> mp::Result<()> {
                    for _ in 0..5000 {
                        *v.lock()? += 1;
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
    for p in &ps {
        p.join_timeout(LONG)?;
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(v.get()?, 40_000);
    Ok(())
}

/// `_TestValue.test_getobj_getlock` and `_TestArray.test_getobj_getlock_obj`.
#[test]
fn get_lock_and_get_obj() -> mp::Result<()> {
    let v = Value::new(5i32)?;
    assert!(matches!(v.get_lock(), AnyLock::RLock(_)));
    let raw: RawValue<i32> = v.get_obj();
    raw.set(6)?;
    assert_eq!(v.get()?, 6);
    let l = Lock::new()?;
    let v = Value::with_lock(1i32, l.clone())?;
    assert_eq!(*v.get_lock(), AnyLock::from(l.clone()));
    let r = RLock::new()?;
    let w = Value::builder(1i32).lock(r.clone()).build()?;
    assert_eq!(*w.get_lock(), AnyLock::from(r));
    let raw = Value::builder(2i32).raw()?;
    assert_eq!(raw.get()?, 2);
    assert_eq!(
        Value::builder(2i32).lock(l).raw().unwrap_err().kind(),
        ErrorKind::Value
    );
    let a = Array::<i32>::new(3)?;
    assert!(!a.get_lock().locked());
    let ra: RawArray<i32> = a.get_obj();
    ra.set(1, 9)?;
    assert_eq!(a.get(1)?, 9);
    let raw = Array::builder(vec![1i32, 2]).raw()?;
    assert_eq!(raw.to_vec()?, [1, 2]);
    Ok(())
}

/// `_TestArray.test_array_from_size`: zero-filled; indexing, slicing, errors.
#[test]
fn array_api() -> mp::Result<()> {
    let a = Array::<i64>::new(10)?;
    assert_eq!(a.to_vec()?, [0; 10]);
    assert_eq!(a.len(), 10);
    assert!(!a.is_empty());
    a.set_range(2, &[1, 2, 3])?;
    assert_eq!(a.get_range(1..5)?, [0, 1, 2, 3]);
    a.fill(7)?;
    assert_eq!(a.get(9)?, 7);
    assert_eq!(a.get(10).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(a.set(10, 1).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(a.get_range(5..11).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(
        a.set_range(9, &[1, 2]).unwrap_err().kind(),
        ErrorKind::Index
    );
    let s = Array::<u8>::new(4)?;
    assert_eq!(
        s.set_value(b"toolong").unwrap_err().kind(),
        ErrorKind::Value
    );
    Ok(())
}

/// A second guard in the same thread is an error, not a deadlock; so is re-locking a plain
/// `Lock` the thread holds.
#[test]
fn no_self_deadlock() -> mp::Result<()> {
    let v = Value::new(0u32)?;
    let g = v.lock()?;
    assert_eq!(v.lock().unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(v.get().unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(v.get_obj().get().unwrap_err().kind(), ErrorKind::Runtime);
    drop(g);
    assert_eq!(v.get()?, 0);
    let l = Lock::new()?;
    let w = Value::with_lock(1u8, l.clone())?;
    l.acquire()?;
    assert_eq!(w.get().unwrap_err().kind(), ErrorKind::Runtime);
    l.release()?;
    assert_eq!(w.get()?, 1);
    let a = Array::from_slice(&[1u8])?;
    let g = a.lock()?;
    assert_eq!(a.lock().unwrap_err().kind(), ErrorKind::Runtime);
    drop(g);
    Ok(())
}

/// Any `Send` type can be stored (threads share memory).
#[test]
fn any_send_type() -> mp::Result<()> {
    let v = Value::new(vec![String::from("a")])?;
    v.lock()?.push("b".into());
    assert_eq!(v.get()?, ["a", "b"]);
    let a = Array::from_values(["x".to_string(), "y".to_string()])?;
    assert_eq!(a.get(1)?, "y");
    assert_eq!(
        format!("{:?}", Value::new(3u8)?),
        "<Synchronized wrapper for 3>"
    );
    Ok(())
}
