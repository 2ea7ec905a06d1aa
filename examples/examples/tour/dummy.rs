//! The tour of `mp::dummy` (the `dummy` section of the main `tour`): Python's
//! `multiprocessing.dummy`, the API of `mp` on threads (the Python documentation's
//! "The multiprocessing.dummy module").
//!
//! `cargo run -p mp-examples --example tour -- dummy`

use std::error::Error as _;
use std::time::Duration;

use mp::ErrorKind;
use mp::dummy::connection::{Client, Listener};
use mp::dummy::{
    Barrier, Condition, Event, JoinableQueue, Lock, Pipe, Pool, Process, Queue, RLock, Semaphore,
    Value, active_children, current_process,
};
use mp::pool::RemoteTraceback;

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn half(x: u64) -> Result<u64, String> {
    if x.is_multiple_of(2) {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

#[mp::task]
fn greet(q: Queue<String>) -> mp::Result<()> {
    q.put(format!("hello from {}", current_process().name()))?;
    Ok(())
}

pub(crate) fn run() -> mp::Result<()> {
    println!("-- Process is a thread");
    let q = Queue::new(0)?;
    let p = Process::builder(greet, (q.clone(),))
        .name("worker-1")
        .build();
    println!(
        "before start: alive={} exitcode={:?}",
        p.is_alive(),
        p.exitcode()
    );
    p.start()?;
    println!("{}", q.get()?);
    p.join()?;
    println!(
        "after join: alive={} exitcode={:?}",
        p.is_alive(),
        p.exitcode()
    );
    assert_eq!(p.exitcode(), Some(0));
    let data = std::sync::Arc::new(vec![1, 2, 3]); // closures capture anything Send
    let c = Process::new(move || assert_eq!(data.iter().sum::<i32>(), 6), ());
    c.start()?;
    c.join()?;
    println!("a closure target: exitcode={:?}", c.exitcode());
    let stop = Event::new()?;
    let s2 = stop.clone();
    let sleeper = Process::builder(move || s2.wait(), ())
        .name("sleeper")
        .start()?;
    println!(
        "active_children: {:?}",
        active_children()
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    );
    stop.set();
    sleeper.join()?;

    println!("-- Pool is ThreadPool");
    let pool = Pool::new(4)?;
    println!("map(square, 0..8) = {:?}", pool.map(square, 0..8)?);
    let r = pool.apply_async(square, (12,))?;
    println!("apply_async(square, (12,)).get() = {}", r.get()?);
    let e = pool.apply(half, (3,)).unwrap_err();
    let tb = e.source().and_then(|s| s.downcast_ref::<RemoteTraceback>());
    println!(
        "apply(half, (3,)) -> {:?}: {e} (in {})",
        e.kind(),
        tb.map(|t| t.worker())
            .unwrap_or("?")
            .split('-')
            .next()
            .unwrap_or("?")
    );
    let v: Vec<u64> = pool.imap(square, 0..5)?.collect::<mp::Result<_>>()?;
    println!("imap(square, 0..5) = {v:?}");
    pool.close()?;
    pool.join()?;

    println!("-- Queues are queue.Queue");
    let jq = JoinableQueue::new(2)?;
    jq.put(1)?;
    jq.put(2)?;
    println!(
        "full={} put_nowait -> {:?}",
        jq.full(),
        jq.put_nowait(3).unwrap_err().kind()
    );
    jq.get()?;
    jq.task_done()?;
    jq.get()?;
    jq.task_done()?;
    println!(
        "join after task_done: {}",
        jq.join_timeout(Duration::from_secs(5))?
    );

    println!("-- Synchronization has threading's semantics");
    let l = Lock::new()?;
    println!(
        "Lock.release() unlocked -> {:?}",
        l.release().unwrap_err().kind()
    );
    let r = RLock::new()?;
    r.acquire()?;
    r.acquire()?;
    println!("RLock acquired twice: count={}", r.count());
    r.release()?;
    r.release()?;
    let s = Semaphore::new(2)?;
    s.acquire()?;
    println!("Semaphore(2) after acquire: {}", s.get_value());
    s.release()?;
    let c = Condition::new()?;
    println!(
        "Condition.wait() without the lock -> {:?}",
        c.wait_timeout(Duration::ZERO).unwrap_err().kind()
    );
    let e = Event::new()?;
    println!(
        "Event.wait(0.01) -> {}",
        e.wait_timeout(Duration::from_millis(10))
    );
    let b = Barrier::new(2)?;
    let b2 = b.clone();
    let party = Process::new(move || b2.wait(), ());
    party.start()?;
    let i = b.wait()?;
    party.join()?;
    println!("Barrier(2) passed: index < 2 is {}", i < 2);

    println!("-- Value, Pipe, Listener/Client live in memory");
    let v = Value::new(0u64)?;
    let workers: Vec<Process> = (0..4)
        .map(|_| {
            let v = v.clone();
            Process::new(
                move || -> mp::Result<()> {
                    for _ in 0..250 {
                        *v.lock()? += 1;
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    for w in &workers {
        w.start()?;
    }
    for w in &workers {
        w.join()?;
    }
    println!("Value after 4 x 250 locked increments: {}", v.get()?);
    assert_eq!(v.get()?, 1000);
    let (a, bb) = Pipe(true)?;
    a.send(&("ping", 1))?;
    println!("Pipe: {:?}", bb.recv::<(String, i32)>()?);
    drop(a);
    println!(
        "after the peer is gone: {:?}",
        bb.recv_bytes().unwrap_err().kind()
    );
    let listener = Listener::bind("tour")?;
    let client = Client::connect("tour")?;
    client.send_bytes(b"over an in-process address")?;
    let conn = listener.accept()?;
    println!(
        "Listener got: {}",
        String::from_utf8_lossy(&conn.recv_bytes()?)
    );
    assert_eq!(
        Client::connect("nowhere").unwrap_err().kind(),
        ErrorKind::Os
    );
    println!("dummy tour done");
    Ok(())
}

/// Both parts of the dummy section.
pub(crate) fn run_all() -> mp::Result<()> {
    run()?;
    crate::dummy_manager::run()
}
