// A torn write of a `char` could produce an invalid one: not plain data.
#[mp::shared]
struct Letter {
    c: char,
}

fn main() {}
