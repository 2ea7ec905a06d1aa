//! Mirrors the Lock example of the multiprocessing docs ("Synchronization between
//! processes"): ten processes print under one lock.
//!
//! ```python
//! def f(l, i):
//!     l.acquire()
//!     try:
//!         print('hello world', i)
//!     finally:
//!         l.release()
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     for num in range(10):
//!         Process(target=f, args=(lock, num)).start()
//! ```
//!
//! `cargo run -p mp-examples --example sync_lock_hello`

use mp::sharedctypes::RawArray;
use mp::{Lock, Process};

#[mp::task]
fn f(l: Lock, i: usize, printed: RawArray<u8>) -> mp::Result<()> {
    l.acquire()?;
    // try: print(...) finally: l.release()
    let r = {
        println!("hello world {i}");
        printed.set(i, 1)
    };
    l.release()?;
    r
}

#[mp::main]
fn main() -> mp::Result<()> {
    let lock = Lock::new()?;
    // Not in the Python program: a record of who printed, to check the run.
    let printed = RawArray::<u8>::new(10)?;
    let ps: Vec<Process> = (0..10)
        .map(|num| Process::new(f, (lock.clone(), num, printed.clone())))
        .collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(printed.to_vec()?, [1; 10], "every process printed once");
    assert!(!lock.locked());
    Ok(())
}
