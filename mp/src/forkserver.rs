//! The forkserver start method: a single-threaded server process, started on first use by
//! re-executing the program in server mode, that forks children on request.
//!
//! See `docs/design/forkserver.md`. In short: the launcher spawns the server with a bootstrap
//! socket at fd 3 and sends it a fresh 32-byte key; the server listens on a Linux abstract
//! Unix socket and answers with its address. Any process that knows the address and the key
//! (the launcher and its descendants, which get both in their preparation data) connects,
//! passes the mutual HMAC handshake of `multiprocessing.connection`, and then sends requests:
//! the encoded [`Prep`], the descriptors the child inherits and, last, one end of a fresh
//! status socket (a seqpacket pair: one system call per message). The server forks and writes
//! `Started(pid)` with a pidfd of the child on the status socket; the child writes
//! `Finished(code)` when its target returns; the server writes `Exited(status)` when it reaps
//! the child. The client keeps the pidfd as its sentinel. The server exits when the
//! launcher's end of the bootstrap socket closes; if it dies, the next start launches a new
//! one.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

use serde::{Deserialize, Serialize};

use crate::atfork::ForkLock;
use crate::connection::{Connection, answer_challenge, deliver_challenge};
use crate::error::{Error, ErrorKind, Result};
use crate::popen::{Kind, Prep};
use crate::{bootstrap, logging, reduction, sys};

/// Environment variable that marks the server process.
pub(crate) const SERVER_ENV: &str = "__MP_FORKSERVER";

/// The server's role among re-executed children.
#[linkme::distributed_slice(crate::exec::ROLES)]
static SERVER_ROLE: crate::exec::Role = crate::exec::Role {
    env: SERVER_ENV,
    run: serve,
};

/// What the launcher tells a new server.
#[derive(Debug, Serialize, Deserialize)]
struct ServerConfig {
    authkey: Vec<u8>,
    build_id: u64,
    log_level: usize,
    log_stderr: bool,
}

/// Where a server listens and how to authenticate to it (inherited by children).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ServerInfo {
    pub(crate) name: Vec<u8>,
    pub(crate) authkey: Vec<u8>,
}

/// What a child's status socket carries: `Started` from the server right after the fork,
/// `Finished` from the child itself (so that a join does not wait for the server), and
/// `Exited` from the server once it reaped the child (the authoritative status, the only one
/// after a signal or an `exit()` inside the task). `Finished` may come before `Started` (a
/// child quicker than its server). `Failed` replaces all of them when the request is refused.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// Written by the server right after the fork: the child's pid, with a pidfd of the child
    /// attached (opened before the server could reap it, so it names that child).
    Started(i32),
    /// The child could not be started.
    Failed(String),
    /// Written by the server after reaping the child: the raw wait status.
    Exited(i32),
    /// Written by the child when its target returned, just before it exits: the exit code.
    Finished(i32),
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

pub(crate) struct Client {
    owner: i32,
    /// The server's pid, when this process launched it.
    pid: Option<i32>,
    info: ServerInfo,
    conn: Option<Connection>,
    /// The launcher's end of the bootstrap socket: closing it stops the server.
    alive: Option<Connection>,
}

crate::fork_lock! {
    /// This process's connection to its server (rank in [`crate::atfork`]: inside the
    /// launcher's lock, outside the inherited server's).
    static CLIENT: ForkLock<Option<Client>> = ForkLock::new(30, None);
}
crate::fork_lock! {
    static INHERITED: ForkLock<Option<ServerInfo>> = ForkLock::new(40, None);
}

/// Records the server a child inherited from its parent.
pub(crate) fn set_inherited(info: Option<ServerInfo>) {
    *INHERITED.lock() = info;
}

/// The server this process uses, if one is known (passed on to children).
pub(crate) fn current_info() -> Option<ServerInfo> {
    let me = sys::getpid();
    if let Some(c) = CLIENT.lock().as_ref() {
        if c.owner == me || c.alive.is_none() {
            return Some(c.info.clone());
        }
    }
    INHERITED.lock().clone()
}

