struct Foo;

#[mp::proxy]
impl Clone for Foo {
    fn clone(&self) -> Foo {
        Foo
    }
}

fn main() {}
