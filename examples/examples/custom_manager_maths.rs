//! Mirrors the Python documentation's "Customized managers" (`MathsClass` registered with a
//! `BaseManager` subclass).
//!
//! Run: `cargo run -p mp-examples --example custom_manager_maths`
//!
//! Python: `MyManager.register('Maths', MathsClass)`. In Rust the class's methods get
//! `#[mp::proxy]` (which generates `MathsClassProxy`), and the callable that makes the object
//! is a `#[mp::task]` fn, so that the manager's server process finds it by name under every
//! start method.

use mp::managers::{BaseManager, Shared};

#[derive(Default)]
struct MathsClass;

#[mp::proxy]
impl MathsClass {
    fn add(&self, x: i64, y: i64) -> i64 {
        x + y
    }
    fn mul(&self, x: i64, y: i64) -> i64 {
        x * y
    }
}

#[mp::task]
fn make_maths() -> Shared<MathsClass> {
    Shared::new(MathsClass)
}

/// `class MyManager(BaseManager): pass` + `MyManager.register('Maths', MathsClass)`.
fn my_manager() -> mp::managers::ManagerBuilder {
    BaseManager::builder()
        .name("MyManager")
        .register::<MathsClassProxy, _>("Maths", make_maths)
}

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = my_manager().start()?;
    let maths: MathsClassProxy = manager.create("Maths", ())?;
    let sum = maths.add(4, 3)?;
    println!("{sum}"); // prints 7
    let product = maths.mul(7, 8)?;
    println!("{product}"); // prints 56
    assert_eq!((sum, product), (7, 56));
    manager.shutdown()?;
    Ok(())
}
