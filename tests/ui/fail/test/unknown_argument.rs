#[mp::test(timeout = "5")]
fn t() {}

fn main() {}
