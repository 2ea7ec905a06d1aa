//! Mirrors `BaseManager.get_server()` / `connect()` of the Python documentation's "Managers":
//! one process runs
//! `BaseManager(address=('', 50000), authkey=b'abc').get_server().serve_forever()`, another
//! connects with `BaseManager(address=('127.0.0.1', 50000), authkey=b'abc').connect()`.
//!
//! Run: `cargo run -p mp-examples --example base_manager_server_connect`
//!
//! The port is chosen by the system (and sent to the client) rather than fixed.

use mp::connection::Address;
use mp::managers::BaseManager;

#[mp::task]
fn serve(report: mp::Connection) -> mp::Result<()> {
    let manager = BaseManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"abc")
        .build();
    let server = manager.get_server()?;
    report.send(server.address())?;
    server.serve_forever()
}

#[mp::main]
fn main() -> mp::Result<()> {
    let (r, w) = mp::Pipe(false)?;
    let p = mp::Process::new(serve, (w,));
    p.start()?;
    let address: Address = r.recv()?;

    let m = BaseManager::builder()
        .address(&address)
        .authkey(b"abc")
        .build();
    m.connect()?; // the client process reaches the server process
    println!("connected to the server");

    let wrong = BaseManager::builder()
        .address(&address)
        .authkey(b"xyz")
        .build();
    let err = wrong.connect().unwrap_err();
    println!("with a wrong key: {:?}", err.kind());
    assert_eq!(err.kind(), mp::ErrorKind::Authentication);

    m.stop_server()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
