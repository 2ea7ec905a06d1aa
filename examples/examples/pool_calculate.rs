//! Mirrors the "Using Pool" program of the Python documentation's "Examples" (the
//! `multiprocessing` docs' pool example: `calculate(func, args)` over `TASKS` of `mul` and
//! `plus`, with `apply_async`, `imap`, `imap_unordered` and `map`; then the error handling of
//! `f(x) = 1.0 / (x - 5.0)`; then `get(timeout)` and `next(timeout)` loops). Functions travel
//! inside the tasks as `mp::TaskRef`s, as Python pickles them by name.
//!
//! `cargo run -p mp-examples --example pool_calculate`

use std::io::Write;
use std::time::Duration;

use mp::{ErrorKind, TaskRef};

type BinOp = TaskRef<(i64, i64), i64>;
type Job = (BinOp, (i64, i64));

#[mp::task]
fn calculate(func: BinOp, args: (i64, i64)) -> String {
    let result = func.call(args).expect("registered");
    let name = func.name().rsplit("::").next().unwrap_or("?");
    format!(
        "{} says that {name}{args:?} = {result}",
        mp::current_process().name()
    )
}

#[mp::task]
fn calculatestar(args: Job) -> String {
    calculate(args.0, args.1)
}

/// `time.sleep(0.5 * random.random())`, from the clock's low bits.
fn random_nap() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis((nanos % 500) as u64 / 5));
}

#[mp::task]
fn mul(a: i64, b: i64) -> i64 {
    random_nap();
    a * b
}

#[mp::task]
fn plus(a: i64, b: i64) -> i64 {
    random_nap();
    a + b
}

/// Python's `1.0 / (x - 5.0)` raises ZeroDivisionError at 5.
#[mp::task]
fn f(x: i64) -> Result<f64, String> {
    if x == 5 {
        return Err("ZeroDivisionError: float division by zero".into());
    }
    Ok(1.0 / (x as f64 - 5.0))
}

fn is_zero_division(e: &mp::Error) -> bool {
    e.kind() == ErrorKind::Remote && e.to_string().contains("ZeroDivisionError")
}

#[mp::main]
fn main() -> mp::Result<()> {
    const PROCESSES: usize = 4;
    println!("Creating pool with {PROCESSES} processes\n");
    let pool = mp::Pool::new(PROCESSES)?;

    let tasks: Vec<Job> = (0..10)
        .map(|i| (TaskRef::new(mul), (i, 7)))
        .chain((0..10).map(|i| (TaskRef::new(plus), (i, 8))))
        .collect();
    let expected: Vec<i64> = (0..10)
        .map(|i| i * 7)
        .chain((0..10).map(|i| i + 8))
        .collect();
    let check = |line: &str, i: usize| {
        assert!(line.ends_with(&format!(" = {}", expected[i])), "{line}");
        assert!(line.contains("PoolWorker-"), "{line}");
    };

    let results: Vec<_> = tasks
        .iter()
        .map(|t| pool.apply_async(calculate, *t))
        .collect::<mp::Result<_>>()?;
    let imap_it = pool.imap(calculatestar, tasks.clone())?;
    let imap_unordered_it = pool.imap_unordered(calculatestar, tasks.clone())?;

    println!("Ordered results using pool.apply_async():");
    for (i, r) in results.iter().enumerate() {
        let line = r.get()?;
        println!("\t {line}");
        check(&line, i);
    }
    println!();

    println!("Ordered results using pool.imap():");
    for (i, x) in imap_it.enumerate() {
        let line = x?;
        println!("\t {line}");
        check(&line, i);
    }
    println!();

    println!("Unordered results using pool.imap_unordered():");
    let mut n = 0;
    for x in imap_unordered_it {
        println!("\t {}", x?);
        n += 1;
    }
    assert_eq!(n, tasks.len());
    println!();

    println!("Ordered results using pool.map() --- will block till complete:");
    for (i, line) in pool
        .map(calculatestar, tasks.clone())?
        .into_iter()
        .enumerate()
    {
        println!("\t {line}");
        check(&line, i);
    }
    println!();

    // Test error handling
    println!("Testing error handling:");
    match pool.apply(f, (5,)) {
        Err(e) if is_zero_division(&e) => {
            println!("\tGot ZeroDivisionError as expected from pool.apply()")
        }
        other => panic!("expected ZeroDivisionError, got {other:?}"),
    }
    match pool.map(f, 0..10) {
        Err(e) if is_zero_division(&e) => {
            println!("\tGot ZeroDivisionError as expected from pool.map()")
        }
        other => panic!("expected ZeroDivisionError, got {other:?}"),
    }
    match pool.imap(f, 0..10)?.collect::<mp::Result<Vec<f64>>>() {
        Err(e) if is_zero_division(&e) => {
            println!("\tGot ZeroDivisionError as expected from list(pool.imap())")
        }
        other => panic!("expected ZeroDivisionError, got {other:?}"),
    }
    let mut it = pool.imap(f, 0..10)?;
    let mut i = 0;
    loop {
        match it.next() {
            None => break,
            Some(Err(e)) => assert!(i == 5 && is_zero_division(&e), "{i}: {e}"),
            Some(Ok(_)) => assert_ne!(i, 5, "expected ZeroDivisionError"),
        }
        i += 1;
    }
    assert_eq!(i, 10);
    println!("\tGot ZeroDivisionError as expected from IMapIterator.next()");
    println!();

    // Testing timeouts
    print!("Testing ApplyResult.get() with timeout:");
    let res = pool.apply_async(calculate, tasks[0])?;
    loop {
        std::io::stdout().flush().ok();
        match res.get_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                print!("\n\t{line}");
                break;
            }
            Err(e) if e.kind() == ErrorKind::Timeout => print!("."),
            Err(e) => return Err(e),
        }
    }
    println!();
    println!();

    print!("Testing IMapIterator.next() with timeout:");
    let mut it = pool.imap(calculatestar, tasks.clone())?;
    let mut got = 0;
    loop {
        std::io::stdout().flush().ok();
        match it.next_timeout(Duration::from_millis(20)) {
            None => break,
            Some(Ok(line)) => {
                print!("\n\t{line}");
                got += 1;
            }
            Some(Err(e)) if e.kind() == ErrorKind::Timeout => print!("."),
            Some(Err(e)) => return Err(e),
        }
    }
    assert_eq!(got, tasks.len());
    println!();
    println!();
    Ok(())
}
