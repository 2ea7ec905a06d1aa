//! Mirrors "The multiprocessing.dummy module" of the Python documentation
//! ("`multiprocessing.dummy` replicates the API of `multiprocessing` but is no
//! more than a wrapper around the `threading` module"), with the program that section is
//! usually illustrated by: a `ThreadPool` mapping a download function over a list of URLs,
//!
//! ```python
//! from multiprocessing.dummy import Pool as ThreadPool
//!
//! def fetch(url):
//!     time.sleep(0.2)            # waiting for the network
//!     return url, len(PAGES[url])
//!
//! with ThreadPool(4) as pool:
//!     for url, size in pool.map(fetch, urls):
//!         print(f"{url}: {size} bytes")
//! ```
//!
//! The "network" is a local table and a sleep (so that the example runs offline). Threads suit work
//! that waits: 8 downloads of 200 ms take about 2 rounds with 4 threads, not 8.
//!
//! `cargo run -p mp-examples --example dummy_thread_pool`

use std::time::{Duration, Instant};

use mp::dummy::Pool;

const PAGES: &[(&str, &str)] = &[
    (
        "https://www.python.org/",
        "<html>Welcome to Python.org</html>",
    ),
    (
        "https://docs.python.org/3/",
        "<html>3.11 Documentation</html>",
    ),
    (
        "https://pypi.org/",
        "<html>PyPI · The Python Package Index</html>",
    ),
    (
        "https://www.rust-lang.org/",
        "<html>Rust Programming Language</html>",
    ),
    (
        "https://crates.io/",
        "<html>crates.io: Rust Package Registry</html>",
    ),
    ("https://docs.rs/", "<html>Docs.rs</html>"),
    (
        "https://github.com/",
        "<html>GitHub: Let’s build from here</html>",
    ),
    ("https://example.com/", "<html>Example Domain</html>"),
];

const LATENCY: Duration = Duration::from_millis(200);

/// "Downloads" a page: waits as a request would, then returns its size.
#[mp::task]
fn fetch(url: String) -> Result<(String, usize), String> {
    std::thread::sleep(LATENCY);
    match PAGES.iter().find(|(u, _)| *u == url) {
        Some((_, body)) => Ok((url, body.len())),
        None => Err(format!("{url}: 404 Not Found")),
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let urls: Vec<String> = PAGES.iter().map(|(u, _)| u.to_string()).collect();
    let pool = Pool::new(4)?;
    let t = Instant::now();
    let results = pool.chunksize(1).map(fetch, urls.clone())?;
    let elapsed = t.elapsed();
    for (url, size) in &results {
        println!("{url}: {size} bytes");
    }
    println!(
        "{} pages with {} threads in about {} rounds of {} ms",
        results.len(),
        pool.processes(),
        (elapsed.as_millis() as f64 / LATENCY.as_millis() as f64).round(),
        LATENCY.as_millis()
    );
    assert_eq!(results.len(), PAGES.len());
    for ((url, size), (want_url, body)) in results.iter().zip(PAGES) {
        assert_eq!((url.as_str(), *size), (*want_url, body.len()));
    }
    // 8 waits of 200 ms overlap: well under the 1.6 s they take one after the other.
    assert!(elapsed < LATENCY * 7, "no overlap: {elapsed:?}");

    // A failing download is an error of `map`, as in Python (the first failure).
    let err = pool
        .map(fetch, ["https://nowhere.invalid/".to_string()])
        .unwrap_err();
    println!("error: {err}");
    assert_eq!(err.kind(), mp::ErrorKind::Remote);

    pool.close()?;
    pool.join()?;
    println!("done");
    Ok(())
}
