#[mp::shared]
struct Cell<T> {
    value: T,
}

fn main() {}
