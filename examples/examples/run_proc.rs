//! A classic tutorial's first `multiprocessing` program: `run_proc(name)` in a child,
//! the parent printing around `start()` and `join()`.
//!
//! `cargo run -p mp-examples --example run_proc`

#[mp::task]
fn run_proc(name: String) {
    println!("Run child process {name} ({})...", std::process::id());
}

#[mp::main]
fn main() -> mp::Result<()> {
    println!("Parent process {}.", std::process::id());
    let p = mp::Process::new(run_proc, ("test".to_string(),));
    println!("Child process will start.");
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    println!("Child process end.");
    Ok(())
}
