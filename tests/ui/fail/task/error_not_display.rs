#[derive(Debug)]
struct Oops;

#[mp::task]
fn fallible() -> Result<u32, Oops> {
    Err(Oops)
}

fn main() {}
