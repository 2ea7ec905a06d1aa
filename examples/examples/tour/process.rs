//! The tour of mp's foundation: processes and start methods, in one run.
//!
//! `cargo run -p mp-examples --example tour -- process`
//!
//!
use std::io::{Read, Write};
use std::time::Duration;

use mp::{Connection, Process, StartMethod, TaskRef};

#[mp::task]
fn greet(name: String, conn: Connection) {
    let me = mp::current_process();
    let parent = mp::parent_process().expect("a child has a parent");
    conn.send(&format!(
        "hello {name} from {} (started by {}, method {})",
        me.name(),
        parent.name(),
        me.start_method().map(|m| m.as_str()).unwrap_or("?")
    ))
    .expect("send");
}

#[mp::task]
fn fail(msg: String) -> Result<(), String> {
    Err(msg)
}

#[mp::task]
fn exit_with(code: i32) {
    std::process::exit(code);
}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[mp::task]
fn mul(a: i64, b: i64) -> i64 {
    a * b
}

/// A task reference and its arguments: Python's `(func, args)` tuple.
type Job = (TaskRef<(i64, i64), i64>, (i64, i64));

#[mp::task]
fn calculate(conn: Connection) {
    let jobs: Vec<Job> = conn.recv().expect("recv");
    let results: Vec<i64> = jobs
        .into_iter()
        .map(|(f, args)| f.call(args).expect("registered"))
        .collect();
    conn.send(&results).expect("send");
}

#[mp::task]
fn write_to_handle(conn: Connection) {
    let fd = mp::reduction::recv_handle(&conn).expect("recv_handle");
    std::fs::File::from(fd)
        .write_all(b"written by the child")
        .expect("write");
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Counter {
    conn: Connection,
    upto: u32,
}

#[mp::task]
impl mp::Run for Counter {
    fn run(self) {
        let total: u32 = (1..=self.upto).sum();
        self.conn.send(&total).expect("send");
    }
}

pub(crate) fn run() -> mp::Result<()> {
    let all: Vec<&str> = mp::get_all_start_methods()
        .iter()
        .map(|m| m.as_str())
        .collect();
    println!(
        "1. start methods: {all:?}; cpu_count() = {}",
        mp::cpu_count()
    );
    let me = mp::current_process();
    assert_eq!(me.name(), "MainProcess");
    assert!(mp::parent_process().is_none());

    println!("2. one child per start method, a #[mp::task] fn as target:");
    for m in mp::get_all_start_methods() {
        let (rx, tx) = mp::Pipe(true)?;
        let p = Process::builder(greet, ("bob".to_string(), tx))
            .name(format!("greeter-{m}"))
            .start_method(m)
            .start()?;
        let line: String = rx.recv()?;
        p.join()?;
        println!("   {line}; exitcode {:?}", p.exitcode());
        assert_eq!(p.exitcode(), Some(0));
    }

    println!("3. under fork, any closure can be the target:");
    let (rx, tx) = mp::Pipe(true)?;
    let captured = [1, 2, 3];
    let p = Process::builder(move || tx.send(&captured.iter().sum::<i32>()), ())
        .start_method(StartMethod::Fork)
        .start()?;
    println!("   the closure's child sent {}", rx.recv::<i32>()?);
    p.join()?;

    println!("4. exit codes:");
    let cases = [
        (
            "Err returned",
            Process::new(fail, ("bad input".to_string(),)),
            1,
        ),
        ("std::process::exit(3)", Process::new(exit_with, (3,)), 3),
    ];
    for (what, p, code) in &cases {
        p.start()?;
        p.join()?;
        println!("   {what}: exitcode {:?}", p.exitcode());
        assert_eq!(p.exitcode(), Some(*code));
    }
    for (what, signal) in [("terminate()", 15), ("kill()", 9)] {
        let p = Process::new(sleep_ms, (60_000,));
        p.start()?;
        if signal == 15 {
            p.terminate()?
        } else {
            p.kill()?
        }
        p.join()?;
        println!("   {what}: exitcode {:?}, {p:?}", p.exitcode());
        assert_eq!(p.exitcode(), Some(-signal));
    }

    println!("5. join with a timeout, is_alive, sentinel, active_children:");
    let p = Process::builder(sleep_ms, (300,)).daemon(true).start()?;
    p.join_timeout(Duration::from_millis(10))?;
    println!(
        "   after join(0.01): alive {}, in active_children {}, sentinel is fd {}",
        p.is_alive(),
        mp::active_children().iter().any(|c| Some(c.pid) == p.pid()),
        p.sentinel()?
    );
    p.join()?;
    println!(
        "   after join(): alive {}, exitcode {:?}",
        p.is_alive(),
        p.exitcode()
    );
    p.close()?;
    println!(
        "   after close(): join() is an error: {}",
        p.join().is_err()
    );

    println!("6. \"subclass Process and override run()\": a Run type carries its state:");
    let (rx, tx) = mp::Pipe(true)?;
    let p = Process::builder_from_run(Counter { conn: tx, upto: 10 })
        .start_method(StartMethod::Spawn)
        .start()?;
    println!("   the counter's child computed {}", rx.recv::<u32>()?);
    p.join()?;

    println!("7. tasks as values: (func, args) pairs sent to a child and called there:");
    let (conn, theirs) = mp::Pipe(true)?;
    let p = Process::new(calculate, (theirs,));
    p.start()?;
    let jobs: Vec<Job> = (1..=4).map(|i| (TaskRef::new(mul), (i, 7))).collect();
    conn.send(&jobs)?;
    let results: Vec<i64> = conn.recv()?;
    println!("   mul(i, 7) for i in 1..=4 = {results:?}");
    assert_eq!(results, [7, 14, 21, 28]);
    p.join()?;

    println!("8. passing a file descriptor with reduction::send_handle:");
    let (mut r, w) = std::io::pipe()?;
    let (conn, theirs) = mp::Pipe(true)?;
    let p = Process::new(write_to_handle, (theirs,));
    p.start()?;
    mp::reduction::send_handle(&conn, &w)?;
    drop(w);
    p.join()?;
    let mut s = String::new();
    r.read_to_string(&mut s)?;
    println!("   read back: {s:?}");
    assert_eq!(s, "written by the child");

    println!("9. misuse is an error, never a panic:");
    let p = Process::new(sleep_ms, (0,));
    println!("   join before start: {}", p.join().unwrap_err());
    p.start()?;
    println!("   start twice: {}", p.start().unwrap_err());
    p.join()?;
    println!("processes: done");
    Ok(())
}
