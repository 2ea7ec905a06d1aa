//! Rust and Python talking through `multiprocessing.connection` (the Python documentation's
//! "Listeners and Clients" and "Authentication keys"). Can a pipe talk to a program in another
//! language? It can: mp's wire format is CPython's.
//!
//! This Rust program is the server: it starts `python3` as a child running a CPython
//! `Client`, and the two authenticate with a shared key, exchange raw bytes
//! (`send_bytes`/`recv_bytes`) and Python objects (pickles, through mp's `pickle` feature).
//!
//! `cargo run -p mp-examples --example listener_python`

use std::process::Command;

use mp::connection::{Address, Listener, PyValue};

const PYTHON_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
with Client(('127.0.0.1', int(sys.argv[1])), authkey=b'shared secret') as conn:
    conn.send_bytes(b'hello from Python')
    print('python got bytes:', conn.recv_bytes(), flush=True)
    conn.send([2.25, None, 'junk', {'answer': 42}, (1, 2)])
    print('python got object:', conn.recv(), flush=True)
"#;

#[mp::main]
fn main() -> mp::Result<()> {
    let listener = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"shared secret")
        .bind()?;
    let Address::Tcp(addr) = listener.address() else {
        unreachable!()
    };
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(addr.port().to_string())
        .spawn()
        .map_err(|e| mp::Error::new(mp::ErrorKind::Os, format!("cannot start python3: {e}")))?;

    let conn = listener.accept()?; // CPython's handshake, both ways
    let bytes = conn.recv_bytes()?;
    println!("rust got bytes: {}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, b"hello from Python");
    conn.send_bytes(b"hello from Rust")?;

    let value = conn.recv_pickle_value()?;
    println!("rust got object: {value}");
    let PyValue::List(items) = &value else {
        panic!("expected a list, got {value}")
    };
    assert_eq!(items[0], PyValue::F64(2.25));
    assert_eq!(items[1], PyValue::None);
    conn.send_pickle(&(("rust", 2024), vec![1.5, 2.5], None::<i32>))?;

    let status = python.wait()?;
    assert!(status.success(), "python3 failed: {status}");
    println!("python exited with {status}");
    Ok(())
}
