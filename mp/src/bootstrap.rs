//! The child side of process start: the `__main__` guard, the spawn child's bootstrap, and the
//! code every child runs around its target (Python's `BaseProcess._bootstrap`).

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::connection::Connection;
use crate::exec::{self, SPAWN_FD};
use crate::popen::{self, Prep, SPAWN_ENV};
use crate::registry::{self, InvokeError, TaskEntry};
use crate::{forkserver, logging, process, reduction, sys};

/// Runs before `main` in every binary that links mp (an `.init_array` entry), so that a
/// spawned child dispatches to its task before anything else runs: before libtest parses its
/// arguments in a test binary, before a `#[tokio::main]` runtime starts.
#[used]
// SAFETY: the entry is a plain `extern "C" fn()` taking no arguments, which is what the
// loader calls `.init_array` entries as.
#[unsafe(link_section = ".init_array")]
static MP_CHILD_ENTRY: extern "C" fn() = init_array_entry;

extern "C" fn init_array_entry() {
    crate::thread::record_origin();
    // While the process has one thread: no fork can run concurrently.
    crate::atfork::register();
    child_entry();
}

/// Makes sure the `.init_array` entry above is linked into the final binary: referencing it
/// from the code that starts processes keeps its object file in.
pub(crate) fn ensure_linked() {
    std::hint::black_box(&MP_CHILD_ENTRY);
}

static ENTERED: AtomicBool = AtomicBool::new(false);

/// If this process was started as an mp child (spawn) or as the forkserver, runs that role
/// and exits; otherwise returns at once. Idempotent.
pub(crate) fn child_entry() {
    if ENTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    for role in exec::ROLES {
        if std::env::var_os(role.env).is_some() {
            // SAFETY: this runs before `main`, while the process has a single thread.
            unsafe { std::env::remove_var(role.env) };
            (role.run)();
        }
    }
}

/// A spawn child's role: run the task its parent asked for.
#[linkme::distributed_slice(exec::ROLES)]
static SPAWN_CHILD: exec::Role = exec::Role {
    env: SPAWN_ENV,
    run: run_spawn_child,
};

/// Python's `if __name__ == '__main__'` guard, as `#[mp::main]` and [`crate::init`] call it:
/// dispatch a child, check the registry, and arrange for the exit handler.
pub(crate) fn main_guard() {
    child_entry();
    if let Err(msg) = registry::check_duplicates() {
        panic!("{msg}");
    }
    crate::atfork::register();
    register_exit_handler();
}

/// What `#[mp::test]` runs first: the guard without the exit handler (the test harness
/// exits the process; each test joins its own children, and a failed test must not keep the
/// harness from exiting by leaving a child that waits for ever).
pub(crate) fn test_guard() {
    NO_EXIT_HANDLER.store(true, Ordering::Relaxed);
    child_entry();
    if let Err(msg) = registry::check_duplicates() {
        panic!("{msg}");
    }
}

static NO_EXIT_HANDLER: AtomicBool = AtomicBool::new(false);

/// Registers the exit handler (terminate the daemonic children, join the others) with
/// `atexit`, once per process.
fn register_exit_handler() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: registering a plain extern "C" fn with atexit.
        unsafe { libc::atexit(atexit_handler) };
    });
}

/// What the first start of a child does in a program that may have neither `#[mp::main]`
/// nor [`crate::init`]: CPython joins the children at interpreter exit whether or not the
/// script has the `__main__` guard, so the exit handler is registered here too (a test under
/// `#[mp::test]` excepted), and the registry is checked, so that two tasks with one name
/// are refused with the guard's message instead of running the wrong one.
pub(crate) fn first_use() -> crate::Result<()> {
    if !NO_EXIT_HANDLER.load(Ordering::Relaxed) {
        register_exit_handler();
    }
    registry::check_duplicates()
        .map_err(|msg| crate::Error::new(crate::ErrorKind::ProcessStart, msg))
}

extern "C" fn atexit_handler() {
    let _ = panic::catch_unwind(popen::exit_handler);
}

fn report_to_parent(conn: &Connection, r: Result<(), String>) {
    if let Ok(bytes) = reduction::encode_plain(&r) {
        let _ = conn.send_bytes(&bytes);
    }
}

