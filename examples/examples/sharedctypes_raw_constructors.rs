//! Mirrors the table of the `sharedctypes` docs ("The multiprocessing.sharedctypes module": "The
//! table below compares the syntax for creating shared ctypes objects from shared memory with
//! the normal ctypes syntax"), and the rest of that section: `copy(obj)`, and
//! `synchronized(obj[, lock])` with `get_obj()` and `get_lock()`.
//!
//! | ctypes | sharedctypes using type | sharedctypes using typecode |
//! |---|---|---|
//! | `c_double(2.4)` | `RawValue(c_double, 2.4)` | `RawValue('d', 2.4)` |
//! | `MyStruct(4, 6)` | `RawValue(MyStruct, 4, 6)` | |
//! | `(c_short * 7)()` | `RawArray(c_short, 7)` | `RawArray('h', 7)` |
//! | `(c_int * 3)(9, 2, 8)` | `RawArray(c_int, (9, 2, 8))` | `RawArray('i', (9, 2, 8))` |
//!
//! `cargo run -p mp-examples --example sharedctypes_raw_constructors`
//!
//! The docs have only the table; this runs each cell, then lets a child change every object to
//! show that they live in shared memory. In Rust the type and the typecode are one thing (the
//! element type: `'d'` is `f64`, `'h'` is `i16`, `'i'` is `i32`), so the two right-hand
//! columns are the same call. The Python program it mirrors (written for this example; its
//! output under CPython 3.11 is what this one prints):
//!
//! ```python
//! class MyStruct(Structure):
//!     _fields_ = [('x', c_int), ('y', c_int)]
//!
//! def double_all(d1, d2, s, a1, a2, a3, a4):
//!     d1.value *= 2; d2.value *= 2; s.x *= 2; s.y *= 2
//!     for a in (a1, a2, a3, a4):
//!         for i in range(len(a)):
//!             a[i] = 2 * a[i] + 1
//!
//! if __name__ == '__main__':
//!     d1 = RawValue(c_double, 2.4); d2 = RawValue('d', 2.4); s = RawValue(MyStruct, 4, 6)
//!     a1 = RawArray(c_short, 7); a2 = RawArray('h', 7)
//!     a3 = RawArray(c_int, (9, 2, 8)); a4 = RawArray('i', (9, 2, 8))
//!     print(d1.value, d2.value, (s.x, s.y), a1[:], a2[:], a3[:], a4[:])
//!     p = Process(target=double_all, args=(d1, d2, s, a1, a2, a3, a4))
//!     p.start(); p.join()
//!     print(d1.value, d2.value, (s.x, s.y), a1[:], a2[:], a3[:], a4[:])
//!
//!     c = copy(a3)                      # a new raw array with the same contents
//!     a3[0] = 0
//!     print(c[:], a3[:])                # [19, 5, 17] [0, 5, 17]
//!     lock = Lock()
//!     sa = synchronized(a4, lock)       # the same memory, behind `lock`
//!     sa[0] = 100                       # takes the lock
//!     with sa.get_lock():
//!         sa.get_obj()[1] = 200         # the raw object: no lock of its own
//!     print(sa.get_obj()[:], sa.get_lock() is lock)
//! ```

use mp::sharedctypes::{RawArray, RawValue, copy, synchronized};
use mp::{Lock, Process};

#[mp::shared]
struct MyStruct {
    x: i32,
    y: i32,
}

#[mp::task]
fn double_all(
    d1: RawValue<f64>,
    d2: RawValue<f64>,
    s: RawValue<MyStruct>,
    a1: RawArray<i16>,
    a2: RawArray<i16>,
    a3: RawArray<i32>,
    a4: RawArray<i32>,
) -> mp::Result<()> {
    d1.set(d1.get()? * 2.0)?;
    d2.set(d2.get()? * 2.0)?;
    {
        let mut s = s.borrow_mut()?;
        s.x *= 2;
        s.y *= 2;
    }
    for a in [&a1, &a2] {
        for v in a.borrow_mut()?.iter_mut() {
            *v = 2 * *v + 1;
        }
    }
    for a in [&a3, &a4] {
        for i in 0..a.len() {
            a.set(i, 2 * a.get(i)? + 1)?;
        }
    }
    Ok(())
}

type All = (
    RawValue<f64>,
    RawValue<f64>,
    RawValue<MyStruct>,
    RawArray<i16>,
    RawArray<i16>,
    RawArray<i32>,
    RawArray<i32>,
);

/// `print(d1.value, d2.value, (s.x, s.y), a1[:], a2[:], a3[:], a4[:])`
fn show(all: &All) -> mp::Result<String> {
    let (d1, d2, s, a1, a2, a3, a4) = all;
    let s = s.get()?;
    Ok(format!(
        "{} {} {:?} {:?} {:?} {:?} {:?}",
        d1.get()?,
        d2.get()?,
        (s.x, s.y),
        a1.to_vec()?,
        a2.to_vec()?,
        a3.to_vec()?,
        a4.to_vec()?
    ))
}

#[mp::main]
fn main() -> mp::Result<()> {
    let plain = 2.4f64; // c_double(2.4): an ordinary value of this process
    let all: All = (
        RawValue::<f64>::new(plain)?,             // RawValue(c_double, 2.4)
        RawValue::new(2.4f64)?,                   // RawValue('d', 2.4)
        RawValue::new(MyStruct { x: 4, y: 6 })?,  // RawValue(MyStruct, 4, 6)
        RawArray::<i16>::new(7)?,                 // RawArray(c_short, 7)
        RawArray::<i16>::new(7)?,                 // RawArray('h', 7)
        RawArray::<i32>::from_slice(&[9, 2, 8])?, // RawArray(c_int, (9, 2, 8))
        RawArray::from_values([9i32, 2, 8])?,     // RawArray('i', (9, 2, 8))
    );
    let before = show(&all)?;
    println!("{before}");
    assert_eq!(
        before,
        "2.4 2.4 (4, 6) [0, 0, 0, 0, 0, 0, 0] [0, 0, 0, 0, 0, 0, 0] [9, 2, 8] [9, 2, 8]"
    );

    let p = Process::new(double_all, all.clone());
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    let after = show(&all)?;
    println!("{after}");
    assert_eq!(
        after,
        "4.8 4.8 (8, 12) [1, 1, 1, 1, 1, 1, 1] [1, 1, 1, 1, 1, 1, 1] [19, 5, 17] [19, 5, 17]"
    );

    let (_, _, _, _, _, a3, a4) = &all;
    let c = copy(a3)?; // sharedctypes.copy(a3)
    a3.set(0, 0)?;
    println!("{:?} {:?}", c.to_vec()?, a3.to_vec()?);
    assert_eq!(
        (c.to_vec()?, a3.to_vec()?),
        (vec![19, 5, 17], vec![0, 5, 17])
    );

    let lock = Lock::new()?;
    let sa = synchronized(a4, lock.clone())?; // synchronized(a4, lock)
    sa.set(0, 100)?; // takes the lock
    {
        let _held = sa.get_lock().lock()?; // with sa.get_lock():
        sa.get_obj().set(1, 200)?; //          sa.get_obj()[1] = 200
    }
    let same_lock = *sa.get_lock() == lock.into();
    let py_bool = if same_lock { "True" } else { "False" };
    println!("{:?} {py_bool}", sa.get_obj().to_vec()?);
    assert_eq!(sa.get_obj().to_vec()?, [100, 200, 17]);
    assert!(same_lock);
    Ok(())
}
