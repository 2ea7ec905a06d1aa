//! Mirrors the Python documentation's "Proxy Objects": the session showing
//! `print(l)`, `repr(l)`, `l[4]` and `l[2:5]` on a managed list.
//!
//! Run: `cargo run -p mp-examples --example manager_list_proxy`

use mp::managers::ListProxy;

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;
    let l: ListProxy<i64> = manager.list_from((0..10).map(|i| i * i))?;
    println!("{l}"); // str(l): the referent's repr, computed by the manager
    println!("{l:?}"); // repr(l): the proxy's own
    println!("{}", l.get(4)?);
    println!("{:?}", l.slice(2..5)?);
    assert_eq!(l.to_string(), "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    assert!(format!("{l:?}").starts_with("<ListProxy object, typeid 'list' at 0x"));
    assert_eq!(l.get(4)?, 16);
    assert_eq!(l.slice(2..5)?, [4, 9, 16]);
    Ok(())
}
