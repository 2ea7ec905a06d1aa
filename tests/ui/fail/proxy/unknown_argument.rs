struct Foo;

#[mp::proxy(exposed = "f")]
impl Foo {
    fn f(&self) {}
}

fn main() {}
