//! Mirrors `starmap(func, iterable[, chunksize])` of the Python documentation's "Process Pools":
//! like `map`, but each item of `iterable` is unpacked into the arguments (an iterable of
//! `[(1,2), (3, 4)]` results in `[func(1,2), func(3,4)]`), and `starmap_async`, which the same
//! section describes without an example.
//!
//! `cargo run -p mp-examples --example pool_starmap`
//!
//! Here `func(a, b)` returns `a * b` and `myPool` is `Pool(2)`. Python's program:
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def func(a, b):
//!     return a * b
//!
//! if __name__ == '__main__':
//!     with Pool(2) as myPool:
//!         iterable = [(1, 2), (3, 4)]
//!         print(myPool.starmap(func, iterable))   # [2, 12]: func(1, 2), func(3, 4)
//!         print(myPool.map(sum, iterable))        # [3, 7]: map passes each tuple whole
//!         res = myPool.starmap_async(func, [(5, 6), (7, 8)], callback=print)
//!         print(res.get())                        # [30, 56]
//!         print(myPool.starmap(func, [(i, i) for i in range(10)], 3))
//! ```

use std::sync::mpsc;

#[mp::task]
fn func(a: i64, b: i64) -> i64 {
    a * b
}

/// Python's `sum` of a pair: `map` hands each item over whole.
#[mp::task]
fn sum(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}

#[mp::main]
fn main() -> mp::Result<()> {
    let my_pool = mp::Pool::new(2)?;

    let iterable = [(1, 2), (3, 4)];
    let products = my_pool.starmap(func, iterable)?; // 参数为: func(1,2)
    println!("{products:?}");
    assert_eq!(products, [2, 12]);

    let sums = my_pool.map(sum, iterable)?;
    println!("{sums:?}");
    assert_eq!(sums, [3, 7]);

    // `callback=print`: the callback runs in this process, on the pool's result thread.
    let (seen_tx, seen_rx) = mpsc::channel();
    let res = my_pool
        .starmap_async(func, [(5, 6), (7, 8)])?
        .callback(move |v: &Vec<i64>| {
            println!("{v:?}");
            let _ = seen_tx.send(v.clone());
        });
    let got = res.get()?;
    println!("{got:?}");
    assert_eq!(got, [30, 56]);
    let from_callback = seen_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .map_err(|_| mp::Error::new(mp::ErrorKind::Timeout, "the callback did not run"))?;
    assert_eq!(from_callback, [30, 56]);

    // `chunksize` is the third argument in Python: a builder step here.
    let squares = my_pool
        .chunksize(3)
        .starmap(func, (0..10).map(|i| (i, i)))?;
    println!("{squares:?}");
    assert_eq!(squares, (0..10).map(|i| i * i).collect::<Vec<_>>());
    Ok(())
}
