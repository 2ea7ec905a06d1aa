//! Mirrors the "Server process" program of the Python documentation's "Sharing state between
//! processes": the Manager program where a child fills a managed dict and reverses a managed
//! list.
//!
//! Run: `cargo run -p mp-examples --example manager_dict_list`
//!
//! Python prints `{1: '1', '2': 2, 0.25: None}` (CPython 3.11 keeps insertion order; the
//! docs show an older order) and `[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]`.

use mp::managers::{DictProxy, ListProxy, Value};

#[mp::task]
fn f(d: DictProxy, l: ListProxy) -> mp::Result<()> {
    d.set(1, "1")?;
    d.set("2", 2)?;
    d.set(0.25, Value::None)?;
    l.reverse()
}

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;
    let d: DictProxy = manager.dict()?;
    let l: ListProxy = manager.list_from(0..10)?;

    let p = mp::Process::new(f, (d.clone(), l.clone()));
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));

    println!("{d}");
    println!("{l}");
    assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
    assert_eq!(
        l.copy()?,
        (0..10).rev().map(Value::from).collect::<Vec<_>>()
    );
    Ok(())
}
