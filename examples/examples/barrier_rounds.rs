//! A Barrier example in the spirit of `Barrier(parties[, action[, timeout]])` of the Python
//! documentation's "Synchronization primitives": three worker processes and the main program meet
//! at a barrier for three rounds; the action runs once per round, in the last party to arrive,
//! before anybody goes on.
//!
//! ```python
//! def all_arrived():
//!     print('all 4 parties arrived')
//!
//! def worker(b, k):
//!     for r in range(1, 4):
//!         print(f'worker {k} reached round {r}')
//!         b.wait()
//!
//! if __name__ == '__main__':
//!     b = Barrier(4, action=all_arrived, timeout=30)
//!     ps = [Process(target=worker, args=(b, k)) for k in range(3)]
//!     for p in ps: p.start()
//!     for r in range(1, 4):
//!         print(f'main reached round {r}')
//!         b.wait()
//!     for p in ps: p.join()
//! ```
//!
//! `cargo run -p mp-examples --example barrier_rounds`

use std::time::Duration;

use mp::{Barrier, Process};

#[mp::task]
fn all_arrived() {
    println!("all 4 parties arrived");
}

#[mp::task]
fn worker(b: Barrier, k: usize) -> mp::Result<()> {
    for r in 1..=3 {
        println!("worker {k} reached round {r}");
        b.wait()?;
    }
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let b = Barrier::builder(4)
        .action(all_arrived)
        .timeout(Duration::from_secs(30))
        .build()?;
    let ps: Vec<Process> = (0..3)
        .map(|k| Process::new(worker, (b.clone(), k)))
        .collect();
    for p in &ps {
        p.start()?;
    }
    let mut indexes = Vec::new();
    for r in 1..=3 {
        println!("main reached round {r}");
        indexes.push(b.wait()?);
    }
    for p in &ps {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    assert!(indexes.iter().all(|&i| i < 4));
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0);
    Ok(())
}
