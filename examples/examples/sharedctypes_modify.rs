//! Mirrors the `sharedctypes` example of the multiprocessing docs ("The
//! multiprocessing.sharedctypes module"): a child modifies a
//! `Value`, a raw `Value(..., lock=False)`, a `c_char` array and an array of `Point`
//! structures.
//!
//! ```python
//! class Point(Structure):
//!     _fields_ = [('x', c_double), ('y', c_double)]
//!
//! def modify(n, x, s, A):
//!     n.value **= 2
//!     x.value **= 2
//!     s.value = s.value.upper()
//!     for a in A:
//!         a.x **= 2
//!         a.y **= 2
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     n = Value('i', 7)
//!     x = Value(c_double, 1.0/3.0, lock=False)
//!     s = Array('c', b'hello world', lock=lock)
//!     A = Array(Point, [(1.875,-6.25), (-5.75,2.0), (2.375,9.5)], lock=lock)
//!     p = Process(target=modify, args=(n, x, s, A))
//!     p.start()
//!     p.join()
//!     print(n.value)
//!     print(x.value)
//!     print(s.value)
//!     print([(a.x, a.y) for a in A])
//! ```
//!
//! `cargo run -p mp-examples --example sharedctypes_modify`

use mp::sharedctypes::{RawValue, bytes_repr};
use mp::{Array, Lock, Process, Value};

#[mp::shared]
struct Point {
    x: f64,
    y: f64,
}

#[mp::task]
fn modify(n: Value<i32>, x: RawValue<f64>, s: Array<u8>, a: Array<Point>) -> mp::Result<()> {
    {
        let mut n = n.lock()?;
        *n = n.pow(2);
    }
    x.set(x.get()?.powi(2))?;
    s.set_value(&s.value()?.to_ascii_uppercase())?;
    for p in a.lock()?.iter_mut() {
        p.x = p.x.powi(2);
        p.y = p.y.powi(2);
    }
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let lock = Lock::new()?;
    let n = Value::new(7i32)?;
    let x = RawValue::new(1.0f64 / 3.0)?; // Value(c_double, 1.0/3.0, lock=False)
    let s = Array::builder(b"hello world").lock(lock.clone()).build()?;
    let a = Array::builder(vec![
        Point { x: 1.875, y: -6.25 },
        Point { x: -5.75, y: 2.0 },
        Point { x: 2.375, y: 9.5 },
    ])
    .lock(lock)
    .build()?;

    let p = Process::new(modify, (n.clone(), x.clone(), s.clone(), a.clone()));
    p.start()?;
    p.join()?;

    let points: Vec<(f64, f64)> = a.to_vec()?.iter().map(|p| (p.x, p.y)).collect();
    println!("{}", n.get()?);
    println!("{}", x.get()?);
    println!("{}", bytes_repr(&s.value()?));
    println!("{points:?}");

    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(n.get()?, 49);
    assert_eq!(x.get()?, 0.1111111111111111);
    assert_eq!(s.value()?, b"HELLO WORLD");
    assert_eq!(
        points,
        [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)]
    );
    Ok(())
}
