//! `SharedMemoryManager`: creating a segment through the manager (`smm.SharedMemory(4096)`:
//! `shm_open`, `ftruncate`, `mmap`, the resource tracker's registration and the
//! `track_segment` round trip) and a `ShareableList` of 10 ints. CPython's figures:
//! `benches/python/shared_memory_manager.py`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use mp::shared_memory::SharedMemoryManager;

fn smm() -> SharedMemoryManager {
    SharedMemoryManager::builder()
        .start_method(mp::StartMethod::Fork)
        .start()
        .unwrap()
}

fn create(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared_memory_manager");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    // Each batch gets a fresh manager (not timed), whose shutdown unlinks the batch's
    // segments (not timed either).
    g.bench_function("shared_memory_4k", |b| {
        b.iter_custom(|iters| {
            let m = smm();
            let mut keep = Vec::with_capacity(iters as usize);
            let t0 = Instant::now();
            for _ in 0..iters {
                keep.push(m.shared_memory(4096).unwrap());
            }
            let t = t0.elapsed();
            m.shutdown().unwrap();
            t
        })
    });
    g.bench_function("shareable_list_10", |b| {
        b.iter_custom(|iters| {
            let m = smm();
            let mut keep = Vec::with_capacity(iters as usize);
            let t0 = Instant::now();
            for _ in 0..iters {
                keep.push(m.shareable_list(0..10).unwrap());
            }
            let t = t0.elapsed();
            m.shutdown().unwrap();
            t
        })
    });
    g.finish();
}

fn main() {
    mp::init();
    let mut c = Criterion::default().configure_from_args();
    create(&mut c);
    c.final_summary();
}
