//! Mirrors the Python documentation's "Using a remote manager": a server for a single shared
//! queue (`register('get_queue', callable=lambda: queue)` then
//! `get_server().serve_forever()`), one client that puts `'hello'` and another that gets it.
//!
//! Run: `cargo run -p mp-examples --example remote_manager_queue`
//!
//! The three parties are three processes of this program talking over TCP on loopback
//! (`foo.bar.org` becomes `127.0.0.1`, and the port is chosen by the system and handed to the
//! clients instead of the fixed 50000).

use mp::connection::Address;
use mp::managers::{BaseManager, Queue, QueueProxy, Shared};

const AUTHKEY: &[u8] = b"abracadabra";

/// The server: `QueueManager.register('get_queue', callable=lambda: queue)`,
/// `m.get_server().serve_forever()`.
#[mp::task]
fn server(report: mp::Connection) -> mp::Result<()> {
    let queue = Shared::new(Queue::new(0));
    let m = BaseManager::builder()
        .name("QueueManager")
        .address(("127.0.0.1", 0))
        .authkey(AUTHKEY)
        .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| queue.clone())
        .build();
    let s = m.get_server()?;
    report.send(s.address())?;
    s.serve_forever()
}

/// A client: `QueueManager.register('get_queue')`, `m.connect()`.
fn connect(address: &Address) -> mp::Result<BaseManager> {
    BaseManager::builder()
        .name("QueueManager")
        .address(address)
        .authkey(AUTHKEY)
        .register_remote::<QueueProxy<String>>("get_queue")
        .connect()
}

#[mp::task]
fn client_put(address: Address) -> mp::Result<()> {
    let m = connect(&address)?;
    let queue: QueueProxy<String> = m.create("get_queue", ())?;
    queue.put("hello".into())
}

#[mp::task]
fn client_get(address: Address) -> mp::Result<()> {
    let m = connect(&address)?;
    let queue: QueueProxy<String> = m.create("get_queue", ())?;
    let got = queue.get()?;
    println!("{got:?}");
    assert_eq!(got, "hello");
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let (r, w) = mp::Pipe(false)?;
    let srv = mp::Process::new(server, (w,));
    srv.start()?;
    let address: Address = r.recv()?;
    println!("server listening at {address}");

    for (name, p) in [
        ("put", mp::Process::new(client_put, (address.clone(),))),
        ("get", mp::Process::new(client_get, (address.clone(),))),
    ] {
        p.start()?;
        p.join()?;
        assert_eq!(p.exitcode(), Some(0), "client {name} failed");
    }

    connect(&address)?.stop_server()?;
    srv.join()?;
    assert_eq!(srv.exitcode(), Some(0));
    println!("server stopped");
    Ok(())
}
