//! Helpers shared by the synchronize_*, sharedctypes_* and shared_memory_* tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mp::{Process, StartMethod};

/// Upper bound for anything that should happen "soon" on a loaded 2-CPU machine.
pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Every start method of this platform.
pub(crate) fn methods() -> Vec<StartMethod> {
    mp::get_all_start_methods()
}

/// Starts `p`, failing the test on error.
pub(crate) fn start(p: &Process) {
    p.start().expect("start");
}

/// Joins `p` with a generous bound and checks that it exited with `code`.
pub(crate) fn join_ok(p: &Process) {
    join_code(p, 0);
}

/// Joins `p` with a generous bound and checks its exit code.
pub(crate) fn join_code(p: &Process, code: i32) {
    p.join_timeout(LONG).expect("join");
    if p.is_alive() {
        let _ = p.kill();
        let _ = p.join();
        panic!("child {} did not exit within {LONG:?}", p.name());
    }
    assert_eq!(p.exitcode(), Some(code), "exit code of {}", p.name());
}

/// Polls `cond` until it holds or `LONG` passes (for states no event announces, such as
/// "two parties are waiting at the barrier"). Returns whether it held.
pub(crate) fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LONG;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// The entries of /dev/shm.
pub(crate) fn dev_shm() -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Number of open descriptors of this process.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
