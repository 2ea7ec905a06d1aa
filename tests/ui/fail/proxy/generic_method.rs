struct Foo;

#[mp::proxy]
impl Foo {
    fn f<T: Default>(&self) -> i32 {
        0
    }
}

fn main() {}
