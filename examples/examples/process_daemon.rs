//! Mirrors the daemon flag as seeds 000, 001 and 002 describe it ("daemon=True 设置为守护进程,
//! 要在 start 之前设置。主进程代码运行结束,守护进程随即终止", and seed 001's consumers marked
//! `p.daemon = True` because they block forever): when the main program ends, its daemonic
//! children are terminated and the others joined.
//!
//! `cargo run -p mp-examples --example process_daemon`

use std::time::Duration;

use mp::Connection;

#[mp::task]
fn consumer(ready: Connection) {
    ready.send(&"consumer waiting").expect("send");
    // Blocks forever, like the seed's consumers stuck in `q.get()`.
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
