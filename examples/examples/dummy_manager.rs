//! Mirrors the "Server process" program of the Python documentation's "Sharing state between
//! processes": the Manager program where a child fills a managed dict and reverses a managed list —
//! run with `multiprocessing.dummy`, whose `Manager()` works on threads (the same program as
//! `manager_dict_list`, with `mp::dummy` in the `use` lines).
//!
//! Run: `cargo run -p mp-examples --example dummy_manager`
//!
//! Python (`from multiprocessing.dummy import Process, Manager`) prints
//! `{1: '1', '2': 2, 0.25: None}` and `[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]`.

use mp::dummy::managers::{DictProxy, ListProxy, Value};
use mp::dummy::{Manager, Process};

#[mp::task]
fn f(d: DictProxy, l: ListProxy) -> mp::Result<()> {
    d.set(1, "1")?;
    d.set("2", 2)?;
    d.set(0.25, Value::None)?;
    l.reverse()
}

fn main() -> mp::Result<()> {
    let manager = Manager()?;
    let d: DictProxy = manager.dict()?;
    let l: ListProxy = manager.list_from(0..10)?;

    let p = Process::new(f, (d.clone(), l.clone()));
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
    // The "child" was a thread of this process, and the objects live here too.
    let same_process = p.pid() == Some(std::process::id() as i32);
    println!("the worker ran in this process: {same_process}");
    assert!(same_process);
    manager.shutdown()?;
    Ok(())
}
