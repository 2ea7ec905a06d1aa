//! Helpers shared by the `queues_*` integration tests.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use mp::process::{ProcessOutput, Target};
use mp::{Process, StartMethod};

/// The bound on every wait that should succeed: generous, since the machine is shared.
pub const LONG: Duration = Duration::from_secs(60);

/// Starts `f(args)` with `method`.
pub fn start<F, A>(method: StartMethod, f: F, args: A) -> Process
where
    F: Target<A>,
    F::Output: ProcessOutput,
    A: serde::Serialize + Send + 'static,
{
    let p = Process::builder(f, args).start_method(method).build();
    p.start()
        .unwrap_or_else(|e| panic!("cannot start a {method} child: {e}"));
    p
}

/// As [`start`], daemonic (killed if the test fails before joining it).
pub fn start_daemon<F, A>(method: StartMethod, f: F, args: A) -> Process
where
    F: Target<A>,
    F::Output: ProcessOutput,
    A: serde::Serialize + Send + 'static,
{
    let p = Process::builder(f, args)
        .start_method(method)
        .daemon(true)
        .build();
    p.start()
        .unwrap_or_else(|e| panic!("cannot start a {method} child: {e}"));
    p
}

/// Joins `p` (bounded) and checks that it exited with code 0.
pub fn join_ok(p: &Process, method: StartMethod) {
    p.join_timeout(LONG).unwrap();
    assert_eq!(
        p.exitcode(),
        Some(0),
        "{method} child {} did not succeed",
        p.name()
    );
}
