#[mp::shared]
struct Node {
    value: i32,
    next: *const Node,
}

fn main() {}
