//! Re-executing this program: how spawn children, the fork server and the resource tracker
//! start. The child finds a socket at [`SPAWN_FD`] and an environment marker naming its role;
//! each role registers its entry in [`ROLES`], and the `.init_array` entry of `bootstrap`
//! runs the one whose marker it finds, before `main`.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::atfork::ForkLock;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// The descriptor number a re-executed child finds its bootstrap socket at.
pub(crate) const SPAWN_FD: RawFd = 3;

/// What a re-executed child can be: the environment variable that marks it, and what it runs
/// (never returning).
#[derive(Debug)]
pub(crate) struct Role {
    pub(crate) env: &'static str,
    pub(crate) run: fn() -> !,
}

/// Every role of this program's re-executed children.
#[linkme::distributed_slice]
pub(crate) static ROLES: [Role];

crate::fork_lock! {
    /// The binary that re-executed children run, if set (rank in [`crate::atfork`]: after the
    /// default start method's lock).
    static EXECUTABLE: ForkLock<Option<PathBuf>> = ForkLock::new(60, None);
}

/// Sets the binary that re-executed children run (`set_executable`).
pub(crate) fn set_executable(path: PathBuf) {
    *EXECUTABLE.lock() = Some(path);
}

/// The binary that re-executed children run.
pub(crate) fn executable() -> Result<PathBuf> {
    if let Some(p) = EXECUTABLE.lock().clone() {
        return Ok(p);
    }
    std::env::current_exe().map_err(|e| Error::os("cannot find the current executable", e))
}

/// How long a re-executed child may take to give its parent its first answer: 60 seconds, or
/// the `MP_START_TIMEOUT` environment variable's number of seconds.
pub(crate) fn start_timeout() -> std::time::Duration {
    std::env::var("MP_START_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1e9)
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(std::time::Duration::from_secs(60))
}

/// Waits, at most [`start_timeout`], until a child [`spawn_self`] started has answered on
/// `conn` (or died: its end closes). A program that is not this one, or not built with mp,
/// may never answer: the start then fails instead of waiting forever.
pub(crate) fn await_child(conn: &Connection) -> Result<()> {
    let limit = start_timeout();
    if conn.poll_timeout(limit)? {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::ProcessStart,
        format!(
            "the child process did not answer within {limit:?}; is set_executable pointing at \
             a program built with mp? (MP_START_TIMEOUT sets the limit)"
        ),
    ))
}

/// Re-executes the program with the bootstrap socket at fd 3; returns (pid, our end).
pub(crate) fn spawn_self(env_var: &str, extra_env: &[(&str, String)]) -> Result<(i32, Connection)> {
    let exe = executable()?;
    let (ours, theirs) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    // dup2(x, x) would leave close-on-exec set, so make sure the source is not fd 3.
    let theirs = if theirs.as_raw_fd() == SPAWN_FD {
        sys::dup(theirs.as_raw_fd()).map_err(|e| Error::os("dup", e))?
    } else {
        theirs
    };
    let path = CString::new(exe.into_os_string().into_vec())
        .map_err(|_| Error::value("executable path contains a NUL byte"))?;
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with("__MP_")
        })
        .filter_map(|(k, v)| {
            let mut kv: OsString = k;
            kv.push("=");
            kv.push(v);
            CString::new(kv.into_vec()).ok()
        })
        .collect();
    if let Ok(marker) = CString::new(format!("{env_var}={SPAWN_FD}")) {
        env.push(marker);
    }
    for (k, v) in extra_env {
        if let Ok(c) = CString::new(format!("{k}={v}")) {
            env.push(c);
        }
    }
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|c| c.as_ptr() as *mut _).collect();
    envp.push(std::ptr::null_mut());
    // The child gets this process's command line (CPython restores `sys.argv` in its spawn
    // children), so `std::env::args()` agrees in parent and child; dispatch happens before
    // `main` sees it.
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.into_vec()).ok())
        .collect();
    let mut argv: Vec<*mut libc::c_char> = if args.is_empty() {
        vec![path.as_ptr() as *mut _]
    } else {
        args.iter().map(|a| a.as_ptr() as *mut _).collect()
    };
    argv.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // SAFETY: the file-actions and attribute objects are initialised before use and
    // destroyed after; every pointer handed to posix_spawn outlives the call.
    let rc = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        libc::posix_spawn_file_actions_adddup2(&mut fa, theirs.as_raw_fd(), SPAWN_FD);
        // The child inherits stdin/stdout/stderr and its bootstrap socket, nothing else: a
        // descriptor the parent left without close-on-exec does not leak into it.
        libc::posix_spawn_file_actions_addclosefrom_np(&mut fa, SPAWN_FD + 1);
        // Nor does the calling thread's signal mask (a runtime thread may block signals).
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::posix_spawnattr_setsigmask(&mut attr, &empty);
        libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSIGMASK as libc::c_short);
        let rc = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &fa,
            &attr,
            argv.as_ptr(),
            envp.as_ptr(),
        );
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut fa);
        rc
    };
    drop(theirs);
    if rc != 0 {
        return Err(Error::os(
            "posix_spawn",
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    // SAFETY: `ours` is a socket we own.
    let conn = Connection::from_fd(ours, true, true)?;
    Ok((pid, conn))
}
