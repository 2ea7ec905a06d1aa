struct NotSerde;

#[mp::task]
fn produce() -> NotSerde {
    NotSerde
}

fn main() {}
