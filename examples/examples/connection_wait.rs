//! The `wait()` example of the Python docs ("Listeners and Clients": `def foo(w):
//! for i in range(10): w.send((i, current_process().name))` ... `for r in wait(readers)`).
//!
//! `cargo run -p mp-examples --example connection_wait`

use mp::connection::wait;
use mp::{Connection, ErrorKind, Pipe, Process, current_process};

#[mp::task]
fn foo(w: Connection) -> mp::Result<()> {
    for i in 0..10 {
        w.send(&(i, current_process().name()))?;
    }
    Ok(()) // w closes here
}

#[mp::main]
fn main() -> mp::Result<()> {
    let mut readers = Vec::new();
    let mut procs = Vec::new();
    for _ in 0..4 {
        let (r, w) = Pipe(false)?;
        readers.push(r);
        let p = Process::new(foo, (w,));
        // Starting moves `w` into the process and closes our copy, so that when p closes
        // its handle, wait() promptly reports the reader as ready.
        p.start()?;
        procs.push(p);
    }
    let mut received = 0;
    while !readers.is_empty() {
        // Indices of the ready readers; walk them backwards so that removing is safe.
        for i in wait(&readers, None)?.into_iter().rev() {
            match readers[i].recv::<(i32, String)>() {
                Ok((n, name)) => {
                    println!("({n}, '{name}')");
                    received += 1;
                }
                Err(e) if e.kind() == ErrorKind::Eof => {
                    readers.remove(i);
                }
                Err(e) => return Err(e),
            }
        }
    }
    for p in &procs {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(received, 40);
    println!("received {received} messages");
    Ok(())
}
