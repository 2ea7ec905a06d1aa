struct Foo<T>(T);

#[mp::proxy]
impl<T: Send + Sync + 'static> Foo<T> {
    fn f(&self) {}
}

fn main() {}
