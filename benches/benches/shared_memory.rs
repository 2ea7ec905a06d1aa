//! Shared memory (BASELINE row 8): a child process fills a 256 MiB shared array (the second
//! pass is timed, after the first one has faulted the pages in), next to `memset` of a private
//! 256 MiB buffer in the same run; plus creating, attaching and unlinking a named segment.
//!
//! CPython twin: `benches/python/shared_memory.py`. Run: `cargo bench -p mp-benches --bench
//! shared_memory`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mp::shared_memory::SharedMemory;
use mp::sharedctypes::{RawArray, RawValue};
use mp::{Process, StartMethod};

const SIZE: usize = 256 << 20;

#[mp::task]
fn fill_twice(a: RawArray<u8>, nanos: RawValue<u64>) -> mp::Result<()> {
    let mut g = a.borrow_mut()?;
    g.fill(1); // first pass: page faults
    let t = Instant::now();
    g.fill(2);
    black_box(&mut *g);
    nanos.set(t.elapsed().as_nanos() as u64)
}

fn fill(c: &mut Criterion) {
    let mut g = c.benchmark_group("array");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("child_fill_256mib", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let a = RawArray::<u8>::new(SIZE).unwrap();
                let nanos = RawValue::new(0u64).unwrap();
                let p = Process::builder(fill_twice, (a.clone(), nanos.clone()))
                    .start_method(StartMethod::Fork)
                    .build();
                p.start().unwrap();
                p.join().unwrap();
                assert_eq!(p.exitcode(), Some(0));
                assert_eq!(a.get(SIZE - 1).unwrap(), 2);
                total += Duration::from_nanos(nanos.get().unwrap());
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("memset");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("256mib", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut v = vec![0u8; SIZE];
                v.fill(1);
                black_box(&mut v);
                let t = Instant::now();
                v.fill(2);
                black_box(&mut v);
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn named(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared_memory");
    g.measurement_time(Duration::from_secs(2));
    // The same work as CPython 3.11's defaults: both create and attach register with the
    // resource tracker, unlink unregisters.
    g.bench_function("create_attach_unlink_4k", |b| {
        b.iter(|| {
            let shm = SharedMemory::create(4096).unwrap();
            let other = SharedMemory::attach(shm.name()).unwrap();
            other.write(0, b"x").unwrap();
            drop(other);
            shm.unlink().unwrap();
        })
    });
    g.finish();
}

fn main() {
    mp::init();
    let mut c = Criterion::default().configure_from_args();
    fill(&mut c);
    named(&mut c);
    c.final_summary();
}
