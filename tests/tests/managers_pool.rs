//! `SyncManager::pool` (CPython's `manager.Pool`, CONFORMANCE sections 14 and 15): a pool
//! living in the manager's process, used through a proxy from this process and from
//! children, typed through `mp::Task`. Under every start method (of the manager, and of its
//! pool's workers).
//!
//! Every test holds `mp_tests::global_lock()`: a fork child holds a reference on every
//! live proxy of this process until it exits, so counting a manager's objects while another
//! test forks would count those too.

use std::time::{Duration, Instant};

use mp::managers::{AsyncResultProxy, PoolProxy, SyncManager};
use mp::{ErrorKind, StartMethod};

const LONG: Duration = Duration::from_secs(120);

/// The tests of this file run one at a time: the leak test counts this process's
/// descriptors and children.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn manager(method: StartMethod) -> SyncManager {
    SyncManager::builder()
        .start_method(method)
        .start()
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn pool(m: &SyncManager, method: StartMethod, n: usize) -> PoolProxy {
    m.pool_builder()
        .processes(n)
        .start_method(method)
        .build()
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[mp::task]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[mp::task]
fn fails_on(x: u32, bad: u32) -> Result<u32, String> {
    if x == bad {
        Err(format!("{x} is bad"))
    } else {
        Ok(x)
    }
}

#[mp::task]
fn boom(x: u32) -> u32 {
    if x == 3 {
        panic!("boom at {x}");
    }
    x
}

#[mp::task]
fn whoami() -> (i32, Option<i32>, String) {
    (
        std::process::id() as i32,
        mp::parent_process().map(|p| p.pid()),
        mp::current_process().name(),
    )
}

#[mp::test]
fn apply_map_starmap_imap_under_every_start_method() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let p = pool(&m, method, 2);
        assert_eq!(p.processes().unwrap(), 2);
        assert_eq!(p.apply(add, (2, 3)).unwrap(), 5, "{method}");
        let serial: Vec<u64> = (0..50).map(|x| x * x).collect();
        assert_eq!(p.map(square, 0..50).unwrap(), serial, "{method}");
        assert_eq!(p.chunksize(7).map(square, 0..50).unwrap(), serial);
        assert_eq!(p.chunksize(1).map(square, 0..50).unwrap(), serial);
        assert_eq!(
            p.starmap(add, [(1, 2), (3, 4), (5, 6)]).unwrap(),
            [3, 7, 11]
        );
        assert_eq!(
            p.chunksize(2).starmap(add, (0..5).map(|i| (i, i))).unwrap(),
            [0, 2, 4, 6, 8]
        );
        let got: Vec<u64> = p.imap(square, 0..10).unwrap().map(Result::unwrap).collect();
        assert_eq!(got, serial[..10]);
        let got: Vec<u64> = p
            .chunksize(3)
            .imap(square, 0..10)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, serial[..10]);
        let mut got: Vec<u64> = p
            .imap_unordered(square, 0..10)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, serial[..10]);
        // Async forms.
        let r = p.apply_async(square, (9,)).unwrap();
        assert_eq!(r.get_timeout(LONG).unwrap(), 81);
        assert_eq!(r.get().unwrap(), 81, "get can be asked again");
        assert!(r.ready().unwrap() && r.successful().unwrap());
        let r = p.map_async(square, 0..50).unwrap();
        assert_eq!(r.get().unwrap(), serial);
        let r = p.starmap_async(add, vec![(5, 5)]).unwrap();
        assert_eq!(r.get().unwrap(), [10]);
        // Empty input.
        assert!(p.map(square, Vec::<u64>::new()).unwrap().is_empty());
        assert!(
            p.map_async(square, Vec::<u64>::new())
                .unwrap()
                .get()
                .unwrap()
                .is_empty()
        );
        assert_eq!(p.imap(square, Vec::<u64>::new()).unwrap().count(), 0);
        assert_eq!(
            p.imap_unordered(square, Vec::<u64>::new()).unwrap().count(),
            0
        );
        p.close().unwrap();
        p.join().unwrap();
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn the_workers_are_children_of_the_manager_process() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let p = pool(&m, method, 1);
        let (pid, parent, name) = p.apply(whoami, ()).unwrap();
        assert_ne!(pid, std::process::id() as i32);
        assert_eq!(parent, m.pid(), "{method}");
        let prefix = match method {
            StartMethod::Fork => "ForkPoolWorker-",
            StartMethod::Spawn => "SpawnPoolWorker-",
            _ => "ForkServerPoolWorker-",
        };
        assert!(name.starts_with(prefix), "{method}: {name}");
        m.shutdown().unwrap();
        // The manager's exit takes its workers with it.
        assert!(
            mp_tests::wait_pid_gone(pid, LONG),
            "{method}: worker {pid} left behind"
        );
    }
}

