//! Starting children with each start method, and tracking them until they are reaped.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::atfork::ForkLock;
use crate::connection::Connection;
use crate::context::{self, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, Erased, ProcessInfo};
use crate::{bootstrap, exec, forkserver, reduction, registry, sys};

/// Environment variable that marks a spawned child.
pub(crate) const SPAWN_ENV: &str = "__MP_SPAWN_CHILD";

/// What the child needs to know about itself.
pub(crate) struct StartSpec {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) method: StartMethod,
}

/// Preparation data sent to a spawn or forkserver child (Python's `get_preparation_data`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Prep {
    pub(crate) build_id: u64,
    pub(crate) task: String,
    pub(crate) args: Vec<u8>,
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) authkey: Vec<u8>,
    pub(crate) daemon: bool,
    pub(crate) parent_pid: i32,
    pub(crate) parent_name: String,
    pub(crate) method: StartMethod,
    pub(crate) log_level: usize,
    pub(crate) log_stderr: bool,
    pub(crate) forkserver: Option<forkserver::ServerInfo>,
    /// The parent's default start method, if it chose one (CPython's `start_method`): the
    /// child's own children, pools and managers start the same way.
    pub(crate) default_method: Option<StartMethod>,
    /// The parent's current directory at `start()` (CPython's `dir`), for a forkserver child
    /// (a spawn child inherits it with `posix_spawn`). `None` if the parent has none.
    pub(crate) dir: Option<Vec<u8>>,
}

impl Prep {
    pub(crate) fn info(&self) -> ProcessInfo {
        ProcessInfo::child(
            self.name.clone(),
            self.identity.clone(),
            self.authkey.clone(),
            self.daemon,
            (self.parent_pid, self.parent_name.clone()),
            self.method,
        )
    }
}

pub(crate) enum Kind {
    /// Our own child (fork, spawn), reaped with waitpid. Its sentinel (a pidfd) is opened on
    /// first use: a plain start + join needs none (`pidfd_open` and the final close cost more
    /// than a `fork` child's whole bootstrap). Only holders of `returncode`'s lock reap, so
    /// a pidfd opened under that lock before the child was reaped names that child.
    Child { sentinel: OnceLock<OwnedFd> },
    /// A forkserver grandchild: the child (`Finished`) and the server (`Exited`) report its
    /// status on this connection. The pidfd (from the server, which opened it before it could
    /// reap the child) makes signals immune to pid reuse.
    Server {
        conn: Connection,
        pidfd: Option<OwnedFd>,
        /// The child's `Finished` code, when it arrived before `Started`.
        finished: Option<i32>,
    },
}

/// A started child.
pub(crate) struct Popen {
    pub(crate) pid: i32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    owner: i32,
    kind: Kind,
    returncode: Mutex<Option<i32>>,
}

/// An always-readable descriptor: the sentinel of a process already reaped.
fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Error::os("sentinel", e))
}

/// Whether `pidfd` names a child of this process that nobody reaped yet (running or zombie).
fn is_own_child(pidfd: &OwnedFd) -> bool {
    // SAFETY: siginfo_t is plain data; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer; a pidfd we own. WNOWAIT: nothing is reaped.
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // ECHILD: not our child (any more). Other errors (a kernel without P_PIDFD): trust it.
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD)
}

impl Popen {
    pub(crate) fn sentinel(&self) -> RawFd {
        match &self.kind {
            Kind::Child { sentinel } => self.child_sentinel(sentinel).unwrap_or(-1),
            Kind::Server {
                pidfd: Some(pidfd), ..
            } => pidfd.as_raw_fd(),
            Kind::Server { conn, .. } => conn.fileno().unwrap_or(-1),
        }
    }

    /// The sentinel of our own child, opened on first use: a pidfd while the child is not
    /// reaped, else a descriptor that is always readable (`/dev/null`), as a finished
    /// process's sentinel is.
    fn child_sentinel(&self, cell: &OnceLock<OwnedFd>) -> Result<RawFd> {
        if let Some(fd) = cell.get() {
            return Ok(fd.as_raw_fd());
        }
        let rc = self.returncode.lock().unwrap_or_else(|e| e.into_inner());
        let fd = match cell.get() {
            Some(fd) => return Ok(fd.as_raw_fd()),
            // Not reaped by us (we hold the lock every reaper of ours takes): the pid is still
            // this child, unless something outside mp reaped it (a SIGCHLD disposition of
            // SIG_IGN, a `waitpid(-1)` of the program's own); `waitid` on the pidfd tells,
            // since it only accepts our own children.
            None if rc.is_none() => match sys::pidfd_open(self.pid) {
                Ok(fd) if is_own_child(&fd) => fd,
                Ok(_) => dev_null()?,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => dev_null()?,
                Err(e) => return Err(Error::os("pidfd_open", e)),
            },
            None => dev_null()?,
        };
        let raw = fd.as_raw_fd();
        // We hold the lock: nobody else can have set it.
        let _ = cell.set(fd);
        drop(rc);
        Ok(raw)
    }

