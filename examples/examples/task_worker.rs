//! The worker of the tutorial program that `task_master` mirrors: `task_worker.py`, which connects
//! to the master's manager with the authkey, takes tasks from its task queue and puts the results
//! into its result queue.
//!
//! Run it with the master: `target/debug/examples/task_master &
//! target/debug/examples/task_worker; wait` (`examples/expected/task_worker.cmd`).
//!
//! Deviations from the Python program: it retries the connection for a while (so that it can be
//! started together with the master), and sleeps 0.1 s per task instead of 1 s.

use std::time::{Duration, Instant};

use mp::managers::{BaseManager, QueueProxy};

fn port() -> u16 {
    std::env::var("MP_TASK_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000)
}

#[mp::main]
fn main() -> mp::Result<()> {
    // This QueueManager only gets the queues from the network, so it registers names only.
    let server_addr = "127.0.0.1";
    println!("Connect to server {server_addr}...");
    let start = Instant::now();
    let m = loop {
        let m = BaseManager::builder()
            .name("QueueManager")
            .address((server_addr, port()))
            .authkey(b"abc")
            .register_remote::<QueueProxy<u64>>("get_task_queue")
            .register_remote::<QueueProxy<String>>("get_result_queue")
            .build();
        match m.connect() {
            Ok(()) => break m,
            Err(e)
                if e.kind() == mp::ErrorKind::Os && start.elapsed() < Duration::from_secs(30) =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    };
    let task: QueueProxy<u64> = m.create("get_task_queue", ())?;
    let result: QueueProxy<String> = m.create("get_result_queue", ())?;
    for _ in 0..10 {
        match task.get_timeout(Duration::from_secs(1)) {
            Ok(n) => {
                println!("run task {n} * {n}...");
                let r = format!("{n} * {n} = {}", n * n);
                std::thread::sleep(Duration::from_millis(100));
                result.put(r)?;
            }
            Err(e) if e.kind() == mp::ErrorKind::Empty => println!("task queue is empty."),
            Err(e) => return Err(e),
        }
    }
    println!("worker exit.");
    Ok(())
}
