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

/// Times `make` `iters` times, in batches of at most [`BATCH`] on a fresh manager each (not
/// timed), whose shutdown unlinks the batch's segments (not timed either). Batches keep the
/// number of live mappings and `/dev/shm` entries bounded: criterion asks for tens of
/// thousands of iterations, more mappings than `vm.max_map_count` allows one process.
fn batched<T>(iters: u64, make: impl Fn(&SharedMemoryManager) -> T) -> Duration {
    const BATCH: u64 = 1000;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        left -= n;
        let m = smm();
        let mut keep = Vec::with_capacity(n as usize);
        let t0 = Instant::now();
        for _ in 0..n {
            keep.push(make(&m));
        }
        total += t0.elapsed();
        drop(keep);
        m.shutdown().unwrap();
    }
    total
}

fn create(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared_memory_manager");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("shared_memory_4k", |b| {
        b.iter_custom(|iters| batched(iters, |m| m.shared_memory(4096).unwrap()))
    });
    g.bench_function("shareable_list_10", |b| {
        b.iter_custom(|iters| batched(iters, |m| m.shareable_list(0..10).unwrap()))
    });
    g.finish();
}

fn main() {
    mp::init();
    let mut c = Criterion::default().configure_from_args();
    create(&mut c);
    c.final_summary();
}
