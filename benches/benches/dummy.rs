//! `mp::dummy` benchmarks: the thread pool, thread queues, an in-memory pipe and a thread lock,
//! beside CPython's `multiprocessing.dummy` (`benches/python/dummy.py`, same ids). Each figure
//! is the time of one operation: one item, one call, one round trip.
//!
//! `cargo bench -p mp-benches --bench dummy`

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mp::dummy::{Lock, Pipe, Pool, Process, Queue};
use mp_benches::per_op;

#[mp::task]
fn ident(x: u64) -> u64 {
    x
}

#[mp::task]
fn noop() {}

/// A thread that answers every item of `inq` on `outq`, until `u64::MAX`.
fn echo_thread(inq: Queue<u64>, outq: Queue<u64>) -> Process {
    let p = Process::builder(
        move || -> mp::Result<()> {
            loop {
                let x = inq.get()?;
                outq.put(x)?;
                if x == u64::MAX {
                    return Ok(());
                }
            }
        },
        (),
    )
    .daemon(true)
    .build();
    p.start().expect("start");
    p
}

fn queue_roundtrips(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
) {
    const N: u64 = 2_000;
    let (inq, outq) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
    let p = echo_thread(inq.clone(), outq.clone());
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for i in 0..N {
                    inq.put(i).unwrap();
                    assert_eq!(outq.get().unwrap(), i);
                }
            })
        })
    });
    inq.put(u64::MAX).unwrap();
    outq.get().unwrap();
    p.join().unwrap();
}

fn pipe_roundtrips(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
) {
    const N: u64 = 2_000;
    let (here, there) = Pipe(true).unwrap();
    let p = Process::builder(
        move || -> mp::Result<()> {
            loop {
                let x: u64 = there.recv()?;
                there.send(&x)?;
                if x == u64::MAX {
                    return Ok(());
                }
            }
        },
        (),
    )
    .daemon(true)
    .start()
    .unwrap();
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            per_op(iters, N, || {
                for i in 0..N {
                    here.send(&i).unwrap();
                    assert_eq!(here.recv::<u64>().unwrap(), i);
                }
            })
        })
    });
    here.send(&u64::MAX).unwrap();
    let _: u64 = here.recv().unwrap();
    p.join().unwrap();
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dummy");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));

    // --- ThreadPool ---
    let p = Pool::new(2).unwrap();
    g.bench_function("threadpool_map_200k_default_chunksize", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 200_000, || {
                let v = p.map(ident, 0..200_000u64).unwrap();
                assert_eq!(v.len(), 200_000);
            })
        })
    });
    g.bench_function("threadpool_map_20k_chunksize1", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 20_000, || {
                let v = p.chunksize(1).map(ident, 0..20_000u64).unwrap();
                assert_eq!(v.len(), 20_000);
            })
        })
    });
    g.bench_function("threadpool_apply_async_5000_noop", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 5000, || {
                let rs: Vec<_> = (0..5000)
                    .map(|_| p.apply_async(noop, ()).unwrap())
                    .collect();
                for r in rs {
                    r.get().unwrap();
                }
            })
        })
    });
    g.bench_function("threadpool_apply_sequential_noop", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 200, || {
                for _ in 0..200 {
                    p.apply(noop, ()).unwrap();
                }
            })
        })
    });
    p.close().unwrap();
    p.join().unwrap();
    g.bench_function("threadpool_create_apply_close_join", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 1, || {
                let p = Pool::new(2).unwrap();
                p.apply(noop, ()).unwrap();
                p.close().unwrap();
                p.join().unwrap();
            })
        })
    });

    // --- Queue ---
    g.bench_function("queue_1to1_200k", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 200_000, || {
                let q = Queue::new(0).unwrap();
                let q2 = q.clone();
                let prod = Process::new(
                    move || -> mp::Result<()> {
                        for i in 0..200_000u64 {
                            q2.put(i)?;
                        }
                        Ok(())
                    },
                    (),
                );
                prod.start().unwrap();
                for _ in 0..200_000 {
                    q.get().unwrap();
                }
                prod.join().unwrap();
            })
        })
    });
    queue_roundtrips(&mut g, "queue_roundtrip");
    let old = mp_benches::pin_to_cpu0();
    queue_roundtrips(&mut g, "queue_roundtrip_pinned");
    pipe_roundtrips(&mut g, "pipe_roundtrip_pinned");
    mp_benches::unpin(&old);
    pipe_roundtrips(&mut g, "pipe_roundtrip");

    // --- Lock ---
    let l = Lock::new().unwrap();
    g.bench_function("lock_acquire_release", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 100_000, || {
                for _ in 0..100_000 {
                    l.acquire().unwrap();
                    l.release().unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
