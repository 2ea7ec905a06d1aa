#[mp::task]
fn total(xs: Vec<&u32>) -> u32 {
    xs.into_iter().sum()
}

fn main() {}
