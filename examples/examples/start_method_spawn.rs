//! Mirrors the Python docs' `set_start_method('spawn')` program ("Contexts and start methods").
//!
//! `cargo run -p mp-examples --example start_method_spawn`
//!
//! The Python program passes a `Queue`; this one passes the sending end of a `Pipe`, which
//! carries the message the same way (mp's `Queue` works the same once available).

use mp::Connection;

#[mp::task]
fn foo(q: Connection) {
    q.send(&"hello").expect("send");
}

#[mp::main]
fn main() -> mp::Result<()> {
    mp::set_start_method("spawn", false)?;
    let (rx, tx) = mp::Pipe(false)?;
    let p = mp::Process::new(foo, (tx,));
    p.start()?;
    let msg: String = rx.recv()?;
    println!("{msg}");
    p.join()?;
    assert_eq!(msg, "hello");
    assert_eq!(mp::get_start_method(), mp::StartMethod::Spawn);
    // Calling it a second time without `force` is an error, as in Python.
    assert!(mp::set_start_method("fork", false).is_err());
    Ok(())
}
