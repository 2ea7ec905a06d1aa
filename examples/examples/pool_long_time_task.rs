//! A classic tutorial's process pool program (the Python documentation's "Process Pools"):
//! `Pool(4)`, five `apply_async(long_time_task, args=(i,))`, `close()`, `join()`.
//!
//! `cargo run -p mp-examples --example pool_long_time_task`

use std::time::{Duration, Instant};

#[mp::task]
fn long_time_task(name: u32) -> u32 {
    println!("Run task {name} ({})...", std::process::id());
    let start = Instant::now();
    // random.random() * 3, from the clock's low bits (no extra dependency).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis((nanos % 3000) as u64));
    println!(
        "Task {name} runs {:.2} seconds.",
        start.elapsed().as_secs_f64()
    );
    name
}

#[mp::main]
fn main() -> mp::Result<()> {
    println!("Parent process {}.", std::process::id());
    let p = mp::Pool::new(4)?;
    let results: Vec<_> = (0..5)
        .map(|i| p.apply_async(long_time_task, (i,)))
        .collect::<mp::Result<_>>()?;
    println!("Waiting for all subprocesses done...");
    p.close()?;
    println!("close pool...");
    p.join()?;
    println!("All subprocesses done.");
    // Every task ran (join waited for all of them).
    for (i, r) in results.iter().enumerate() {
        assert!(r.ready());
        assert_eq!(r.get()?, i as u32);
    }
    Ok(())
}
