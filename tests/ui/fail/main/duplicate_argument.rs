#[mp::main(start_method = "spawn", start_method = "fork")]
fn main() {}
