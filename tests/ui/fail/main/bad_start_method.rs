#[mp::main(start_method = "Fork")]
fn main() {}
