//! Mirrors the Python documentation's "Proxy Objects": a plain dict stored in a managed list
//! is a copy; changes to it reach the manager only when it is assigned back.
//!
//! Run: `cargo run -p mp-examples --example manager_proxy_mutable_item`

use mp::managers::{Dict, ListProxy, Value};

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;
    // create a list proxy and append a mutable object (a dictionary)
    let lproxy: ListProxy = manager.list()?;
    lproxy.append(Dict::new())?;
    // now mutate the dictionary
    let Value::Dict(mut d) = lproxy.get(0)? else {
        unreachable!("a dict was stored")
    };
    d.insert("a".into(), 1.into())?;
    d.insert("b".into(), 2.into())?;
    // at this point, the changes to d are not yet synced...
    println!("before: {lproxy}");
    assert_eq!(lproxy.to_string(), "[{}]");
    // ...but by updating the dictionary, the proxy is notified of the change
    lproxy.set(0, d)?;
    println!("after: {lproxy}");
    assert_eq!(lproxy.to_string(), "[{'a': 1, 'b': 2}]");
    Ok(())
}
