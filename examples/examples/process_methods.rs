//! Mirrors the Python docs' interactive session showing `Process` methods (seed 002, "Process
//! 和异常": `Process(target=time.sleep, args=(1000,))`, `is_alive()`, `terminate()`,
//! `exitcode == -signal.SIGTERM`).
//!
//! `cargo run -p mp-examples --example process_methods`

use std::time::Duration;

#[mp::task]
fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Process::new(sleep, (1000,));
    println!("{p:?} {}", p.is_alive());
    assert!(!p.is_alive());
    p.start()?;
    println!("{p:?} {}", p.is_alive());
    assert!(p.is_alive());
    p.terminate()?;
    p.join()?; // Python sleeps 0.1 s here; joining is exact
    println!("{p:?} {}", p.is_alive());
    assert!(!p.is_alive());
    let sigterm = 15;
    println!("{}", p.exitcode() == Some(-sigterm));
    assert_eq!(p.exitcode(), Some(-sigterm));
    Ok(())
}
