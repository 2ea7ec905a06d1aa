//! Mirrors the note of the Python documentation's "Proxy Objects": "The proxy types in
//! multiprocessing do nothing to support comparisons by value"
//! (`manager.list([1,2,3]) == [1,2,3]` is `False`).
//!
//! Run: `cargo run -p mp-examples --example manager_proxy_equality`
//!
//! In Rust the comparison does not even compile (`ListProxy` has no `PartialEq`): compare a
//! copy of the referent instead.

use mp::managers::ListProxy;

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;
    let l: ListProxy<i32> = manager.list_from([1, 2, 3])?;
    // `l == vec![1, 2, 3]` is a compile error; compare by value explicitly:
    let same = l.copy()? == vec![1, 2, 3];
    println!("l.copy() == [1, 2, 3]: {same}");
    assert!(same);
    Ok(())
}
