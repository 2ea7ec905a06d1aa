//! A tutorial's `JoinableQueue` producer/consumer program (the Python documentation's "Pipes and
//! Queues"): three producers put ten items each and `join()` the queue, two daemonic consumers
//! `get()` and `task_done()` forever.
//!
//! Timing is scaled down (milliseconds instead of the seconds of `random.randint(1, 3)`), and
//! the final `input("熬死DD了")` only prints its prompt: examples run unattended.
//!
//! `cargo run -p mp-examples --example queues_joinable`

use std::time::Duration;

use mp::{JoinableQueue, Process, Queue};

/// `time.sleep(random.randint(1, 3))`, in units of 5 ms.
fn nap(seed: u64) {
    let x = (seed ^ u64::from(std::process::id())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    std::thread::sleep(Duration::from_millis(5 * (1 + (x >> 62) % 3)));
}

#[mp::task]
fn consumer(q: JoinableQueue<String>, eaten: Queue<String>) -> mp::Result<()> {
    for i in 0.. {
        let res = q.get()?; // 阻塞 直到get到 可以设定timeout抛出异常
        nap(i);
        println!("   DD   - id{:<5}{res}看完了", std::process::id());
        eaten.put(res)?;
        q.task_done()?; // 每次get都需要task_done
    }
    println!("consumer ok");
    Ok(())
}

#[mp::task]
fn producer(name: String, q: JoinableQueue<String>) -> mp::Result<()> {
    for i in 0..10 {
        // 实际运用中不知道数目(如爬虫翻页),需要get同时put
        nap(i);
        let res = format!("{name}-{i}回目");
        q.put(res.clone())?;
        println!("Official- id{:<5}{res}烤好了", std::process::id());
    }
    q.join()?; // 阻塞 q为空且get次数=task_done次数即可解除阻塞 期间可追加put
    println!("{name}组收益了");
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let q = JoinableQueue::new(0)?;
    let eaten = Queue::new(0)?;
    // 生产者们(producer):烤肉man
    let officials: Vec<Process> = ["nana", "aqua", "peko"]
        .into_iter()
        .map(|name| {
            Process::builder(producer, (name.to_string(), q.clone()))
                .daemon(true)
                .build()
        })
        .collect();
    // 消费者们(consumer):DD
    let dd: Vec<Process> = (0..2)
        .map(|_| {
            Process::builder(consumer, (q.clone(), eaten.clone()))
                .daemon(true) // 完成的时候consumer里还在get阻塞着需要强制结束
                .build()
        })
        .collect();
    for p in officials.iter().chain(&dd) {
        p.start()?;
    }
    for p in &officials {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    println!("熬死DD了"); // Python waits for Enter here: input("熬死DD了")

    // Every item was made, eaten once, and marked done.
    assert_eq!(q.unfinished_tasks(), 0);
    let mut all: Vec<String> = (0..30)
        .map(|_| eaten.get_timeout(Duration::from_secs(10)))
        .collect::<Result<_, _>>()?;
    all.sort();
    let mut want: Vec<String> = ["nana", "aqua", "peko"]
        .iter()
        .flat_map(|n| (0..10).map(move |i| format!("{n}-{i}回目")))
        .collect();
    want.sort();
    assert_eq!(all, want);
    Ok(()) // the daemonic consumers are terminated at exit
}
