//! Mirrors the Python documentation's "Using a remote manager": "Local processes can also
//! access that queue" — a `Worker` process (Python subclasses `Process`) puts `'local hello'`
//! into the queue that the manager serves to remote clients.
//!
//! Run: `cargo run -p mp-examples --example remote_manager_local_worker`
//!
//! The queue lives in this process, which serves it with `serve_forever()` (on a thread, so
//! that the example can also play the remote client and then stop the server). The worker is
//! a `Run` type, Rust's equivalent of a `Process` subclass; it gets a proxy for the queue.

use mp::managers::{BaseManager, Queue, QueueProxy, Shared};

#[derive(serde::Serialize, serde::Deserialize)]
struct Worker {
    q: QueueProxy<String>,
}

#[mp::task]
impl mp::Run for Worker {
    fn run(self) {
        if let Err(e) = self.q.put("local hello".into()) {
            eprintln!("worker failed: {e}");
            std::process::exit(1);
        }
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let queue = Shared::new(Queue::new(0));
    let served = queue.clone();
    let m = BaseManager::builder()
        .name("QueueManager")
        .address(("127.0.0.1", 0))
        .authkey(b"abracadabra")
        .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| served.clone())
        .build();
    let server = m.get_server()?;
    let address = server.address().clone();
    let serving = std::thread::spawn(move || server.serve_forever());

    // A client (the remote machine of the docs' program), used here for the worker's proxy too.
    let client = BaseManager::builder()
        .address(&address)
        .authkey(b"abracadabra")
        .register_remote::<QueueProxy<String>>("get_queue")
        .connect()?;
    let q: QueueProxy<String> = client.create("get_queue", ())?;

    let w = mp::Process::from_run(Worker { q: q.clone() });
    w.start()?;
    w.join()?;
    assert_eq!(w.exitcode(), Some(0));

    let got = q.get()?;
    println!("remote client got {got:?}");
    assert_eq!(got, "local hello");
    assert_eq!(queue.read().qsize(), 0); // the same queue, seen from the server's side

    client.stop_server()?;
    serving
        .join()
        .map_err(|_| mp::Error::new(mp::ErrorKind::Runtime, "server thread panicked"))??;
    Ok(())
}
