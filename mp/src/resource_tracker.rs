//! The resource tracker: Python's `multiprocessing.resource_tracker`.
//!
//! Named shared memory ([`SharedMemory`](crate::shared_memory::SharedMemory)) outlives the
//! processes that made it unless somebody unlinks it. As in CPython, a small tracker process
//! records the names that the processes of one program register, and when the last of those
//! processes has exited (by any means, `SIGKILL` included) it unlinks whatever is still
//! registered, printing a warning such as
//!
//! ```text
//! resource_tracker: There appear to be 1 leaked shared_memory objects to clean up at shutdown: ['/psm_5fa4c2d1']
//! ```
//!
//! One tracker serves a whole program: its processes find it through an abstract Unix socket
//! whose name derives from the program's authentication key (inherited by every child, under
//! every start method), and each must pass the HMAC handshake with that key. A process connects
//! on its first registration; a fork child shares its parent's connection. The tracker ignores
//! `SIGINT` and `SIGTERM`; if it is killed anyway, the next registration starts a new one, with
//! a warning that earlier registrations were lost.
//!
//! Anonymous memory (locks, `Value`, `Array`, queues) needs no tracker: the kernel frees it
//! with the last process that maps it.

use std::cell::UnsafeCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::connection::{Connection, answer_challenge, deliver_challenge};
use crate::error::{Error, ErrorKind, Result};
use crate::{futex, sys};

/// Marks the process as the tracker (set by [`crate::exec::spawn_self`]).
pub(crate) const TRACKER_ENV: &str = "__MP_RESOURCE_TRACKER";

/// The tracker's role among re-executed children.
#[linkme::distributed_slice(crate::exec::ROLES)]
static TRACKER_ROLE: crate::exec::Role = crate::exec::Role {
    env: TRACKER_ENV,
    run: serve,
};

/// The longest message (CPython limits a registration line to 512 bytes).
const MAX_MESSAGE: usize = 512;

/// The resource types the tracker knows how to clean up.
const RTYPES: [&str; 1] = ["shared_memory"];

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

struct Client {
    conn: Connection,
    tracker_pid: i32,
    /// The process that made the connection. A fork child makes its own (replies must not be
    /// read by the wrong process), keeping the inherited one open so that the tracker still
    /// counts the parent's family as alive.
    owner: i32,
}

/// A lock that a fork child can always take: the holder is recorded by pid, and a holder from
/// another pid can only be a thread of the parent that did not survive the fork.
struct ForkSafe<T> {
    holder: AtomicI32,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `holder`.
unsafe impl<T: Send> Sync for ForkSafe<T> {}

impl<T> ForkSafe<T> {
    const fn new(value: T) -> ForkSafe<T> {
        ForkSafe {
            holder: AtomicI32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let (me, _) = futex::ids();
        loop {
            match self
                .holder
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(h) if h != me => {
                    // Held by a thread of the process we were forked from: stale.
                    if self
                        .holder
                        .compare_exchange(h, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        break;
                    }
                }
                Err(_) => std::thread::yield_now(),
            }
        }
        struct Unlock<'a>(&'a AtomicI32);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(0, Ordering::Release);
            }
        }
        let _u = Unlock(&self.holder);
        // SAFETY: we hold the lock.
        f(unsafe { &mut *self.value.get() })
    }
}

static CLIENT: ForkSafe<Option<Client>> = ForkSafe::new(None);
/// Connections inherited from the parent (fork): kept open, never used.
static INHERITED: ForkSafe<Vec<Client>> = ForkSafe::new(Vec::new());

