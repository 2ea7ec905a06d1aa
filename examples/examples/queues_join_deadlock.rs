//! Mirrors the example of Python's programming guidelines "Joining processes that use queues"
//! (under "All start methods"): the child puts a 1 MB string and the parent joins it
//! *before* getting. In CPython this deadlocks (the child waits for its feeder thread to flush
//! into a pipe nobody reads); in mp `put` copies the item into shared memory, so the child
//! exits at once and the program completes.
//!
//! `cargo run -p mp-examples --example queues_join_deadlock`

use std::time::{Duration, Instant};

use mp::{Process, Queue};

#[mp::task]
fn f(q: Queue<String>) -> mp::Result<()> {
    q.put("X".repeat(1_000_000))?;
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let queue = Queue::new(0)?;
    let p = Process::new(f, (queue.clone(),));
    p.start()?;
    let t = Instant::now();
    p.join_timeout(Duration::from_secs(60))?; // "this deadlocks" in CPython
    assert_eq!(p.exitcode(), Some(0), "the child did not exit");
    println!("joined the child (exit code 0) in {:?}", t.elapsed());
    let obj = queue.get()?;
    println!("then got an item of {} bytes", obj.len());
    assert_eq!(obj.len(), 1_000_000);
    assert!(obj.bytes().all(|b| b == b'X'));
    println!("no deadlock");
    Ok(())
}
