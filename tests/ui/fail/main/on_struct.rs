#[mp::main]
struct Main;

fn main() {}
