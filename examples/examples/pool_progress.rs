//! A progress bar over a long `imap`, as Python users wrap `pool.imap(...)` in `tqdm(...)`:
//! `IMapIterator` is a plain iterator, so `indicatif`'s progress adaptors work on it.
//! (Not a program of the Python documentation; `imap` is in its "Process Pools" section.)
//!
//! `cargo run -p mp-examples --example pool_progress`

use std::time::Duration;

use indicatif::{ProgressBar, ProgressIterator, ProgressStyle};

/// Some work per item: a few milliseconds.
#[mp::task]
fn work(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(2));
    x * x
}

#[mp::main]
fn main() -> mp::Result<()> {
    const N: u64 = 400;
    let pool = mp::Pool::new(4)?;

    // Python: for r in tqdm(pool.imap(work, range(N)), total=N): ...
    let bar = ProgressBar::new(N).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut total = 0u64;
    for r in pool.imap(work, 0..N)?.progress_with(bar) {
        total += r?;
    }
    println!("sum of squares below {N}: {total}");
    assert_eq!(total, (0..N).map(|x| x * x).sum::<u64>());

    // imap_unordered with a chunksize, and the shorter `progress_count`.
    let done = pool
        .chunksize(10)
        .imap_unordered(work, 0..N)?
        .progress_count(N)
        .filter(|r| r.is_ok())
        .count();
    println!("{done} results, in completion order");
    assert_eq!(done as u64, N);
    Ok(())
}
