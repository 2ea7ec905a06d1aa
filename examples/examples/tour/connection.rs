//! A tour of `mp::connection`: pipes, typed and raw messages, buffers, connections passed to
//! children under every start method, `wait`, and authenticated listeners and clients.
//!
//! `cargo run -p mp-examples --example tour -- connection`

use std::time::Duration;

use mp::connection::{Client, Connection, Listener, wait};
use mp::{ErrorKind, Pipe, Process};

#[mp::task]
fn shout(conn: Connection) -> mp::Result<()> {
    let s: String = conn.recv()?;
    conn.send(&s.to_uppercase())
}

#[mp::task]
fn dial(address: mp::connection::Address) -> mp::Result<()> {
    let c = Client::builder(&address).authkey(b"tour").connect()?;
    c.send(&format!("hello from {}", mp::current_process().name()))
}

pub(crate) fn run() -> mp::Result<()> {
    // 1. A duplex pipe: typed messages (serde) and raw bytes, never merged or split.
    let (a, b) = Pipe(true)?;
    a.send(&(1, "two", [3.0, 4.5]))?;
    let v: (i32, String, [f64; 2]) = b.recv()?;
    println!("pipe: typed message {v:?}");
    b.send_bytes(b"")?;
    b.send_bytes(b"raw")?;
    println!(
        "pipe: empty message {:?}, then {:?}",
        a.recv_bytes()?,
        String::from_utf8(a.recv_bytes()?).unwrap_or_default()
    );

    // 2. Buffers: the memory of numbers, received at a byte offset.
    a.send_bytes(&[42i32, 1729])?;
    let mut arr = [0i32; 4];
    let n = b.recv_bytes_into(&mut arr, 4)?;
    println!("buffers: {n} bytes into {arr:?}");
    a.send_bytes(b"far too long")?;
    let err = b.recv_bytes_into(&mut [0u8; 4], 0).unwrap_err();
    println!(
        "buffers: {:?} carrying {:?}",
        err.kind(),
        String::from_utf8_lossy(err.payload().unwrap_or_default())
    );

    // 3. A one-way pipe: the wrong direction is an error; EOF is distinct.
    let (r, w) = Pipe(false)?;
    println!(
        "one-way: reader.send -> {:?}",
        r.send(&1).unwrap_err().kind()
    );
    drop(w);
    println!(
        "one-way: recv after the writer closed -> {:?}",
        r.recv_bytes().unwrap_err().kind()
    );

    // 4. Connections are task arguments under every start method.
    for method in mp::get_all_start_methods() {
        let (here, there) = Pipe(true)?;
        let p = Process::builder(shout, (there,))
            .start_method(method)
            .build();
        p.start()?;
        here.send(&format!("{method}"))?;
        println!("{method}: child answered {:?}", here.recv::<String>()?);
        p.join()?;
    }

    // 5. wait(): the ready ones among connections and process sentinels.
    let (r1, w1) = Pipe(false)?;
    let (r2, _w2) = Pipe(false)?;
    w1.send(&"ready")?;
    println!(
        "wait: ready indices {:?}",
        wait(&[&r1, &r2], Some(Duration::from_secs(5)))?
    );
    println!(
        "wait: nothing within 10 ms -> {:?}",
        wait(&[&r2], Some(Duration::from_millis(10)))?
    );

    // 6. Listener and Client with CPython's authentication handshake.
    let listener = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"tour")
        .bind()?;
    let p = Process::new(dial, (listener.address().clone(),));
    p.start()?;
    let conn = listener.accept()?;
    println!("listener: {:?}", conn.recv::<String>()?);
    p.join()?;
    let address = listener.address().clone();
    let bad = std::thread::spawn(move || Client::builder(&address).authkey(b"wrong").connect());
    let server_side = listener.accept().map(|_| ()).unwrap_err().kind();
    let client_side = bad
        .join()
        .expect("client thread")
        .map(|_| ())
        .unwrap_err()
        .kind();
    println!("listener: wrong key -> server {server_side:?}, client {client_side:?}");
    assert_eq!(
        (server_side, client_side),
        (ErrorKind::Authentication, ErrorKind::Authentication)
    );
    Ok(())
}
