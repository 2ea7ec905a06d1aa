//! Behaviours that mp's fast start paths must keep (`docs/design/forkserver.md`, performance
//! notes): a child's stdin is `/dev/null` whatever the parent's; a forkserver child flushes
//! C's stdio at exit; the sentinel of a fork or spawn child (opened only when asked for) is
//! ready once the child is joined; joins and polls from several threads agree on the exit
//! code; quick forkserver children report their exit codes whatever order the child's and the
//! server's messages arrive in.

use std::time::Duration;

use mp::{Process, StartMethod};
use mp_tests::{TIMEOUT, methods, run_helper, text, zombie_children};

const HELPER: &str = env!("CARGO_BIN_EXE_mp-fast-paths-helper");

#[mp::task]
fn noop() {}

#[mp::task]
fn fail() -> Result<(), String> {
    Err("expected failure".into())
}

/// Waits (at most a minute) until the parent says go.
#[mp::task]
fn wait_for(go: mp::Event) {
    assert!(go.wait_timeout(Duration::from_secs(60)), "never told to go");
}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn ready_now(fd: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

#[test]
fn children_read_dev_null_whatever_the_parents_stdin() {
    for m in ["forkserver", "spawn", "fork"] {
        let out = run_helper(HELPER, &["stdin", m]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        assert!(
            stdout.contains("exitcode Some(0)"),
            "{m}: {stdout} {stderr}"
        );
    }
}

#[test]
fn c_stdio_is_flushed_when_a_forkserver_or_spawn_child_exits() {
    // (A fork child ends with `_exit`, as CPython's does: C buffers are its own business.)
    for m in ["forkserver", "spawn"] {
        let out = run_helper(HELPER, &["cstdio", m]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        assert!(stdout.contains("c-stdio-unflushed"), "{m}: {stdout}");
        assert!(stdout.contains("exitcode Some(0)"), "{m}: {stdout}");
    }
}

#[mp::test]
fn sentinel_asked_for_after_join_is_ready() {
    for m in methods() {
        let p = Process::builder(noop, ()).start_method(m).start().unwrap();
        p.join_timeout(TIMEOUT).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{m}");
        let s = p.sentinel().unwrap();
        assert!(
            ready_now(s),
            "{m}: the sentinel of a joined process is ready"
        );
        // Asking again gives the same descriptor.
        assert_eq!(p.sentinel().unwrap(), s, "{m}");
    }
}

#[mp::test]
fn sentinel_asked_for_while_running_becomes_ready_at_exit() {
    for m in methods() {
        let go = mp::Event::new().unwrap();
        let p = Process::builder(wait_for, (go.clone(),))
            .start_method(m)
            .start()
            .unwrap();
        let s = p.sentinel().unwrap();
        assert!(!ready_now(s), "{m}: not ready while the child waits");
        go.set();
        let mut pfd = libc::pollfd {
            fd: s,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 60_000) }, 1, "{m}");
        p.join_timeout(TIMEOUT).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{m}");
        assert!(ready_now(s), "{m}");
    }
}

#[mp::test]
fn a_child_reaped_behind_mps_back() {
    // The program reaps the child itself: mp's lazily opened sentinel must not name whatever
    // process gets the pid next, and the child counts as gone (255, as CPython reports).
    for m in [StartMethod::Fork, StartMethod::Spawn] {
        let p = Process::builder(noop, ()).start_method(m).start().unwrap();
        let pid = p.pid().unwrap();
        let mut st = 0;
        // SAFETY: reaping our own child, with a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        let s = p.sentinel().unwrap();
        assert!(s >= 0 && ready_now(s), "{m}");
        p.terminate().unwrap();
        p.join_timeout(TIMEOUT).unwrap();
        assert_eq!(p.exitcode(), Some(255), "{m}");
    }
}

#[mp::test]
fn terminate_without_a_sentinel_asked_for() {
    for m in methods() {
        let p = Process::builder(sleep_ms, (60_000,))
            .start_method(m)
            .start()
            .unwrap();
        p.terminate().unwrap();
        p.join_timeout(TIMEOUT).unwrap();
        assert_eq!(p.exitcode(), Some(-libc::SIGTERM), "{m}");
        // Signalling a joined process is a no-op, as in CPython.
        p.kill().unwrap();
    }
}

#[mp::test]
fn joins_and_polls_from_several_threads_agree() {
    for m in methods() {
        for _ in 0..5 {
            let p = std::sync::Arc::new(
                Process::builder(sleep_ms, (20,))
                    .start_method(m)
                    .start()
                    .unwrap(),
            );
            let pollers: Vec<_> = (0..2)
                .map(|_| {
                    let p = p.clone();
                    std::thread::spawn(move || {
                        let deadline = std::time::Instant::now() + TIMEOUT;
                        while p.is_alive() {
                            assert!(std::time::Instant::now() < deadline, "still alive");
                            std::thread::yield_now();
                        }
                        p.exitcode()
                    })
                })
                .collect();
            let joiner = {
                let p = p.clone();
                std::thread::spawn(move || {
                    p.join().unwrap();
                    p.exitcode()
                })
            };
            p.join_timeout(TIMEOUT).unwrap();
            assert_eq!(p.exitcode(), Some(0), "{m}");
            assert_eq!(joiner.join().unwrap(), Some(0), "{m}");
            for t in pollers {
                assert_eq!(t.join().unwrap(), Some(0), "{m}");
            }
        }
    }
    assert!(zombie_children().is_empty(), "{:?}", zombie_children());
}

#[mp::test]
fn quick_forkserver_children_report_their_codes() {
    // A child that finishes before the server has written `Started` sends `Finished` first;
    // the client reads on. Many quick children make both orders likely.
    for i in 0..100 {
        let p = if i % 2 == 0 {
            Process::builder(noop, ())
        } else {
            Process::builder(fail, ())
        }
        .start_method(StartMethod::Forkserver)
        .start()
        .unwrap();
        p.join_timeout(TIMEOUT).unwrap();
        assert_eq!(p.exitcode(), Some(i % 2), "child {i}");
    }
}
