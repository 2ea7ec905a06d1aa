//! Helper program for mp's integration tests: two tasks that end up with the same registry
//! name (tasks defined inside two fn bodies of one module). The `#[mp::main]` guard must
//! refuse to run, naming both definitions.

fn first() {
    #[mp::task]
    fn dup() {}
    dup();
}

fn second() {
    #[mp::task]
    fn dup() -> u8 {
        1
    }
    let _ = dup();
}

#[mp::main]
fn main() {
    first();
    second();
    println!("main body ran");
}
