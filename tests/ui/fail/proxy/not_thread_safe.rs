use std::rc::Rc;

struct Foo {
    shared: Rc<i32>,
}

#[mp::proxy]
impl Foo {
    fn get(&self) -> i32 {
        *self.shared
    }
}

fn main() {}
