//! A fork child of a process with other threads: a lock of std's that another thread of the
//! parent held at the fork stays locked in the child forever. mp's own output in the child
//! (the panic report, the `Process <name>:` header, an `Err` target's message, log lines) must
//! not take such a lock, or the child hangs in its first panic. Run in a helper program:
//! libtest's output capture would bypass the stderr lock.

use mp_tests::{run_helper, text};

const HELPER: &str = env!("CARGO_BIN_EXE_mp-fork-locks-helper");

#[test]
fn a_fork_child_panics_while_another_parent_thread_holds_stderr() {
    let out = run_helper(HELPER, &["panic"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("exitcode Some(1)"), "{stdout}\n{stderr}");
    assert!(stderr.contains("Process Process-1:"), "{stderr}");
    assert!(stderr.contains("panicked at"), "{stderr}");
    assert!(stderr.contains("boom in a fork child"), "{stderr}");
}

#[test]
fn a_fork_child_returning_err_while_another_parent_thread_holds_stderr() {
    let out = run_helper(HELPER, &["err"]);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("exitcode Some(1)"), "{stdout}\n{stderr}");
    assert!(stderr.contains("Process Process-1:\nno"), "{stderr}");
}
