//! A tutorial's `Lock()` program (the Python documentation's "Synchronization primitives"): three
//! processes take turns under a lock, so each "开播了" line is followed by the same
//! process's "下播了" line.
//!
//! ```python
//! def work(lock, name):
//!     lock.acquire()
//!     print(f"你关注的{name}开播了,房间号是{os.getpid()}")
//!     watch()
//!     print(f"你关注的{name}下播了,房间号是{os.getpid()}")
//!     lock.release()
//!
//! if __name__ == "__main__":
//!     lock = Lock()
//!     for name in ["shishi", "hima", "sasaki"]:
//!         p = Process(target=work, args=(lock, name))
//!         p.start()
//! ```
//!
//! `cargo run -p mp-examples --example sync_lock_live`

use std::time::Duration;

use mp::{Array, Lock, Process};

/// `time.sleep(random.random())`: the pid gives a little variety without a random crate.
fn watch() {
    let ms = u64::from(std::process::id() % 7) * 15;
    std::thread::sleep(Duration::from_millis(ms));
}

#[mp::task]
fn work(lock: Lock, name: String, log: Array<i32>) -> mp::Result<()> {
    let pid = std::process::id() as i32;
    let _g = lock.lock()?;
    println!("你关注的{name}开播了,房间号是{pid}");
    append(&log, pid)?;
    watch();
    println!("你关注的{name}下播了,房间号是{pid}");
    append(&log, -pid)
}

/// Appends to the log (slot 0 counts the entries).
fn append(log: &Array<i32>, v: i32) -> mp::Result<()> {
    let mut g = log.lock()?;
    g[0] += 1;
    let at = g[0] as usize;
    g[at] = v;
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let lock = Lock::new()?;
    let log = Array::<i32>::new(7)?;
    let ps: Vec<Process> = ["shishi", "hima", "sasaki"]
        .into_iter()
        .map(|name| Process::new(work, (lock.clone(), name.to_string(), log.clone())))
        .collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    // The lock kept each start/end pair together.
    let log = log.to_vec()?;
    assert_eq!(log[0], 6);
    for pair in log[1..].chunks(2) {
        assert_eq!(pair[0], -pair[1], "interleaved: {log:?}");
    }
    Ok(())
}
