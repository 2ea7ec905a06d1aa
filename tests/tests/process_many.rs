//! Many children: 200 sequential and 50 concurrent under each start method, with no zombie
//! and no descriptor left behind (CONFORMANCE 1, `test_many_processes`).

use std::time::Duration;

use mp::Process;
use mp_tests::{TIMEOUT, count_open_fds, join, methods, open_fds, wait_until, zombie_children};

#[mp::task]
fn noop() {}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn settle() {
    // Let every child of earlier starts be reaped (the forkserver launch leaves a reaper
    // thread; nothing else should remain).
    assert!(
        wait_until(TIMEOUT, || zombie_children().is_empty()),
        "zombies left: {:?}",
        zombie_children()
    );
}

// Tests hold the global lock so that descriptor counts are not disturbed by each other.
#[mp::test]
fn many_children_leave_nothing_behind() {
    let _g = mp_tests::global_lock();
    for m in methods() {
        // Warm up (launches the forkserver under that method) before counting descriptors.
        let p = Process::builder(noop, ()).start_method(m).start().unwrap();
        assert_eq!(join(&p), Some(0));
        settle();
        let fds_before = open_fds();

        for i in 0..200 {
            let p = Process::builder(noop, ()).start_method(m).start().unwrap();
            assert_eq!(join(&p), Some(0), "{m}: child {i}");
        }
        settle();
        assert!(mp::active_children().is_empty());
        assert_eq!(
            open_fds(),
            fds_before,
            "{m}: descriptors leaked by sequential starts"
        );

        let procs: Vec<Process> = (0..50)
            .map(|_| Process::builder(noop, ()).start_method(m).start().unwrap())
            .collect();
        for p in &procs {
            assert_eq!(join(p), Some(0), "{m}");
        }
        drop(procs);
        settle();
        assert!(mp::active_children().is_empty());
        assert_eq!(
            open_fds(),
            fds_before,
            "{m}: descriptors leaked by concurrent starts"
        );

        // Freshly started sleepers, terminated at once, die of SIGTERM.
        let procs: Vec<Process> = (0..20)
            .map(|_| {
                Process::builder(sleep_ms, (60_000,))
                    .start_method(m)
                    .start()
                    .unwrap()
            })
            .collect();
        for p in &procs {
            p.terminate().unwrap();
        }
        for p in &procs {
            assert_eq!(join(p), Some(-libc::SIGTERM), "{m}");
        }
        drop(procs);
        settle();
        assert_eq!(count_open_fds(), fds_before.len(), "{m}");
    }
}

#[mp::test]
fn active_children_reaps_finished_children() {
    let _g = mp_tests::global_lock();
    for m in methods() {
        let procs: Vec<Process> = (0..5)
            .map(|_| Process::builder(noop, ()).start_method(m).start().unwrap())
            .collect();
        let pids: Vec<i32> = procs.iter().filter_map(|p| p.pid()).collect();
        // Without any join, active_children() eventually reports none of them and leaves
        // no zombie behind.
        assert!(wait_until(TIMEOUT, || {
            let live = mp::active_children();
            pids.iter().all(|pid| live.iter().all(|c| c.pid != *pid))
        }));
        for pid in &pids {
            assert!(
                wait_until(TIMEOUT, || !zombie_children().contains(pid)),
                "{m}"
            );
        }
        for p in &procs {
            assert_eq!(p.exitcode(), Some(0));
        }
    }
}