fn launch() -> Result<Client> {
    let (pid, conn) = crate::exec::spawn_self(SERVER_ENV, &[])?;
    let mut key = vec![0u8; 32];
    sys::random_bytes(&mut key);
    let (level, stderr) = logging::inherited();
    let cfg = ServerConfig {
        authkey: key.clone(),
        build_id: crate::registry::build_id(),
        log_level: level,
        log_stderr: stderr,
    };
    let fail = |e: Error| {
        // SAFETY: kill and reap our own child so that nothing is left behind.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = sys::waitpid(pid, false);
        Error::new(
            ErrorKind::ProcessStart,
            format!("cannot start the forkserver: {e}"),
        )
    };
    conn.send(&cfg).map_err(fail)?;
    crate::exec::await_child(&conn).map_err(fail)?;
    let reply: std::result::Result<Vec<u8>, String> = conn.recv().map_err(fail)?;
    let name = reply.map_err(|msg| fail(Error::new(ErrorKind::ProcessStart, msg)))?;
    // The server is reaped by a thread so that it never stays a zombie.
    let _ = crate::thread::spawn("mp-forkserver-reaper", move || {
        let _ = sys::waitpid(pid, false);
    });
    logging::debug!("forkserver started (pid {pid})");
    Ok(Client {
        owner: sys::getpid(),
        pid: Some(pid),
        info: ServerInfo { name, authkey: key },
        conn: None,
        alive: Some(conn),
    })
}

fn connect(info: &ServerInfo) -> Result<Connection> {
    let addr = SocketAddr::from_abstract_name(&info.name)
        .map_err(|e| Error::os("forkserver address", e))?;
    let stream =
        UnixStream::connect_addr(&addr).map_err(|e| Error::os("cannot reach the forkserver", e))?;
    let conn = Connection::from_fd(stream.into(), true, true)?;
    answer_challenge(&conn, &info.authkey)?;
    deliver_challenge(&conn, &info.authkey)?;
    Ok(conn)
}

/// A started child, as the client learns it.
struct Started {
    pid: i32,
    /// The status connection (the child's `Finished`, then the server's `Exited`).
    status: Connection,
    /// A pidfd of the child, from the server.
    pidfd: Option<OwnedFd>,
    /// The child's `Finished` code, when it came before `Started`.
    finished: Option<i32>,
}

/// Sends one start request on an authenticated connection and waits for `Started` (or the
/// refusal).
fn request(conn: &Connection, prep: &[u8], fds: &[RawFd]) -> Result<Started> {
    let (ours, theirs) = sys::seqpacket_pair().map_err(|e| Error::os("socketpair", e))?;
    let mut all: Vec<RawFd> = Vec::with_capacity(fds.len() + 1);
    all.extend_from_slice(fds);
    all.push(theirs.as_raw_fd());
    conn.send_raw_with_fds(prep, &all)?;
    drop(theirs);
    let status = Connection::from_packet_fd(ours, true, false);
    let mut finished = None;
    loop {
        let (bytes, mut got) = status.recv_raw_with_fds()?;
        match reduction::decode_plain::<Reply>(&bytes)? {
            Reply::Started(pid) => {
                return Ok(Started {
                    pid,
                    status,
                    pidfd: got.pop(),
                    finished,
                });
            }
            // The child ran to its end before the server wrote `Started`.
            Reply::Finished(code) if finished.is_none() => finished = Some(code),
            Reply::Failed(msg) => return Err(Error::new(ErrorKind::ProcessStart, msg)),
            Reply::Exited(st) => {
                return Err(Error::new(
                    ErrorKind::ProcessStart,
                    format!(
                        "the child process died during its bootstrap (exit code {})",
                        sys::exitcode_from_status(st)
                    ),
                ));
            }
            Reply::Finished(_) => {
                return Err(Error::new(
                    ErrorKind::ProcessStart,
                    "forkserver protocol error",
                ));
            }
        }
    }
}

