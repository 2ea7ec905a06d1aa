struct Foo;

#[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))]
impl Foo {
    fn f(&self) {}
    fn g(&self) {}
    fn _h(&self) {}
}

fn call(p: &Foo2Proxy, q: &Foo1Proxy) {
    let _ = p.g();
    let _ = p.f(); // not in Foo2Proxy's exposed set
    let _ = q._h(); // private: not exposed by default
}

fn main() {
    let _ = call;
}
