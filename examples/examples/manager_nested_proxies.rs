//! Mirrors the Python documentation's "Proxy Objects": the two sessions nesting proxies
//! (`a.append(b)` with list proxies, then a list of dict proxies).
//!
//! Run: `cargo run -p mp-examples --example manager_nested_proxies`

use mp::managers::{DictProxy, ListProxy, Value};

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;

    let a: ListProxy = manager.list()?;
    let b: ListProxy = manager.list()?;
    a.append(&b)?; // referent of a now contains referent of b
    println!("{a} {b}");
    assert!(
        a.to_string()
            .starts_with("[<ListProxy object, typeid 'list' at 0x")
    );
    b.append("hello")?;
    let a0: ListProxy = a.get_as(0)?;
    println!("{a0} {b}");
    assert_eq!(a0.to_string(), "['hello']");

    let l_outer: ListProxy = manager.list_from([
        Value::from(&manager.dict::<Value, Value>()?),
        Value::from(&manager.dict::<Value, Value>()?),
    ])?;
    let d_first_inner: DictProxy = l_outer.get_as(0)?;
    d_first_inner.set("a", 1)?;
    d_first_inner.set("b", 2)?;
    l_outer.get_as::<DictProxy>(1)?.set("c", 3)?;
    l_outer.get_as::<DictProxy>(1)?.set("z", 26)?;
    println!("{}", l_outer.get_as::<DictProxy>(0)?);
    println!("{}", l_outer.get_as::<DictProxy>(1)?);
    assert_eq!(
        l_outer.get_as::<DictProxy>(0)?.to_string(),
        "{'a': 1, 'b': 2}"
    );
    assert_eq!(
        l_outer.get_as::<DictProxy>(1)?.to_string(),
        "{'c': 3, 'z': 26}"
    );
    Ok(())
}
