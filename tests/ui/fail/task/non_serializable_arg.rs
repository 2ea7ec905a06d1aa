struct NotSerde;

#[mp::task]
fn consume(x: NotSerde) {
    let _ = x;
}

fn main() {}
