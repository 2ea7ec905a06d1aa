//! Mirrors the Python docs' interactive session showing `Process` methods ("Process and
//! exceptions": `Process(target=time.sleep, args=(1000,))`, `is_alive()`, `terminate()`,
//! `exitcode == -signal.SIGTERM`).
//!
//! `cargo run -p mp-examples --example process_methods`
//!
//! mp's `{:?}` of a `Process` is the repr of older Pythons (`<Process(Process-1, initial)>`, the
//! format of Python 3.7); CPython 3.11 prints `<Process name='Process-1' parent=<pid> initial>`,
//! `<Process name='Process-1' pid=<pid> parent=<pid> started>` and `<Process name='Process-1'
//! pid=<pid> parent=<pid> stopped exitcode=-SIGTERM>` instead. Booleans print as Python's.

use std::time::Duration;

#[mp::task]
fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

/// Python's `print(True)`.
fn py(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Process::new(sleep, (1000,));
    println!("{p:?} {}", py(p.is_alive()));
    assert!(!p.is_alive());
    p.start()?;
    println!("{p:?} {}", py(p.is_alive()));
    assert!(p.is_alive());
    p.terminate()?;
    p.join()?; // Python sleeps 0.1 s here; joining is exact
    println!("{p:?} {}", py(p.is_alive()));
    assert!(!p.is_alive());
    let sigterm = 15;
    println!("{}", py(p.exitcode() == Some(-sigterm)));
    assert_eq!(p.exitcode(), Some(-sigterm));
    Ok(())
}
