//! A pool living in a manager (`SyncManager::pool`, CPython's `manager.Pool`) and a dict's
//! iterator proxy: round trips through the manager's server. CPython's figures:
//! `benches/python/managers_pool.py`.
//!
//! - `manager_pool/apply`: `pool.apply(square, (3,))` through the manager (client → server →
//!   worker and back);
//! - `manager_pool/apply_async_get`: `pool.apply_async(..)` then `.get()` (the result is a
//!   proxy of its own);
//! - `manager_pool/map_100`: one `pool.map(square, range(100))`;
//! - `manager_dict/iter_next`: one step of `iter(d)` over a managed dict.

use std::time::{Duration, Instant};

use criterion::Criterion;
use mp::managers::{DictProxy, SyncManager};

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

fn manager_pool(c: &mut Criterion) {
    let m = SyncManager::builder()
        .start_method(mp::StartMethod::Fork)
        .start()
        .unwrap();
    let pool = m
        .pool_builder()
        .processes(2)
        .start_method(mp::StartMethod::Fork)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("manager_pool");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("apply", |b| b.iter(|| pool.apply(square, (3,)).unwrap()));
    g.bench_function("apply_async_get", |b| {
        b.iter(|| pool.apply_async(square, (3,)).unwrap().get().unwrap())
    });
    g.bench_function("map_100", |b| b.iter(|| pool.map(square, 0..100).unwrap()));
    g.finish();
    pool.terminate().unwrap();
    drop(pool);
    m.shutdown().unwrap();
}

fn dict_iter(c: &mut Criterion) {
    let m = SyncManager::builder()
        .start_method(mp::StartMethod::Fork)
        .start()
        .unwrap();
    let d: DictProxy<i64, i64> = m.dict_from((0..100).map(|i| (i, i))).unwrap();
    let mut g = c.benchmark_group("manager_dict");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("iter_next", |b| {
        b.iter_custom(|iters| {
            // Whole iterations of 100 keys; the time is per step.
            let rounds = iters.div_ceil(100).max(1);
            let t0 = Instant::now();
            for _ in 0..rounds {
                let n = d.iter().unwrap().map(Result::unwrap).count();
                assert_eq!(n, 100);
            }
            t0.elapsed().mul_f64(iters as f64 / (rounds * 100) as f64)
        })
    });
    g.finish();
    drop(d);
    m.shutdown().unwrap();
}

fn main() {
    mp::init();
    let mut c = Criterion::default().configure_from_args();
    manager_pool(&mut c);
    dict_iter(&mut c);
    c.final_summary();
}