fn run_spawn_child() -> ! {
    // SAFETY: fd 3 was placed there by our parent's posix_spawn file actions.
    let fd = unsafe { OwnedFd::from_raw_fd(SPAWN_FD) };
    let _ = sys::set_cloexec(fd.as_raw_fd(), true);
    let conn = match Connection::from_fd(fd, true, true) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mp: spawned child has no bootstrap socket: {e}");
            std::process::exit(1);
        }
    };
    let (bytes, fds) = match conn.recv_raw_with_fds() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("mp: spawned child could not read its preparation data: {e}");
            std::process::exit(1);
        }
    };
    let prep: Prep = match reduction::decode_plain(&bytes) {
        Ok(p) => p,
        Err(e) => {
            report_to_parent(
                &conn,
                Err(format!("child could not decode its preparation data: {e}")),
            );
            std::process::exit(1);
        }
    };
    let entry = match check_task(&prep) {
        Ok(e) => e,
        Err(msg) => {
            report_to_parent(&conn, Err(msg));
            std::process::exit(1);
        }
    };
    report_to_parent(&conn, Ok(()));
    drop(conn);
    redirect_stdin();
    enter_child(&prep);
    let code = run_child(&prep, || invoke(entry, &prep.args, fds));
    exit_spawned(code);
}

/// Checks that this binary can run the task the parent asked for.
pub(crate) fn check_task(prep: &Prep) -> Result<&'static TaskEntry, String> {
    if prep.build_id != registry::build_id() {
        return Err(format!(
            "the child runs a different build of the program than its parent (registry \
             fingerprint {:016x}, parent's {:016x}); `set_executable` must name a build of the \
             same program",
            registry::build_id(),
            prep.build_id
        ));
    }
    registry::check_duplicates()?;
    registry::lookup(&prep.task).ok_or_else(|| {
        format!(
            "task `{}` is not registered in the child's binary",
            prep.task
        )
    })
}

/// Installs a spawn or forkserver child's identity, log level and forkserver (before its
/// target runs). A forkserver child does this itself rather than the server before the
/// fork: every page the server writes after a fork costs it a page fault.
pub(crate) fn enter_child(prep: &Prep) {
    logging::child_init(prep.log_level, prep.log_stderr);
    crate::context::inherit_start_method(prep.default_method);
    forkserver::set_inherited(prep.forkserver.clone());
    process::set_info(Box::into_raw(Box::new(prep.info())));
}

/// Moves a forkserver child into the directory its parent was in at `start()` (CPython's
/// `prepare` does `os.chdir(data['dir'])`). A directory that is gone fails the child as it
/// fails CPython's, before the target runs.
pub(crate) fn enter_dir(prep: &Prep) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let Some(dir) = &prep.dir else {
        return Ok(());
    };
    let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(dir));
    std::env::set_current_dir(dir).map_err(|e| {
        format!(
            "cannot enter the parent's working directory {}: {e}",
            dir.display()
        )
    })
}

pub(crate) fn invoke(entry: &TaskEntry, args: &[u8], fds: Vec<OwnedFd>) -> Result<(), String> {
    match (entry.invoke)(args, fds, false) {
        Ok(_) => Ok(()),
        Err(InvokeError::Failed(m)) => Err(m),
        Err(InvokeError::Decode(m)) => Err(format!(
            "cannot decode the arguments of `{}`: {m}",
            entry.name
        )),
        Err(InvokeError::Encode(m)) => Err(m),
    }
}

fn flush() {
    // Rust's stderr is unbuffered; only stdout needs flushing.
    let _ = std::io::stdout().flush();
}

/// Set in a child while its target runs: the panic hook then prints the
/// `Process <name>:` header, as CPython prints it above a child's traceback.
static IN_CHILD_TARGET: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while code whose panics are recorded by a hook installed after this module's (a
    /// pool task) runs on this thread.
    static CAPTURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Says whether panics on this thread are captured (not printed) from now on: a pool worker
/// sets it around each task, whose panic its own hook records for the caller.
pub(crate) fn capture_panics(on: bool) {
    let _ = CAPTURING.try_with(|c| c.set(on));
}

/// Whether panics on this thread are captured (see [`capture_panics`]).
pub(crate) fn panics_captured() -> bool {
    CAPTURING.try_with(std::cell::Cell::get).unwrap_or(false)
}

/// Installs (once per process) the panic hook that prints the child header.
///
/// In a fork child the hook does not call the previous one (std's default hook takes the
/// backtrace lock, which another thread of the parent may have held at the fork: the child
/// would hang in its first panic); it prints the panic message as std does, without a
/// backtrace, with one `write(2)`.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        crate::thread::note_panic_hook();
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let header = if IN_CHILD_TARGET.load(Ordering::Relaxed) {
                format!("Process {}:\n", process::info().name())
            } else {
                String::new()
            };
            if panics_captured() {
                // A panic that a hook installed later records (a pool task's, for the caller's
                // `RemoteError`; it takes no lock in a fork child): nothing is printed.
                prev(info);
                return;
            }
            if crate::thread::forked_since_hook() {
                let name = crate::thread::current_name();
                let name = name.as_deref().unwrap_or("<unnamed>");
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("Box<dyn Any>");
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                crate::thread::raw_stderr(&format!(
                    "{header}thread '{name}' panicked{at}:\n{msg}\n"
                ));
                return;
            }
            if !header.is_empty() {
                eprint!("{header}");
            }
            prev(info);
        }));
    });
}

