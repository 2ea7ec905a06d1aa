//! Mirrors the program of the Python documentation's "Using a pool of workers" (the Python
//! docs' `Pool` tour: `map`, `imap_unordered`, `apply_async(...).get(timeout=1)`, the pids of
//! the workers, and a `multiprocessing.TimeoutError`).
//!
//! `cargo run -p mp-examples --example pool_workers`

use std::collections::HashSet;
use std::time::Duration;

#[mp::task]
fn f(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn getpid() -> u32 {
    std::process::id()
}

#[mp::task]
fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[mp::main]
fn main() -> mp::Result<()> {
    // start 4 worker processes
    {
        let pool = mp::Pool::builder().processes(4).build()?;

        // print "[0, 1, 4,..., 81]"
        let squares = pool.map(f, 0..10)?;
        println!("{squares:?}");
        assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<u64>>());

        // print same numbers in arbitrary order
        let mut seen = Vec::new();
        for i in pool.imap_unordered(f, 0..10)? {
            let i = i?;
            println!("{i}");
            seen.push(i);
        }
        seen.sort();
        assert_eq!(seen, squares);

        // evaluate "f(20)" asynchronously
        let res = pool.apply_async(f, (20,))?; // runs in *only* one process
        let v = res.get_timeout(Duration::from_secs(1))?;
        println!("{v}"); // prints "400"
        assert_eq!(v, 400);

        // evaluate "os.getpid()" asynchronously
        let res = pool.apply_async(getpid, ())?; // runs in *only* one process
        let pid = res.get_timeout(Duration::from_secs(1))?;
        println!("{pid}"); // prints the PID of that process
        assert_ne!(pid, std::process::id());

        // launching multiple evaluations asynchronously *may* use more processes
        let multiple_results: Vec<_> = (0..4)
            .map(|_| pool.apply_async(getpid, ()))
            .collect::<mp::Result<_>>()?;
        let pids: Vec<u32> = multiple_results
            .iter()
            .map(|r| r.get_timeout(Duration::from_secs(1)))
            .collect::<mp::Result<_>>()?;
        println!("{pids:?}");
        let workers: HashSet<u32> = pool.worker_pids().iter().map(|p| *p as u32).collect();
        assert!(pids.iter().all(|p| workers.contains(p)));

        // make a single worker sleep for 10 secs
        let res = pool.apply_async(sleep, (10,))?;
        match res.get_timeout(Duration::from_secs(1)) {
            Err(e) if e.kind() == mp::ErrorKind::Timeout => {
                println!("We lacked patience and got a multiprocessing.TimeoutError")
            }
            other => panic!("expected a timeout, got {other:?}"),
        }

        println!("For the moment, the pool remains available for more work");
        assert_eq!(pool.apply(f, (3,))?, 9);
    } // leaving the block drops the pool, which terminates it

    println!("Now the pool is closed and no longer available");
    Ok(())
}
