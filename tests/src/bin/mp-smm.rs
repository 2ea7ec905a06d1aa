//! Helper program of the `shared_memory_manager` tests: a whole program (with its own
//! resource tracker) using a SharedMemoryManager, whose stderr the test reads.
//!
//! `mp-smm <mode> <start method>`:
//! - `clean`: starts a manager, creates a ShareableList and a segment through it, shuts the
//!   manager down and exits. Nothing may be reported as leaked (CPython's
//!   `test_shared_memory_SharedMemoryManager_reuses_resource_tracker`). Prints `SEGMENTS <a>
//!   <b>` and `GONE` if both are unlinked after the shutdown.
//! - `killed`: creates a segment through a manager, SIGKILLs the manager's server, prints
//!   `SEGMENT <name>` and exits: the segment is still tracked by this program's tracker, which
//!   unlinks it (with the leak warning) once the program is gone.

use std::io::Write;

use mp::shared_memory::{SharedMemory, SharedMemoryManager};

fn main() -> mp::Result<()> {
    mp::init();
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let method =
        mp::get_context(&args.next().unwrap_or_else(|| "spawn".into()))?.get_start_method();
    let mut out = std::io::stdout();
    let smm = SharedMemoryManager::builder()
        .start_method(method)
        .start()?;
    match mode.as_str() {
        "clean" => {
            let sl = smm.shareable_list(0..10)?;
            let shm = smm.shared_memory(64)?;
            writeln!(out, "SEGMENTS {} {}", sl.shm().name(), shm.name())?;
            smm.shutdown()?;
            let gone = SharedMemory::attach(sl.shm().name()).is_err()
                && SharedMemory::attach(shm.name()).is_err();
            if gone {
                writeln!(out, "GONE")?;
            }
        }
        "killed" => {
            let shm = smm.shared_memory(64)?;
            let pid = smm.pid().unwrap_or(0);
            // SAFETY: killing the server process this program started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            smm.join_timeout(std::time::Duration::from_secs(60))?;
            writeln!(out, "SEGMENT {}", shm.name())?;
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
    out.flush()?;
    Ok(())
}
