//! A tutorial's `Queue(3)` program (the Python documentation's "Pipes and Queues"): three `push`
//! processes put a message each into a queue of size 3, three `shift` processes get one each
//! and print it.
//!
//! `cargo run -p mp-examples --example queues_push_shift`

use mp::{Process, Queue};

/// 向queue中put数据
#[mp::task]
fn push(queue: Queue<String>, name: String) -> mp::Result<()> {
    let info = format!("YouTube频道{:<5}:{name:>7}-Channel播了", std::process::id());
    queue.put(info)?;
    Ok(())
}

/// 从queue中get数据
#[mp::task]
fn shift(queue: Queue<String>, name: String) -> mp::Result<()> {
    let info = queue.get()?;
    println!(
        "bilibili房间号{:<5}:{name:>7}-Official同传-->{info}",
        std::process::id()
    );
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let queue = Queue::new(3)?;
    let names = ["shishi", "hima", "sasaki"];
    // 子进程 油管开播
    let youtube: Vec<Process> = names
        .iter()
        .map(|name| Process::new(push, (queue.clone(), name.to_string())))
        .collect();
    for p in &youtube {
        p.start()?;
    }
    // 子进程 哔哩哔哩转播
    let bilibili: Vec<Process> = names
        .iter()
        .map(|name| Process::new(shift, (queue.clone(), name.to_string())))
        .collect();
    for p in &bilibili {
        p.start()?;
    }
    for p in youtube.iter().chain(&bilibili) {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0), "{}", p.name());
    }
    assert!(queue.empty()?);
    Ok(())
}
