//! Mirrors the `+=` warning of the shared-value docs ("Shared ctypes Objects":
//! `counter.value += 1` is not atomic; `with counter.get_lock(): counter.value += 1` is).
//!
//! `cargo run -p mp-examples --example value_counter_get_lock`
//!
//! The docs give the two idioms without a program; this one runs them: four processes, released
//! together by a barrier, each add one to a shared counter 20000 times, first with a bare
//! read-modify-write (updates get lost: the total is at most 80000, usually much less), then
//! under `get_lock()` (exactly 80000), then with mp's guard `*counter.lock()? += 1`, which holds
//! the same lock for the same read-modify-write.

use mp::{Barrier, Value};

const PROCESSES: usize = 4;
const ROUNDS: u32 = 20_000;

/// `counter.value += 1`: a read, then a write; another process may write in between.
#[mp::task]
fn racy(counter: Value<u32>, start: Barrier) -> mp::Result<()> {
    start.wait()?;
    for _ in 0..ROUNDS {
        let v = counter.get()?;
        counter.set(v + 1)?;
    }
    Ok(())
}

/// `with counter.get_lock(): counter.value += 1`
#[mp::task]
fn with_get_lock(counter: Value<u32>, start: Barrier) -> mp::Result<()> {
    start.wait()?;
    for _ in 0..ROUNDS {
        let _held = counter.get_lock().lock()?; // the default lock is recursive, as in Python
        counter.set(counter.get()? + 1)?;
    }
    Ok(())
}

/// The same, with the guard that holds the lock and borrows the value.
#[mp::task]
fn with_guard(counter: Value<u32>, start: Barrier) -> mp::Result<()> {
    start.wait()?;
    for _ in 0..ROUNDS {
        *counter.lock()? += 1;
    }
    Ok(())
}

/// Starts the processes on one shared counter and returns its final value.
fn run<T>(task: T) -> mp::Result<u32>
where
    T: mp::Target<(Value<u32>, Barrier), Output = mp::Result<()>> + Copy,
{
    let counter = Value::new(0u32)?;
    let start = Barrier::new(PROCESSES as u32)?;
    let procs: Vec<mp::Process> = (0..PROCESSES)
        .map(|_| mp::Process::new(task, (counter.clone(), start.clone())))
        .collect();
    for p in &procs {
        p.start()?;
    }
    for p in &procs {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0), "{p:?}");
    }
    counter.get()
}

#[mp::main]
fn main() -> mp::Result<()> {
    let total = PROCESSES as u32 * ROUNDS;

    let lost = run(racy)?;
    println!(
        "counter.value += 1 in {PROCESSES} processes: {lost} (of {total}; updates may be lost)"
    );
    assert!(lost <= total);

    let locked = run(with_get_lock)?;
    println!("with counter.get_lock(): counter.value += 1 -> {locked}");
    assert_eq!(locked, total);

    let guarded = run(with_guard)?;
    println!("*counter.lock()? += 1 -> {guarded}");
    assert_eq!(guarded, total);
    Ok(())
}
