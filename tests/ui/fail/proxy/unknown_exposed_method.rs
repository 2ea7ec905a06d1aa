struct Foo;

#[mp::proxy(FooProxy(f, nope))]
impl Foo {
    fn f(&self) {}
    fn g(&self) {}
}

fn main() {}
