//! Helper program for `tests/tests/process_fork_locks.rs`: a fork child started while another
//! thread of the parent holds std's stderr lock (outside libtest, whose output capture would
//! bypass that lock). `mp-fork-locks-helper panic|err` prints the child's exit code.

use std::sync::mpsc;
use std::time::Duration;

use mp::{Process, StartMethod};

const TIMEOUT: Duration = Duration::from_secs(20);

#[mp::main]
fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let guard = std::io::stderr().lock();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(TIMEOUT * 2);
        drop(guard);
    });
    locked_rx.recv_timeout(TIMEOUT).unwrap();
    let p = match scenario.as_str() {
        "panic" => Process::builder(
            || {
                if std::hint::black_box(true) {
                    panic!("boom in a fork child");
                }
            },
            (),
        ),
        _ => Process::builder(|| -> Result<(), String> { Err("no".into()) }, ()),
    }
    .start_method(StartMethod::Fork)
    .start()
    .unwrap();
    // The child must end on its own while the lock is still held here.
    p.join_timeout(TIMEOUT).unwrap();
    if p.is_alive() {
        let _ = p.kill();
        let _ = p.join_timeout(TIMEOUT);
        println!("hung");
    } else {
        println!("exitcode {:?}", p.exitcode());
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
}
