//! The tour of mp: the whole library in one run, printing what it does.
//!
//! `cargo run --release -p mp-examples --example tour` runs every section;
//! `cargo run -p mp-examples --example tour -- pool` runs one (`process`, `connection`,
//! `queues`, `sync`, `pool`, `managers`, `dummy`, `perf`).
//!
//! Each section mirrors a part of Python's `multiprocessing` documentation: processes and the
//! three start methods, pipes and connections, queues, locks and shared state, pools,
//! managers, the thread-backed `dummy` twin, and what the hot paths cost; each also shows what mp adds (a dead lock holder is reported, a dead pool worker
//! costs one task, handles travel inside messages, ...). Every section checks its own results,
//! so a wrong result ends the tour with an error.

mod connection;
mod dummy;
mod dummy_manager;
mod managers;
mod managers_more;
mod perf;
mod pool;
mod process;
mod queues;
mod sync;

type Section = (&'static str, &'static str, fn() -> mp::Result<()>);

const SECTIONS: [Section; 8] = [
    ("process", "Processes and start methods", process::run),
    (
        "connection",
        "Pipes, connections, listeners and clients",
        connection::run,
    ),
    ("queues", "Queues", queues::run),
    ("sync", "Synchronization and shared memory", sync::run),
    ("pool", "Pools", pool::run),
    ("managers", "Managers and proxies", managers::run_all),
    (
        "dummy",
        "mp::dummy: the same API on threads",
        dummy::run_all,
    ),
    ("perf", "How fast: the hot paths, measured", perf::run),
];

#[mp::main]
fn main() -> mp::Result<()> {
    let only = std::env::args().nth(1);
    if let Some(name) = only
        .as_deref()
        .filter(|o| !SECTIONS.iter().any(|(n, _, _)| n == o))
    {
        let names: Vec<&str> = SECTIONS.iter().map(|(n, _, _)| *n).collect();
        return Err(mp::Error::new(
            mp::ErrorKind::Value,
            format!("no tour section `{name}`; the sections are {names:?}"),
        ));
    }
    let started = std::time::Instant::now();
    for (i, (name, title, run)) in SECTIONS.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        println!("\n######## {}. {title} ({name})\n", i + 1);
        run()?;
    }
    println!(
        "\ntour done in {:.1} s: every section checked its results",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
