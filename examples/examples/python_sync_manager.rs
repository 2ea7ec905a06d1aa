//! A Rust program and a Python program share one manager: the Rust side serves a dict and a
//! queue (as a `SyncManager` with two registered typeids) on TCP with an authkey; the Python
//! side (`examples/python/sync_manager_peer.py`, plain CPython `multiprocessing.managers`)
//! connects, takes jobs from the queue and writes its answers into the dict.
//!
//! The Python documentation's "Using a remote manager" shows the same between two Python
//! programs; here one of them is Rust. Needs `python3` on the `PATH`.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use mp::managers::{Dict, DictProxy, Queue, QueueProxy, Shared, SyncManager, Value};

/// The dict both programs see.
#[mp::task]
fn get_dict() -> Shared<Dict> {
    static D: OnceLock<Shared<Dict>> = OnceLock::new();
    D.get_or_init(|| Shared::new(Dict::new())).clone()
}

/// The queue of jobs for the Python side.
#[mp::task]
fn get_queue() -> Shared<Queue> {
    static Q: OnceLock<Shared<Queue>> = OnceLock::new();
    Q.get_or_init(|| Shared::new(Queue::new(0))).clone()
}

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = SyncManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"shared with python")
        .register::<DictProxy<String, Value>, _>("get_dict", get_dict)
        .register::<QueueProxy<Option<String>>, _>("get_queue", get_queue)
        .start()?;
    let Some(mp::connection::Address::Tcp(addr)) = manager.address() else {
        unreachable!("a TCP manager has a TCP address");
    };
    let d: DictProxy<String, Value> = manager.create("get_dict", ())?;
    let q: QueueProxy<Option<String>> = manager.create("get_queue", ())?;
    d.set("from rust", "hello")?;
    for job in ["alpha", "beta", "gamma"] {
        q.put(Some(job.to_owned()))?;
    }
    q.put(None)?;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/sync_manager_peer.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(addr.port().to_string())
        .arg("shared with python")
        .status()?;
    assert!(status.success(), "the Python side failed: {status}");

    let mut answers = d.items()?;
    answers.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in &answers {
        println!("rust: {k} = {v}");
    }
    assert_eq!(d.get_item("beta")?, Value::from(4));
    assert!(q.get_timeout(Duration::from_millis(10)).is_err());
    manager.shutdown()?;
    Ok(())
}
