//! Value and RawValue (CONFORMANCE section 12), under every start method.

mod sync_common;

use std::time::Duration;

use mp::sharedctypes::{RawValue, copy, synchronized};
use mp::synchronize::AnyLock;
use mp::{ErrorKind, Event, Lock, Process, RLock, Value};
use sync_common::*;

type Values = (Value<i32>, Value<f64>, Value<i16>, Value<i64>, Value<u8>);
type RawValues = (
    RawValue<i32>,
    RawValue<f64>,
    RawValue<i16>,
    RawValue<i64>,
    RawValue<u8>,
);

#[mp::task]
fn write_values(v: Values) -> mp::Result<()> {
    v.0.set(24234)?;
    v.1.set(-4.25)?;
    v.2.set(234)?;
    v.3.set(1 << 34)?;
    v.4.set(b'y')
}

#[mp::task]
fn write_raw_values(v: RawValues) -> mp::Result<()> {
    v.0.set(24234)?;
    v.1.set(-4.25)?;
    v.2.set(234)?;
    v.3.set(1 << 34)?;
    v.4.set(b'y')
}

#[mp::task]
fn increment(v: Value<i32>, n: u32) -> mp::Result<()> {
    for _ in 0..n {
        *v.lock()? += 1;
    }
    Ok(())
}

#[mp::task]
fn increment_python_style(v: Value<i32>, n: u32) -> mp::Result<()> {
    // with v.get_lock(): v.value += 1
    for _ in 0..n {
        let _g = v.get_lock().lock()?;
        v.set(v.get()? + 1)?;
    }
    Ok(())
}

