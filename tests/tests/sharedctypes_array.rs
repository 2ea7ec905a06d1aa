//! Array and RawArray (CONFORMANCE section 12), under every start method.

mod sync_common;

use mp::sharedctypes::{RawArray, copy, synchronized};
use mp::synchronize::AnyLock;
use mp::{Array, ErrorKind, Lock, Process};
use sync_common::*;

#[mp::task]
fn negate(a: Array<i32>) -> mp::Result<()> {
    for x in a.lock()?.iter_mut() {
        *x = -*x;
    }
    Ok(())
}

#[mp::task]
fn negate_raw(a: RawArray<i32>) -> mp::Result<()> {
    for i in 0..a.len() {
        a.set(i, -a.get(i)?)?;
    }
    Ok(())
}

#[mp::task]
fn upper(s: Array<u8>) -> mp::Result<()> {
    let v = s.value()?;
    s.set_value(&v.to_ascii_uppercase())
}

#[mp::task]
fn double_all(a: Array<f64>) -> mp::Result<()> {
    let v: Vec<f64> = a.to_vec()?.iter().map(|x| x * 2.0).collect();
    a.set_range(0, &v)
}

#[test]
fn array_basics() {
    let seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831];
    let a = Array::from_slice(&seq).unwrap();
    assert_eq!(a.len(), seq.len());
    assert!(!a.is_empty());
    assert_eq!(a.get(3).unwrap(), seq[3]);
    assert_eq!(a.get_range(2..5).unwrap(), &seq[2..5]);
    assert_eq!(a.to_vec().unwrap(), seq);
    // Slice assignment.
    a.set_range(2, &[1, 2, 3]).unwrap();
    assert_eq!(a.get_range(2..5).unwrap(), [1, 2, 3]);
    assert_eq!(a.get(10).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(a.set(10, 0).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(a.get_range(5..11).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(
        a.set_range(9, &[1, 2]).unwrap_err().kind(),
        ErrorKind::Index
    );
    assert_eq!(
        a.get(9).unwrap(),
        seq[9],
        "a failed slice assignment changes nothing"
    );
    let empty = Array::<i32>::new(0).unwrap();
    assert!(empty.is_empty());
    assert!(empty.to_vec().unwrap().is_empty());
}

#[mp::test]
fn a_child_updates_arrays_in_place() {
    for m in methods() {
        let seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831];
        let a = Array::from_slice(&seq).unwrap();
        let r = RawArray::from_slice(&seq).unwrap();
        let d = Array::from_values([1.5, 2.25]).unwrap();
        let ps = [
            Process::builder(negate, (a.clone(),))
                .start_method(m)
                .build(),
            Process::builder(negate_raw, (r.clone(),))
                .start_method(m)
                .build(),
            Process::builder(double_all, (d.clone(),))
                .start_method(m)
                .build(),
        ];
        for p in &ps {
            start(p);
        }
        for p in &ps {
            join_ok(p);
        }
        let neg: Vec<i32> = seq.iter().map(|x| -x).collect();
        assert_eq!(a.to_vec().unwrap(), neg, "{m}");
        assert_eq!(r.to_vec().unwrap(), neg, "{m}");
        assert_eq!(d.to_vec().unwrap(), [3.0, 4.5], "{m}");
    }
}

#[test]
fn arrays_from_a_size_are_zeroed_every_time() {
    for size in [1, 10, 100, 4096, 100_000] {
        for _ in 0..5 {
            let a = Array::<i32>::new(size).unwrap();
            assert!(a.to_vec().unwrap().iter().all(|&x| x == 0));
            a.fill(-1).unwrap();
            let r = RawArray::<u64>::new(size).unwrap();
            assert!(r.to_vec().unwrap().iter().all(|&x| x == 0));
        }
    }
}

#[test]
fn array_lock_semantics_mirror_value() {
    let a = Array::<i16>::new(3).unwrap();
    assert!(matches!(a.get_lock(), AnyLock::RLock(_)));
    let l = Lock::new().unwrap();
    let b = Array::builder(vec![1i16, 2])
        .lock(l.clone())
        .build()
        .unwrap();
    assert_eq!(*b.get_lock(), AnyLock::from(l.clone()));
    {
        let mut g = b.lock().unwrap();
        assert!(l.locked());
        g[0] = 9;
    }
    assert!(!l.locked());
    assert_eq!(b.to_vec().unwrap(), [9, 2]);
    b.get_obj().set(1, 8).unwrap();
    assert_eq!(b.get(1).unwrap(), 8);
    let raw = RawArray::from_slice(&[1u8, 2, 3]).unwrap();
    let s = synchronized(&raw, None).unwrap();
    s.set(0, 7).unwrap();
    assert_eq!(raw.get(0).unwrap(), 7);
    let c = copy(&raw).unwrap();
    raw.set(0, 1).unwrap();
    assert_eq!(c.to_vec().unwrap(), [7, 2, 3]);
    assert_eq!(format!("{c:?}"), "RawArray([7, 2, 3])");
    assert_eq!(
        format!("{s:?}"),
        "<SynchronizedArray wrapper for [1, 2, 3]>"
    );
}

#[mp::test]
fn a_c_char_array_is_a_byte_string() {
    for m in methods() {
        let lock = Lock::new().unwrap();
        let s = Array::builder(b"hello world").lock(lock).build().unwrap();
        assert_eq!(s.value().unwrap(), b"hello world");
        let p = Process::builder(upper, (s.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(s.value().unwrap(), b"HELLO WORLD", "{m}");
    }
    let s = Array::<u8>::new(20).unwrap();
    assert_eq!(s.value().unwrap(), b"");
    s.set_value(b"abc").unwrap();
    assert_eq!(s.value().unwrap(), b"abc");
    assert_eq!(s.raw().unwrap()[..4], *b"abc\0");
    let e = s.set_value(&[b'x'; 21]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(e.to_string().contains("too long"));
    assert_eq!(s.value().unwrap(), b"abc", "nothing changed");
    s.set_value(&[b'y'; 20]).unwrap(); // exactly full: no room for a NUL
    assert_eq!(s.value().unwrap(), [b'y'; 20]);
}

#[test]
fn raw_array_guard() {
    let a = RawArray::<u32>::new(4).unwrap();
    {
        let mut g = a.borrow_mut().unwrap();
        g.copy_from_slice(&[4, 3, 2, 1]);
        g.sort_unstable();
        assert_eq!(a.get(0).unwrap_err().kind(), ErrorKind::Runtime);
    }
    assert_eq!(a.to_vec().unwrap(), [1, 2, 3, 4]);
}
