#[mp::shared]
struct Pair {
    both: (u32, u32),
}

fn main() {}
