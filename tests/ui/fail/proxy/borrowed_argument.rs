struct Foo;

#[mp::proxy]
impl Foo {
    fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
}

fn main() {}
