//! Mirrors the logging session of the Python docs ("Logging", `multiprocessing.log_to_stderr()`:
//! "Below is an example session with logging turned on"), with `get_logger()` and
//! `log_to_stderr()` of the same section:
//!
//! ```python
//! >>> import multiprocessing, logging
//! >>> logger = multiprocessing.log_to_stderr()
//! >>> logger.setLevel(logging.INFO)
//! >>> logger.warning('doomed')
//! [WARNING/MainProcess] doomed
//! >>> m = multiprocessing.Manager()
//! [INFO/SyncManager-...] child process calling self.run()
//! ...
//! ```
//!
//! `cargo run -p mp-examples --example log_to_stderr`
//!
//! The docs' session then starts a `Manager`, whose lifecycle lines come from the manager
//! process. This example starts a plain `Process` instead (example `log_to_stderr_manager`
//! has the manager), whose lines have the same shape; CPython 3.11 prints, for the program of
//! `session()` below:
//!
//! ```text
//! [WARNING/MainProcess] doomed
//! [INFO/Process-1] child process calling self.run()
//! [INFO/Process-1] process shutting down
//! [INFO/Process-1] process exiting with exitcode 0
//! [INFO/MainProcess] the end of main
//! [INFO/MainProcess] process shutting down
//! ```
//!
//! The records go to stderr. So that the example can check them (and so that CI, which
//! compares stdout, sees them), it runs the session in a second copy of itself, captures that
//! copy's stderr, and prints it.

use std::process::Command;

const SESSION: &str = "MP_EXAMPLE_LOG_SESSION";

#[mp::task]
fn f() {
    println!("hello from the child");
}

/// The Python session, as a program.
fn session() -> mp::Result<()> {
    let logger = mp::log_to_stderr(log::LevelFilter::Warn);
    logger.set_level(log::LevelFilter::Info); // logger.setLevel(logging.INFO)
    logger.warning("doomed");
    let p = mp::Process::new(f, ());
    p.start()?;
    p.join()?;
    logger.info("the end of main");
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    if std::env::var_os(SESSION).is_some() {
        return session();
    }
    let me =
        std::env::current_exe().map_err(|e| mp::Error::new(mp::ErrorKind::Os, e.to_string()))?;
    let out = Command::new(me)
        .env(SESSION, "1")
        .output()
        .map_err(|e| mp::Error::new(mp::ErrorKind::Os, e.to_string()))?;
    assert!(out.status.success(), "the session failed: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("stdout of the session:");
    print!("{stdout}");
    println!("stderr of the session:");
    print!("{stderr}");

    assert_eq!(stdout.trim_end(), "hello from the child");
    let want = [
        "[WARNING/MainProcess] doomed",
        "[INFO/Process-1] child process calling self.run()",
        "[INFO/Process-1] process shutting down",
        "[INFO/Process-1] process exiting with exitcode 0",
        "[INFO/MainProcess] the end of main",
        "[INFO/MainProcess] process shutting down",
    ];
    let mut lines = stderr.lines();
    for w in want {
        assert!(
            lines.any(|l| l == w),
            "missing or out of order on stderr: {w}"
        );
    }
    println!("every record came out as CPython prints it");
    Ok(())
}
