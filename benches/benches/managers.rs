//! Managers (BASELINE row 7): SyncManager start + shutdown, dict proxy `d[k] = v` and `d[k]`
//! round trips (pinned to one CPU and unpinned), and a remote queue `put` + `get` round trip
//! over TCP loopback. CPython's figures: `benches/python/managers.py`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use mp::managers::{BaseManager, DictProxy, Queue, QueueProxy, Shared, SyncManager};

#[mp::task]
fn bench_queue() -> Shared<Queue> {
    static Q: std::sync::OnceLock<Shared<Queue>> = std::sync::OnceLock::new();
    Q.get_or_init(|| Shared::new(Queue::new(0))).clone()
}

fn start_shutdown(c: &mut Criterion) {
    let mut g = c.benchmark_group("manager");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for (id, method) in [
        ("start_shutdown", mp::StartMethod::Fork),
        ("start_shutdown_spawn", mp::StartMethod::Spawn),
        ("start_shutdown_forkserver", mp::StartMethod::Forkserver),
    ] {
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    let m = SyncManager::builder().start_method(method).start().unwrap();
                    m.shutdown().unwrap();
                }
                t0.elapsed()
            })
        });
    }
    g.finish();
}

fn dict_ops(c: &mut Criterion, pinned: bool) {
    let old = pinned.then(mp_benches::pin_to_cpu0);
    // Started after pinning, so that the server runs on the same CPU.
    let m = SyncManager::builder()
        .start_method(mp::StartMethod::Fork)
        .start()
        .unwrap();
    let d: DictProxy<i64, i64> = m.dict().unwrap();
    d.set(1, 1).unwrap();
    let suffix = if pinned { "_pinned" } else { "" };
    let mut g = c.benchmark_group("manager");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.bench_function(format!("dict_set{suffix}"), |b| {
        let mut i = 0i64;
        b.iter(|| {
            i += 1;
            d.set(i & 1023, i).unwrap()
        })
    });
    g.bench_function(format!("dict_get{suffix}"), |b| {
        b.iter(|| d.get_item(&1i64).unwrap())
    });
    g.finish();
    drop(d);
    m.shutdown().unwrap();
    if let Some(old) = old {
        mp_benches::unpin(&old);
    }
}

fn dict_pinned(c: &mut Criterion) {
    dict_ops(c, true);
}

fn dict_unpinned(c: &mut Criterion) {
    dict_ops(c, false);
}

fn remote_queue(c: &mut Criterion) {
    let server = BaseManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"bench")
        .start_method(mp::StartMethod::Fork)
        .register::<QueueProxy<i64>, _>("get_queue", bench_queue)
        .start()
        .unwrap();
    let address = server.address().unwrap();
    let client = BaseManager::builder()
        .address(&address)
        .authkey(b"bench")
        .register_remote::<QueueProxy<i64>>("get_queue")
        .connect()
        .unwrap();
    let q: QueueProxy<i64> = client.create("get_queue", ()).unwrap();
    let mut g = c.benchmark_group("manager");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.bench_function("queue_tcp_put_get", |b| {
        b.iter(|| {
            q.put(7).unwrap();
            q.get().unwrap()
        })
    });
    g.finish();
    drop(q);
    server.shutdown().unwrap();
}

fn main() {
    mp::init();
    let mut c = Criterion::default().configure_from_args();
    start_shutdown(&mut c);
    dict_unpinned(&mut c);
    dict_pinned(&mut c);
    remote_queue(&mut c);
    c.final_summary();
}
