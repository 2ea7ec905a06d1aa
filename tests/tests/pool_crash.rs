//! What CPython's pool cannot do: survive workers that die. A worker killed while it runs a
//! task (SIGKILL, abort, segfault, exit) makes that task's result a `WorkerLost` error, the
//! tasks queued behind it run elsewhere, a replacement starts, and nothing is left behind.
//! Each behaviour under every start method.

use std::time::{Duration, Instant};

use mp::{ErrorKind, Pool, StartMethod};

const LONG: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
enum Death {
    Kill,
    Abort,
    Segfault,
    Exit,
}

#[mp::task]
fn maybe_die(x: u32, at: u32, how: Death) -> u32 {
    if x == at {
        match how {
            // SAFETY: signalling ourselves.
            Death::Kill => unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            },
            Death::Abort => std::process::abort(),
            Death::Segfault => segfault(),
            Death::Exit => std::process::exit(3),
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    x * 2
}

#[mp::task]
fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[mp::task]
fn ident(x: u64) -> u64 {
    x
}

/// Dies of SIGSEGV (Rust's own SIGSEGV handler, for stack overflows, would let a plain
/// `raise` return).
fn segfault() {
    // SAFETY: restoring the default disposition and raising a signal in our own process.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
}

/// Whether `pid` still runs. A zombie does not: a forkserver worker is reaped by the server,
/// a moment after `join` has seen it exit.
fn alive(pid: i32) -> bool {
    mp_tests::pid_running(pid)
}

fn is_zombie_free() -> bool {
    // SAFETY: waitpid with WNOHANG on any child: Ok(0) means children exist but none exited.
    let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    r <= 0
}

#[mp::test]
fn a_dead_worker_loses_only_its_task() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    for m in mp::get_all_start_methods() {
        for how in [Death::Kill, Death::Abort, Death::Segfault, Death::Exit] {
            let p = Pool::builder()
                .processes(2)
                .start_method(m)
                .build()
                .unwrap();
            let before = p.worker_pids();
            let rs: Vec<_> = (0..20)
                .map(|i| p.apply_async(maybe_die, (i, 7, how)).unwrap())
                .collect();
            for (i, r) in rs.iter().enumerate() {
                let got = r.get_timeout(LONG);
                if i == 7 {
                    let e = got.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::WorkerLost, "{m} {how:?}: {e}");
                    assert!(e.to_string().contains("maybe_die"), "{e}");
                } else {
                    assert_eq!(got.unwrap(), 2 * i as u32, "{m} {how:?} task {i}");
                }
            }
            // A replacement took the dead worker's place.
            let after = p.worker_pids();
            assert_eq!(after.len(), 2);
            assert_eq!(
                after.iter().filter(|p| !before.contains(p)).count(),
                1,
                "{m} {how:?}"
            );
            assert_eq!(p.map(ident, 0..100).unwrap().len(), 100);
            p.close().unwrap();
            p.join().unwrap();
            for pid in before.iter().chain(&after) {
                assert!(!alive(*pid), "worker {pid} left behind");
            }
        }
    }
    assert!(is_zombie_free());
}

#[mp::test]
fn a_dead_worker_in_a_map_fails_the_map_not_the_pool() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(2)
            .start_method(m)
            .build()
            .unwrap();
        let e = p
            .chunksize(1)
            .starmap(maybe_die, (0..30).map(|i| (i, 13, Death::Kill)))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WorkerLost);
        // imap shows the loss at its position and everything else.
        let got: Vec<_> = p.imap(kill_at_4, 0..10u32).unwrap().collect();
        assert_eq!(got.len(), 10);
        for (i, r) in got.iter().enumerate() {
            match i {
                4 => assert_eq!(r.as_ref().unwrap_err().kind(), ErrorKind::WorkerLost),
                _ => assert_eq!(*r.as_ref().unwrap(), i as u32 * 2),
            }
        }
    }
}

#[mp::task]
fn kill_at_4(x: u32) -> u32 {
    maybe_die(x, 4, Death::Kill)
}

