//! Mirrors the `Pool` example of the Python documentation's "Process Pools" ("The following example
//! demonstrates the use of a pool": `apply_async(f, (10,))`, `map`, `imap` with `next()` and
//! `next(timeout)`, and a `get(timeout=1)` that raises `multiprocessing.TimeoutError`).
//!
//! `cargo run -p mp-examples --example pool_reference`

use std::time::Duration;

#[mp::task]
fn f(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[mp::main]
fn main() -> mp::Result<()> {
    let pool = mp::Pool::builder().processes(4).build()?; // start 4 worker processes
    let result = pool.apply_async(f, (10,))?; // evaluate "f(10)" asynchronously in a single process
    let v = result.get_timeout(Duration::from_secs(1))?;
    println!("{v}"); // prints "100" unless your computer is *very* slow
    assert_eq!(v, 100);

    let squares = pool.map(f, 0..10)?;
    println!("{squares:?}"); // prints "[0, 1, 4,..., 81]"
    assert_eq!(squares[9], 81);

    let mut it = pool.imap(f, 0..10)?;
    let a = it.next().expect("an item")?;
    println!("{a}"); // prints "0"
    let b = it.next().expect("an item")?;
    println!("{b}"); // prints "1"
    let c = it.next_timeout(Duration::from_secs(1)).expect("an item")?;
    println!("{c}"); // prints "4" unless your computer is *very* slow
    assert_eq!((a, b, c), (0, 1, 4));

    let result = pool.apply_async(sleep, (10,))?;
    let err = result.get_timeout(Duration::from_secs(1)).unwrap_err(); // multiprocessing.TimeoutError
    println!("{:?}: {err}", err.kind());
    assert_eq!(err.kind(), mp::ErrorKind::Timeout);
    Ok(())
}
