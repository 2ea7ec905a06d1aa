struct Foo;

#[mp::proxy(FooProxy, FooProxy(f))]
impl Foo {
    fn f(&self) {}
}

fn main() {}
