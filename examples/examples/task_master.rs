//! A tutorial's distributed-processes program (the Python documentation's "Using a remote
//! manager"): `task_master.py`, which serves a task queue and a result queue over the network; the
//! workers (`task_worker`, on this or another machine) take tasks and put results back.
//!
//! Run both: `cargo build -p mp-examples --example task_master --example task_worker`, then
//! `target/debug/examples/task_master & target/debug/examples/task_worker; wait`
//! (`examples/expected/task_master.cmd` does exactly that).
//!
//! Deviations from the Python program: one port for both sides (the tutorial's master listens
//! on 5010 while its worker connects to 5000), `MP_TASK_PORT` overrides it; the address is
//! loopback.

use std::sync::OnceLock;
use std::time::Duration;

use mp::managers::{BaseManager, Queue, QueueProxy, Shared};

/// The task queue (it lives in the manager's server process).
#[mp::task]
fn get_task_queue() -> Shared<Queue> {
    static TASKS: OnceLock<Shared<Queue>> = OnceLock::new();
    TASKS.get_or_init(|| Shared::new(Queue::new(0))).clone()
}

/// The result queue.
#[mp::task]
fn get_result_queue() -> Shared<Queue> {
    static RESULTS: OnceLock<Shared<Queue>> = OnceLock::new();
    RESULTS.get_or_init(|| Shared::new(Queue::new(0))).clone()
}

fn port() -> u16 {
    std::env::var("MP_TASK_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000)
}

/// A small pseudo-random generator (xorshift), seeded from the clock and the pid.
fn randint(state: &mut u64, below: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % below
}

#[mp::main]
fn main() -> mp::Result<()> {
    // `QueueManager.register(...)` for both queues, bound to the port with key b'abc':
    let manager = BaseManager::builder()
        .name("QueueManager")
        .address(("127.0.0.1", port()))
        .authkey(b"abc")
        .register::<QueueProxy<u64>, _>("get_task_queue", get_task_queue)
        .register::<QueueProxy<String>, _>("get_result_queue", get_result_queue)
        .start()?;
    // The queues, reached through the network:
    let task: QueueProxy<u64> = manager.create("get_task_queue", ())?;
    let result: QueueProxy<String> = manager.create("get_result_queue", ())?;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ std::process::id() as u64
        | 1;
    let mut sent = Vec::new();
    for _ in 0..10 {
        let n = randint(&mut seed, 10_001);
        println!("Put task {n}...");
        task.put(n)?;
        sent.push(n);
    }
    println!("Try get results...");
    for n in &sent {
        let r = result.get_timeout(Duration::from_secs(30))?;
        println!("Result: {r}");
        assert_eq!(r, format!("{n} * {n} = {}", n * n));
    }
    manager.shutdown()?;
    println!("master exit.");
    Ok(())
}