#[mp::test]
fn zero_processes_is_the_error_pool_new_gives() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let local = mp::Pool::new(0).unwrap_err();
    let err = m.pool(0).unwrap_err();
    assert_eq!(err.kind(), local.kind());
    assert_eq!(err.kind(), ErrorKind::Value);
    assert_eq!(err.message(), local.message());
    let err = m.pool_builder().maxtasksperchild(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Value);
    // The manager is fine afterwards.
    assert_eq!(m.pool(1).unwrap().apply(add, (1, 1)).unwrap(), 2);
}

#[mp::test]
fn task_failures_keep_their_kind_and_message() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let p = m.pool(2).unwrap();
    let err = p.apply(fails_on, (4, 4)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.message().contains("4 is bad"), "{err}");
    let err = p.map(boom, 0..10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.message().contains("boom at 3"), "{err}");
    // The pool goes on.
    assert_eq!(p.apply(add, (1, 2)).unwrap(), 3);
    let r = p.map_async(boom, 0..10).unwrap();
    assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Remote);
    assert!(!r.successful().unwrap());
    // imap: one Err at the failing chunk's position, the rest goes on.
    let items: Vec<mp::Result<u32>> = p.imap(boom, 0..6).unwrap().collect();
    assert_eq!(items.len(), 6);
    assert!(
        items[3]
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Remote)
    );
    let ok: Vec<u32> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(ok, [0, 1, 2, 4, 5]);
}

#[mp::test]
fn async_results_wait_and_time_out() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let p = m.pool(1).unwrap();
    let r = p.apply_async(nap, (1500,)).unwrap();
    assert!(!r.ready().unwrap());
    assert_eq!(r.successful().unwrap_err().kind(), ErrorKind::Value);
    let t0 = Instant::now();
    let err = r.get_timeout(Duration::from_millis(200)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        t0.elapsed() >= Duration::from_millis(190),
        "{:?}",
        t0.elapsed()
    );
    let t0 = Instant::now();
    assert!(!r.wait_timeout(Duration::from_millis(100)).unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(90));
    r.wait().unwrap();
    assert!(r.ready().unwrap());
    assert!(r.wait_timeout(Duration::ZERO).unwrap());
    assert_eq!(r.get().unwrap(), 1500);
    // imap's next(timeout).
    let mut it = p.imap(nap, [800]).unwrap();
    let first = it
        .next_timeout(Duration::from_millis(50))
        .unwrap()
        .unwrap_err();
    assert_eq!(first.kind(), ErrorKind::Timeout);
    assert_eq!(it.next_timeout(LONG).unwrap().unwrap(), 800);
    assert!(it.next_timeout(LONG).is_none());
    assert!(it.next().is_none(), "an exhausted iterator stays exhausted");
}

#[mp::test]
fn close_terminate_join() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let p = m.pool(2).unwrap();
    assert_eq!(p.join().unwrap_err().message(), "Pool is still running");
    let pending = p.apply_async(nap, (60_000,)).unwrap();
    let t0 = Instant::now();
    p.terminate().unwrap();
    p.join().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "terminate is prompt"
    );
    assert_eq!(pending.get().unwrap_err().kind(), ErrorKind::ShutDown);
    for err in [
        p.apply(add, (1, 1)).unwrap_err(),
        p.map(square, [1]).unwrap_err(),
        p.apply_async(add, (1, 1)).unwrap_err(),
        p.imap(square, [1]).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Value);
        assert_eq!(err.message(), "Pool not running");
    }
    // close lets the submitted work finish.
    let p = m.pool(2).unwrap();
    let r = p.map_async(nap, [100, 100, 100]).unwrap();
    p.close().unwrap();
    p.join().unwrap();
    assert!(r.ready().unwrap());
    assert_eq!(r.get().unwrap(), [100, 100, 100]);
}

#[mp::test]
fn dropping_the_last_proxy_terminates_the_pool() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let before = m.number_of_objects().unwrap();
    let p = m.pool(1).unwrap();
    let (worker, _, _) = p.apply(whoami, ()).unwrap();
    let p2 = p.clone();
    drop(p);
    assert_eq!(p2.apply(add, (2, 2)).unwrap(), 4, "a clone keeps the pool");
    drop(p2);
    assert!(
        mp_tests::wait_pid_gone(worker, LONG),
        "the worker outlived the pool"
    );
    assert!(mp_tests::wait_until(LONG, || m
        .number_of_objects()
        .unwrap()
        == before));
}

#[mp::task]
fn use_pool_in_child(p: PoolProxy) -> mp::Result<Vec<u64>> {
    // Python's `with obj: pass` in the child: use the pool, then leave the block, which
    // terminates it.
    let v = p.map(square, 0..5)?;
    let r = p.apply_async(add, (40, 2))?;
    if r.get()? != 42 {
        return Err(mp::Error::new(ErrorKind::Value, "wrong apply_async result"));
    }
    p.terminate()?;
    Ok(v)
}

