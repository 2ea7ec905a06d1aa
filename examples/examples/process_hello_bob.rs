//! Mirrors the first `Process` program of the Python docs ("The Process class"):
//! `Process(target=f, args=('bob',))`, start, join.
//!
//! `cargo run -p mp-examples --example process_hello_bob`

#[mp::task]
fn f(name: String) {
    println!("hello {name}");
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Process::new(f, ("bob".to_string(),));
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
