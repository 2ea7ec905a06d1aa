//! One program using a spawn context and a forkserver context side by side (the Python
//! documentation's "Contexts and start methods": context objects "allow one to use multiple
//! start methods in the same program"), plus `get_all_start_methods()` and
//! `get_start_method(allow_none)` of its "Miscellaneous" section.
//!
//! `cargo run -p mp-examples --example context_mixed`

use mp::Connection;

#[mp::task]
fn foo(q: Connection) {
    let method = mp::current_process()
        .start_method()
        .expect("a child has a method");
    q.send(&format!("hello from a {method} child"))
        .expect("send");
}

#[mp::main]
fn main() -> mp::Result<()> {
    let all: Vec<&str> = mp::get_all_start_methods()
        .iter()
        .map(|m| m.as_str())
        .collect();
    println!("start methods: {all:?} (the default first)");
    println!(
        "get_start_method(allow_none=True): {:?}",
        mp::get_start_method_allow_none()
    );

    let ctx = mp::get_context("spawn")?;
    let (q, tx) = ctx.pipe(false)?;
    let p = ctx.process(foo, (tx,));
    p.start()?;

    let ctx2 = mp::get_context("forkserver")?;
    let (q2, tx2) = ctx2.pipe(false)?;
    let p2 = ctx2.process(foo, (tx2,));
    p2.start()?;

    let (a, b): (String, String) = (q.recv()?, q2.recv()?);
    println!("{a}");
    println!("{b}");
    p.join()?;
    p2.join()?;
    assert_eq!(a, "hello from a spawn child");
    assert_eq!(b, "hello from a forkserver child");
    // Contexts do not fix the default method.
    assert_eq!(mp::get_start_method_allow_none(), None);
    println!("get_start_method(): {}", mp::get_start_method());
    Ok(())
}
