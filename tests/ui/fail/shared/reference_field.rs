#[mp::shared]
struct Label {
    text: &'static str,
}

fn main() {}
