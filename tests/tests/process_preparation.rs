//! What a child starts with, under every start method: CPython's preparation data
//! (`spawn.get_preparation_data`/`prepare`): the parent's default start method, its current
//! directory at `start()`. (Its command line: `process_output.rs`, which runs a helper with
//! arguments.)

use std::path::PathBuf;

use mp::{Connection, Process, StartMethod};
use mp_tests::{TIMEOUT, global_lock, join, methods};

fn recv<T: serde::de::DeserializeOwned>(c: &Connection) -> T {
    assert!(c.poll_timeout(TIMEOUT).unwrap(), "no answer from the child");
    c.recv().unwrap()
}

#[mp::task]
fn report_ppid(out: Connection) {
    out.send(&std::os::unix::process::parent_id()).unwrap();
}

/// Reports the child's default start method, its pid, and the parent pid of a grandchild
/// started with the default context.
#[mp::task]
fn report_default(out: Connection) {
    let (a, b) = mp::Pipe(false).unwrap();
    let g = Process::new(report_ppid, (b,));
    g.start().unwrap();
    let grand_ppid: u32 = recv(&a);
    g.join_timeout(TIMEOUT).unwrap();
    out.send(&(
        mp::get_start_method().as_str().to_string(),
        std::process::id(),
        grand_ppid,
        std::os::unix::process::parent_id(),
    ))
    .unwrap();
}

#[mp::test]
fn a_child_and_its_children_use_the_parent_s_default_start_method() {
    let _g = global_lock();
    for default in methods() {
        mp::set_start_method(default.as_str(), true).unwrap();
        // The child itself is started each way; its default is the parent's either way.
        for how in methods() {
            let (a, b) = mp::Pipe(false).unwrap();
            let p = Process::builder(report_default, (b,))
                .start_method(how)
                .start()
                .unwrap();
            let (method, pid, grand_ppid, ppid): (String, u32, u32, u32) = recv(&a);
            assert_eq!(join(&p), Some(0));
            assert_eq!(method, default.as_str(), "child started by {how}");
            match default {
                // The grandchild is the child's own child.
                StartMethod::Fork | StartMethod::Spawn => {
                    assert_eq!(grand_ppid, pid, "default {default}, child by {how}")
                }
                // The grandchild comes from a fork server: the one the child itself came
                // from when that was a forkserver start (no second server).
                StartMethod::Forkserver => {
                    assert_ne!(grand_ppid, pid, "child by {how}");
                    if how == StartMethod::Forkserver {
                        assert_eq!(grand_ppid, ppid, "one fork server for the tree");
                    }
                }
            }
        }
    }
    mp::set_start_method(mp::get_all_start_methods()[0].as_str(), true).unwrap();
}

#[mp::task]
fn report_cwd(out: Connection) {
    out.send(&std::env::current_dir().unwrap()).unwrap();
}

#[mp::test]
fn a_child_runs_in_the_parent_s_directory_at_start() {
    let _g = global_lock();
    let before = std::env::current_dir().unwrap();
    for m in methods() {
        // A fork server (if any) is running already, started from `before`.
        let (a, b) = mp::Pipe(false).unwrap();
        let p = Process::builder(report_cwd, (b,))
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(recv::<PathBuf>(&a), before, "{m}");
        join(&p);
        let dir = std::env::temp_dir().join(format!("mp-cwd-{}-{m}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        std::env::set_current_dir(&dir).unwrap();
        let (a, b) = mp::Pipe(false).unwrap();
        let started = Process::builder(report_cwd, (b,)).start_method(m).start();
        std::env::set_current_dir(&before).unwrap();
        let p = started.unwrap();
        assert_eq!(recv::<PathBuf>(&a), dir, "{m}");
        assert_eq!(join(&p), Some(0));
        std::fs::remove_dir(&dir).unwrap();
    }
}
