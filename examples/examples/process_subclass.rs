//! Mirrors the "subclass `Process` and override `run()`" pattern: the `class Worker(Process)` of
//! the Python documentation's "Using a remote manager", whose `run` puts 'local hello' on a
//! queue it was given, and a tutorial's `Producer(multiprocessing.Process)`, whose lesson is
//! that the child works on its own copy of the object (a flag set on the parent's copy never
//! reaches it).
//!
//! `cargo run -p mp-examples --example process_subclass`
//!
//! In mp the subclass is a serializable struct implementing `mp::Run`, registered with
//! `#[mp::task]` so that spawn and forkserver children can find it; its state travels with it.

use mp::Connection;

#[derive(serde::Serialize, serde::Deserialize)]
struct Worker {
    q: Connection,
}

#[mp::task]
impl mp::Run for Worker {
    fn run(self) {
        self.q.send(&"local hello").expect("send");
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Producer {
    out: Connection,
    stopped: bool,
    rounds: u32,
}

impl Producer {
    fn new(out: Connection) -> Producer {
        println!(
            "Producer constructor. Process: {}",
            mp::current_process().name()
        );
        Producer {
            out,
            stopped: false,
            rounds: 3,
        }
    }
}

#[mp::task]
impl mp::Run for Producer {
    fn run(self) {
        println!(
            "Producer main loop. Process: {}",
            mp::current_process().name()
        );
        for i in 1..=self.rounds {
            self.out.send(&(i, self.stopped)).expect("send");
        }
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    // The docs' Worker subclass ("Using a remote manager").
    let (q, tx) = mp::Pipe(false)?;
    let w = mp::Process::from_run(Worker { q: tx });
    w.start()?;
    let msg: String = q.recv()?;
    println!("{msg}");
    w.join()?;
    assert_eq!(msg, "local hello");

    // The tutorial's Producer, whose stop flag lives in two processes.
    println!("Main program. Process: {}", mp::current_process().name());
    let (rx, tx) = mp::Pipe(false)?;
    let mut producer = Producer::new(tx);
    producer.stopped = false;
    let p = mp::Process::builder_from_run(producer)
        .name("Producer")
        .start()?;
    for _ in 0..3 {
        let (round, stopped): (u32, bool) = rx.recv()?;
        println!("Round {round}: flag = {stopped}");
        assert!(!stopped);
    }
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    println!("the child ran on its own copy of the producer");
    Ok(())
}
