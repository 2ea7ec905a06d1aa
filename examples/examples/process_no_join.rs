//! A tutorial's first `Process` program: start a child and print without joining it.
//! The child's line may come before or after the parent's; the program still waits for the
//! child at exit (non-daemonic children are joined by the exit handler, as in Python).
//!
//! `cargo run -p mp-examples --example process_no_join`

#[mp::task]
fn f(name: String) {
    println!("我单推 {name}");
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Process::new(f, ("ayame".to_string(),));
    p.start()?;
    println!("摸了");
    assert!(p.pid().is_some());
    Ok(())
}
