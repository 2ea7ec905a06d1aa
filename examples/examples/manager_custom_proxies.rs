//! Mirrors the first program of the Python documentation's "Examples": "Demonstration of how to
//! create and use customized managers and proxies" (`Foo` registered twice with different exposed
//! sets, the generator `baz` with its `GeneratorProxy`, and the `operator` module served by a
//! manager).
//!
//! Run: `cargo run -p mp-examples --example manager_custom_proxies`
//!
//! Differences from Python, by design: a method outside a proxy's exposed set does not
//! exist on that proxy type (`f2.f()` does not compile, where Python's `hasattr(f2, 'f')`
//! is false); the served "operator module" is a Rust type with a few of its functions, on
//! exact integers (`op.pow(2, 94)` needs more than 64 bits).

use mp::managers::{BaseManager, Generator, IteratorProxy, Shared, Value};

#[derive(Default)]
struct Foo;

// register the Foo class; Foo1 makes `f()` and `g()` accessible via proxy, Foo2 `g()` and
// `_h()`
#[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))]
impl Foo {
    fn f(&self) {
        println!("you called Foo.f()");
    }
    fn g(&self) {
        println!("you called Foo.g()");
    }
    fn _h(&self) {
        println!("you called Foo._h()");
    }
}

#[mp::task]
fn foo() -> Shared<Foo> {
    Shared::new(Foo)
}

// A simple generator function
#[mp::task]
fn baz() -> Shared<Generator> {
    Shared::new(Generator::new((0..10).map(|i: i64| i * i)))
}

/// A few of the `operator` module's functions, on Python integers (exact up to 127 bits).
#[derive(Default)]
struct Operator;

fn int(v: &Value) -> mp::Result<i128> {
    v.as_int()
        .ok_or_else(|| mp::Error::new(mp::ErrorKind::Type, format!("not an int: {v}")))
}

fn overflow() -> mp::Error {
    mp::Error::new(mp::ErrorKind::Value, "integer overflow")
}

#[mp::proxy(OperatorProxy)]
impl Operator {
    fn add(&self, a: Value, b: Value) -> mp::Result<i128> {
        int(&a)?.checked_add(int(&b)?).ok_or_else(overflow)
    }
    fn sub(&self, a: Value, b: Value) -> mp::Result<i128> {
        int(&a)?.checked_sub(int(&b)?).ok_or_else(overflow)
    }
    fn mul(&self, a: Value, b: Value) -> mp::Result<i128> {
        int(&a)?.checked_mul(int(&b)?).ok_or_else(overflow)
    }
    fn pow(&self, a: Value, b: u32) -> mp::Result<i128> {
        int(&a)?.checked_pow(b).ok_or_else(overflow)
    }
    fn neg(&self, a: Value) -> mp::Result<i128> {
        Ok(-int(&a)?)
    }
    fn eq(&self, a: Value, b: Value) -> bool {
        a == b
    }
    fn lt(&self, a: Value, b: Value) -> mp::Result<bool> {
        a.py_cmp(&b)
            .map(|o| o.is_lt())
            .ok_or_else(|| mp::Error::new(mp::ErrorKind::Type, "'<' not supported"))
    }
    fn truth(&self, a: Value) -> bool {
        a.truthy()
    }
}

// Function to return the operator module
#[mp::task]
fn get_operator_module() -> Shared<Operator> {
    Shared::new(Operator)
}

fn my_manager() -> mp::managers::ManagerBuilder {
    BaseManager::builder()
        .name("MyManager")
        .register::<Foo1Proxy, _>("Foo1", foo)
        .register::<Foo2Proxy, _>("Foo2", foo)
        // register the generator function baz; use `IteratorProxy` to make proxies
        .register::<IteratorProxy<i64>, _>("baz", baz)
        // register get_operator_module(); make its functions accessible via proxy
        .register::<OperatorProxy, _>("operator", get_operator_module)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn test() -> mp::Result<()> {
    let manager = my_manager().start()?;

    println!("{}", "-".repeat(20));

    let f1: Foo1Proxy = manager.create("Foo1", ())?;
    f1.f()?;
    f1.g()?;
    // `f1._h()` does not compile: `_h` is not exposed on Foo1Proxy.
    assert_eq!(sorted(f1.base().exposed()?), ["f", "g"]);

    println!("{}", "-".repeat(20));

    let f2: Foo2Proxy = manager.create("Foo2", ())?;
    f2.g()?;
    f2._h()?;
    // `f2.f()` does not compile; by name it is refused by the manager:
    assert_eq!(
        f2.base().call_method("f", ()).unwrap_err().kind(),
        mp::ErrorKind::Remote
    );
    assert_eq!(sorted(f2.base().exposed()?), ["_h", "g"]);

    println!("{}", "-".repeat(20));

    let it: IteratorProxy<i64> = manager.create("baz", ())?;
    let mut seen = Vec::new();
    for i in it {
        let i = i?;
        print!("<{i}> ");
        seen.push(i);
    }
    println!();
    assert_eq!(seen, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);

    println!("{}", "-".repeat(20));

    let op: OperatorProxy = manager.create("operator", ())?;
    let sum = op.add(23.into(), 45.into())?;
    println!("op.add(23, 45) = {sum}");
    let pow = op.pow(2.into(), 94)?;
    println!("op.pow(2, 94) = {pow}");
    println!("op._exposed_ = {:?}", op.base().exposed()?);
    assert_eq!(sum, 68);
    assert_eq!(pow, 19807040628566084398385987584);
    // The server process flushes what it printed before it exits.
    manager.shutdown()?;
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    mp::freeze_support();
    test()
}
