//! Mirrors the shared-memory example of the multiprocessing docs ("Sharing state between
//! processes", Shared memory): a child writes a `Value` and negates an `Array`.
//!
//! ```python
//! def f(n, a):
//!     n.value = 3.1415927
//!     for i in range(len(a)):
//!         a[i] = -a[i]
//!
//! if __name__ == '__main__':
//!     num = Value('d', 0.0)
//!     arr = Array('i', range(10))
//!     p = Process(target=f, args=(num, arr))
//!     p.start()
//!     p.join()
//!     print(num.value)
//!     print(arr[:])
//! ```
//!
//! `cargo run -p mp-examples --example shared_value_array`

use mp::{Array, Process, Value};

#[mp::task]
// The program's own literal (it prints 3.1415927), not an approximation of π.
#[allow(clippy::approx_constant)]
fn f(n: Value<f64>, a: Array<i32>) -> mp::Result<()> {
    n.set(3.1415927)?;
    for i in 0..a.len() {
        a.set(i, -a.get(i)?)?;
    }
    Ok(())
}

#[mp::main]
#[allow(clippy::approx_constant)]
fn main() -> mp::Result<()> {
    let num = Value::new(0.0f64)?;
    let arr = Array::from_values(0..10)?;
    let p = Process::new(f, (num.clone(), arr.clone()));
    p.start()?;
    p.join()?;
    println!("{}", num.get()?);
    println!("{:?}", arr.to_vec()?);
    assert_eq!(num.get()?, 3.1415927);
    assert_eq!(arr.to_vec()?, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
    Ok(())
}
