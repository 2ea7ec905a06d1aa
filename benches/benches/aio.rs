//! async/await (the `aio` module) beside CPython's asyncio doing the same work
//! (`benches/python/aio.py`, same ids): what a tokio program pays to await mp's objects.
//!
//! `cargo bench -p mp-benches --bench aio`
//!
//! Every figure is the time of one operation, awaited on a current-thread tokio runtime:
//! - `pipe_roundtrip_tokio`: `send_async` + `recv_async` of a u64 through an echoing child
//!   (asyncio: `conn.send` + a reader callback on the connection's descriptor + `conn.recv`);
//!   `_pinned`: both processes on CPU 0;
//! - `queue_roundtrip_tokio`: `put_async` to a child that echoes from one queue to another,
//!   `get_async` of the answer through the futex bridge (asyncio: `put`, then
//!   `run_in_executor(None, q.get)`, the usual way to await a multiprocessing queue);
//! - `pool_apply_await`: `pool.apply_async(square, (x,))?.await` on a 2-process pool (asyncio:
//!   `await loop.run_in_executor(ProcessPoolExecutor(2), square, x)`).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use mp::{Pipe, Pool, Queue, StartMethod};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn pipe_roundtrip(c: &mut Criterion, pinned: bool) {
    let old = pinned.then(mp_benches::pin_to_cpu0);
    let (a, b) = Pipe(true).unwrap();
    let p = mp_benches::fork(move || {
        while let Ok(v) = b.recv::<u64>() {
            if v == u64::MAX {
                break;
            }
            b.send(&v).unwrap();
        }
    });
    let rt = runtime();
    let mut g = c.benchmark_group("aio");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let name = if pinned {
        "pipe_roundtrip_tokio_pinned"
    } else {
        "pipe_roundtrip_tokio"
    };
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for i in 0..iters {
                    a.send_async(&i).await.unwrap();
                    let v: u64 = a.recv_async().await.unwrap();
                    debug_assert_eq!(v, i);
                }
                t.elapsed()
            })
        })
    });
    g.finish();
    a.send(&u64::MAX).unwrap();
    mp_benches::finish(p);
    if let Some(old) = old {
        mp_benches::unpin(&old);
    }
}

fn pipe_unpinned(c: &mut Criterion) {
    pipe_roundtrip(c, false);
}

fn pipe_pinned(c: &mut Criterion) {
    pipe_roundtrip(c, true);
}

fn queue_roundtrip(c: &mut Criterion) {
    let (to, from): (Queue<u64>, Queue<u64>) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
    let (child_in, child_out) = (to.clone(), from.clone());
    let p = mp_benches::fork(move || {
        while let Ok(v) = child_in.get() {
            if v == u64::MAX {
                break;
            }
            child_out.put(v).unwrap();
        }
    });
    let rt = runtime();
    let mut g = c.benchmark_group("aio");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("queue_roundtrip_tokio", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for i in 0..iters {
                    to.put_async(i).await.unwrap();
                    let v = from.get_async().await.unwrap();
                    debug_assert_eq!(v, i);
                }
                t.elapsed()
            })
        })
    });
    g.finish();
    to.put(u64::MAX).unwrap();
    mp_benches::finish(p);
}

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

fn pool_apply(c: &mut Criterion) {
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    let rt = runtime();
    let mut g = c.benchmark_group("aio");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("pool_apply_await", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for i in 0..iters {
                    let v = pool.apply_async(square, (i,)).unwrap().await.unwrap();
                    debug_assert_eq!(v, i * i);
                }
                t.elapsed()
            })
        })
    });
    g.finish();
    pool.close().unwrap();
    pool.join().unwrap();
}

criterion_group!(
    benches,
    pipe_unpinned,
    pipe_pinned,
    queue_roundtrip,
    pool_apply
);

fn main() {
    mp::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
