//! `#[mp::task]`: the fn stays callable, becomes a value implementing `mp::Task` and
//! `Target`, is registered by name, and can travel as a `TaskRef` (Python's `(func, args)`
//! tuples in a queue).

use mp::{Connection, Process, Task, TaskRef};
use mp_tests::{join, methods, recv};

/// A documented task: docs and other attributes stay on the item.
#[mp::task]
#[inline]
fn square(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn mul(a: i64, b: i64) -> i64 {
    a * b
}

#[mp::task]
fn plus(a: i64, b: i64) -> i64 {
    a + b
}

#[mp::task]
fn parse(s: String) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[mp::task]
fn io_result(fail: bool) -> std::io::Result<String> {
    if fail {
        Err(std::io::Error::other("it failed"))
    } else {
        Ok("fine".into())
    }
}

#[mp::task]
fn mp_result() -> mp::Result<()> {
    Ok(())
}

#[mp::task]
pub(crate) fn unit_args() {}

#[mp::task]
fn many(a: u8, b: u16, c: u32, d: u64, e: String, f: Vec<u8>, g: (bool, char)) -> usize {
    a as usize + b as usize + c as usize + d as usize + e.len() + f.len() + g.0 as usize
}

#[test]
fn tasks_stay_callable() {
    assert_eq!(square(7), 49);
    assert_eq!(mul(6, 7), 42);
    assert_eq!(parse("12".into()).unwrap(), 12);
    assert!(parse("x".into()).is_err());
    assert_eq!(io_result(false).unwrap(), "fine");
    mp_result().unwrap();
    unit_args();
    assert_eq!(many(1, 2, 3, 4, "ab".into(), vec![0; 3], (true, 'x')), 16);
    // The item dereferences to the fn pointer: `*f` is a plain fn where a closure is expected.
    let v: Vec<u64> = (1..=4).map(*square).collect();
    assert_eq!(v, [1, 4, 9, 16]);
    let f: fn(u64) -> u64 = *square;
    assert_eq!(f(3), 9);
    // It is a Copy value with a Debug naming the task.
    let g = square;
    let h = g;
    assert!(format!("{h:?}").ends_with("::square"));
    assert!(format!("{g:?}").ends_with("::square"));
}

#[test]
fn tasks_implement_task_with_their_types() {
    assert_eq!(<square as Task>::NAME, "macros_task::square");
    assert_eq!(<square as Task>::run((5,)), 25);
    let out = <parse as Task>::run(("oops".into(),));
    let err = <parse as Task>::into_value(out).unwrap_err();
    assert!(err.contains("invalid digit"), "{err}");
    assert_eq!(<parse as Task>::into_value(Ok(3)).unwrap(), 3);
    let err = <io_result as Task>::into_value(io_result(true)).unwrap_err();
    assert_eq!(err, "it failed");
    let names = mp::registered_tasks();
    for n in [
        "macros_task::square",
        "macros_task::mul",
        "macros_task::parse",
        "macros_task::many",
        "macros_task::Job",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

type CalcJob = (TaskRef<(i64, i64), i64>, (i64, i64));

#[mp::task]
fn calculate(conn: Connection) {
    // Python's `calculate(func, args)`: receive (task, args) pairs and call them here.
    let jobs: Vec<CalcJob> = conn.recv().unwrap();
    let results: Vec<i64> = jobs.into_iter().map(|(f, a)| f.call(a).unwrap()).collect();
    conn.send(&results).unwrap();
}

#[mp::test]
fn task_references_travel_and_run_in_children() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(calculate, (b,))
            .start_method(m)
            .start()
            .unwrap();
        let jobs: Vec<CalcJob> = (0..5)
            .map(|i| (TaskRef::new(mul), (i, 7)))
            .chain((0..3).map(|i| (TaskRef::new(plus), (i, 8))))
            .collect();
        a.send(&jobs).unwrap();
        let results: Vec<i64> = recv(&a);
        assert_eq!(results, [0, 7, 14, 21, 28, 8, 9, 10]);
        assert_eq!(join(&p), Some(0));
    }
    // A reference to an unknown name, or with the wrong signature, fails to decode.
    assert!(TaskRef::<(i64, i64), i64>::from_name("macros_task::nope").is_err());
    let e = TaskRef::<(u8,), i64>::from_name("macros_task::mul").unwrap_err();
    assert_eq!(e.kind(), mp::ErrorKind::Type);
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Job2 {
    conn: Connection,
    n: u32,
}

#[mp::task]
impl mp::Run for Job2 {
    fn run(self) {
        self.conn.send(&(self.n * 2)).unwrap();
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    conn: Connection,
}

#[mp::task]
impl mp::Run for Job {
    fn run(self) {
        self.conn.send(&"job ran").unwrap();
    }
}

#[mp::test]
fn run_impls_carry_their_state() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder_from_run(Job2 { conn: b, n: 21 })
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(recv::<u32>(&a), 42);
        assert_eq!(join(&p), Some(0));
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder_from_run(Job { conn: b })
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(recv::<String>(&a), "job ran");
        assert_eq!(join(&p), Some(0));
    }
}

#[mp::task]
#[allow(clippy::too_many_arguments)] // attributes stay on the fn
fn sum_all(
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: String,
    f: Vec<u8>,
    g: (bool, char),
    conn: Connection,
) {
    conn.send(&many(a, b, c, d, e, f, g)).unwrap();
}

#[mp::test]
fn many_arguments_cross_every_start_method() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(
            sum_all,
            (
                1u8,
                2u16,
                3u32,
                4u64,
                "ab".to_string(),
                vec![9u8; 3],
                (true, 'z'),
                b,
            ),
        )
        .start_method(m)
        .start()
        .unwrap();
        assert_eq!(recv::<usize>(&a), 16);
        assert_eq!(join(&p), Some(0));
    }
}
