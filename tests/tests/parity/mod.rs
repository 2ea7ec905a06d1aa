//! The parity harness: one suite, written once inside a `macro_rules!`, compiled against `mp`
//! (processes) and against `mp::dummy` (threads) by changing only its `use` lines (CONFORMANCE
//! section 17: "the `WithThreads` variants run the same suites"). A suite imports its items
//! from `$api` (`mp` or `mp::dummy`) and its helpers from `parity::$backend` (`processes` or
//! `threads`), which have the same names and signatures:
//!
//! - `methods()`: the start methods to run under (every one for processes; one for threads,
//!   which have none);
//! - `start(method, f, args)`, `start_daemon(method, f, args)`: a started process of the
//!   backend running the `#[mp::task]` `f`;
//! - `join_ok(&p, method)`: a bounded join that requires exit code 0.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

/// The bound on every wait that should succeed: generous, since the machine is shared.
pub const LONG: Duration = Duration::from_secs(60);

/// Helpers for `mp` (OS processes).
pub mod processes {
    use mp::process::{ProcessOutput, Target};
    use mp::{Process, StartMethod};

    pub use super::LONG;

    pub fn methods() -> Vec<StartMethod> {
        mp::get_all_start_methods()
    }

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

    pub fn join_ok(p: &Process, method: StartMethod) {
        p.join_timeout(LONG).unwrap();
        if p.exitcode().is_none() {
            let _ = p.kill();
            let _ = p.join_timeout(LONG);
            panic!("{method} child {} did not finish in time", p.name());
        }
        assert_eq!(
            p.exitcode(),
            Some(0),
            "{method} child {} did not succeed",
            p.name()
        );
    }
}

/// Helpers for `mp::dummy` (thread processes): one run, whatever the start method says.
pub mod threads {
    use mp::StartMethod;
    use mp::dummy::Process;
    use mp::process::{ProcessOutput, Target};

    pub use super::LONG;

    pub fn methods() -> Vec<StartMethod> {
        vec![mp::get_start_method()]
    }

    pub fn start<F, A>(_: StartMethod, f: F, args: A) -> Process
    where
        F: Target<A>,
        F::Output: ProcessOutput,
        A: Send + 'static,
    {
        let p = Process::new(f, args);
        p.start().expect("cannot start a thread process");
        p
    }

    pub fn start_daemon<F, A>(_: StartMethod, f: F, args: A) -> Process
    where
        F: Target<A>,
        F::Output: ProcessOutput,
        A: Send + 'static,
    {
        Process::builder(f, args)
            .daemon(true)
            .start()
            .expect("cannot start a thread process")
    }

    pub fn join_ok(p: &Process, _: StartMethod) {
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0), "thread {} did not succeed", p.name());
    }
}