    /// Blocks until our own child has exited, without reaping it (`waitid` with `WNOWAIT`),
    /// so that reaping stays with the holders of `returncode`'s lock.
    fn wait_child_exit(&self) -> Result<()> {
        loop {
            // SAFETY: siginfo_t is plain data; waitid only writes into it.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: valid out-pointer; integer arguments.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    self.pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Reaped already (by another thread's `poll`, or by a SIG_IGN disposition).
                Some(libc::ECHILD) => return Ok(()),
                _ => return Err(Error::os("join", e)),
            }
        }
    }

    /// A forkserver child's exit code from its status socket: `Finished` (from the child) or
    /// `Exited` (from the server); 255 when the server is gone, as in CPython. `None` when no
    /// such message is there (yet); with `block`, waits for one.
    fn server_status(conn: &Connection, finished: Option<i32>, block: bool) -> Option<i32> {
        if finished.is_some() {
            return finished;
        }
        loop {
            if !block && !conn.poll().unwrap_or(true) {
                return None;
            }
            let reply = conn
                .recv_bytes()
                .and_then(|b| reduction::decode_plain::<forkserver::Reply>(&b));
            return Some(match reply {
                Ok(forkserver::Reply::Finished(code)) => code,
                Ok(forkserver::Reply::Exited(status)) => sys::exitcode_from_status(status),
                Ok(forkserver::Reply::Started(_)) => continue,
                // The server died (or spoke nonsense): CPython reports 255 too.
                _ => 255,
            });
        }
    }

    /// The exit code if the child has exited (reaping it), without blocking.
    pub(crate) fn poll(&self) -> Option<i32> {
        let mut rc = self.returncode.lock().unwrap_or_else(|e| e.into_inner());
        if rc.is_some() {
            return *rc;
        }
        match &self.kind {
            Kind::Child { .. } => match sys::waitpid(self.pid, true) {
                Ok(Some(status)) => *rc = Some(sys::exitcode_from_status(status)),
                Ok(None) => {}
                // ECHILD: somebody else reaped it (e.g. a SIGCHLD=SIG_IGN disposition).
                Err(_) => *rc = Some(255),
            },
            Kind::Server {
                conn,
                pidfd: Some(pidfd),
                finished,
            } => {
                // Exited (the pidfd says so) and its code arrived: the child's own `Finished`
                // is written before it exits, the server's `Exited` after it reaps.
                if sys::poll_readable(pidfd.as_raw_fd(), Some(Duration::ZERO)).unwrap_or(true) {
                    *rc = Self::server_status(conn, *finished, false);
                }
            }
            Kind::Server {
                conn,
                pidfd: None,
                finished,
            } => *rc = Self::server_status(conn, *finished, false),
        }
        *rc
    }

    /// Waits for the child to exit, at most `timeout`; returns the exit code if it did.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>> {
        if let Some(rc) = self.poll() {
            return Ok(Some(rc));
        }
        if let (Kind::Child { .. }, None) = (&self.kind, timeout) {
            // No deadline: block in the kernel until it exits, then reap it.
            self.wait_child_exit()?;
            return Ok(Some(self.poll().unwrap_or(255)));
        }
        let ready =
            sys::poll_readable(self.sentinel(), timeout).map_err(|e| Error::os("join", e))?;
        if !ready {
            return Ok(None);
        }
        if let Kind::Server { conn, finished, .. } = &self.kind {
            // The child has exited; its code is there or follows promptly (the server
            // reports it as soon as it reaps the child, or closes the socket by dying).
            let mut rc = self.returncode.lock().unwrap_or_else(|e| e.into_inner());
            if rc.is_none() {
                *rc = Self::server_status(conn, *finished, true);
            }
            return Ok(*rc);
        }
        // A pidfd is readable once the child is a zombie; waitpid cannot block any more.
        Ok(self.poll())
    }

    pub(crate) fn send_signal(&self, sig: i32) -> Result<()> {
        if self.poll().is_some() {
            return Ok(()); // already exited: silently ignored, as in CPython
        }
        let r = match &self.kind {
            Kind::Child { sentinel } => {
                let fd = self.child_sentinel(sentinel)?;
                if self.poll().is_some() {
                    // Reaped by another thread since: the sentinel may not be a pidfd.
                    return Ok(());
                }
                sys::pidfd_send_signal(fd, sig)
            }
            Kind::Server {
                pidfd: Some(pidfd), ..
            } => sys::pidfd_send_signal(pidfd.as_raw_fd(), sig),
            Kind::Server { pidfd: None, .. } => {
                // SAFETY: kill with integer arguments. Only when no pidfd could be opened: the
                // child was already gone (and reaped by the server) by then.
                sys::cvt(unsafe { libc::kill(self.pid, sig) }).map(drop)
            }
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(Error::os("cannot signal process", e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The children table
// ---------------------------------------------------------------------------------------------

/// The children of this process. A fork child gets a fresh, empty table (prepared by its
/// parent before `fork()` and installed with one atomic store), so that it never waits for a
/// lock another thread of its parent held at the time of the fork.
pub(crate) struct Table {
    list: Mutex<Vec<Arc<Popen>>>,
    /// `list.len()`, readable without the lock (and without writing to shared memory).
    len: AtomicUsize,
}

static CHILDREN: AtomicPtr<Table> = AtomicPtr::new(std::ptr::null_mut());

fn table() -> &'static Table {
    let p = CHILDREN.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: tables are leaked from `Box::into_raw` and never freed once installed.
        return unsafe { &*p };
    }
    let fresh = new_table();
    match CHILDREN.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: as above; we just installed it.
        Ok(_) => unsafe { &*fresh },
        Err(current) => {
            // SAFETY: ours was never shared; the installed one lives forever.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: as above.
            unsafe { &*current }
        }
    }
}

/// A new empty table, for a fork child to install (see [`install_table`]).
pub(crate) fn new_table() -> *mut Table {
    Box::into_raw(Box::new(Table {
        list: Mutex::new(Vec::new()),
        len: AtomicUsize::new(0),
    }))
}

/// Installs a table made by [`new_table`]. Async-signal-safe (one atomic store).
pub(crate) fn install_table(t: *mut Table) {
    CHILDREN.store(t, Ordering::Release);
}

/// Frees a table made by [`new_table`] that was not installed.
///
/// # Safety
///
/// `t` must come from [`new_table`] and must not have been installed.
pub(crate) unsafe fn free_table(t: *mut Table) {
    // SAFETY: forwarded from the caller.
    drop(unsafe { Box::from_raw(t) });
}

struct Children(std::sync::MutexGuard<'static, Vec<Arc<Popen>>>);

impl std::ops::Deref for Children {
    type Target = Vec<Arc<Popen>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Children {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        table().len.store(self.0.len(), Ordering::Relaxed);
    }
}

fn children() -> Children {
    Children(table().list.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Whether this process has children in its table (no lock, no write).
fn has_children() -> bool {
    table().len.load(Ordering::Relaxed) != 0
}

pub(crate) fn register_child(p: Arc<Popen>) {
    children().push(p);
}

pub(crate) fn unregister_if_done(p: &Arc<Popen>) {
    if p.poll().is_some() {
        children().retain(|c| !Arc::ptr_eq(c, p));
    }
}

/// Reaps the finished children of this process (Python's `_cleanup`).
pub(crate) fn reap_finished() {
    if !has_children() {
        return;
    }
    let me = sys::getpid();
    children().retain(|c| c.owner == me && c.poll().is_none());
}

pub(crate) fn live_children() -> Vec<Arc<Popen>> {
    if !has_children() {
        return Vec::new();
    }
    let me = sys::getpid();
    children()
        .iter()
        .filter(|c| c.owner == me)
        .cloned()
        .collect()
}

/// Python's `util._exit_function`: terminate the daemonic children, then join every child.
pub(crate) fn exit_handler() {
    crate::logging::info!("process shutting down");
    crate::logging::debug!("running all \"atexit\" finalizers with priority >= 0");
    let kids = live_children();
    for c in &kids {
        if c.daemon && c.poll().is_none() {
            crate::logging::info!("calling terminate() for daemon {}", c.name);
            let _ = c.send_signal(libc::SIGTERM);
        }
    }
    for c in &kids {
        crate::logging::info!("calling join() for process {}", c.name);
        let _ = c.wait(None);
    }
    reap_finished();
    crate::logging::debug!("running the remaining \"atexit\" finalizers");
}

// ---------------------------------------------------------------------------------------------
// Starting
// ---------------------------------------------------------------------------------------------

type StartError = (Error, Option<Box<dyn Erased>>);

pub(crate) fn start(
    spec: StartSpec,
    target: Box<dyn Erased>,
) -> std::result::Result<Arc<Popen>, StartError> {
    crate::atfork::register();
    if let Err(e) = bootstrap::first_use() {
        return Err((e, Some(target)));
    }
    let (pid, kind) = match spec.method {
        StartMethod::Fork => start_fork(&spec, target)?,
        StartMethod::Spawn | StartMethod::Forkserver => {
            // References carried for the child by manager proxies in the arguments are
            // given back if it does not start.
            let (res, carried) = reduction::holding(|| {
                let prep = prepare(&spec, &*target)?;
                if spec.method == StartMethod::Spawn {
                    start_spawn(prep)
                } else {
                    forkserver::start(prep)
                }
            });
            carried.settle(res.is_ok());
            match res {
                Ok(x) => x,
                Err(e) => return Err((e, Some(target))),
            }
        }
    };
    Ok(Arc::new(Popen {
        pid,
        name: spec.name,
        daemon: spec.daemon,
        owner: sys::getpid(),
        kind,
        returncode: Mutex::new(None),
    }))
}

/// Encodes the target for a child that re-finds it through the registry.
fn prepare(spec: &StartSpec, target: &dyn Erased) -> Result<(Prep, Vec<OwnedFd>)> {
    let entry = target.entry().ok_or_else(|| {
        Error::new(
            ErrorKind::ProcessStart,
            format!(
                "target `{}` is not registered, so a {} child cannot find it: add \
                 `#[mp::task]` to the fn (closures can only be targets under the fork start method)",
                target.target_name(),
                spec.method
            ),
        )
    })?;
    let (args, fds) = target.encode_args()?;
    let me = process::info();
    let (log_level, log_stderr) = crate::logging::inherited();
    let prep = Prep {
        build_id: registry::build_id(),
        task: entry.name.to_string(),
        args,
        name: spec.name.clone(),
        identity: spec.identity.clone(),
        authkey: me.authkey(),
        daemon: spec.daemon,
        parent_pid: sys::getpid(),
        parent_name: me.name(),
        method: spec.method,
        log_level,
        log_stderr,
        forkserver: forkserver::current_info(),
        default_method: context::get_start_method_allow_none(),
        dir: match spec.method {
            StartMethod::Forkserver => std::env::current_dir()
                .ok()
                .map(|d| d.into_os_string().into_vec()),
            _ => None,
        },
    };
    Ok((prep, fds))
}

fn flush_stdio() {
    // Rust's stderr is unbuffered: only stdout can hold output that a fork would duplicate.
    let _ = std::io::stdout().flush();
}

fn start_fork(
    spec: &StartSpec,
    target: Box<dyn Erased>,
) -> std::result::Result<(i32, Kind), StartError> {
    // PR_SET_PDEATHSIG fires when the *thread* that forked exits, so a daemonic child is
    // forked from a thread that lives as long as the process: the main thread, or the
    // launcher thread.
    if spec.daemon && !sys::is_main_thread() {
        let sender = match launcher() {
            Ok(s) => s,
            Err(e) => return Err((e, Some(target))),
        };
        let (name, identity, daemon) = (spec.name.clone(), spec.identity.clone(), spec.daemon);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let spec = StartSpec {
                name,
                identity,
                daemon,
                method: StartMethod::Fork,
            };
            let _ = tx.send(fork_now(&spec, target));
        });
        let lost = || Error::new(ErrorKind::ProcessStart, "the mp launcher thread is gone");
        if sender.send(job).is_err() {
            return Err((lost(), None));
        }
        return rx.recv().unwrap_or_else(|_| Err((lost(), None)));
    }
    fork_now(spec, target)
}

fn fork_now(
    spec: &StartSpec,
    target: Box<dyn Erased>,
) -> std::result::Result<(i32, Kind), StartError> {
    let me = process::info();
    let child_info = Box::into_raw(Box::new(ProcessInfo::child(
        spec.name.clone(),
        spec.identity.clone(),
        me.authkey(),
        spec.daemon,
        (sys::getpid(), me.name()),
        StartMethod::Fork,
    )));
    let parent_pid = sys::getpid();
    let child_table = new_table();
    bootstrap::install_panic_hook();
    // Whatever is buffered now would otherwise be written twice.
    flush_stdio();
    // Handles of this process that hold references elsewhere (manager proxies) get them lent
    // to the child first.
    // SAFETY: fork() is safe to call; the child only does async-signal-safe work
    // (`fork_child_prelude`) before it runs the user's target, as CPython does.
    let pid = reduction::fork_lending(target.entry().map(|e| e.name), || unsafe { libc::fork() });
    if pid == 0 {
        install_table(child_table);
        // SAFETY: we are the child, right after fork; the pointer came from Box::into_raw.
        unsafe { bootstrap::fork_child_prelude(child_info, parent_pid, spec.daemon) };
        let code = bootstrap::run_target(move || target.run());
        reduction::release_references();
        bootstrap::exit_child(code);
    }
    // SAFETY: the parent still owns the allocations; the child has its own copies.
    drop(unsafe { Box::from_raw(child_info) });
    // SAFETY: made above, installed only in the child.
    unsafe { free_table(child_table) };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        return Err((Error::os("fork", e), Some(target)));
    }
    // The parent's copy of the target (and of the handles in its arguments) goes now,
    // as CPython drops its references after start().
    drop(target);
    Ok((
        pid,
        Kind::Child {
            sentinel: OnceLock::new(),
        },
    ))
}

type Job = Box<dyn FnOnce() + Send>;

crate::fork_lock! {
    /// The launcher thread's queue, with the pid of the process it belongs to (rank in
    /// [`crate::atfork`]: inside the manager references' lock, outside the forkserver's).
    static LAUNCHER: ForkLock<Option<(i32, std::sync::mpsc::Sender<Job>)>> = ForkLock::new(20, None);
}

/// The launcher thread: a thread that lives as long as the process, for the starts that
/// must outlive the calling thread.
fn launcher() -> Result<std::sync::mpsc::Sender<Job>> {
    use std::sync::mpsc;
    let mut guard = LAUNCHER.lock();
    let me = sys::getpid();
    if let Some((pid, tx)) = guard.as_ref() {
        if *pid == me {
            return Ok(tx.clone());
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    crate::thread::spawn("mp-launcher", move || {
        for job in rx {
            job();
        }
    })
    .map_err(|e| Error::os("cannot start the mp launcher thread", e))?;
    *guard = Some((me, tx.clone()));
    Ok(tx)
}

fn start_spawn((prep, fds): (Prep, Vec<OwnedFd>)) -> Result<(i32, Kind)> {
    let (pid, conn) = exec::spawn_self(SPAWN_ENV, &[])?;
    let fail = |e: Error| -> Error {
        // SAFETY: kill + reap our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = sys::waitpid(pid, false);
        e
    };
    let bytes = reduction::encode_plain(&prep).map_err(fail)?;
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    conn.send_raw_with_fds(&bytes, &raw)
        .map_err(|e| fail(bootstrap_died(e)))?;
    drop(fds);
    exec::await_child(&conn).map_err(fail)?;
    let ack: std::result::Result<(), String> = match conn.recv_bytes() {
        Ok(b) => reduction::decode_plain(&b).map_err(fail)?,
        Err(e) => {
            let rc = match sys::waitpid(pid, false) {
                Ok(Some(st)) => format!("exit code {}", sys::exitcode_from_status(st)),
                _ => "exit code unknown".to_string(),
            };
            return Err(Error::new(
                ErrorKind::ProcessStart,
                format!(
                    "the child process died during its bootstrap ({rc}) before it could run its \
                     task: {e}; is `set_executable` pointing at a program built with mp?"
                ),
            ));
        }
    };
    if let Err(msg) = ack {
        let _ = sys::waitpid(pid, false);
        return Err(Error::new(ErrorKind::ProcessStart, msg));
    }
    Ok((
        pid,
        Kind::Child {
            sentinel: OnceLock::new(),
        },
    ))
}

pub(crate) fn bootstrap_died(e: Error) -> Error {
    Error::new(
        ErrorKind::ProcessStart,
        format!("the child process died during its bootstrap: {e}"),
    )
}
