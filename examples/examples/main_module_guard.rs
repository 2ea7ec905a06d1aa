//! Mirrors the unguarded program of the spawn/forkserver guidelines of the Python documentation
//! ("Safe importing of main module": "using the spawn or forkserver start method running the
//! following module would fail with a RuntimeError"):
//!
//! ```python
//! from multiprocessing import Process
//!
//! def foo():
//!     print('hello')
//!
//! p = Process(target=foo)
//! p.start()
//! ```
//!
//! `cargo run -p mp-examples --example main_module_guard`
//!
//! A Python child started by spawn or forkserver re-imports the main module, so without the
//! `if __name__ == '__main__':` guard it would start a process of its own, and so on (CPython
//! detects it and raises `RuntimeError`; under fork, the Linux default of CPython 3.11, the
//! program just prints `hello`). An mp child never runs `main`: it runs its task from the
//! binary's startup code, before `main` would start, so this program has no guard on purpose
//! (neither `#[mp::main]` nor `mp::init()`) and still starts exactly one child per start
//! method. The child checks that `main` did not run in it. The guarded version of the docs is
//! example `safe_main_spawn`.
//!
//! What the guard still does in mp: `#[mp::main]` installs the exit handler that joins
//! non-daemonic children when `main` returns (Python's `p.start()` without `join()`), so
//! without it this program joins its children itself.

use std::sync::atomic::{AtomicBool, Ordering};

use mp::{Connection, StartMethod};

/// Set first thing in `main`: a child that ran `main` would see it set.
static MAIN_RAN: AtomicBool = AtomicBool::new(false);

#[mp::task]
fn foo(out: Connection) -> mp::Result<()> {
    println!("hello");
    out.send(&MAIN_RAN.load(Ordering::SeqCst))
}

fn main() -> mp::Result<()> {
    MAIN_RAN.store(true, Ordering::SeqCst);
    println!("main() runs in process {}", std::process::id());
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let (rx, tx) = mp::Pipe(false)?;
        let p = mp::Process::builder(foo, (tx,))
            .start_method(method)
            .build();
        p.start()?;
        let ran_main: bool = rx.recv()?;
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
        println!("{method} child: main() ran in it: {ran_main}");
        assert!(!ran_main);
        assert!(mp::active_children().is_empty());
    }
    println!("one child per start method, no recursive spawning");
    Ok(())
}
