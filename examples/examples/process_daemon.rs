//! Mirrors the `daemon` flag as the Python documentation ("Process and exceptions") and
//! tutorials describe it (it must be set before `start()`; tutorials mark consumers that block
//! forever `p.daemon = True`): when the main program ends, its daemonic children are terminated
//! and the others joined.
//!
//! `cargo run -p mp-examples --example process_daemon`

use std::time::Duration;

use mp::Connection;

#[mp::task]
fn consumer(ready: Connection) {
    ready.send(&"consumer waiting").expect("send");
    // Blocks forever, like a tutorial's consumers stuck in `q.get()`.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[mp::task]
fn producer(name: String) {
    println!("{name} produced its items");
}

#[mp::main]
fn main() -> mp::Result<()> {
    let (rx, tx) = mp::Pipe(false)?;
    let c = mp::Process::new(consumer, (tx,));
    c.set_daemon(true)?; // must be set before start
    c.start()?;
    assert!(c.set_daemon(false).is_err(), "too late after start");
    println!("{}", rx.recv::<String>()?);

    let p = mp::Process::builder(producer, ("nana".to_string(),))
        .daemon(false)
        .start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));

    assert!(c.is_alive() && c.daemon());
    println!("main program ends: the daemonic consumer is terminated");
    Ok(())
}