/// Starts a child through the forkserver, launching (or relaunching) the server as needed.
pub(crate) fn start((prep, fds): (Prep, Vec<OwnedFd>)) -> Result<(i32, Kind)> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let me = sys::getpid();
    let mut guard = CLIENT.lock();
    // A fork child inherits the parent's client state: it must use its own connection.
    if guard.as_ref().is_some_and(|c| c.owner != me) {
        if let Some(mut old) = guard.take() {
            let info = old.info.clone();
            // Our copies of the parent's connections: closing them leaves the parent's own
            // (the server keeps serving it).
            old.conn = None;
            old.alive = None;
            *guard = Some(Client {
                owner: me,
                pid: None,
                info,
                conn: None,
                alive: None,
            });
        }
    }
    if guard.is_none() {
        let inherited = INHERITED.lock().clone();
        *guard = Some(match inherited {
            Some(info) => Client {
                owner: me,
                pid: None,
                info,
                conn: None,
                alive: None,
            },
            None => launch()?,
        });
    }
    let mut prep = prep;
    for attempt in 0..2 {
        let Some(client) = guard.as_mut() else {
            break;
        };
        prep.forkserver = Some(client.info.clone());
        let bytes = reduction::encode_plain(&prep)?;
        let conn = match client.conn.take() {
            Some(c) => c,
            None => match connect(&client.info) {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Authentication => return Err(e),
                Err(e) => {
                    if attempt == 1 {
                        return Err(e);
                    }
                    logging::info!("forkserver unreachable ({e}); starting a new one");
                    *guard = Some(launch()?);
                    continue;
                }
            },
        };
        let conn = &*client.conn.insert(conn);
        match request(conn, &bytes, &raw) {
            Ok(Started {
                pid,
                status,
                pidfd,
                finished,
            }) => {
                return Ok((
                    pid,
                    Kind::Server {
                        conn: status,
                        pidfd,
                        finished,
                    },
                ));
            }
            Err(e) if e.kind() == ErrorKind::ProcessStart => return Err(e),
            Err(e) => {
                if attempt == 1 {
                    return Err(e);
                }
                logging::info!("forkserver connection lost ({e}); starting a new one");
                *guard = Some(launch()?);
            }
        }
    }
    Err(Error::new(
        ErrorKind::ProcessStart,
        "cannot reach the forkserver",
    ))
}

/// Test hook: the pid of the server this process launched, if it launched one.
pub(crate) fn server_pid() -> Option<i32> {
    let me = sys::getpid();
    CLIENT
        .lock()
        .as_ref()
        .filter(|c| c.owner == me)
        .and_then(|c| c.pid)
}

/// Test hook: replaces the key this process authenticates to the server with, dropping the
/// cached connection so that the next start authenticates again; returns the previous key.
pub(crate) fn swap_authkey(key: Vec<u8>) -> Option<Vec<u8>> {
    let mut guard = CLIENT.lock();
    let client = guard.as_mut()?;
    client.conn = None;
    Some(std::mem::replace(&mut client.info.authkey, key))
}

/// The server's address and key (for a client that wants to authenticate by hand).
pub(crate) fn address_and_key() -> Option<(Vec<u8>, Vec<u8>)> {
    current_info().map(|i| (i.name, i.authkey))
}

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

struct Waiting {
    pid: i32,
    status: Connection,
}

