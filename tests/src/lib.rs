//! Shared helpers of mp's integration tests: timeouts, leak checks (descriptors, zombies),
//! process-state probes, and a lock for tests that touch process-global state.

use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a test waits for anything a child should do promptly. Generous: the machine is
/// shared and loaded; a hang still fails instead of stalling CI.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Serializes tests that change process-global state (the default start method, the
/// executable, signal dispositions...). Poisoning is ignored: one failed test must not fail
/// the others.
pub fn global_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every start method of the platform, the default first.
pub fn methods() -> Vec<mp::StartMethod> {
    mp::get_all_start_methods()
}

/// The descriptors open in this process (the one used to list them excluded).
pub fn open_fds() -> Vec<RawFd> {
    let dir = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d,
        Err(_) => return Vec::new(),
    };
    let mut fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    // The directory handle itself is the one that no longer exists.
    fds.retain(|&fd| {
        // SAFETY: F_GETFD on any integer is harmless.
        unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
    });
    fds
}

/// Number of descriptors open in this process.
pub fn count_open_fds() -> usize {
    open_fds().len()
}

/// The state letter (`R`, `S`, `Z`...) and the parent pid of `pid`, from `/proc/<pid>/stat`.
pub fn proc_state(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The pids of this process's children (any thread's), from `/proc`.
pub fn children_of(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| proc_state(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// This process's children that are zombies (exited, not reaped).
pub fn zombie_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    children_of(me)
        .into_iter()
        .filter(|&pid| proc_state(pid).is_some_and(|(s, _)| s == 'Z'))
        .collect()
}

/// Whether `pid` is a running (not zombie) process.
pub fn pid_running(pid: i32) -> bool {
    proc_state(pid).is_some_and(|(s, _)| s != 'Z' && s != 'X')
}

/// Waits until `pid` is gone (or a zombie), at most `timeout`; returns whether it is.
/// Works for any process, not only our children (a pidfd becomes readable when it exits).
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return true; // ESRCH: already gone
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    // SAFETY: closing the pidfd we opened.
    unsafe { libc::close(fd) };
    r > 0
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held. For conditions
/// that have no descriptor to wait on (e.g. a zombie being reaped by another thread).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Joins `p` within [`TIMEOUT`]; if it is still running then, kills it and panics.
pub fn join(p: &mp::Process) -> Option<i32> {
    p.join_timeout(TIMEOUT).expect("join");
    if p.is_alive() {
        let _ = p.kill();
        let _ = p.join_timeout(TIMEOUT);
        panic!("{p:?} did not exit within {TIMEOUT:?}");
    }
    p.exitcode()
}

/// Whether `fd` is readable within `timeout`.
pub fn readable(fd: impl AsRawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// Receives a value from `conn`, failing the test if nothing arrives within [`TIMEOUT`].
pub fn recv<T: serde::de::DeserializeOwned>(conn: &mp::Connection) -> T {
    assert!(
        conn.poll_timeout(TIMEOUT).expect("poll"),
        "nothing received within {TIMEOUT:?}"
    );
    conn.recv().expect("recv")
}

/// Runs a helper program with a timeout, capturing its output; kills it on timeout.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let pid = child.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                if Instant::now() >= deadline {
                    // SAFETY: killing the helper we started (its pid is not reaped yet).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };
    let out = child.wait_with_output().expect("wait helper");
    done.store(true, std::sync::atomic::Ordering::Release);
    let timed_out = watchdog.join().unwrap_or(false);
    assert!(
        !timed_out,
        "helper {cmd:?} timed out; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs one of this package's helper binaries (`env!("CARGO_BIN_EXE_<name>")`) with `args`.
pub fn run_helper(exe: impl AsRef<Path>, args: &[&str]) -> Output {
    run_with_timeout(Command::new(exe.as_ref()).args(args), TIMEOUT)
}

/// Stdout and stderr of a helper as strings.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lifts this process's soft descriptor limit to at least `n` (up to the hard limit): tests
/// that pass thousands of handles hold more descriptors than a default soft limit of 1,024.
pub fn raise_fd_limit(n: u64) {
    // SAFETY: `rlimit` is plain data, filled by getrlimit and read by setrlimit.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < n {
            r.rlim_cur = r.rlim_max.min(n);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}
