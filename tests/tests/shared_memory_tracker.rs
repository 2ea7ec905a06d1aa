//! The resource tracker (CONFORMANCE sections 13 and 16): segments of a killed program are
//! unlinked with a warning, untracked ones are left alone, the tracker ignores SIGINT/SIGTERM,
//! is restarted if killed, and children of every start method reuse their parent's tracker.

mod sync_common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use mp::Process;
use mp::sharedctypes::RawValue;
use sync_common::*;

const LEAKER: &str = env!("CARGO_BIN_EXE_mp-shm-leaker");

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

/// Reads all of `r` in a thread; the receiver gets it at EOF.
fn read_all(mut r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    rx
}

#[test]
fn a_killed_program_segments_are_unlinked_with_a_warning() {
    let mut child = Command::new(LEAKER)
        .arg("leak")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = read_all(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let tracked = rx.recv_timeout(LONG).unwrap();
    let untracked = rx.recv_timeout(LONG).unwrap();
    let tracked = tracked.strip_prefix("TRACKED ").unwrap().to_string();
    let untracked = untracked.strip_prefix("UNTRACKED ").unwrap().to_string();
    assert!(exists(&tracked) && exists(&untracked));

    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        eventually(|| !exists(&tracked)),
        "{tracked} was not unlinked"
    );
    let err = stderr.recv_timeout(LONG).expect("the tracker never exited");
    assert!(
        err.contains("There appear to be 1 leaked shared_memory objects to clean up at shutdown"),
        "stderr: {err}"
    );
    assert!(err.contains(&tracked), "stderr: {err}");
    // track=false: left alone.
    assert!(exists(&untracked));
    let c = std::ffi::CString::new(format!("/{untracked}")).unwrap();
    // SAFETY: a valid name.
    assert_eq!(unsafe { libc::shm_unlink(c.as_ptr()) }, 0);
}

fn run_leaker(mode: &str) -> (String, String) {
    let child = Command::new(LEAKER)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(LONG).expect("the helper hung").unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_killed_tracker_is_restarted_with_a_warning() {
    let (out, err) = run_leaker("restart");
    let pids: Vec<i32> = out
        .trim()
        .strip_prefix("PIDS ")
        .unwrap()
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1], "{out}");
    assert!(
        err.contains("resource_tracker: process died unexpectedly"),
        "{err}"
    );
    assert!(!err.contains("leaked"), "{err}");
}

#[test]
fn the_tracker_ignores_sigint_and_sigterm() {
    let (out, err) = run_leaker("signals");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("ALIVE"), "{out} {err}");
    let pids: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(pids[1], pids[2], "no restart was needed");
    assert!(!err.contains("died"), "{err}");
}

#[test]
fn a_segment_unlinked_after_children_registered_it_is_not_reported() {
    let (out, err) = run_leaker("children");
    assert_eq!(out.trim(), "DONE");
    assert!(!err.contains("leaked"), "{err}");
}

#[mp::task]
fn tracker_pid(out: RawValue<i32>) -> mp::Result<()> {
    mp::resource_tracker::ensure_running()?;
    out.set(mp::resource_tracker::pid().unwrap_or(-1))
}

#[mp::test]
fn children_reuse_the_parent_tracker() {
    mp::resource_tracker::ensure_running().unwrap();
    let mine = mp::resource_tracker::pid().unwrap();
    for m in methods() {
        let out = RawValue::new(0i32).unwrap();
        let p = Process::builder(tracker_pid, (out.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(out.get().unwrap(), mine, "{m}");
    }
}

#[mp::test]
fn registrations_are_checked() {
    use mp::resource_tracker::{register, unregister};
    let long = format!("/{}", "x".repeat(600));
    assert_eq!(
        register(&long, "shared_memory").unwrap_err().kind(),
        mp::ErrorKind::Value,
        "a registration line over 512 bytes"
    );
    assert_eq!(
        register("/x", "semaphore").unwrap_err().kind(),
        mp::ErrorKind::Value,
        "an unknown resource type"
    );
    assert!(register("/a\nb", "shared_memory").is_err());
    register("/mp_test_not_created:with:colons", "shared_memory").unwrap();
    unregister("/mp_test_not_created:with:colons", "shared_memory").unwrap();
}
