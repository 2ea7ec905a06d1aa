//! Synchronization primitives (BASELINE rows 6): making and dropping a `Lock`, a `Value` and
//! 10,000 `Value`s at once, uncontended Lock/RLock/Semaphore acquire+release, 2 processes x 200k increments of a `Value<i32>` under its lock (the whole
//! run), and Event set/wait ping-pong latency (pinned to one CPU, and unpinned).
//!
//! CPython twin: `benches/python/synchronize.py`. Run: `cargo bench -p mp-benches --bench
//! synchronize`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mp::sharedctypes::RawValue;
use mp::{Event, Lock, Process, RLock, Semaphore, StartMethod, Value};

#[mp::task]
fn increment(v: Value<i32>, n: u32) -> mp::Result<()> {
    for _ in 0..n {
        *v.lock()? += 1;
    }
    Ok(())
}

#[mp::task]
fn ponger(ping: Event, reply: Event, stop: RawValue<u8>, pin: bool) -> mp::Result<()> {
    if pin {
        mp_benches::pin_to_cpu0();
    }
    loop {
        ping.wait();
        ping.clear();
        if stop.get()? != 0 {
            return Ok(());
        }
        reply.set();
    }
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock");
    g.measurement_time(Duration::from_secs(2));
    let l = Lock::new().unwrap();
    g.bench_function("acquire_release", |b| {
        b.iter(|| {
            l.acquire().unwrap();
            l.release().unwrap();
        })
    });
    g.bench_function("guard", |b| b.iter(|| drop(black_box(l.lock().unwrap()))));
    g.finish();

    let mut g = c.benchmark_group("rlock");
    g.measurement_time(Duration::from_secs(2));
    let r = RLock::new().unwrap();
    g.bench_function("acquire_release", |b| {
        b.iter(|| {
            r.acquire().unwrap();
            r.release().unwrap();
        })
    });
    g.finish();

    let mut g = c.benchmark_group("semaphore");
    g.measurement_time(Duration::from_secs(2));
    let s = Semaphore::new(1).unwrap();
    g.bench_function("acquire_release", |b| {
        b.iter(|| {
            s.acquire().unwrap();
            s.release().unwrap();
        })
    });
    g.finish();
}

fn two_processes(c: &mut Criterion) {
    const N: u32 = 200_000;
    let mut g = c.benchmark_group("value");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    // One iteration = the whole run: start two fork children, each does 200k
    // `with v.get_lock(): v.value += 1`, join, check the exact count.
    g.bench_function("2proc_200k_increments", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let v = Value::new(0i32).unwrap();
                let t = Instant::now();
                let ps: Vec<Process> = (0..2)
                    .map(|_| {
                        Process::builder(increment, (v.clone(), N))
                            .start_method(StartMethod::Fork)
                            .build()
                    })
                    .collect();
                for p in &ps {
                    p.start().unwrap();
                }
                for p in &ps {
                    p.join().unwrap();
                }
                total += t.elapsed();
                assert_eq!(v.get().unwrap(), 2 * N as i32, "exact count");
            }
            total
        })
    });
    g.finish();
}

fn ping_pong(c: &mut Criterion, name: &str, pin: bool) {
    let mut g = c.benchmark_group("event");
    g.measurement_time(Duration::from_secs(3));
    let old = pin.then(mp_benches::pin_to_cpu0);
    let (ping, reply) = (Event::new().unwrap(), Event::new().unwrap());
    let stop = RawValue::new(0u8).unwrap();
    let p = Process::builder(ponger, (ping.clone(), reply.clone(), stop.clone(), pin))
        .start_method(StartMethod::Fork)
        .build();
    p.start().unwrap();
    // One iteration = one round trip: set, then wait for the answer.
    g.bench_function(name, |b| {
        b.iter(|| {
            ping.set();
            reply.wait();
            reply.clear();
        })
    });
    g.finish();
    stop.set(1).unwrap();
    ping.set();
    p.join().unwrap();
    if let Some(old) = old {
        mp_benches::unpin(&old);
    }
}

/// Making and dropping shared objects: a block of a shared arena each (CPython's heap).
fn create(c: &mut Criterion) {
    let mut g = c.benchmark_group("create");
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("lock", |b| b.iter(|| drop(black_box(Lock::new().unwrap()))));
    g.bench_function("value", |b| {
        b.iter(|| drop(black_box(Value::new(0i32).unwrap())))
    });
    // 10,000 live at once (a descriptor each before the arenas), then dropped.
    g.sample_size(10);
    g.bench_function("10k_values", |b| {
        b.iter(|| {
            let v: Vec<Value<i32>> = (0..10_000).map(|_| Value::new(0).unwrap()).collect();
            drop(black_box(v));
        })
    });
    g.finish();
}

fn main() {
    mp::init();
    let mut c = Criterion::default().configure_from_args();
    create(&mut c);
    uncontended(&mut c);
    two_processes(&mut c);
    ping_pong(&mut c, "pingpong_pinned", true);
    ping_pong(&mut c, "pingpong", false);
    c.final_summary();
}
