//! Mirrors the interactive-interpreter note of the Python docs ("Using a pool of workers": the
//! functionality of this package requires that the
//! `__main__` module be importable by the children, so some examples, such as the
//! `multiprocessing.pool.Pool` examples, will not work in the interactive interpreter):
//!
//! ```python
//! >>> from multiprocessing import Pool
//! >>> p = Pool(5)
//! >>> def f(x):
//! ...     return x*x
//! ...
//! >>> p.map(f, [1,2,3])
//! Process PoolWorker-1:
//! Process PoolWorker-2:
//! Process PoolWorker-3:
//! Traceback (most recent call last):
//! AttributeError: 'module' object has no attribute 'f'
//! AttributeError: 'module' object has no attribute 'f'
//! AttributeError: 'module' object has no attribute 'f'
//! ```
//!
//! `cargo run -p mp-examples --example pool_unregistered_function_error`
//!
//! A worker finds the function by name, and `f` was not there when the workers started. In mp
//! a worker finds a fn by name too, in the registry that `#[mp::task]` fills at compile time.
//! So the session's mistake cannot reach run time: `p.map(f, ...)` with a fn that is not a
//! task does not compile:
//!
//! ```text
//! error[E0277]: `fn(u64) -> u64 {f}` is not an mp task
//!   |     let _ = p.map(f, [1u64, 2, 3])?;
//!   |               --- ^ not a `#[mp::task]` fn
//!   = note: pools and spawn/forkserver children find the fn they run by name, in the registry
//!           that `#[mp::task]` fills: add `#[mp::task]` to the fn
//! ```
//!
//! What remains at run time, and what this example shows:
//!
//! - a `Process` may take any fn or closure (under fork the child is a copy of the parent and
//!   needs no lookup), so a plain fn started under spawn or forkserver fails in `start()`, with
//!   an error that names the fn and the fix, instead of a traceback in every child;
//! - a task named at run time (`TaskRef::from_name`, say from a config file) may not exist:
//!   Python's `AttributeError` is an error of kind `Value`;
//! - with `#[mp::task]`, `p.map(f, [1, 2, 3])` is `[1, 4, 9]`.

use mp::{StartMethod, TaskRef};

/// The session's `f`, without `#[mp::task]`.
fn plain_f(x: u64) -> u64 {
    x * x
}

/// The same fn, registered.
#[mp::task]
fn f(x: u64) -> u64 {
    x * x
}

#[mp::main]
fn main() -> mp::Result<()> {
    for method in mp::get_all_start_methods() {
        let p = mp::Process::builder(plain_f, (3,))
            .start_method(method)
            .build();
        match p.start() {
            Ok(()) => {
                p.join()?;
                println!(
                    "Process(target=f) under {method}: runs (the child is a copy of this process)"
                );
                assert_eq!(method, StartMethod::Fork);
                assert_eq!(p.exitcode(), Some(0));
            }
            Err(e) => {
                println!("Process(target=f) under {method}: start() fails: {e}");
                assert_ne!(method, StartMethod::Fork);
                assert_eq!(e.kind(), mp::ErrorKind::ProcessStart);
                assert!(e.to_string().contains("add `#[mp::task]`"));
            }
        }
    }

    let err = TaskRef::<(u64,), u64>::from_name("__main__.f").expect_err("no such task");
    println!(
        "TaskRef::from_name(\"__main__.f\"): {:?}: {err}",
        err.kind()
    );
    assert_eq!(err.kind(), mp::ErrorKind::Value);

    let p = mp::Pool::new(5)?;
    let squares = p.map(f, [1, 2, 3])?;
    println!("{squares:?}");
    assert_eq!(squares, [1, 4, 9]);
    Ok(())
}
