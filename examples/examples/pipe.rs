//! The `Pipe()` example of the Python docs ("Exchanging objects between processes", Pipes:
//! `def f(conn): conn.send([42, None, 'hello'])`).
//!
//! `cargo run -p mp-examples --example pipe`

use mp::{Connection, Pipe, Process};

/// Python's `f(conn)` (a task named `f` currently clashes with the `#[mp::task]` expansion's
/// `Debug` impl, hence the longer name).
#[mp::task]
fn f_conn(conn: Connection) -> mp::Result<()> {
    conn.send(&(42, None::<i32>, "hello"))?;
    Ok(()) // the connection closes when dropped (Python's conn.close())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let (parent_conn, child_conn) = Pipe(true)?;
    let p = Process::new(f_conn, (child_conn,));
    p.start()?;
    let (n, none, s): (i32, Option<i32>, String) = parent_conn.recv()?;
    println!(
        "[{n}, {}, '{s}']",
        if none.is_none() { "None" } else { "?" }
    ); // prints "[42, None, 'hello']"
    p.join()?;
    assert_eq!((n, none, s.as_str()), (42, None, "hello"));
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
