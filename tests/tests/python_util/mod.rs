//! Running the real `python3` from the interoperability tests (`listener_python.rs`,
//! `managers_python.rs`): each test is skipped, with a message, when it is not installed.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a Python child may take.
pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Whether `python3` with `multiprocessing` is there (says so when it is not).
pub(crate) fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import multiprocessing.managers, multiprocessing.connection")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("python3 not available: skipping");
    }
    ok
}

/// Starts `python3 -c script args...` with its output piped.
pub(crate) fn python(script: &str, args: &[&str]) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3")
}

/// Waits for the child with a deadline; returns (success, stdout, stderr).
pub(crate) fn finish(mut child: Child) -> (bool, String, String) {
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python3 did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), out, err)
}