#[mp::task]
fn hold_value_forever(v: Value<u64>, held: Event) -> mp::Result<()> {
    let mut g = v.lock()?;
    *g = 7;
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

#[mp::test]
fn values_are_shared_with_a_child() {
    for m in methods() {
        let v: Values = (
            Value::new(4343).unwrap(),
            Value::new(3.625).unwrap(),
            Value::new(-232).unwrap(),
            Value::new(1 << 33).unwrap(),
            Value::new(b'x').unwrap(),
        );
        assert_eq!(v.0.get().unwrap(), 4343);
        assert_eq!(v.1.get().unwrap(), 3.625);
        assert_eq!(v.2.get().unwrap(), -232);
        assert_eq!(v.3.get().unwrap(), 1 << 33);
        assert_eq!(v.4.get().unwrap(), b'x');
        let p = Process::builder(write_values, (v.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(v.0.get().unwrap(), 24234, "{m}");
        assert_eq!(v.1.get().unwrap(), -4.25);
        assert_eq!(v.2.get().unwrap(), 234);
        assert_eq!(v.3.get().unwrap(), 1 << 34);
        assert_eq!(v.4.get().unwrap(), b'y');
    }
}

#[mp::test]
fn raw_values_are_shared_with_a_child() {
    for m in methods() {
        let v: RawValues = (
            RawValue::new(4343).unwrap(),
            RawValue::new(3.625).unwrap(),
            RawValue::new(-232).unwrap(),
            RawValue::new(1 << 33).unwrap(),
            RawValue::new(b'x').unwrap(),
        );
        assert_eq!(v.3.get().unwrap(), 1 << 33);
        let p = Process::builder(write_raw_values, (v.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(v.0.get().unwrap(), 24234, "{m}");
        assert_eq!(v.1.get().unwrap(), -4.25);
        assert_eq!(v.2.get().unwrap(), 234);
        assert_eq!(v.3.get().unwrap(), 1 << 34);
        assert_eq!(v.4.get().unwrap(), b'y');
    }
}

#[test]
fn get_lock_and_get_obj() {
    // Default: a new RLock.
    let v = Value::new(1i32).unwrap();
    assert!(matches!(v.get_lock(), AnyLock::RLock(_)));
    v.get_lock().acquire().unwrap();
    v.get_lock().release().unwrap();
    assert_eq!(v.get_obj().get().unwrap(), 1);
    // A given Lock is used as is.
    let l = Lock::new().unwrap();
    let v = Value::with_lock(5i32, l.clone()).unwrap();
    assert_eq!(*v.get_lock(), AnyLock::from(l.clone()));
    let g = v.lock().unwrap();
    assert!(l.locked());
    drop(g);
    assert!(!l.locked());
    // A given RLock too, through the builder.
    let r = RLock::new().unwrap();
    let v = Value::builder(2.5f64).lock(r.clone()).build().unwrap();
    assert_eq!(*v.get_lock(), AnyLock::from(r));
    // get_obj is the same memory.
    v.get_obj().set(3.5).unwrap();
    assert_eq!(v.get().unwrap(), 3.5);
    assert_eq!(v.get_obj(), v.get_obj());
}

#[test]
fn a_guard_is_exclusive_even_in_its_own_thread() {
    let v = Value::new(0u32).unwrap();
    let mut g = v.lock().unwrap();
    *g = 5;
    // The lock is recursive, the data is not: a second borrow is an error, not aliasing.
    assert_eq!(v.lock().unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(v.get().unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(v.get_obj().get().unwrap_err().kind(), ErrorKind::Runtime);
    assert!(
        v.get_lock().is_mine(),
        "the failed attempts released what they took"
    );
    drop(g);
    assert!(!v.get_lock().locked());
    assert_eq!(v.get().unwrap(), 5);
    // The Python way: hold get_lock() and use get/set.
    {
        let _l = v.get_lock().lock().unwrap();
        v.set(v.get().unwrap() + 1).unwrap();
    }
    assert_eq!(v.get().unwrap(), 6);
}

#[test]
fn raw_access_waits_for_a_guard_in_another_thread() {
    let v = Value::new(0u64).unwrap();
    let raw = v.get_obj();
    let mut g = v.lock().unwrap();
    let t = std::thread::spawn(move || raw.get().unwrap());
    *g = 42;
    std::thread::sleep(Duration::from_millis(50));
    drop(g);
    assert_eq!(t.join().unwrap(), 42, "the read happened after the guard");
}

#[mp::test]
fn increments_are_exact_across_processes_and_threads() {
    for m in methods() {
        let v = Value::new(0i32).unwrap();
        let n = 5000;
        let ps = [
            Process::builder(increment, (v.clone(), n))
                .start_method(m)
                .build(),
            Process::builder(increment_python_style, (v.clone(), n))
                .start_method(m)
                .build(),
        ];
        for p in &ps {
            start(p);
        }
        let v2 = v.clone();
        let t = std::thread::spawn(move || increment(v2, n));
        increment_python_style(v.clone(), n).unwrap();
        t.join().unwrap().unwrap();
        for p in &ps {
            join_ok(p);
        }
        assert_eq!(v.get().unwrap(), 4 * n as i32, "{m}");
    }
}

#[test]
fn copy_and_synchronized() {
    let raw = RawValue::new(7i32).unwrap();
    let c = copy(&raw).unwrap();
    raw.set(8).unwrap();
    assert_eq!(c.get().unwrap(), 7, "an independent copy");
    let s = synchronized(&raw, None).unwrap();
    assert!(matches!(s.get_lock(), AnyLock::RLock(_)));
    s.set(9).unwrap();
    assert_eq!(raw.get().unwrap(), 9, "the same memory");
    let l = Lock::new().unwrap();
    let s2 = synchronized(&raw, l.clone()).unwrap();
    assert_eq!(*s2.get_lock(), AnyLock::from(l));
    let v = Value::new(1.5f32).unwrap();
    let c = copy(&v).unwrap();
    v.set(2.5).unwrap();
    assert_eq!(c.get().unwrap(), 1.5);
}

#[test]
fn value_repr() {
    let v = Value::new(3.25f64).unwrap();
    assert_eq!(format!("{v:?}"), "<Synchronized wrapper for 3.25>");
    let r = RawValue::new(-1i8).unwrap();
    assert_eq!(format!("{r:?}"), "RawValue(-1)");
}

#[mp::test]
fn a_value_whose_holder_died_is_recoverable() {
    for m in methods() {
        let v = Value::new(0u64).unwrap();
        let held = Event::new().unwrap();
        let p = Process::builder(hold_value_forever, (v.clone(), held.clone()))
            .start_method(m)
            .build();
        start(&p);
        assert!(held.wait_timeout(LONG));
        let pid = p.pid().unwrap();
        p.kill().unwrap();
        join_code(&p, -9);
        let e = v.get().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OwnerDied, "{m}: {e}");
        assert!(e.to_string().contains(&pid.to_string()));
        assert!(v.get_lock().recover());
        // The dead child's borrow of the data is taken over too.
        assert_eq!(v.get().unwrap(), 7, "{m}");
        *v.lock().unwrap() += 1;
        assert_eq!(v.get().unwrap(), 8);
    }
}

#[test]
fn relocking_a_plain_lock_is_an_error_not_a_hang() {
    let l = Lock::new().unwrap();
    let v = Value::with_lock(1u8, l.clone()).unwrap();
    let a = mp::Array::builder(vec![1u8])
        .lock(l.clone())
        .build()
        .unwrap();
    let g = v.lock().unwrap();
    assert_eq!(v.get().unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(a.get(0).unwrap_err().kind(), ErrorKind::Runtime);
    assert_eq!(a.lock().unwrap_err().kind(), ErrorKind::Runtime);
    assert!(l.locked(), "the guard still holds it");
    drop(g);
    assert!(!l.locked());
    assert_eq!(a.get(0).unwrap(), 1);
}
