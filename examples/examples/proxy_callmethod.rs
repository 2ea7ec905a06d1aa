//! Mirrors `BaseProxy._callmethod` of the Python documentation's "Proxy Objects": calling a
//! referent's method by name, with a `slice` argument, and an `IndexError` coming back from the
//! manager.
//!
//! Run: `cargo run -p mp-examples --example proxy_callmethod`

use mp::managers::{ListProxy, Value};

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;
    let l: ListProxy = manager.list_from(0..10)?;
    let n = l.base().call_method("__len__", ())?;
    println!("{n}");
    let part = l.base().call_method("__getitem__", (Value::slice(2, 7),))?; // l[2:7]
    println!("{part}");
    let err = l.base().call_method("__getitem__", (20,)).unwrap_err(); // l[20]
    println!("IndexError: {}", err.message());
    assert_eq!(n, Value::from(10));
    assert_eq!(part, Value::from(vec![2, 3, 4, 5, 6]));
    assert_eq!(err.kind(), mp::ErrorKind::Index);
    Ok(())
}