#[mp::test]
fn the_proxy_is_usable_as_a_context_manager_in_a_child() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let p = pool(&m, method, 4);
        let child = mp::Process::builder(use_pool_in_child, (p.clone(),))
            .start_method(method)
            .build();
        child.start().unwrap();
        child.join_timeout(LONG).unwrap();
        assert_eq!(child.exitcode(), Some(0), "{method}");
        // The child's `with` block terminated the pool.
        let err = p.apply(add, (1, 1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Value, "{method}: {err}");
        p.join().unwrap();
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn wait_for(r: AsyncResultProxy<u64>) -> mp::Result<()> {
    if r.get_timeout(Duration::from_secs(60))? != 49 {
        return Err(mp::Error::new(ErrorKind::Value, "wrong result"));
    }
    Ok(())
}

#[mp::test]
fn an_async_result_proxy_travels_to_a_child() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let p = m.pool(1).unwrap();
        let r = p.apply_async(square, (7,)).unwrap();
        let child = mp::Process::builder(wait_for, (r.clone(),))
            .start_method(method)
            .build();
        child.start().unwrap();
        child.join_timeout(LONG).unwrap();
        assert_eq!(child.exitcode(), Some(0), "{method}");
        assert_eq!(r.get().unwrap(), 49);
    }
}

#[mp::task]
fn takes_a_connection(c: mp::Connection) -> bool {
    drop(c);
    true
}

#[mp::test]
fn handles_cannot_cross_the_manager() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let p = m.pool(1).unwrap();
    let (a, _b) = mp::Pipe(true).unwrap();
    let err = p.apply(takes_a_connection, (a,)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization, "{err}");
    assert_eq!(p.apply(add, (1, 1)).unwrap(), 2);
}

static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[mp::task]
fn init_tag(tag: String) {
    let _ = TAG.set(tag);
}

#[mp::task]
fn read_tag() -> String {
    TAG.get().cloned().unwrap_or_default()
}

#[mp::test]
fn initializer_and_maxtasksperchild() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let p = m
            .pool_builder()
            .processes(1)
            .start_method(method)
            .initializer(init_tag, ("ready".to_string(),))
            .maxtasksperchild(1)
            .build()
            .unwrap();
        assert_eq!(p.apply(read_tag, ()).unwrap(), "ready", "{method}");
        let (a, _, _) = p.apply(whoami, ()).unwrap();
        let (b, _, _) = p.apply(whoami, ()).unwrap();
        assert_ne!(a, b, "{method}: maxtasksperchild=1 replaces the worker");
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn a_panicking_input_is_a_runtime_error_and_submits_nothing() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let p = m.pool(1).unwrap();
    let input = (0..10u64).inspect(|&x| {
        if x == 4 {
            panic!("bad input");
        }
    });
    let err = p.map(square, input).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert!(err.message().contains("bad input"), "{err}");
    assert_eq!(p.map(square, [3]).unwrap(), [9]);
}

/// One full use of a manager's pool; returns the manager's pid and the workers' pids.
fn use_once(method: StartMethod) -> (i32, Vec<i32>) {
    let m = manager(method);
    let pid = m.pid().unwrap();
    let p = pool(&m, method, 2);
    let mut workers: Vec<i32> = p
        .map(whoami_n, 0..8)
        .unwrap()
        .into_iter()
        .map(|(w, _, _)| w)
        .collect();
    workers.sort_unstable();
    workers.dedup();
    assert_eq!(p.apply_async(square, (2,)).unwrap().get().unwrap(), 4);
    assert_eq!(p.imap(square, 0..3).unwrap().count(), 3);
    drop(p);
    m.shutdown().unwrap();
    (pid, workers)
}

#[mp::task]
fn whoami_n(_i: u32) -> (i32, Option<i32>, String) {
    whoami()
}

#[mp::test]
fn nothing_is_left_behind() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    for method in mp::get_all_start_methods() {
        // A first round opens what stays open for the process's life (the forkserver's
        // connection, the resource tracker's).
        use_once(method);
        let before = mp_tests::count_open_fds();
        let (pid, workers) = use_once(method);
        assert!(
            mp_tests::wait_until(LONG, || mp_tests::count_open_fds() == before),
            "{method}: descriptors leaked: {} before, {:?} now",
            before,
            mp_tests::open_fds()
        );
        assert!(
            !mp_tests::zombie_children().contains(&pid),
            "{method}: the manager's process is a zombie"
        );
        for w in workers {
            assert!(
                mp_tests::wait_pid_gone(w, LONG),
                "{method}: worker {w} left"
            );
        }
    }
}

#[mp::test]
fn an_iterator_of_a_manager_that_is_gone_ends_after_one_error() {
    let _serial = mp_tests::global_lock();
    let _g = serial();
    let m = manager(StartMethod::Forkserver);
    let p = m.pool(1).unwrap();
    let mut it = p.imap(square, 0..3).unwrap();
    assert_eq!(it.next().unwrap().unwrap(), 0);
    m.shutdown().unwrap();
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os, "{err}");
    assert!(it.next().is_none());
}
