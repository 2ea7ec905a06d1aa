#[mp::main(start = "spawn")]
fn main() {}
