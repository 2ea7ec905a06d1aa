//! Queue throughput: one producer and one consumer (and two of each) passing small ints, mp's
//! `Queue` and `SimpleQueue` beside CPython's (`benches/python/queues.py` runs the same work).
//!
//! Every figure is the time per message: the producers are long-lived processes told how many
//! items to put, so that process start is not measured.
//!
//! `cargo bench -p mp-benches --bench queues`

// criterion's macros generate undocumented fns.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mp::{Connection, Process, Queue, SimpleQueue, StartMethod};

/// Either kind of queue, as the bench tasks see it.
#[derive(serde::Serialize, serde::Deserialize)]
enum Q {
    Queue(Queue<u64>),
    Simple(SimpleQueue<u64>),
}

impl Q {
    fn put(&self, x: u64) -> mp::Result<()> {
        match self {
            Q::Queue(q) => q.put(x)?,
            Q::Simple(q) => q.put(x)?,
        }
        Ok(())
    }

    fn get(&self) -> mp::Result<u64> {
        Ok(match self {
            Q::Queue(q) => q.get()?,
            Q::Simple(q) => q.get()?,
        })
    }
}

/// Puts `n` items each time the controller asks for `n`; stops at 0.
#[mp::task]
fn producer(ctl: Connection, q: Q) -> mp::Result<()> {
    loop {
        let n: u64 = ctl.recv()?;
        if n == 0 {
            return Ok(());
        }
        for i in 0..n {
            q.put(i)?;
        }
    }
}

/// Gets `n` items each time the controller asks for `n`, then says so; stops at 0.
#[mp::task]
fn consumer(ctl: Connection, q: Q) -> mp::Result<()> {
    loop {
        let n: u64 = ctl.recv()?;
        if n == 0 {
            return Ok(());
        }
        for _ in 0..n {
            q.get()?;
        }
        ctl.send(&n)?;
    }
}

struct Worker {
    ctl: Connection,
    p: Process,
}

fn start(is_producer: bool, q: &Q) -> Worker {
    let (ours, theirs) = mp::Pipe(true).expect("pipe");
    let q = match q {
        Q::Queue(q) => Q::Queue(q.clone()),
        Q::Simple(q) => Q::Simple(q.clone()),
    };
    let b = if is_producer {
        Process::builder(producer, (theirs, q))
    } else {
        Process::builder(consumer, (theirs, q))
    };
    let p = b.start_method(StartMethod::Spawn).build();
    p.start().expect("start");
    Worker { ctl: ours, p }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.ctl.send(&0u64);
        let _ = self.p.join_timeout(Duration::from_secs(10));
        if self.p.exitcode().is_none() {
            let _ = self.p.kill();
            let _ = self.p.join();
        }
    }
}

fn one_to_one(c: &mut Criterion, group: &str, q: Q) {
    let prod = start(true, &q);
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("1p1c_int", |b| {
        b.iter_custom(|iters| {
            prod.ctl.send(&iters).expect("command");
            let t = Instant::now();
            for _ in 0..iters {
                q.get().expect("get");
            }
            t.elapsed()
        })
    });
    g.finish();
}

fn two_to_two(c: &mut Criterion, group: &str, q: Q) {
    let prods = [start(true, &q), start(true, &q)];
    let cons = [start(false, &q), start(false, &q)];
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("2p2c_int", |b| {
        b.iter_custom(|iters| {
            let half = iters.div_ceil(2);
            let t = Instant::now();
            for w in cons.iter().chain(&prods) {
                w.ctl.send(&half).expect("command");
            }
            for w in &cons {
                let _: u64 = w.ctl.recv().expect("done");
            }
            t.elapsed() * iters as u32 / (2 * half) as u32
        })
    });
    g.finish();
}

fn queues(c: &mut Criterion) {
    one_to_one(c, "queue", Q::Queue(Queue::new(0).expect("queue")));
    one_to_one(
        c,
        "simplequeue",
        Q::Simple(SimpleQueue::new().expect("queue")),
    );
    two_to_two(c, "queue", Q::Queue(Queue::new(0).expect("queue")));
    two_to_two(
        c,
        "simplequeue",
        Q::Simple(SimpleQueue::new().expect("queue")),
    );
}

criterion_group!(benches, queues);
criterion_main!(benches);
