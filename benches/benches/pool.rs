//! Pool benchmarks (BASELINE.md row 5), next to `benches/python/pool.py` (same ids) and rayon
//! for the same in-process work. Each figure is the time of one operation (one item, one
//! call, one pool lifetime). Workers use the fork start method, as the CPython baseline does.
//!
//! `cargo bench -p mp-benches --bench pool`

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::time::Duration;

use criterion::{Criterion, criterion_group};
use mp::{Pool, StartMethod};
use mp_benches::per_op;
use rayon::prelude::*;

#[mp::task]
fn ident(x: u64) -> u64 {
    x
}

#[mp::task]
fn noop() {}

/// Bulk data both ways: a byte vector argument comes back as the result.
#[mp::task]
fn echo_bytes(v: Vec<u8>) -> Vec<u8> {
    v
}

/// CPU-bound work: ~1 ms of integer hashing per item.
#[mp::task]
fn burn(seed: u64) -> u64 {
    burn_inline(seed)
}

fn burn_inline(seed: u64) -> u64 {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for i in 0..300_000u64 {
        h = (h ^ i).wrapping_mul(0x100_0000_01b3).rotate_left(7);
    }
    h
}

fn pool(n: usize) -> Pool {
    Pool::builder()
        .processes(n)
        .start_method(StartMethod::Fork)
        .build()
        .expect("pool")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));

    let p = pool(2);
    g.bench_function("map_200k_default_chunksize", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 200_000, || {
                let v = p.map(ident, 0..200_000u64).unwrap();
                assert_eq!(v.len(), 200_000);
            })
        })
    });
    g.bench_function("map_20k_chunksize1", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 20_000, || {
                let v = p.chunksize(1).map(ident, 0..20_000u64).unwrap();
                assert_eq!(v.len(), 20_000);
            })
        })
    });
    g.bench_function("apply_async_5000_noop", |b| {
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
    g.bench_function("apply_sequential_noop", |b| {
        b.iter(|| p.apply(noop, ()).unwrap())
    });
    drop(p);

    let old = mp_benches::pin_to_cpu0();
    let p = pool(2);
    g.bench_function("apply_sequential_noop_pinned", |b| {
        b.iter(|| p.apply(noop, ()).unwrap())
    });
    drop(p);
    mp_benches::unpin(&old);

    g.bench_function("create_apply_close_join", |b| {
        b.iter(|| {
            let p = pool(2);
            p.apply(noop, ()).unwrap();
            p.close().unwrap();
            p.join().unwrap();
        })
    });

    // CPU-bound: 64 items of ~1 ms; the per-item time on 2 workers vs 1.
    let items: Vec<u64> = (0..64).collect();
    for n in [1usize, 2] {
        let p = pool(n);
        g.bench_function(format!("cpu_map_{n}proc"), |b| {
            b.iter_custom(|iters| {
                per_op(iters, 64, || {
                    let v = p.chunksize(1).map(burn, items.clone()).unwrap();
                    assert_eq!(v.len(), 64);
                })
            })
        });
    }
    // A 32 MiB `Vec<u8>` to a worker and back through `apply_async` (typed: serde + codec).
    // Last: its 32 MiB buffers would make the forks of the benches after it slower.
    let p = pool(2);
    let big = vec![7u8; 32 << 20];
    g.bench_function("apply_async_32mib_roundtrip", |b| {
        b.iter(|| {
            let r = p.apply_async(echo_bytes, (big.clone(),)).unwrap();
            assert_eq!(r.get().unwrap().len(), 32 << 20);
        })
    });
    drop(big);
    drop(p);
    g.finish();

    // The same in-process work with rayon (threads, no serialization).
    let mut g = c.benchmark_group("rayon");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let tp = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    g.bench_function("map_200k", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 200_000, || {
                let v: Vec<u64> = tp.install(|| {
                    (0..200_000u64)
                        .into_par_iter()
                        .map(std::hint::black_box)
                        .collect()
                });
                assert_eq!(v.len(), 200_000);
            })
        })
    });
    g.bench_function("cpu_map_2threads", |b| {
        b.iter_custom(|iters| {
            per_op(iters, 64, || {
                let v: Vec<u64> =
                    tp.install(|| items.par_iter().map(|&s| burn_inline(s)).collect());
                assert_eq!(v.len(), 64);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    mp::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
