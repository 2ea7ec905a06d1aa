//! A pipe with acknowledgements, from a tutorial's producer/consumer program (serializing data
//! between processes; the Python documentation's "Connection Objects"): a producer sends each
//! message through a pipe and blocks until the consumer acknowledges it; the consumer sets the
//! pace; when the producer closes its end the consumer's `recv` fails with end of file, which it
//! takes as the end of the stream. (The tutorial's consumer waits two seconds per message; this
//! one waits 50 ms.)
//!
//! `cargo run -p mp-examples --example pipe_ack`

use std::time::Duration;

use mp::{Connection, ErrorKind, Pipe, Process};

const ROUNDS: u32 = 10;

/// Sends its messages, waiting for an acknowledgement after each.
#[mp::task]
fn producer(conn: Connection) -> mp::Result<()> {
    for i in 1..=ROUNDS {
        conn.send(&format!("Round {i}"))?;
        let ack: String = conn.recv()?; // blocks until the consumer acknowledges
        assert_eq!(ack, format!("ack {i}"));
    }
    Ok(()) // dropping the connection closes it, which releases the consumer
}

/// Receives messages until the producer closes its end, acknowledging each.
#[mp::task]
fn consumer(conn: Connection) -> mp::Result<u32> {
    let mut count = 0;
    loop {
        match conn.recv::<String>() {
            Ok(msg) => {
                println!("{msg}");
                count += 1;
                std::thread::sleep(Duration::from_millis(50)); // the consumer sets the pace
                conn.send(&format!("ack {count}"))?;
            }
            Err(e) if e.kind() == ErrorKind::Eof => {
                println!("[End of input]");
                return Ok(count);
            }
            Err(e) => return Err(e),
        }
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let (left, right) = Pipe(true)?;
    let c = Process::new(consumer, (left,));
    let p = Process::new(producer, (right,));
    c.start()?;
    p.start()?; // the local ends moved into the processes and are closed here
    p.join()?;
    c.join()?;
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(c.exitcode(), Some(0));
    Ok(())
}
