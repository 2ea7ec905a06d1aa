//! Helper program of the `shared_memory_tracker` tests: an unrelated process (its own
//! program, so its own resource tracker) that creates named segments and then dies or
//! misbehaves in the way the test asks for.
//!
//! Modes (first argument):
//! - `leak`: creates a tracked and an untracked segment, prints `TRACKED <name>` and
//!   `UNTRACKED <name>`, then waits to be killed.
//! - `restart`: starts the tracker, kills it, creates a segment (which starts a new tracker),
//!   prints `PIDS <old> <new>`, unlinks the segment and exits.
//! - `signals`: starts the tracker, sends it SIGINT and SIGTERM, prints `ALIVE` if it is still
//!   running half a second later (`DEAD` otherwise).
//! - `children`: creates a segment that children of every start method attach to (and so
//!   register too), unlinks it after joining them, and exits: no leak may be reported.

use std::io::Write;
use std::time::{Duration, Instant};

use mp::shared_memory::SharedMemory;

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[mp::task]
fn noop() {}

#[mp::task]
fn attach_and_write(name: String, tracker: mp::sharedctypes::RawValue<i32>) -> mp::Result<()> {
    let shm = SharedMemory::attach(&name)?;
    tracker.set(mp::resource_tracker::pid().unwrap_or(-1))?;
    shm.write(0, b"child")
}

fn main() -> mp::Result<()> {
    mp::init();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut out = std::io::stdout();
    match mode.as_str() {
        "leak" => {
            let tracked = SharedMemory::create(4096)?;
            let untracked = SharedMemory::builder().size(4096).track(false).create()?;
            writeln!(out, "TRACKED {}", tracked.name())?;
            writeln!(out, "UNTRACKED {}", untracked.name())?;
            out.flush()?;
            std::thread::sleep(Duration::from_secs(600));
        }
        "restart" => {
            mp::resource_tracker::ensure_running()?;
            let old = mp::resource_tracker::pid().unwrap_or(0);
            // SAFETY: killing the tracker this program started.
            unsafe { libc::kill(old, libc::SIGKILL) };
            let t = Instant::now();
            while alive(old) && t.elapsed() < Duration::from_secs(30) {
                // The tracker is our child: reap it so that it stops existing.
                // SAFETY: waitpid on our own child.
                unsafe { libc::waitpid(old, std::ptr::null_mut(), libc::WNOHANG) };
                std::thread::sleep(Duration::from_millis(5));
            }
            let shm = SharedMemory::create(64)?;
            let new = mp::resource_tracker::pid().unwrap_or(0);
            writeln!(out, "PIDS {old} {new}")?;
            shm.unlink()?;
        }
        "signals" => {
            mp::resource_tracker::ensure_running()?;
            let pid = mp::resource_tracker::pid().unwrap_or(0);
            // SAFETY: signalling the tracker this program started.
            unsafe {
                libc::kill(pid, libc::SIGINT);
                libc::kill(pid, libc::SIGTERM);
            }
            std::thread::sleep(Duration::from_millis(500));
            let state = if alive(pid) { "ALIVE" } else { "DEAD" };
            writeln!(out, "{state}")?;
            let shm = SharedMemory::create(64)?;
            shm.unlink()?;
            writeln!(
                out,
                "PID {pid} {}",
                mp::resource_tracker::pid().unwrap_or(0)
            )?;
        }
        "children" => {
            // The first child starts right after the tracker did: it must find that tracker
            // (not start its own), so that the parent's unlink is what the tracker sees last.
            // (The forkserver is already running, so that its child starts quickly.)
            let warm = mp::Process::builder(noop, ()).build();
            warm.start()?;
            warm.join()?;
            let shm = SharedMemory::create(64)?;
            let mine = mp::resource_tracker::pid().unwrap_or(0);
            for m in mp::get_all_start_methods() {
                let theirs = mp::sharedctypes::RawValue::new(0i32)?;
                let p = mp::Process::builder(
                    attach_and_write,
                    (shm.name().to_string(), theirs.clone()),
                )
                .start_method(m)
                .build();
                p.start()?;
                p.join()?;
                assert_eq!(p.exitcode(), Some(0));
                if theirs.get()? != mine {
                    writeln!(out, "OTHER TRACKER {m}: {} vs {mine}", theirs.get()?)?;
                }
            }
            shm.unlink()?;
            writeln!(out, "DONE")?;
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}
