#[mp::proxy]
struct Foo {
    x: i32,
}

fn main() {}