/// Runs the server loop; never returns.
pub(crate) fn serve() -> ! {
    // SAFETY: fd 3 was placed there by the launcher's posix_spawn file actions.
    let boot_fd = unsafe { OwnedFd::from_raw_fd(crate::exec::SPAWN_FD) };
    let _ = sys::set_cloexec(boot_fd.as_raw_fd(), true);
    let code = match serve_inner(boot_fd) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mp forkserver: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn serve_inner(boot_fd: OwnedFd) -> Result<()> {
    let boot = Connection::from_fd(boot_fd, true, true)?;
    let cfg: ServerConfig = boot.recv()?;
    logging::child_init(cfg.log_level, cfg.log_stderr);
    if cfg.build_id != crate::registry::build_id() {
        let msg = format!(
            "the forkserver runs a different build of the program than its parent (registry \
             fingerprint {:016x}, parent's {:016x}); `set_executable` must name a build of the \
             same program",
            crate::registry::build_id(),
            cfg.build_id
        );
        let _ = boot.send(&std::result::Result::<Vec<u8>, String>::Err(msg));
        return Ok(());
    }
    // The server does not die of SIGINT (a Ctrl-C in the terminal is for the program, as in
    // CPython) and takes SIGCHLD through a signalfd. SIGINT is blocked rather than ignored:
    // a child inherits the mask, and one interrupted right after fork (before it unblocks)
    // still dies of it, where an ignored SIGINT would be lost.
    block_sigint();
    // Installed once here rather than in every child.
    bootstrap::install_panic_hook();
    // Children read /dev/null, as in CPython; done once here, they inherit it.
    bootstrap::redirect_stdin();
    // Children end with `exit`, so that the atexit handlers they register run; what this
    // process registered before (the loader's destructors) is skipped, as CPython's
    // forkserver children skip it with `os._exit`.
    register_exit_tail();
    let sigfd = sys::block_sigchld_signalfd().map_err(|e| Error::os("signalfd", e))?;
    let mut name = b"mp-forkserver-".to_vec();
    let mut rnd = [0u8; 12];
    sys::random_bytes(&mut rnd);
    name.extend(rnd.iter().map(|b| b"0123456789abcdef"[(b & 15) as usize]));
    let addr = SocketAddr::from_abstract_name(&name).map_err(|e| Error::os("address", e))?;
    let listener = UnixListener::bind_addr(&addr).map_err(|e| Error::os("bind", e))?;
    boot.send(&std::result::Result::<Vec<u8>, String>::Ok(name))?;

    let mut clients: Vec<Connection> = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    loop {
        pfds.clear();
        for fd in [boot.fileno()?, listener.as_raw_fd(), sigfd.as_raw_fd()] {
            pfds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for c in &clients {
            pfds.push(libc::pollfd {
                fd: c.fileno()?,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        sys::poll(&mut pfds, None).map_err(|e| Error::os("poll", e))?;
        if pfds[0].revents != 0 {
            // The launcher is gone (or closed its end): stop serving. Children keep running.
            return Ok(());
        }
        // Requests first: a client is waiting for them, while a reaped child's status only
        // matters to a client that could not get it from the child itself.
        let mut dead = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            if pfds[3 + i].revents == 0 {
                continue;
            }
            match handle_request(c) {
                Ok(Some(w)) => waiting.push(w),
                Ok(None) => {}
                Err(_) => dead.push(i),
            }
        }
        for i in dead.into_iter().rev() {
            clients.remove(i);
        }
        if pfds[2].revents != 0 {
            sys::drain_signalfd(sigfd.as_raw_fd());
            reap(&mut waiting);
        }
        if pfds[1].revents != 0 {
            if let Ok((stream, _)) = listener.accept() {
                if let Ok(conn) = Connection::from_fd(stream.into(), true, true) {
                    // A bounded handshake: a silent client cannot stall the server for long.
                    let ok =
                        sys::set_rcvtimeo(conn.fileno()?, Some(std::time::Duration::from_secs(5)))
                            .is_ok()
                            && deliver_challenge(&conn, &cfg.authkey).is_ok()
                            && answer_challenge(&conn, &cfg.authkey).is_ok()
                            && sys::set_rcvtimeo(conn.fileno()?, None).is_ok();
                    if ok {
                        clients.push(conn);
                    }
                }
            }
        }
    }
}

/// Reads one request and forks its child. `Ok(None)` when the request was refused (the
/// refusal was reported on its status socket); `Err` when the client connection is gone.
fn handle_request(conn: &Connection) -> Result<Option<Waiting>> {
    let (bytes, mut fds) = conn.recv_raw_with_fds()?;
    let Some(status_fd) = fds.pop() else {
        return Err(Error::value("request without a status socket"));
    };
    // The client made it with `sys::seqpacket_pair`.
    let status = Connection::from_packet_fd(status_fd, false, true);
    let prep: Prep = match reduction::decode_plain(&bytes) {
        Ok(p) => p,
        Err(e) => {
            let _ = status.send(&Reply::Failed(format!("bad request: {e}")));
            return Ok(None);
        }
    };
    drop(bytes);
    let entry = match bootstrap::check_task(&prep) {
        Ok(e) => e,
        Err(msg) => {
            let _ = status.send(&Reply::Failed(msg));
            return Ok(None);
        }
    };
    // Everything a child needs is prepared in the child: after a fork every page of the
    // server is copy-on-write, so each page the server writes for a child costs it a page
    // fault (and a copy while the child lives), where the child pays only for pages it
    // writes anyway.
    // SAFETY: the server is single-threaded, so the child may do anything after fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // Stdio, the status socket and the descriptors it was given; nothing of the server's.
        let mut keep: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        keep.push(status.as_raw_fd());
        keep.sort_unstable();
        close_all_but(&keep);
        sys::unblock_sigchld_sigint();
        bootstrap::enter_child(&prep);
        let code = bootstrap::run_child(&prep, || {
            bootstrap::enter_dir(&prep)?;
            bootstrap::invoke(entry, &prep.args, fds)
        });
        // The exit code reaches the parent without a detour through the server.
        let _ = status.send(&Reply::Finished(code));
        drop(status);
        bootstrap::exit_spawned(code);
    }
    drop(fds);
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        let _ = status.send(&Reply::Failed(format!("fork failed: {e}")));
        return Ok(None);
    }
    // The client learns the pid from us, at once, with a pidfd that cannot name another
    // process (we are the parent and have not reaped the child). The child may already have
    // written `Finished` before this: the client reads on until `Started`.
    let pidfd = sys::pidfd_open(pid).ok();
    let raw: Vec<RawFd> = pidfd.iter().map(|f| f.as_raw_fd()).collect();
    if let Ok(started) = reduction::encode_plain(&Reply::Started(pid)) {
        let _ = status.send_raw_with_fds(&started, &raw);
    }
    Ok(Some(Waiting { pid, status }))
}

/// Registers (once, in the server) an `on_exit` handler that ends the process right after
/// the handlers registered later, that is those of a child: it flushes C's stdio and calls
/// `_exit`. A child's `exit` then skips the dynamic loader's destructors (`_dl_fini`) and
/// the rest of libc's teardown, which only fault in pages of a process about to vanish.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn register_exit_tail() {
    unsafe extern "C" {
        fn on_exit(
            f: extern "C" fn(libc::c_int, *mut libc::c_void),
            arg: *mut libc::c_void,
        ) -> libc::c_int;
    }
    extern "C" fn tail(status: libc::c_int, _: *mut libc::c_void) {
        // SAFETY: flushing every C stream, then ending the process; nothing runs after.
        unsafe {
            libc::fflush(std::ptr::null_mut());
            libc::_exit(status)
        }
    }
    // SAFETY: glibc's `on_exit` with a plain function and no argument.
    unsafe { on_exit(tail, std::ptr::null_mut()) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn register_exit_tail() {}

fn sigint_mask(how: libc::c_int) {
    // SAFETY: building a signal set we own and changing this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigprocmask(how, &set, std::ptr::null_mut());
    }
}

fn block_sigint() {
    sigint_mask(libc::SIG_BLOCK);
}

/// Closes every descriptor from 3 up, except those in `keep` (sorted).
fn close_all_but(keep: &[RawFd]) {
    let mut from: libc::c_uint = 3;
    for &fd in keep {
        let fd = fd as libc::c_uint;
        if fd > from {
            // SAFETY: closing a range of descriptors that this (single-threaded, freshly
            // forked) process must not hold; nothing else owns them in the child.
            unsafe { libc::close_range(from, fd - 1, 0) };
        }
        from = from.max(fd + 1);
    }
    // SAFETY: as above.
    unsafe { libc::close_range(from, libc::c_uint::MAX, 0) };
}

fn reap(waiting: &mut Vec<Waiting>) {
    loop {
        match sys::waitpid_any() {
            Ok(Some((pid, st))) => {
                if let Some(i) = waiting.iter().position(|w| w.pid == pid) {
                    let w = waiting.swap_remove(i);
                    let _ = w.status.send(&Reply::Exited(st));
                }
            }
            _ => return,
        }
    }
}