/// The tracker's abstract socket name for this program (derived from the authkey).
fn address_name() -> String {
    let mut h = Sha256::new();
    h.update(b"mp resource tracker\0");
    h.update(crate::process::info().authkey());
    let d = h.finalize();
    let hex: String = d[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("mp-resource-tracker-{hex}")
}

fn connect_existing() -> Option<Client> {
    let addr = SocketAddr::from_abstract_name(address_name().as_bytes()).ok()?;
    let stream = UnixStream::connect_addr(&addr).ok()?;
    let conn = Connection::from_fd(OwnedFd::from(stream), true, true).ok()?;
    let _ = sys::set_rcvtimeo(conn.fileno().ok()?, Some(Duration::from_secs(10)));
    let key = crate::process::info().authkey();
    answer_challenge(&conn, &key).ok()?;
    deliver_challenge(&conn, &key).ok()?;
    let pid = recv_pid(&conn)?;
    let _ = sys::set_rcvtimeo(conn.fileno().ok()?, None);
    Some(Client {
        conn,
        tracker_pid: pid,
        owner: sys::getpid(),
    })
}

fn recv_pid(conn: &Connection) -> Option<i32> {
    let b = conn.recv_bytes_max(16).ok()?;
    std::str::from_utf8(&b).ok()?.parse().ok()
}

/// Starts a tracker; `None` if another one already serves this program.
fn start_tracker() -> Result<Option<Client>> {
    let addr = address_name();
    let (pid, conn) = crate::exec::spawn_self(TRACKER_ENV, &[("__MP_RT_ADDR", addr)])?;
    let fail = |e: Error| {
        // SAFETY: kill + reap our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = sys::waitpid(pid, false);
        e
    };
    conn.send_bytes(&crate::process::info().authkey())
        .map_err(fail)?;
    crate::exec::await_child(&conn).map_err(fail)?;
    let got = recv_pid(&conn).ok_or_else(|| {
        fail(Error::new(
            ErrorKind::ProcessStart,
            "the resource tracker did not start",
        ))
    })?;
    if got == 0 {
        let _ = sys::waitpid(pid, false);
        return Ok(None);
    }
    Ok(Some(Client {
        conn,
        tracker_pid: got,
        owner: sys::getpid(),
    }))
}

fn connect() -> Result<Client> {
    for _ in 0..3 {
        if let Some(c) = connect_existing() {
            return Ok(c);
        }
        if let Some(c) = start_tracker()? {
            return Ok(c);
        }
        // Another process started the tracker meanwhile: connect to it.
    }
    Err(Error::new(
        ErrorKind::ProcessStart,
        "cannot reach or start the resource tracker",
    ))
}

fn send(line: &str) -> Result<()> {
    if line.len() > MAX_MESSAGE {
        return Err(Error::value("msg too long"));
    }
    CLIENT.with(|slot| {
        let me = sys::getpid();
        if slot.as_ref().is_some_and(|c| c.owner != me) {
            if let Some(old) = slot.take() {
                INHERITED.with(|v| v.push(old));
            }
        }
        let mut restarted = false;
        loop {
            if slot.is_none() {
                *slot = Some(connect()?);
            }
            let c = slot.as_ref().ok_or_else(|| Error::value("no tracker"))?;
            let sent = c.conn.send_bytes(line.as_bytes());
            match sent {
                Ok(()) => return Ok(()),
                Err(e) if !restarted => {
                    eprintln!(
                        "resource_tracker: process died unexpectedly ({e}), relaunching.  Some \
                         resources might leak."
                    );
                    *slot = None;
                    restarted = true;
                }
                Err(e) => return Err(e),
            }
        }
    })
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the machine, so that the
/// tracker can order messages that different processes sent on different connections.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn check(name: &str, rtype: &str) -> Result<()> {
    if !RTYPES.contains(&rtype) {
        return Err(Error::value(format!(
            "Cannot register {name} for automatic cleanup: unknown resource type {rtype}"
        )));
    }
    if name.is_empty() || name.contains('\0') || name.contains('\n') {
        return Err(Error::value(format!("bad resource name {name:?}")));
    }
    Ok(())
}

/// Makes sure the tracker of this program is running (starting it if needed): Python's
/// `resource_tracker.ensure_running()`.
///
/// # Errors
///
/// [`ErrorKind::ProcessStart`] if the tracker process cannot be started.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// mp::resource_tracker::ensure_running()?;
/// assert!(mp::resource_tracker::pid().is_some());
/// # Ok(()) }
/// ```
pub fn ensure_running() -> Result<()> {
    send(&format!("PROBE:shared_memory:{}:-", now_ns()))
}

/// The pid of the tracker this process talks to, if it has connected to one.
///
/// # Examples
///
/// See [`ensure_running`].
pub fn pid() -> Option<i32> {
    CLIENT.with(|slot| slot.as_ref().map(|c| c.tracker_pid))
}

/// Registers `name` (of type `rtype`, only `"shared_memory"` today) to be unlinked if it is
/// still registered when every process of the program has exited: Python's
/// `resource_tracker.register(name, rtype)`.
///
/// # Errors
///
/// [`ErrorKind::Value`] for an unknown type or a name that cannot be sent (empty, over 512
/// bytes, or containing a newline or NUL); [`ErrorKind::ProcessStart`] if no tracker can be started.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::resource_tracker::{register, unregister};
/// register("/some_segment", "shared_memory")?;
/// unregister("/some_segment", "shared_memory")?;
/// assert!(register("/x", "semaphore").is_err());
/// # Ok(()) }
/// ```
pub fn register(name: &str, rtype: &str) -> Result<()> {
    check(name, rtype)?;
    send(&format!("REGISTER:{rtype}:{}:{name}", now_ns()))
}

/// Forgets a registration (the segment was unlinked, or must survive the program): Python's
/// `resource_tracker.unregister(name, rtype)`.
///
/// # Errors
///
/// As [`register`].
///
/// # Examples
///
/// See [`register`].
pub fn unregister(name: &str, rtype: &str) -> Result<()> {
    check(name, rtype)?;
    send(&format!("UNREGISTER:{rtype}:{}:{name}", now_ns()))
}

// ---------------------------------------------------------------------------------------------
// Tracker side
// ---------------------------------------------------------------------------------------------

fn stderr_line(msg: &str) {
    // The tracker is single-threaded; write straight to fd 2.
    let line = format!("{msg}\n");
    let _ = sys::write_all(2, line.as_bytes());
}

fn unlink(rtype: &str, name: &str) -> std::io::Result<()> {
    debug_assert_eq!(rtype, "shared_memory");
    let c = std::ffi::CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a valid NUL-terminated name.
    if unsafe { libc::shm_unlink(c.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The tracker process's main loop (runs in a re-executed child, before `main`).
pub(crate) fn serve() -> ! {
    // SAFETY: ignoring two signals, as CPython's tracker does.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    // SAFETY: fd 3 was placed there by our parent's posix_spawn file actions.
    let fd = unsafe { OwnedFd::from_raw_fd(crate::exec::SPAWN_FD) };
    let _ = sys::set_cloexec(fd.as_raw_fd(), true);
    let Ok(first) = Connection::from_fd(fd, true, true) else {
        std::process::exit(1)
    };
    let Ok(authkey) = first.recv_bytes_max(1024) else {
        std::process::exit(1)
    };
    // Listen before answering, so that a child started right after the answer finds us.
    let listener = std::env::var("__MP_RT_ADDR")
        .ok()
        .and_then(|n| SocketAddr::from_abstract_name(n.as_bytes()).ok())
        .and_then(|a| UnixListener::bind_addr(&a).ok());
    // Pid 0 tells the starter that another tracker already serves this program (two processes
    // raced to start one): it connects to that one instead, and we exit.
    let pid = if listener.is_some() { sys::getpid() } else { 0 };
    if first.send_bytes(pid.to_string().as_bytes()).is_err() || pid == 0 {
        std::process::exit(0)
    }
    let mut clients = vec![first];
    let mut cache = Cache::default();
    while !clients.is_empty() {
        let n = clients.len();
        let mut pfds: Vec<libc::pollfd> = clients
            .iter()
            .map(|c| libc::pollfd {
                fd: c.fileno().unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if let Some(l) = &listener {
            pfds.push(libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if sys::poll(&mut pfds, None).is_err() {
            continue;
        }
        let mut gone = Vec::new();
        for (i, c) in clients.iter().enumerate().take(n) {
            if pfds[i].revents == 0 {
                continue;
            }
            match c.recv_bytes_max(MAX_MESSAGE) {
                Ok(msg) => handle(&msg, &mut cache),
                Err(_) => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            clients.swap_remove(i);
        }
        if let Some(l) = &listener {
            if pfds.get(n).is_some_and(|p| p.revents != 0) {
                if let Ok((stream, _)) = l.accept() {
                    if let Some(c) = welcome(stream, &authkey) {
                        clients.push(c);
                    }
                }
            }
        }
    }
    drop(listener);
    let registered = cache.registered();
    let leaked = !registered.is_empty();
    for rtype in RTYPES {
        let names: Vec<&String> = registered
            .iter()
            .filter(|(t, _)| t == rtype)
            .map(|(_, n)| n)
            .collect();
        if names.is_empty() {
            continue;
        }
        let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        stderr_line(&format!(
            "resource_tracker: There appear to be {} leaked {rtype} objects to clean up at \
             shutdown: [{}]",
            names.len(),
            list.join(", ")
        ));
        for n in names {
            if let Err(e) = unlink(rtype, n) {
                stderr_line(&format!("resource_tracker: {n:?}: {e}"));
            }
        }
    }
    std::process::exit(i32::from(leaked))
}

fn welcome(stream: UnixStream, authkey: &[u8]) -> Option<Connection> {
    let conn = Connection::from_fd(OwnedFd::from(stream), true, true).ok()?;
    let fd = conn.fileno().ok()?;
    // A client that stalls the handshake must not stall the tracker.
    sys::set_rcvtimeo(fd, Some(Duration::from_secs(5))).ok()?;
    deliver_challenge(&conn, authkey).ok()?;
    answer_challenge(&conn, authkey).ok()?;
    conn.send_bytes(sys::getpid().to_string().as_bytes()).ok()?;
    sys::set_rcvtimeo(fd, None).ok()?;
    Some(conn)
}

/// What the tracker knows: per (type, name), whether it is registered and the timestamp of
/// the latest message about it. A message older than that is stale (it was overtaken on another
/// connection) and ignored: a child's registration that arrives after its parent's later
/// unregistration does not resurrect the name.
#[derive(Default)]
struct Cache {
    entries: BTreeMap<(String, String), (bool, u64)>,
    /// Unregistered entries, oldest first, so that the map does not grow without bound.
    tombstones: VecDeque<((String, String), u64)>,
}

const MAX_TOMBSTONES: usize = 4096;

impl Cache {
    fn apply(&mut self, key: (String, String), register: bool, ts: u64) {
        if let Some(&(_, last)) = self.entries.get(&key) {
            if ts < last {
                return;
            }
        }
        if register {
            self.entries.insert(key, (true, ts));
        } else {
            self.entries.insert(key.clone(), (false, ts));
            self.tombstones.push_back((key, ts));
            while self.tombstones.len() > MAX_TOMBSTONES {
                if let Some((old, ts)) = self.tombstones.pop_front() {
                    if self.entries.get(&old) == Some(&(false, ts)) {
                        self.entries.remove(&old);
                    }
                }
            }
        }
    }

    fn registered(&self) -> BTreeSet<(String, String)> {
        self.entries
            .iter()
            .filter(|(_, (reg, _))| *reg)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

fn handle(msg: &[u8], cache: &mut Cache) {
    let Ok(s) = std::str::from_utf8(msg) else {
        return;
    };
    let mut parts = s.splitn(4, ':');
    let (Some(cmd), Some(rtype), Some(ts), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        stderr_line(&format!("resource_tracker: bad message {s:?}"));
        return;
    };
    let Ok(ts) = ts.parse::<u64>() else {
        stderr_line(&format!("resource_tracker: bad message {s:?}"));
        return;
    };
    if !RTYPES.contains(&rtype) {
        stderr_line(&format!(
            "resource_tracker: unknown resource type {rtype:?}"
        ));
        return;
    }
    let key = (rtype.to_string(), name.to_string());
    match cmd {
        "REGISTER" => cache.apply(key, true, ts),
        "UNREGISTER" => cache.apply(key, false, ts),
        "PROBE" => {}
        _ => stderr_line(&format!("resource_tracker: unrecognized command {cmd:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> (String, String) {
        ("shared_memory".into(), n.into())
    }

    #[test]
    fn stale_messages_are_ignored() {
        let mut c = Cache::default();
        // A child's registration (t=1) arrives after the parent's unregistration (t=2).
        c.apply(key("a"), false, 2);
        c.apply(key("a"), true, 1);
        assert!(c.registered().is_empty());
        // A late unregistration (t=3) after a re-creation (t=4).
        c.apply(key("b"), true, 4);
        c.apply(key("b"), false, 3);
        assert_eq!(c.registered().len(), 1);
        // In order, the last one wins.
        c.apply(key("b"), false, 5);
        c.apply(key("b"), true, 6);
        c.apply(key("b"), true, 6);
        assert_eq!(c.registered().len(), 1);
    }

    #[test]
    fn tombstones_are_bounded() {
        let mut c = Cache::default();
        for i in 0..(MAX_TOMBSTONES as u64 + 100) {
            c.apply(key(&i.to_string()), true, i);
            c.apply(key(&i.to_string()), false, i);
        }
        assert!(c.entries.len() <= MAX_TOMBSTONES);
        assert!(c.registered().is_empty());
    }

    #[test]
    fn messages_parse() {
        let mut c = Cache::default();
        handle(b"REGISTER:shared_memory:10:/psm_a:b", &mut c);
        assert_eq!(c.registered().len(), 1, "names may contain ':'");
        handle(b"UNREGISTER:shared_memory:11:/psm_a:b", &mut c);
        assert!(c.registered().is_empty());
        handle(b"REGISTER:semaphore:12:/x", &mut c);
        handle(b"garbage", &mut c);
        assert!(c.registered().is_empty());
    }
}
