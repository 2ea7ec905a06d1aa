struct NotSerde;

struct Foo;

#[mp::proxy]
impl Foo {
    fn get(&self) -> NotSerde {
        NotSerde
    }
}

fn main() {}
