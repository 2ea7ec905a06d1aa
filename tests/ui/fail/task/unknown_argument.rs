#[mp::task(name = "other")]
fn f() {}

fn main() {}
