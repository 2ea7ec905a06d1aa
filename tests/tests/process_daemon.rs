//! Daemonic children never outlive their parent, even one killed by SIGKILL (beyond CPython,
//! which orphans them): fork children through `PR_SET_PDEATHSIG`, spawn and forkserver
//! children through a pidfd watcher.

use std::time::Duration;

use mp::{Connection, Process, StartMethod};
use mp_tests::{TIMEOUT, join, methods, pid_running, recv, wait_pid_gone};

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[mp::task]
fn middle(conn: Connection, m: StartMethod, daemon: bool) {
    let d = Process::builder(sleep_ms, (120_000,))
        .daemon(daemon)
        .start_method(m)
        .start()
        .unwrap();
    conn.send(&d.pid().unwrap()).unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[mp::test]
fn daemonic_children_die_with_a_killed_parent() {
    for m in methods() {
        // The middle process is started with every method, and starts its daemon with the
        // same method.
        let (a, b) = mp::Pipe(true).unwrap();
        let mid = Process::builder(middle, (b, m, true))
            .start_method(m)
            .start()
            .unwrap();
        let daemon: i32 = recv(&a);
        assert!(pid_running(daemon));
        mid.kill().unwrap();
        assert_eq!(join(&mid), Some(-libc::SIGKILL));
        assert!(
            wait_pid_gone(daemon, TIMEOUT),
            "{m}: daemon {daemon} outlived its killed parent"
        );
    }
}

#[mp::test]
fn non_daemonic_children_survive_a_killed_parent() {
    // The contrast: a non-daemonic grandchild is orphaned, as in CPython.
    let (a, b) = mp::Pipe(true).unwrap();
    let mid = Process::builder(middle, (b, StartMethod::Fork, false))
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let orphan: i32 = recv(&a);
    mid.kill().unwrap();
    join(&mid);
    assert!(!wait_pid_gone(orphan, Duration::from_millis(300)));
    // SAFETY: killing the orphan this test created.
    unsafe { libc::kill(orphan, libc::SIGKILL) };
    assert!(wait_pid_gone(orphan, TIMEOUT));
}

#[mp::test]
fn daemon_started_from_a_short_lived_thread_survives_the_thread() {
    // PR_SET_PDEATHSIG fires when the forking *thread* exits: mp forks daemons from a thread
    // that lives as long as the process, so the end of the starting thread does not kill it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let p = Process::builder(sleep_ms, (60_000,))
            .daemon(true)
            .start_method(StartMethod::Fork)
            .start();
        tx.send(p).unwrap();
    });
    let p = rx
        .recv_timeout(TIMEOUT)
        .expect("start() did not return")
        .unwrap();
    assert!(!wait_pid_gone(p.pid().unwrap(), Duration::from_millis(300)));
    assert!(p.is_alive());
    p.terminate().unwrap();
    assert_eq!(join(&p), Some(-libc::SIGTERM));
}
