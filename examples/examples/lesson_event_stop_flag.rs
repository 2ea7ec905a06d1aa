//! The second step of a tutorial's producer/consumer program moved from threads to processes
//! (the first step is example `producer_flag_not_shared`): an `Event` used as a synchronized
//! boolean (the Python documentation's "Synchronization primitives"). The producer is a plain
//! function that receives the main program's `Event` and checks it without blocking; the main
//! program signals it to stop after ten rounds. (The tutorial's message queue is a `Pipe` here.)
//!
//! ```python
//! def producer(conn, stop):
//!     n = 0
//!     while not stop.is_set():          # non-blocking query of the event
//!         n += 1
//!         conn.send(f'Round {n}')
//!         stop.wait(0.02)
//!
//! if __name__ == '__main__':
//!     stop = Event()
//!     ours, theirs = Pipe()
//!     p = Process(target=producer, args=(theirs, stop))
//!     p.start()
//!     for _ in range(10):
//!         print(ours.recv())
//!     stop.set()                        # the main program signals the event
//!     p.join()
//!     print('[End of input]')
//! ```
//!
//! `cargo run -p mp-examples --example lesson_event_stop_flag`

use std::time::Duration;

use mp::{Connection, Event, Process};

#[mp::task]
fn producer(conn: Connection, stop: Event) -> mp::Result<u32> {
    let mut n = 0;
    while !stop.is_set() {
        n += 1;
        conn.send(&format!("Round {n}"))?;
        // An interruptible pause: returns at once when the event is set.
        stop.wait_timeout(Duration::from_millis(20));
    }
    Ok(n)
}

#[mp::main]
fn main() -> mp::Result<()> {
    let stop = Event::new()?;
    let (ours, theirs) = mp::Pipe(true)?;
    let p = Process::new(producer, (theirs, stop.clone()));
    p.start()?;
    for i in 1..=10 {
        let msg: String = ours.recv()?;
        assert_eq!(msg, format!("Round {i}"));
        println!("{msg}");
    }
    stop.set();
    p.join_timeout(Duration::from_secs(60))?;
    assert_eq!(
        p.exitcode(),
        Some(0),
        "the producer saw the flag and stopped"
    );
    println!("[End of input]");
    Ok(())
}
