struct Foo;

#[mp::proxy]
impl Foo {
    fn consume(self) {}
}

fn main() {}