/// Runs a spawn or forkserver child's target the way CPython's `_bootstrap` does and returns
/// the exit code: 0 on return, 1 after a panic (printed like a traceback under
/// `Process <name>:`) or an `Err` (printed the same way). Its stdin is already `/dev/null`
/// (a spawn child redirects it first; a forkserver child inherits the server's).
pub(crate) fn run_child(prep: &Prep, body: impl FnOnce() -> Result<(), String>) -> i32 {
    if prep.daemon {
        watch_parent(prep.parent_pid);
    }
    install_panic_hook();
    run_target(body)
}

/// The part of the bootstrap shared with fork children: run, report, exit handler.
pub(crate) fn run_target(body: impl FnOnce() -> Result<(), String>) -> i32 {
    IN_CHILD_TARGET.store(true, Ordering::Relaxed);
    logging::info!("child process calling self.run()");
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    IN_CHILD_TARGET.store(false, Ordering::Relaxed);
    let code = match result {
        Ok(Ok(())) => 0,
        Ok(Err(msg)) => {
            crate::thread::print_stderr(&format!("Process {}:\n{msg}\n", process::info().name()));
            1
        }
        Err(_) => 1,
    };
    // As CPython's `_bootstrap`: the exit function (join this child's own children) runs
    // before the final message.
    let _ = panic::catch_unwind(popen::exit_handler);
    logging::info!("process exiting with exitcode {code}");
    code
}

/// The first steps of a forked child, before its target runs. Only async-signal-safe calls:
/// the parent may have had other threads holding locks at the time of `fork()`.
///
/// # Safety
///
/// Must be called in the child right after `fork()`, with `info` from `Box::into_raw`.
pub(crate) unsafe fn fork_child_prelude(
    info: *mut process::ProcessInfo,
    parent_pid: i32,
    daemon: bool,
) {
    process::set_info(info);
    // fstat/open/dup2/close are async-signal-safe.
    redirect_stdin();
    // SAFETY: prctl/getppid/_exit are async-signal-safe.
    unsafe {
        if daemon {
            // A daemonic child never outlives its parent, even one killed by SIGKILL.
            // (The start is made from a thread that lives as long as the process, see popen.)
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent_pid {
                libc::_exit(1);
            }
        }
    }
}

/// Exit path of a spawn or forkserver child: a normal exit, so that `atexit` handlers the
/// child registered run (its parent's were never registered in it).
pub(crate) fn exit_spawned(code: i32) -> ! {
    // `std::process::exit` flushes stdout (if it was ever used) before calling `exit`.
    std::process::exit(code)
}

/// Exit path of a fork child: flush what Rust buffered and `_exit`, so that no handler of
/// the parent (atexit, destructors of statics) runs a second time.
pub(crate) fn exit_child(code: i32) -> ! {
    flush();
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Python closes stdin in children and opens /dev/null in its place. Nothing to do when it
/// already is /dev/null (a path lookup costs more than the rest of a fork child's start).
/// Async-signal-safe.
pub(crate) fn redirect_stdin() {
    // SAFETY: `stat` is plain data that fstat fills; open/dup2/close with a static
    // NUL-terminated path and integer descriptors.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && st.st_rdev == libc::makedev(1, 3)
        {
            return;
        }
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

/// A daemonic spawn or forkserver child never outlives its parent: a watcher thread exits
/// the child as soon as the parent's pidfd reports its death (even a SIGKILL, which CPython
/// does not handle).
fn watch_parent(parent_pid: i32) {
    match sys::pidfd_open(parent_pid) {
        Ok(pidfd) => {
            let spawned = crate::thread::spawn("mp-parent-watch", move || {
                while let Ok(false) = sys::poll_readable(pidfd.as_raw_fd(), None) {}
                // SAFETY: _exit is always safe.
                unsafe { libc::_exit(1) }
            });
            if spawned.is_err() {
                eprintln!("mp: cannot watch the parent of a daemonic process; exiting");
                exit_spawned(1);
            }
        }
        // The parent is already gone.
        Err(_) => exit_spawned(1),
    }
}
