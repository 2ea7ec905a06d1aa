//! The third step of a tutorial's producer/consumer program (after examples
//! `producer_flag_not_shared` and `lesson_event_stop_flag`): sharing data between processes.
//! The producer is a class again (it has state and a setter), and its end flag is a
//! `multiprocessing.Value(c_bool)` (the Python documentation's "Shared ctypes Objects"), so the
//! copy of the producer left in the main program and the one running in the child share it.
//! (The tutorial's message queue is a `Pipe` here.)
//!
//! ```python
//! class Producer(Process):
//!     def __init__(self, conn):
//!         super().__init__()
//!         self.conn = conn
//!         self.toStop = Value(ctypes.c_bool, False)
//!     def stop(self):
//!         self.toStop.value = True      # not `self.toStop = True`!
//!     def run(self):
//!         n = 0
//!         while not self.toStop.value:
//!             n += 1
//!             self.conn.send(f'Round {n}')
//!             time.sleep(0.02)
//!
//! if __name__ == '__main__':
//!     ours, theirs = Pipe()
//!     producer = Producer(theirs)
//!     producer.start()
//!     for _ in range(10):
//!         print(ours.recv())
//!     producer.stop()
//!     producer.join()
//!     print('[End of input]')
//! ```
//!
//! `cargo run -p mp-examples --example lesson_value_flag`

use std::time::Duration;

use mp::{Connection, Process, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Producer {
    conn: Connection,
    to_stop: Value<bool>,
}

/// What the main program keeps: a handle to the same flag.
struct ProducerHandle {
    process: Process,
    to_stop: Value<bool>,
}

impl ProducerHandle {
    /// Python's `Producer(conn)`: the object the main program keeps.
    fn new(conn: Connection) -> mp::Result<ProducerHandle> {
        let to_stop = Value::new(false)?;
        let producer = Producer {
            conn,
            to_stop: to_stop.clone(),
        };
        Ok(ProducerHandle {
            process: Process::from_run(producer),
            to_stop,
        })
    }

    fn stop(&self) -> mp::Result<()> {
        self.to_stop.set(true)
    }
}

#[mp::task]
impl mp::Run for Producer {
    fn run(self) {
        let mut n = 0;
        while !self.to_stop.get().unwrap_or(true) {
            n += 1;
            if self.conn.send(&format!("Round {n}")).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let (ours, theirs) = mp::Pipe(true)?;
    let producer = ProducerHandle::new(theirs)?;
    producer.process.start()?;
    for i in 1..=10 {
        let msg: String = ours.recv()?;
        assert_eq!(msg, format!("Round {i}"));
        println!("{msg}");
    }
    producer.stop()?;
    producer.process.join_timeout(Duration::from_secs(60))?;
    assert_eq!(
        producer.process.exitcode(),
        Some(0),
        "the producer saw the shared flag and stopped"
    );
    println!("[End of input]");
    Ok(())
}
