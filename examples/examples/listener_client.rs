//! The Listener/Client pair of the Python docs (the examples of "Listeners and Clients"): the
//! server accepts one connection authenticated
//! with `b'secret password'`, sends `[2.25, None, 'junk', float]`, `b'hello'` and
//! `array('i', [42, 1729])`; the client prints them, receiving the array with
//! `recv_bytes_into`.
//!
//! The server runs in this process and the client in a child process. Instead of the fixed
//! `('localhost', 6000)` the server binds port 0 (the system picks a free port) and hands the
//! address to the client; Rust has no `float` class object to send, so the list is
//! `[2.25, None, 'junk']`.
//!
//! `cargo run -p mp-examples --example listener_client`

use mp::connection::{Address, Client, Listener};

/// Python's client program.
#[mp::task]
fn client(address: Address) -> mp::Result<()> {
    let conn = Client::builder(&address)
        .authkey(b"secret password")
        .connect()?;
    let (x, none, junk): (f64, Option<i32>, String) = conn.recv()?;
    println!(
        "[{x}, {}, '{junk}']",
        if none.is_none() { "None" } else { "?" }
    ); // => [2.25, None, 'junk']
    assert_eq!((x, none, junk.as_str()), (2.25, None, "junk"));

    let hello = conn.recv_bytes()?;
    println!("b'{}'", String::from_utf8_lossy(&hello)); // => b'hello'
    assert_eq!(hello, b"hello");

    let mut arr = [0i32; 5]; // array('i', [0, 0, 0, 0, 0])
    let n = conn.recv_bytes_into(&mut arr, 0)?;
    println!("{n}"); // => 8
    println!("array('i', {arr:?})"); // => array('i', [42, 1729, 0, 0, 0])
    assert_eq!((n, arr), (8, [42, 1729, 0, 0, 0]));
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    // family is deduced to be AF_INET
    let listener = Listener::builder()
        .address(("localhost", 0))
        .authkey(b"secret password")
        .bind()?;
    let p = mp::Process::new(client, (listener.address().clone(),));
    p.start()?;
    {
        let conn = listener.accept()?;
        match listener.last_accepted() {
            Some(addr) => println!("connection accepted from {addr}"),
            None => println!("connection accepted"),
        }
        conn.send(&(2.25, None::<i32>, "junk"))?;
        conn.send_bytes(b"hello")?;
        conn.send_bytes(&[42i32, 1729])?;
    } // the connection closes here (Python's `with listener.accept() as conn:`)
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
