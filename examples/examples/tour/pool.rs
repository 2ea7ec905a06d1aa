//! The tour of mp's `Pool`: every method of Python's
//! `multiprocessing.pool.Pool` under each start method, then what CPython cannot do: survive a
//! worker that dies.
//!
//! `cargo run -p mp-examples --example tour -- pool`

use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mp::pool::RemoteTraceback;
use mp::{ErrorKind, Pool};

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn mul(a: u64, b: u64) -> u64 {
    a * b
}

#[mp::task]
fn who(_i: u32) -> String {
    mp::current_process().name()
}

#[mp::task]
fn div(a: i64, b: i64) -> i64 {
    if b == 0 {
        panic!("division by zero");
    }
    a / b
}

#[mp::task]
fn die_at(x: u32, at: u32) -> u32 {
    if x == at {
        std::process::abort(); // the worker dies of SIGABRT
    }
    x
}

#[mp::task]
fn greet(text: String) {
    TAG.lock().unwrap().replace(text);
}

static TAG: Mutex<Option<String>> = Mutex::new(None);

#[mp::task]
fn tag(_i: u32) -> String {
    TAG.lock().unwrap().clone().unwrap_or_default()
}

pub(crate) fn run() -> mp::Result<()> {
    for method in mp::get_all_start_methods() {
        let pool = mp::Context::new(method).pool(2)?;
        println!(
            "[{method}] workers: {:?}",
            pool.chunksize(1).map(who, 0..2)?
        );
        println!(
            "[{method}] apply(square, (7,)) = {}",
            pool.apply(square, (7,))?
        );
        println!(
            "[{method}] map(square, 0..10) = {:?}",
            pool.map(square, 0..10)?
        );
        println!(
            "[{method}] starmap(mul, [(2, 3), (4, 5)]) = {:?}",
            pool.starmap(mul, [(2, 3), (4, 5)])?
        );
        let v: Vec<u64> = pool.imap(square, 0..5)?.collect::<mp::Result<_>>()?;
        println!("[{method}] imap(square, 0..5) = {v:?}");
        let mut v: Vec<u64> = pool
            .chunksize(3)
            .imap_unordered(square, 0..5)?
            .collect::<mp::Result<_>>()?;
        v.sort();
        println!("[{method}] imap_unordered (sorted) = {v:?}");
        pool.close()?;
        pool.join()?;
    }

    let pool = Pool::builder()
        .processes(2)
        .initializer(greet, ("hello from the initializer".to_string(),))
        .maxtasksperchild(5)
        .build()?;
    println!("initializer: {:?}", pool.apply(tag, (0,))?);

    // apply_async with callbacks; results arrive while the caller goes on.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rs: Vec<_> = (0..5)
        .map(|i| {
            let seen = seen.clone();
            pool.apply_async(square, (i,))
                .map(|r| r.callback(move |v| seen.lock().unwrap().push(*v)))
        })
        .collect::<mp::Result<_>>()?;
    let got: Vec<u64> = rs.iter().map(|r| r.get()).collect::<mp::Result<_>>()?;
    println!(
        "apply_async results {got:?}, callbacks saw {} values",
        seen.lock().unwrap().len()
    );
    let r = pool.map_async(square, 0..4)?;
    println!(
        "map_async ready after wait: {}",
        r.wait_timeout(Duration::from_secs(30))
    );
    println!("map_async.get() = {:?}", r.get()?);

    // Errors come back with their message and location.
    let e = pool.apply(div, (1, 0)).unwrap_err();
    let tb = e.source().and_then(|s| s.downcast_ref::<RemoteTraceback>());
    println!(
        "apply(div, (1, 0)) -> {:?}: {}",
        e.kind(),
        tb.map_or("", |t| t.message())
    );
    assert_eq!(e.kind(), ErrorKind::Remote);

    // A worker killed while running a task: that task fails, the others complete.
    let results: Vec<mp::Result<u32>> = pool.imap(die_at_3, 0..8)?.collect();
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(v) => println!("  task {i}: {v}"),
            Err(e) => println!("  task {i}: {:?} ({e})", e.kind()),
        }
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 7);
    assert_eq!(
        results[3].as_ref().unwrap_err().kind(),
        ErrorKind::WorkerLost
    );

    // Timeouts, close, join; afterwards the pool takes no work.
    let slow = pool.apply_async(sleepy, (2000,))?;
    let e = slow.get_timeout(Duration::from_millis(10)).unwrap_err();
    println!("get_timeout(10ms) -> {:?}", e.kind());
    pool.terminate()?;
    pool.join()?;
    println!("after terminate: {}", pool.apply(square, (1,)).unwrap_err());
    Ok(())
}

#[mp::task]
fn die_at_3(x: u32) -> u32 {
    die_at(x, 3)
}

#[mp::task]
fn sleepy(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
