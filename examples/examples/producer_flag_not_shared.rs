//! The first step of a tutorial's producer/consumer program moved from threads to processes
//! (subclassing `Process`: the Python documentation's "Process and exceptions"). The producer is a
//! `Process` subclass with an end flag and a `stop()` setter; the main program calls `stop()` after
//! about ten rounds, and something goes wrong: the program runs past the tenth message. The
//! producer goes on because `stop()` set the flag of the main program's copy of the object, while
//! the child runs on its own copy. The example prints the lines of the tutorial's three runs
//! together: the rounds (`Round 1` ...), the debug lines (`Running: flag = False`,
//! `Stopping: flag = True`) and the process ids (`Main program. Process: <pid>`,
//! `Producer constructor. Process: <pid>`, `Producer main loop. Process: <pid>`,
//! `Producer stop method. Process: <pid>`).
//!
//! `cargo run -p mp-examples --example producer_flag_not_shared`
//!
//! The tutorial shows its code only as an image; this follows its numbered notes (a
//! `JoinableQueue`, the producer subclassing `Process` and initialised with the queue, the
//! consumer a plain function run in a daemonic process). Where Python's program runs forever
//! and "must be terminated", this one stops the producer itself two rounds after `stop()`,
//! and checks that the producer never saw the flag. The consumer also tells the main program
//! which round it printed (through a pipe), so that `stop()` is called right after "Round 10"
//! instead of after a sleep.
//!
//! In Rust the copy is visible: `Process::from_run(producer.clone())` hands the child a copy, the
//! main program keeps `producer`. Python makes the same copy implicitly (fork copies the memory,
//! spawn pickles the object). Clippy even sees the bug: its `while_immutable_condition` lint fires
//! on the producer's loop (allowed below, on purpose). The next two steps of the tutorial fix it
//! with an `Event` and a `Value` shared by both copies: examples `lesson_event_stop_flag` and
//! `lesson_value_flag`.

use std::time::Duration;

use mp::{Connection, JoinableQueue};

/// What the producer puts: the round, its flag as it sees it, and its pid.
type Msg = (u32, bool, i32);

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Producer {
    queue: JoinableQueue<Msg>,
    to_stop: bool,
}

impl Producer {
    fn new(queue: JoinableQueue<Msg>) -> Producer {
        println!("Producer constructor. Process: {}", std::process::id());
        Producer {
            queue,
            to_stop: false,
        }
    }

    fn stop(&mut self) {
        println!("Producer stop method. Process: {}", std::process::id());
        self.to_stop = true;
        println!("Stopping: flag = {}", py_bool(self.to_stop));
    }
}

#[mp::task]
impl mp::Run for Producer {
    // The tutorial's bug, which clippy sees: nothing in this process ever sets the flag.
    #[allow(clippy::while_immutable_condition)]
    fn run(self) {
        let pid = std::process::id() as i32;
        println!("Producer main loop. Process: {pid}");
        let mut round = 0;
        while !self.to_stop {
            println!("Running: flag = {}", py_bool(self.to_stop));
            round += 1;
            if self.queue.put((round, self.to_stop, pid)).is_err() || self.queue.join().is_err() {
                return;
            }
        }
    }
}

/// The consumer: prints each message and tells the main program which round it printed.
#[mp::task]
fn consumer(queue: JoinableQueue<Msg>, progress: Connection) -> mp::Result<()> {
    loop {
        let msg = queue.get()?;
        println!("Round {}", msg.0);
        progress.send(&msg)?;
        queue.task_done()?;
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let me = std::process::id() as i32;
    println!("Main program. Process: {me}");
    let queue = JoinableQueue::new(0)?;
    let (progress_rx, progress_tx) = mp::Pipe(false)?;
    let c = mp::Process::builder(consumer, (queue.clone(), progress_tx))
        .daemon(true)
        .start()?;

    let mut producer = Producer::new(queue);
    let p = mp::Process::from_run(producer.clone()); // the child gets a copy
    p.start()?;
    let child = p.pid();

    let wait = Duration::from_secs(60);
    let next = |expected: u32| -> mp::Result<Msg> {
        if !progress_rx.poll_timeout(wait)? {
            return Err(mp::Error::new(mp::ErrorKind::Timeout, "no progress"));
        }
        let msg: Msg = progress_rx.recv()?;
        assert_eq!(msg.0, expected, "rounds come in order");
        assert!(!msg.1, "the producer never sees its flag set");
        assert_eq!(Some(msg.2), child, "the main loop runs in the child");
        Ok(msg)
    };
    for round in 1..=10 {
        next(round)?;
    }
    producer.stop(); // sets the flag of this process's copy only
    assert!(producer.to_stop);
    // The producer goes on: wait for two more rounds, then stop it by force.
    next(11)?;
    next(12)?;
    p.terminate()?;
    p.join()?;
    println!(
        "the producer was still running after stop() (child {} vs main {me}): terminated it",
        child.unwrap_or(0)
    );
    assert_ne!(child, Some(me));
    c.terminate()?;
    c.join()?;
    Ok(())
}