#[mp::test]
fn killed_from_outside_while_busy() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(2)
            .start_method(m)
            .build()
            .unwrap();
        let rs: Vec<_> = (0..6)
            .map(|_| p.apply_async(sleepy, (300,)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let victim = p.worker_pids()[0];
        // SAFETY: killing our own pool worker.
        unsafe { libc::kill(victim, libc::SIGKILL) };
        let mut lost = 0;
        for r in &rs {
            match r.get_timeout(LONG) {
                Ok(v) => assert_eq!(v, 300),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::WorkerLost, "{e}");
                    lost += 1;
                }
            }
        }
        assert_eq!(lost, 1, "{m}: exactly the running task is lost");
        assert!(!p.worker_pids().contains(&victim));
    }
}

#[mp::test]
fn terminate_while_tasks_run_leaves_nothing_behind() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(3)
            .start_method(m)
            .build()
            .unwrap();
        let r = p
            .chunksize(1)
            .map_async(sleepy, vec![5_000u64; 500])
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let pids = p.worker_pids();
        let t = Instant::now();
        p.terminate().unwrap();
        p.join().unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{m}: {:?}",
            t.elapsed()
        );
        assert_eq!(r.get_timeout(LONG).unwrap_err().kind(), ErrorKind::ShutDown);
        for pid in pids {
            assert!(!alive(pid), "worker {pid} left behind");
        }
    }
    assert!(is_zombie_free());
}

#[mp::test]
fn large_map_under_maxtasksperchild() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    for m in mp::get_all_start_methods() {
        let p = Pool::builder()
            .processes(2)
            .maxtasksperchild(10)
            .start_method(m)
            .build()
            .unwrap();
        let first = p.worker_pids();
        // 100k items in 1000 tasks of 100: every worker is replaced 50 times.
        let t = Instant::now();
        let v = p.chunksize(100).map(ident, 0..100_000u64).unwrap();
        assert_eq!(v.len(), 100_000);
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u64));
        let last = p.worker_pids();
        assert!(last.iter().all(|pid| !first.contains(pid)));
        // The default chunksize too (8 tasks).
        let v = p.map(ident, 0..100_000u64).unwrap();
        assert_eq!(v[99_999], 99_999);
        p.close().unwrap();
        p.join().unwrap();
        eprintln!("{m}: {:?}", t.elapsed());
    }
}

#[mp::test]
fn no_fd_leak_across_pools() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    fn count() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0)
    }
    for m in mp::get_all_start_methods() {
        // Warm up (the forkserver keeps a connection).
        drop(
            Pool::builder()
                .processes(1)
                .start_method(m)
                .build()
                .unwrap(),
        );
        let before = count();
        for _ in 0..3 {
            let p = Pool::builder()
                .processes(2)
                .start_method(m)
                .build()
                .unwrap();
            assert_eq!(p.map(ident, 0..10).unwrap().len(), 10);
            let _ = p.apply(maybe_die, (1, 1, Death::Kill));
            p.close().unwrap();
            p.join().unwrap();
        }
        assert_eq!(count(), before, "{m}: descriptors leaked");
    }
}

#[mp::test]
fn segfaulting_workers_do_not_stop_a_big_job() {
    // Tests of this file count the process's descriptors: they run one at a time.
    let _serial = mp_tests::global_lock();
    // Every 50th item kills its worker; with chunksize 1 each loss costs exactly one item.
    let m = StartMethod::Fork;
    let p = Pool::builder()
        .processes(2)
        .start_method(m)
        .build()
        .unwrap();
    let got: Vec<_> = p.imap(segv_every_50, 0..500u32).unwrap().collect();
    assert_eq!(got.len(), 500);
    for (i, r) in got.iter().enumerate() {
        if i % 50 == 49 {
            assert_eq!(r.as_ref().unwrap_err().kind(), ErrorKind::WorkerLost);
        } else {
            assert_eq!(*r.as_ref().unwrap(), i as u32);
        }
    }
}

#[mp::task]
fn segv_every_50(x: u32) -> u32 {
    if x % 50 == 49 {
        segfault();
    }
    x
}
