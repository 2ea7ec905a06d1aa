//! `mp::dummy::Manager()` benchmarks: managed dict, list, Namespace, queue and lock
//! operations on threads, beside CPython's `multiprocessing.dummy.Manager()` (whose objects
//! are the plain built-in ones; `benches/python/dummy_managers.py`, same ids). Each figure is
//! the time of one operation.
//!
//! `cargo bench -p mp-benches --bench dummy_managers`

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mp::dummy::managers::{DictProxy, ListProxy, QueueProxy};
use mp::dummy::{Manager, Process};
use mp_benches::per_op;

fn bench(c: &mut Criterion) {
    let m = Manager().unwrap();
    let mut g = c.benchmark_group("dummy_manager");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));

    const N: u64 = 100_000;
    g.bench_function("dict_create", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 10_000, || {
                for _ in 0..10_000 {
                    let d: DictProxy<i64, i64> = m.dict().unwrap();
                    drop(d);
                }
            })
        })
    });
    let d: DictProxy<i64, i64> = m.dict().unwrap();
    g.bench_function("dict_set", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for i in 0..N as i64 {
                    d.set(i & 1023, i).unwrap();
                }
            })
        })
    });
    g.bench_function("dict_get", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for _ in 0..N {
                    assert!(d.get_item(&1i64).unwrap() > 0);
                }
            })
        })
    });
    let sd: DictProxy<String, String> = m.dict().unwrap();
    let keys: Vec<String> = (0..1024).map(|i| format!("key-{i}")).collect();
    g.bench_function("dict_set_str", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for i in 0..N as usize {
                    sd.set(keys[i & 1023].as_str(), "value").unwrap();
                }
            })
        })
    });
    g.bench_function("list_append", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let l: ListProxy<i64> = m.list().unwrap();
                let t = Instant::now();
                for i in 0..N as i64 {
                    l.append(i).unwrap();
                }
                total += t.elapsed();
            }
            total / N as u32
        })
    });
    let l: ListProxy<i64> = m.list_from(0..1024).unwrap();
    g.bench_function("list_get", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for i in 0..N as isize {
                    assert!(l.get(i & 1023).unwrap() >= 0);
                }
            })
        })
    });
    let ns = m.namespace().unwrap();
    ns.set("x", 1i64).unwrap();
    g.bench_function("namespace_get", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for _ in 0..N {
                    assert_eq!(ns.get::<i64>("x").unwrap(), 1);
                }
            })
        })
    });
    let q: QueueProxy<i64> = m.queue(0).unwrap();
    g.bench_function("queue_put_get", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for i in 0..N as i64 {
                    q.put(i).unwrap();
                    assert_eq!(q.get().unwrap(), i);
                }
            })
        })
    });
    let lock = m.lock().unwrap();
    g.bench_function("lock_acquire_release", |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for _ in 0..N {
                    lock.acquire().unwrap();
                    lock.release().unwrap();
                }
            })
        })
    });

    // A round trip to another thread through two managed queues, on one CPU.
    let old = mp_benches::pin_to_cpu0();
    let (inq, outq): (QueueProxy<i64>, QueueProxy<i64>) =
        (m.queue(0).unwrap(), m.queue(0).unwrap());
    let (i2, o2) = (inq.clone(), outq.clone());
    let echo = Process::new(
        move || -> mp::Result<()> {
            loop {
                let x = i2.get()?;
                o2.put(x)?;
                if x < 0 {
                    return Ok(());
                }
            }
        },
        (),
    );
    echo.start().unwrap();
    const R: u64 = 2_000;
    g.bench_function("queue_roundtrip_pinned", |b| {
        b.iter_custom(|iters| {
            per_op(iters, R, || {
                for i in 0..R as i64 {
                    inq.put(i).unwrap();
                    assert_eq!(outq.get().unwrap(), i);
                }
            })
        })
    });
    inq.put(-1).unwrap();
    outq.get().unwrap();
    echo.join().unwrap();
    mp_benches::unpin(&old);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
