//! Manager life cycle and reference counting: start/shutdown under every start method, no
//! growth of the server's objects over many proxy creations and drops, no leaked
//! descriptors or zombies, proxies through Connections and in forked children.

use std::time::Duration;

use mp::managers::{DictProxy, ListProxy, SyncManager, Value};
use mp::{ErrorKind, StartMethod};

const LONG: Duration = Duration::from_secs(60);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| {
            let rest: Vec<&str> = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            rest.first() == Some(&"Z") && rest.get(1) == Some(&me.as_str())
        })
        .count()
}

#[mp::test]
fn start_and_shutdown_under_every_method_leave_nothing_behind() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    // Warm up (the forkserver, thread-locals) before counting.
    SyncManager::builder().start().unwrap().shutdown().unwrap();
    for method in mp::get_all_start_methods() {
        let fds = open_fds();
        for _ in 0..3 {
            let m = SyncManager::builder().start_method(method).start().unwrap();
            let d: DictProxy<String, i32> = m.dict().unwrap();
            d.set("a", 1).unwrap();
            assert_eq!(d.get_item(&"a").unwrap(), 1);
            drop(d);
            m.shutdown().unwrap();
            assert_eq!(m.exitcode(), Some(0), "{method}");
            m.shutdown().unwrap(); // idempotent
        }
        assert_eq!(open_fds(), fds, "{method}: descriptors leaked");
        assert_eq!(zombies(), 0, "{method}: zombie left");
    }
}

#[mp::test]
fn dropping_the_manager_shuts_it_down_once_its_proxies_are_gone() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    let m = SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let pid = m.pid().unwrap();
    let l: ListProxy<i32> = m.list_from([1, 2]).unwrap();
    drop(m);
    // The proxy keeps its manager running (as CPython's proxies do).
    assert_eq!(l.len().unwrap(), 2);
    drop(l);
    // SAFETY: signal 0 only checks for existence; the process was joined by shutdown.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "server still running");
}

#[mp::test]
fn referents_are_freed_with_their_last_proxy_no_growth_over_100k() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    let m = SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let base = m.number_of_objects().unwrap();
    let keep: DictProxy = m.dict().unwrap();
    for i in 0..100_000 {
        let d: DictProxy = m.dict().unwrap();
        if i % 10_000 == 0 {
            // Clones and nested references come and go too.
            let d2 = d.clone();
            keep.set("x", &d2).unwrap();
            let back: DictProxy = keep.get_as(&"x").unwrap();
            drop((d2, back));
            keep.remove(&"x").unwrap();
        }
        drop(d);
    }
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    drop(keep);
    assert_eq!(m.number_of_objects().unwrap(), base);
}

#[mp::test]
fn proxies_travel_through_connections_and_take_their_own_reference() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    let m = SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let d: DictProxy<String, i32> = m.dict().unwrap();
    let (a, b) = mp::Pipe(true).unwrap();
    a.send(&d).unwrap();
    let received: DictProxy<String, i32> = b.recv().unwrap();
    drop(d); // the received proxy holds its own reference
    received.set("k", 1).unwrap();
    assert_eq!(received.get_item(&"k").unwrap(), 1);
    assert_eq!(m.number_of_objects().unwrap(), 1);
    drop(received);
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

#[mp::test]
fn a_forked_child_takes_its_own_reference_on_first_use() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    let m = SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let d: DictProxy<String, i32> = m.dict().unwrap();
    let (r, w) = mp::Pipe(false).unwrap();
    let child_d = d.clone();
    let p = mp::Process::builder(
        move || -> mp::Result<()> {
            child_d.set("child", 1)?;
            w.send(&"set")?;
            // Wait for the parent to drop its proxies: ours keeps the object alive.
            std::thread::sleep(Duration::from_millis(200));
            child_d.set("still", 2)?;
            drop(child_d);
            Ok(())
        },
        (),
    )
    .start_method(StartMethod::Fork)
    .build();
    p.start().unwrap();
    assert!(r.poll_timeout(LONG).unwrap());
    let _: String = r.recv().unwrap();
    let observer: mp::managers::ListProxy = m.list().unwrap();
    observer.append(&d).unwrap(); // keep a way to look at it
    drop(d);
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    let d: DictProxy<String, i32> = observer.get_as(0).unwrap();
    assert_eq!(d.len().unwrap(), 2);
    drop(d);
    observer.clear().unwrap();
    drop(observer);
    // Every reference (the parent's, the clone's, the child's) was given back exactly once.
    // (The child's last decref is sent without waiting for a reply: its serving thread may
    // still be processing it.)
    let t0 = std::time::Instant::now();
    while m.number_of_objects().unwrap() != 0 {
        assert!(t0.elapsed() < LONG, "{}", m.debug_info().unwrap());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[mp::test]
fn errors_of_a_manager_that_is_not_started() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    let m = SyncManager::new();
    assert_eq!(
        m.dict::<Value, Value>().unwrap_err().kind(),
        ErrorKind::Process
    );
    assert!(m.address().is_none());
    m.shutdown().unwrap(); // nothing to do
    m.start().unwrap();
    assert_eq!(m.start().unwrap_err().message(), "Already started server");
    m.shutdown().unwrap();
    assert_eq!(m.start().unwrap_err().message(), "Manager has shut down");
    assert_eq!(m.connect().unwrap_err().kind(), ErrorKind::Process);
}

#[mp::test]
fn the_server_process_is_named_after_the_manager() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    let m = SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let pid = m.pid().unwrap();
    let names: Vec<String> = mp::active_children()
        .into_iter()
        .filter(|c| c.pid == pid)
        .map(|c| c.name)
        .collect();
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with("SyncManager-"), "{names:?}");
    assert!(format!("{m:?}").starts_with("<SyncManager started at"));
}

#[mp::test]
fn dropping_a_proxy_of_a_stopped_server_does_not_hang() {
    let _serial = mp_tests::global_lock();
    // The decref waits for the server's reply (as CPython's), but not forever: a server
    // that is stopped (SIGSTOP) makes the drop give up after its bound.
    let m = SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let d: DictProxy<i64, i64> = m.dict().unwrap();
    let pid = m.pid().unwrap();
    // SAFETY: signalling the manager process we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let dropper = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        drop(d);
        let _ = tx.send(t.elapsed());
    });
    let took = rx.recv_timeout(Duration::from_secs(60));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let took = took.expect("dropping the proxy hung");
    assert!(took >= Duration::from_secs(5), "{took:?}");
    dropper.join().unwrap();
    // The server serves again once resumed.
    let e: DictProxy<i64, i64> = m.dict().unwrap();
    e.set(1, 2).unwrap();
    assert_eq!(e.get(&1).unwrap(), Some(2));
    drop(e);
    m.shutdown().unwrap();
}
