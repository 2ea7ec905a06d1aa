#[mp::task]
struct Job {
    n: u32,
}

fn main() {}
