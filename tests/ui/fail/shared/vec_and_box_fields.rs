// Every bad field is reported, each on its own type.
#[mp::shared]
struct Samples {
    values: Vec<f64>,
    boxed: Box<u64>,
    count: u32,
}

fn main() {}
