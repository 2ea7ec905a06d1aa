//! Mirrors the Python docs' `freeze_support()` example ("Miscellaneous"):
//! `freeze_support()` right after the guard, then `Process(target=f).start()`.
//!
//! `cargo run -p mp-examples --example freeze_support`
//!
//! `freeze_support()` is a documented no-op in mp (a Rust binary needs no freezing support).

#[mp::task]
fn f() {
    println!("hello world!");
}

#[mp::main]
fn main() {
    mp::freeze_support();
    mp::Process::new(f, ()).start().expect("start");
    // Not joined here: the exit handler joins the child before the program exits.
}
