//! A tutorial's Queue program (communication between processes: a `write`
//! process puts 'A', 'B', 'C' and a `read` process gets them in an endless loop, until the
//! parent terminates it).
//!
//! One addition so that the example can check itself: the reader forwards what it got to a
//! second queue, and the parent makes sure it got A, B and C (in order) before terminating it
//! (the Python program may terminate the reader before it printed the last line).
//!
//! `cargo run -p mp-examples --example queues_write_read`

use std::time::Duration;

use mp::{Process, Queue};

/// A little randomness without a dependency: the sleep of `time.sleep(random.random())`.
fn random_sleep(seed: u64) {
    let x = (seed ^ u64::from(std::process::id())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    std::thread::sleep(Duration::from_millis(x >> 58)); // 0..64 ms
}

// 写数据进程执行的代码:
#[mp::task]
fn write(q: Queue<String>) -> mp::Result<()> {
    println!("Process to write: {}", std::process::id());
    for (i, value) in ["A", "B", "C"].into_iter().enumerate() {
        println!("Put {value} to queue...");
        q.put(value.to_string())?;
        random_sleep(i as u64);
    }
    Ok(())
}

// 读数据进程执行的代码:
#[mp::task]
fn read(q: Queue<String>, seen: Queue<String>) -> mp::Result<()> {
    println!("Process to read: {}", std::process::id());
    loop {
        let value = q.get()?;
        println!("Get {value} from queue.");
        seen.put(value)?;
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    // 父进程创建 Queue，并传给各个子进程：
    let q = Queue::new(0)?;
    let seen = Queue::new(0)?;
    let pw = Process::new(write, (q.clone(),));
    let pr = Process::new(read, (q.clone(), seen.clone()));
    pw.start()?; // 启动子进程 pw，写入
    pr.start()?; // 启动子进程 pr，读取
    pw.join()?; // 等待 pw 结束
    let got: Vec<String> = (0..3)
        .map(|_| seen.get_timeout(Duration::from_secs(60)))
        .collect::<Result<_, _>>()?;
    assert_eq!(got, ["A", "B", "C"]);
    // pr 进程里是死循环，无法等待其结束，只能强行终止
    pr.terminate()?;
    pr.join()?;
    assert_eq!(pw.exitcode(), Some(0));
    assert_eq!(pr.exitcode(), Some(-15));
    Ok(())
}
