//! Process start + join of a no-op task, for each start method (BASELINE.md row 1).
//!
//! `cargo bench -p mp-benches --bench process_spawn`; the CPython twin is
//! `benches/python/process_spawn.py` (same ids: `process_start/fork`, `.../spawn`,
//! `.../forkserver`).

use std::time::Duration;

use criterion::{Criterion, criterion_main};
use mp::{Process, StartMethod};

#[mp::task]
fn noop() {}

fn start_join(m: StartMethod) {
    let p = Process::builder(noop, ())
        .start_method(m)
        .start()
        .expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_start");
    for (m, secs) in [
        (StartMethod::Fork, 3),
        (StartMethod::Spawn, 5),
        (StartMethod::Forkserver, 3),
    ] {
        // Warm up outside the measurement (the forkserver is launched on first use).
        start_join(m);
        g.sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(secs));
        g.bench_function(m.as_str(), |b| b.iter(|| start_join(m)));
    }
    g.finish();
}

#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
