#[mp::test]
async fn t() {}

fn main() {}
