//! Mirrors the Python docs' `get_context('spawn')` program ("Contexts and start methods"): a
//! context object has the module's API and fixes the start method of what it makes.
//!
//! `cargo run -p mp-examples --example context_spawn`
//!
//! The Python program uses `ctx.Queue()`; this one uses `ctx.pipe()`.

use mp::Connection;

#[mp::task]
fn foo(q: Connection) {
    q.send(&"hello").expect("send");
    assert_eq!(
        mp::current_process().start_method(),
        Some(mp::StartMethod::Spawn)
    );
}

#[mp::main]
fn main() -> mp::Result<()> {
    let ctx = mp::get_context("spawn")?;
    let (rx, tx) = ctx.pipe(false)?;
    let p = ctx.process(foo, (tx,));
    p.start()?;
    let msg: String = rx.recv()?;
    println!("{msg}");
    p.join()?;
    assert_eq!(msg, "hello");
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
