//! Mirrors the example of Python's documentation "how to use queues to feed tasks to a
//! collection of worker processes and collect the results" (its "Examples" section:
//! `worker(input, output)`, `calculate(func, args)`, `mul`, `plus`, `TASKS1`, `TASKS2`,
//! 'STOP').
//!
//! Python puts `(mul, (i, 7))` tuples in the queue; mp puts `(TaskRef, args)` pairs, which
//! travel as the task's name. The sleeps of `mul`/`plus` are scaled down.
//!
//! `cargo run -p mp-examples --example queues_workers`

use std::collections::BTreeSet;
use std::time::Duration;

use mp::{Process, Queue, TaskRef, current_process};
use serde::{Deserialize, Serialize};

type Func = TaskRef<(i64, i64), i64>;

/// What goes in the task queue: a task, or Python's 'STOP' string.
#[derive(Serialize, Deserialize)]
enum Msg {
    Task(Func, (i64, i64)),
    Stop,
}

//
// Function run by worker processes
//

#[mp::task]
fn worker(input: Queue<Msg>, output: Queue<String>) -> mp::Result<()> {
    // for func, args in iter(input.get, 'STOP'):
    while let Msg::Task(func, args) = input.get()? {
        let result = calculate(func, args)?;
        output.put(result)?;
    }
    Ok(())
}

//
// Function used to calculate result
//

fn calculate(func: Func, args: (i64, i64)) -> mp::Result<String> {
    let result = func.call(args)?;
    let name = func.name().rsplit("::").next().unwrap_or(func.name());
    Ok(format!(
        "{} says that {name}({}, {}) = {result}",
        current_process().name(),
        args.0,
        args.1
    ))
}

//
// Functions referenced by tasks
//

/// `time.sleep(0.5 * random.random())`, scaled down to at most 16 ms.
fn nap(a: i64, b: i64) {
    let x =
        ((a * 31 + b) as u64 ^ u64::from(std::process::id())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    std::thread::sleep(Duration::from_millis(x >> 60));
}

#[mp::task]
fn mul(a: i64, b: i64) -> i64 {
    nap(a, b);
    a * b
}

#[mp::task]
fn plus(a: i64, b: i64) -> i64 {
    nap(a, b);
    a + b
}

//
//
//

fn test() -> mp::Result<()> {
    const NUMBER_OF_PROCESSES: usize = 4;
    let tasks1: Vec<(Func, (i64, i64))> = (0..20).map(|i| (TaskRef::new(mul), (i, 7))).collect();
    let tasks2: Vec<(Func, (i64, i64))> = (0..10).map(|i| (TaskRef::new(plus), (i, 8))).collect();

    // Create queues
    let task_queue = Queue::new(0)?;
    let done_queue = Queue::new(0)?;

    // Submit tasks
    for &(f, args) in &tasks1 {
        task_queue.put(Msg::Task(f, args))?;
    }

    // Start worker processes
    let workers: Vec<Process> = (0..NUMBER_OF_PROCESSES)
        .map(|_| Process::new(worker, (task_queue.clone(), done_queue.clone())))
        .collect();
    for p in &workers {
        p.start()?;
    }

    // Get and print results
    let mut results = Vec::new();
    println!("Unordered results:");
    for _ in 0..tasks1.len() {
        let r = done_queue.get()?;
        println!("\t {r}");
        results.push(r);
    }

    // Add more tasks using `put()`
    for &(f, args) in &tasks2 {
        task_queue.put(Msg::Task(f, args))?;
    }

    // Get and print some more results
    for _ in 0..tasks2.len() {
        let r = done_queue.get()?;
        println!("\t {r}");
        results.push(r);
    }

    // Tell child processes to stop
    for _ in 0..NUMBER_OF_PROCESSES {
        task_queue.put(Msg::Stop)?;
    }
    for p in &workers {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }

    // Every task was computed once, by one of the workers.
    let got: BTreeSet<String> = results
        .iter()
        .map(|r| {
            r.split_once(" says that ")
                .map(|(_, s)| s.to_string())
                .unwrap_or_default()
        })
        .collect();
    let want: BTreeSet<String> = (0..20)
        .map(|i| format!("mul({i}, 7) = {}", i * 7))
        .chain((0..10).map(|i| format!("plus({i}, 8) = {}", i + 8)))
        .collect();
    assert_eq!(got, want);
    assert!(results.iter().all(|r| r.starts_with("Process-")));
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    mp::freeze_support();
    test()
}
