#[mp::shared(packed = "yes")]
struct P {
    x: u8,
}

fn main() {}
