struct Foo;

#[mp::proxy]
impl Foo {
    async fn f(&self) {}
}

fn main() {}
