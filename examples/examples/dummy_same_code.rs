//! Mirrors "The multiprocessing.dummy module" of the Python documentation: `multiprocessing.dummy`
//! "replicates the API of `multiprocessing`", so one program runs on processes or on threads by
//! changing its import,
//!
//! ```python
//! from multiprocessing import Pool, Process, Queue, Value, Lock   # processes
//! from multiprocessing.dummy import Pool, Process, Queue, Value, Lock   # threads
//! ```
//!
//! Here one function body is compiled twice: once after `use mp::{...}`, once after
//! `use mp::dummy::{...}`. Both runs print the same lines.
//!
//! `cargo run -p mp-examples --example dummy_same_code`

macro_rules! program {
    ($name:ident, $($api:ident)::+) => {
        mod $name {
            use $($api)::+::{Lock, Pipe, Pool, Process, Queue, Value, Connection};

            #[mp::task]
            pub(crate) fn square(x: u64) -> u64 {
                x * x
            }

            #[mp::task]
            pub(crate) fn produce(q: Queue<String>, who: u32) -> mp::Result<()> {
                q.put(format!("hello from worker {who}"))?;
                Ok(())
            }

            #[mp::task]
            pub(crate) fn count(total: Value<u64>, lock: Lock, n: u64) -> mp::Result<()> {
                for _ in 0..n {
                    let _g = lock.lock()?;
                    total.set(total.get()? + 1)?;
                }
                Ok(())
            }

            #[mp::task]
            pub(crate) fn shout(conn: Connection) -> mp::Result<()> {
                let s: String = conn.recv()?;
                conn.send(&s.to_uppercase())?;
                Ok(())
            }

            /// The program, written once.
            pub(crate) fn run() -> mp::Result<Vec<String>> {
                let mut out = Vec::new();

                let pool = Pool::new(2)?;
                out.push(format!("squares: {:?}", pool.map(square, 1..=8)?));
                pool.close()?;
                pool.join()?;

                let q = Queue::new(0)?;
                let workers: Vec<Process> =
                    (1..=3).map(|i| Process::new(produce, (q.clone(), i))).collect();
                for w in &workers {
                    w.start()?;
                }
                let mut greetings: Vec<String> =
                    (0..3).map(|_| q.get()).collect::<Result<_, _>>()?;
                greetings.sort();
                for w in &workers {
                    w.join()?;
                }
                out.push(format!("greetings: {greetings:?}"));

                let total = Value::new(0u64)?;
                let lock = Lock::new()?;
                let counters: Vec<Process> = (0..3)
                    .map(|_| Process::new(count, (total.clone(), lock.clone(), 100)))
                    .collect();
                for c in &counters {
                    c.start()?;
                }
                for c in &counters {
                    c.join()?;
                }
                out.push(format!("counter: {}", total.get()?));

                let (here, there) = Pipe(true)?;
                let p = Process::new(shout, (there,));
                p.start()?;
                here.send("quiet please")?;
                out.push(format!("pipe: {}", here.recv::<String>()?));
                p.join()?;
                out.push(format!("exit code: {:?}", p.exitcode()));
                Ok(out)
            }
        }
    };
}

program!(with_processes, mp);
program!(with_threads, mp::dummy);

#[mp::main]
fn main() -> mp::Result<()> {
    println!("== with processes (use mp::{{...}})");
    let a = with_processes::run()?;
    for line in &a {
        println!("{line}");
    }
    println!("== with threads (use mp::dummy::{{...}})");
    let b = with_threads::run()?;
    for line in &b {
        println!("{line}");
    }
    assert_eq!(a, b, "the same code gives the same results");
    assert_eq!(a[2], "counter: 300");
    println!("same results: {}", a == b);
    Ok(())
}
