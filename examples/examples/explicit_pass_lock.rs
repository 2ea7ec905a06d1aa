//! Mirrors the programming guideline "Explicitly pass resources to child processes" (the Python
//! documentation's "Programming guidelines": `def f(): ... do something using "lock" ...` with a
//! global `lock` "should be rewritten as" `def f(l): ...` with `Process(target=f, args=(lock,))`).
//!
//! `cargo run -p mp-examples --example explicit_pass_lock`
//!
//! The docs leave the bodies as pseudo-code. Here "do something using the lock" is a
//! read-modify-write of a shared counter that only the lock makes safe.
//!
//! The implicit version relies on a global that a forked child inherits from its parent's
//! memory. In Python under spawn or forkserver the child re-imports the main module without
//! running the `__main__` block, so `lock` does not exist there (`NameError`); in Rust the
//! global (a `static`) is simply unset in a child that did not come from `fork`. So the
//! implicit version works only under fork, and the child reports an error under the others;
//! the explicit version works under every start method. (The global version also has the
//! problem the guideline names: the lock object may be garbage-collected in the parent while
//! the child still uses it; an mp handle passed as an argument keeps the shared lock alive in
//! the child.)
//!
//! ```python
//! from multiprocessing import Process, Lock
//!
//! def f(l):
//!     ... do something using "l" ...
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     for i in range(10):
//!         Process(target=f, args=(lock,)).start()
//! ```

use std::sync::OnceLock;

use mp::{Lock, RawValue, StartMethod};

/// The global of the implicit version, set by `main` before it starts the children.
static GLOBAL_LOCK: OnceLock<(Lock, RawValue<u32>)> = OnceLock::new();

/// `def f(): ... do something using "lock" ...`
#[mp::task]
fn f() -> Result<(), String> {
    let (lock, counter) = GLOBAL_LOCK
        .get()
        .ok_or("NameError: name 'lock' is not defined (nothing was inherited: not a fork child)")?;
    bump(lock, counter).map_err(|e| e.to_string())
}

/// `def f2(l): ... do something using "l" ...`
#[mp::task]
fn f2(l: Lock, counter: RawValue<u32>) -> mp::Result<()> {
    bump(&l, &counter)
}

/// The work: a read-modify-write that is only correct under the lock.
fn bump(l: &Lock, counter: &RawValue<u32>) -> mp::Result<()> {
    let _held = l.lock()?;
    let v = counter.get()?;
    std::thread::yield_now();
    counter.set(v + 1)
}

const N: u32 = 10;

#[mp::main]
fn main() -> mp::Result<()> {
    let lock = Lock::new()?;
    let counter = RawValue::new(0u32)?;
    GLOBAL_LOCK
        .set((lock.clone(), counter.clone()))
        .map_err(|_| mp::Error::new(mp::ErrorKind::Runtime, "global set twice"))?;

    for method in mp::get_all_start_methods() {
        // The implicit version: `for i in range(10): Process(target=f).start()`.
        counter.set(0)?;
        let procs: Vec<mp::Process> = (0..N)
            .map(|_| mp::Process::builder(f, ()).start_method(method).build())
            .collect();
        for p in &procs {
            p.start()?;
        }
        let mut ok = 0;
        for p in &procs {
            p.join()?;
            if p.exitcode() == Some(0) {
                ok += 1;
            }
        }
        let total = counter.get()?;
        println!(
            "implicit global lock, {method}: {ok} of {N} children found it, counter = {total}"
        );
        if method == StartMethod::Fork {
            assert_eq!((ok, total), (N, N));
        } else {
            assert_eq!((ok, total), (0, 0));
        }

        // The explicit version: `for i in range(10): Process(target=f2, args=(lock,)).start()`.
        counter.set(0)?;
        let procs: Vec<mp::Process> = (0..N)
            .map(|_| {
                mp::Process::builder(f2, (lock.clone(), counter.clone()))
                    .start_method(method)
                    .build()
            })
            .collect();
        for p in &procs {
            p.start()?;
        }
        for p in &procs {
            p.join()?;
            assert_eq!(p.exitcode(), Some(0), "{p:?}");
        }
        let total = counter.get()?;
        println!(
            "explicit lock argument, {method}: {N} of {N} children used it, counter = {total}"
        );
        assert_eq!(total, N);
    }
    Ok(())
}
