use mp::managers::{Shared, Value};

#[derive(Default)]
pub struct Foo {
    n: std::sync::Mutex<i64>,
}

#[mp::proxy(pub Foo1Proxy, pub(crate) Foo2Proxy(g, _h))]
impl Foo {
    /// Documented.
    pub fn f(&self) -> i64 {
        *self.n.lock().unwrap()
    }
    fn g(&mut self, by: i64, label: String) -> Result<String, std::io::Error> {
        *self.n.get_mut().unwrap() += by;
        Ok(label)
    }
    fn _h(&self) {}
    fn child(&self) -> Shared<Foo> {
        Shared::new(Foo::default())
    }
    fn values(&self, v: Vec<Value>) -> mp::Result<Vec<Value>> {
        Ok(v)
    }
    pub fn new() -> Self {
        Foo::default()
    }
}

fn takes_proxies(a: &Foo1Proxy, b: &Foo2Proxy) {
    let _: mp::Result<i64> = a.f();
    let _: mp::Result<String> = a.g(1, "x".into());
    let _: mp::Result<Foo1Proxy> = a.child();
    let _: mp::Result<Vec<Value>> = a.values(vec![]);
    let _: mp::Result<String> = b.g(1, "x".into());
    let _: mp::Result<()> = b._h();
}

fn main() {
    let _ = takes_proxies;
    let _ = Foo::new();
}
