//! Mirrors the Python docs' expanded example that shows the process ids involved ("The Process
//! class": `def info(title)` printing the module name, parent pid and pid).
//!
//! `cargo run -p mp-examples --example process_info`
//!
//! Python prints `__name__` (`__main__`, or `__mp_main__` in a spawned child); a Rust program
//! has no module object, so this prints the module path of the code, the same in both.
//! As in Python, the OS parent of a child started by the (default) forkserver method is the
//! fork server; `mp::parent_process()` names the process that started it.

use std::os::unix::process::parent_id;

fn info(title: &str) {
    println!("{title}");
    println!("module name: {}", module_path!());
    println!("parent process: {}", parent_id());
    println!("process id: {}", std::process::id());
}

#[mp::task]
fn f(name: String) {
    info("function f");
    // The process that started this child is the main process.
    let parent = mp::parent_process().expect("a child has a parent");
    assert_eq!(parent.name(), "MainProcess");
    println!("started by: {} ({})", parent.name(), parent.pid());
    println!("hello {name}");
}

#[mp::main]
fn main() -> mp::Result<()> {
    info("main line");
    let p = mp::Process::new(f, ("bob".to_string(),));
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0), "the child's checks failed");
    Ok(())
}
