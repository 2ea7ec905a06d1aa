//! `Listener` and `Client`: Python's socket-based `multiprocessing.connection` endpoints, with
//! CPython's authentication handshake and framing, so that either end may be a Python program.
//!
//! This module holds the `Listener`; addresses live in `address`, the `Client` in `client`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Connection, Fd, OwnedFdDe, auth};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

mod address;
mod client;
mod memory;

pub use address::{Address, Family, ToAddress};
pub use client::{Client, ClientBuilder, ClientBuilderIn, ClientIn};
pub use memory::InMemoryListener;
pub(crate) use memory::connect as memory_connect;

use address::check_family;

/// Which key a handshake uses.
#[derive(Clone)]
enum AuthKey {
    /// `current_process().authkey()`, read when needed (Python 2's `authenticate=True`).
    Process,
    /// No handshake (Python 3's `authkey=None`): the default.
    Off,
    Key(Vec<u8>),
}

/// Where [`AuthKey::Process`] reads the process's key: registered by `process`, which owns
/// it (this module sits below it).
static PROCESS_KEY: std::sync::OnceLock<fn() -> Vec<u8>> = std::sync::OnceLock::new();

/// Registers the source of `current_process().authkey()` (the first registration stays).
pub(crate) fn set_process_authkey_source(key: fn() -> Vec<u8>) {
    let _ = PROCESS_KEY.set(key);
}

/// `current_process().authkey()`. Before `process` registered its source, the key is the
/// main process's first one, which `process` takes from [`initial_process_authkey`] too: the
/// two agree whichever asks first.
fn process_authkey() -> Vec<u8> {
    match PROCESS_KEY.get() {
        Some(key) => key(),
        None => initial_process_authkey(),
    }
}

/// The main process's first authkey: 32 random bytes, made on first use.
pub(crate) fn initial_process_authkey() -> Vec<u8> {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = vec![0u8; 32];
        crate::sys::random_bytes(&mut k);
        k
    })
    .clone()
}

impl AuthKey {
    fn resolve(&self) -> Option<Vec<u8>> {
        match self {
            AuthKey::Process => Some(process_authkey()),
            AuthKey::Off => None,
            AuthKey::Key(k) => Some(k.clone()),
        }
    }

    /// Python 2's `authenticate` flag over the key set so far.
    fn authenticate(self, on: bool) -> AuthKey {
        match (on, self) {
            (false, _) => AuthKey::Off,
            (true, AuthKey::Off) => AuthKey::Process,
            (true, k) => k,
        }
    }
}

enum Socket {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Socket {
    fn fd(&self) -> RawFd {
        match self {
            Socket::Unix(l) => l.as_raw_fd(),
            Socket::Tcp(l) => l.as_raw_fd(),
        }
    }

    /// `accept` polls and then accepts without blocking, so that a client taken by another
    /// thread or process in between cannot leave it stuck in accept(2).
    fn set_nonblocking(&self) -> Result<()> {
        match self {
            Socket::Unix(l) => l.set_nonblocking(true),
            Socket::Tcp(l) => l.set_nonblocking(true),
        }
        .map_err(|e| Error::os("cannot make the listening socket non-blocking", e))
    }
}

/// What the creating process removes when the listener closes.
struct Cleanup {
    pid: i32,
    path: PathBuf,
    dir: Option<PathBuf>,
}

/// A bound, listening socket that hands out [`Connection`]s, authenticated if it has a key:
/// Python's `multiprocessing.connection.Listener`.
///
/// As in CPython 3, a listener without a key runs no handshake (`authkey=None`): anyone who
/// can connect gets a connection. [`ListenerBuilder::authkey`] sets a key, which clients must
/// know ([`ClientBuilder::authkey`]); to use the process's key as managers do, pass
/// [`current_process().authkey()`](crate::CurrentProcess::authkey), or call
/// [`ListenerBuilder::authenticate(true)`](ListenerBuilder::authenticate) (Python 2's
/// `authenticate=True`).
///
/// Robustness, with a key: handshakes run concurrently, so a client that says nothing (or
/// dribbles bytes) delays no other client; [`accept`](Listener::accept) returns the next
/// client that completed its handshake. (The thread in `accept` authenticates a prompt client
/// itself; a slow one, or one during whose handshake another client arrives, continues on a
/// thread of its own.) A handshake must finish within
/// [`DEFAULT_HANDSHAKE_TIMEOUT`](Listener::DEFAULT_HANDSHAKE_TIMEOUT) (configurable), or the
/// client is dropped (and logged, see [`logging`](crate::logging)); handshake messages are
/// capped at 256 bytes, and at most 64 clients are authenticated at once (more wait in the
/// kernel's backlog). Accepted connections refuse messages over
/// [`DEFAULT_MAX_MESSAGE`](Listener::DEFAULT_MAX_MESSAGE) (configurable).
///
/// A client that authenticates with another listener's key, or not at all, is told so: see
/// [`accept`](Listener::accept) and [`ClientBuilder::connect`].
///
/// The listener closes on drop; the socket file of a Unix path (and the private directory of
/// a default address) is removed by the process that created the listener.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::connection::{Client, Listener};
/// let listener = Listener::builder().authkey(b"secret password").bind()?;
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || -> mp::Result<()> {
///     let conn = Client::builder(&address).authkey(b"secret password").connect()?;
///     conn.send_bytes(b"hello")?;
///     Ok(())
/// });
/// let conn = listener.accept()?;
/// assert_eq!(conn.recv_bytes()?, b"hello");
/// t.join().unwrap()?;
/// # Ok(()) }
/// ```
pub struct Listener {
    socket: Socket,
    address: Address,
    authkey: AuthKey,
    handshake_timeout: Option<Duration>,
    max_message: Option<u64>,
    last_accepted: Mutex<Option<Address>>,
    closed: AtomicBool,
    cleanup: Option<Cleanup>,
    /// The handshakes under way, shared with clones made by [`Listener::try_clone`]; made on
    /// the first authenticating accept (or clone) of each process.
    hub: Mutex<Option<Arc<Hub>>>,
}

/// Builds a [`Listener`]: Python's keyword arguments `address`, `family`, `backlog`,
/// `authkey`, plus limits.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use mp::connection::{Family, Listener};
/// let l = Listener::builder()
///     .address(("127.0.0.1", 0))
///     .family(Family::Inet)
///     .backlog(16)
///     .authkey(b"key")
///     .bind()?;
/// assert_ne!(l.address().to_string(), "127.0.0.1:0"); // the port was chosen
/// # Ok(()) }
/// ```
pub type ListenerBuilder = ListenerBuilderIn<Listener>;

/// Builds a listener of type `T`: [`ListenerBuilder`] for sockets, and
/// `mp::dummy::connection::ListenerBuilder` for
/// the in-memory listener, which accepts the same settings and ignores what it cannot use
/// (family, key, handshake timeout), as Python's dummy module does.
#[must_use = "call `.bind()` to create the listener"]
pub struct ListenerBuilderIn<T> {
    pub(crate) address: Option<Result<Address>>,
    family: Option<Family>,
    pub(crate) backlog: i32,
    authkey: AuthKey,
    handshake_timeout: Option<Duration>,
    pub(crate) max_message: Option<u64>,
    _listener: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ListenerBuilderIn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerBuilder")
            .field("address", &self.address)
            .field("family", &self.family)
            .field("backlog", &self.backlog)
            .field("authkey", &self.authkey)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_message", &self.max_message)
            .finish()
    }
}

/// A listener type that a [`ListenerBuilderIn`] builds. Sealed.
pub trait Bind: Sized + sealed::BindImpl {}

impl<T: sealed::BindImpl> Bind for T {}

pub(crate) mod sealed {
    pub trait BindImpl: Sized {
        fn bind(b: super::ListenerBuilderIn<Self>) -> crate::Result<Self>;
    }
}

impl<T> ListenerBuilderIn<T> {
    /// Every default: no address (a fresh one), backlog 1, no key.
    pub(crate) fn new() -> ListenerBuilderIn<T> {
        ListenerBuilderIn {
            address: None,
            family: None,
            backlog: 1,
            authkey: AuthKey::Off,
            handshake_timeout: Some(Listener::DEFAULT_HANDSHAKE_TIMEOUT),
            max_message: Some(Listener::DEFAULT_MAX_MESSAGE),
            _listener: PhantomData,
        }
    }
}

impl Listener {
    /// How long an authenticating listener gives a client to finish the handshake, and an
    /// authenticating [`Client`] waits for the listener's (see
    /// [`ListenerBuilder::handshake_timeout`], [`ClientBuilder::handshake_timeout`]).
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The largest message an accepted connection (or a [`Client`]) receives by default.
    pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 30;

    /// A listener with every default: a fresh Unix socket in a private temporary directory,
    /// backlog 1, no authentication: Python's `Listener()`.
    ///
    /// # Errors
    ///
    /// The socket cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::new()?;
    /// let mp::connection::Address::Unix(path) = l.address().clone() else { unreachable!() };
    /// assert!(path.exists());
    /// drop(l);
    /// assert!(!path.exists());
    /// # Ok(()) }
    /// ```
    pub fn new() -> Result<Listener> {
        Listener::builder().bind()
    }

    /// A listener on `address` with the other defaults (no authentication): Python's
    /// `Listener(address)`.
    ///
    /// # Errors
    ///
    /// The address is malformed, or in use ([`ErrorKind::Os`], `EADDRINUSE`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::bind("127.0.0.1:0")?;
    /// assert!(mp::connection::Listener::bind(l.address()).is_err()); // in use
    /// # Ok(()) }
    /// ```
    pub fn bind(address: impl ToAddress) -> Result<Listener> {
        Listener::builder().address(address).bind()
    }

    /// A builder for the other arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::builder().address("\0mp-doc-builder").bind()?;
    /// assert_eq!(l.address().to_string(), "@mp-doc-builder");
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ListenerBuilder {
        ListenerBuilderIn::new()
    }

    /// Waits for a client without blocking the executor, then accepts it: `accept` for async
    /// code (feature `tokio` or `async-io`). The authentication handshake of the client that
    /// arrived runs to its end (its timeout bounds it). Cancel-safe: a dropped future accepted
    /// nobody.
    ///
    /// # Errors
    ///
    /// As [`accept`](Listener::accept).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::builder().authkey(b"key").bind()?;
    /// let address = l.address().clone();
    /// let t = std::thread::spawn(move || Client::builder(&address).authkey(b"key").connect());
    /// let server_side = l.accept_async().await?;
    /// let client_side = t.join().unwrap()?;
    /// client_side.send(&5u8)?;
    /// assert_eq!(server_side.recv_async::<u8>().await?, 5);
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    #[cfg(feature = "async")]
    pub async fn accept_async(&self) -> Result<Connection> {
        crate::connection::wait::readable(self).await?;
        self.accept()
    }

    /// Waits for a client and returns the connection: Python's `accept()`.
    ///
    /// Without a key that is the next client in the kernel's backlog. With a key it is the
    /// next client that completed the handshake: `accept` takes new clients from the backlog
    /// while it waits and authenticates them concurrently (a prompt one on the calling
    /// thread, others on a thread each, at most 64 at once), so a silent or slow client
    /// delays no other. A client that does not finish the handshake within the handshake timeout, or
    /// breaks it off (closes, sends an oversized message), is dropped and logged at info level
    /// (see [`logging`](crate::logging)); handshakes under way continue after `accept`
    /// returns, and the next call (in any thread, or through a clone from
    /// [`try_clone`](Listener::try_clone)) collects them. (So [`wait`](super::wait) on an
    /// authenticating listener, which watches the socket, reports clients still in the
    /// backlog, not handshakes finished after the last `accept` returned: call `accept` from
    /// a thread of its own to serve every client promptly.)
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`] if a client answered the challenge wrongly: it has
    /// another key ("digest received was wrong"), or none, so that its first message came
    /// where the answer should be (then the message says so); as in CPython, and the
    /// listener stays usable. [`ErrorKind::Os`] if the listener is closed (also when another
    /// thread closes it while this one waits), the process is out of descriptors or threads.
    ///
    /// # Examples
    ///
    /// See [`Listener`]. A client with the wrong key:
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::builder().authkey(b"right").bind()?;
    /// let address = l.address().clone();
    /// let t = std::thread::spawn(move || Client::builder(&address).authkey(b"wrong").connect());
    /// assert_eq!(l.accept().unwrap_err().kind(), mp::ErrorKind::Authentication);
    /// assert_eq!(t.join().unwrap().unwrap_err().kind(), mp::ErrorKind::Authentication);
    /// # Ok(()) }
    /// ```
    pub fn accept(&self) -> Result<Connection> {
        let Some(key) = self.authkey.resolve() else {
            // No handshake: the next client, straight from the kernel. (Poll first: an
            // accept(2) that finds nobody costs a socket allocation in the kernel.)
            loop {
                self.wait_for(true, None, None)?;
                if let Some((fd, peer)) = self.accept_now(None)? {
                    *self.last_accepted.lock().unwrap_or_else(|e| e.into_inner()) = peer;
                    let conn = Connection::from_stream_fd(fd);
                    conn.set_max_message_size(self.max_message);
                    return Ok(conn);
                }
            }
        };
        let hub = self.hub()?;
        // The handshake this thread runs itself while it waits: a prompt client costs no
        // thread. It goes to a thread of its own when the client is slow (part of a message
        // came) or when something else needs this thread (another client, a finished
        // handshake to return).
        let mut inline: Option<Handshake> = None;
        let r = self.accept_authenticated(&hub, &key, &mut inline);
        if let Some(h) = inline.take() {
            // Leaving with an error (out of descriptors...): the client is not lost.
            hub.hand_off(h);
        }
        r
    }

    /// The loop of [`accept`](Listener::accept) with a key; `inline` is the handshake this
    /// thread runs itself.
    fn accept_authenticated(
        &self,
        hub: &Arc<Hub>,
        key: &[u8],
        inline: &mut Option<Handshake>,
    ) -> Result<Connection> {
        // Whether the last poll saw a client in the backlog: accept(2) is called only then,
        // as one that finds nobody costs a socket allocation in the kernel.
        let mut pending = false;
        loop {
            if self.closed() {
                return Err(listener_closed());
            }
            if let Some(done) = hub.take()? {
                if let Some(h) = inline.take() {
                    hub.hand_off(h);
                }
                let (conn, peer) = done?;
                *self.last_accepted.lock().unwrap_or_else(|e| e.into_inner()) = peer;
                return Ok(conn);
            }
            let room = hub.has_room();
            if room
                && std::mem::take(&mut pending)
                && let Some((fd, peer)) = self.accept_now(Some(hub))?
            {
                if let Some(h) = inline.take() {
                    hub.hand_off(h);
                }
                let conn = Connection::from_stream_fd(fd);
                let deadline = self.handshake_timeout.and_then(sys::deadline_after);
                match auth::ServerHandshake::start(&conn, key.to_vec(), deadline) {
                    Ok(hs) => {
                        *inline = Some(Handshake {
                            conn,
                            peer,
                            hs,
                            timeout: self.handshake_timeout,
                            max_message: self.max_message,
                            address: self.address.clone(),
                        })
                    }
                    Err(e) => log_dropped(&self.address, &peer, self.handshake_timeout, &e),
                }
                continue;
            }
            let (listen, ready, timed_out) = self.wait_for(room, Some(hub), inline.as_ref())?;
            pending = listen;
            let Some(mut h) = inline.take() else {
                continue;
            };
            if ready {
                if !auth::message_ready(h.conn.as_raw_fd()) {
                    hub.hand_off(h); // a slow client: a thread waits for the rest
                    continue;
                }
                match h.hs.step_ready(&h.conn) {
                    Ok(true) => {
                        h.conn.set_max_message_size(self.max_message);
                        *self.last_accepted.lock().unwrap_or_else(|e| e.into_inner()) = h.peer;
                        return Ok(h.conn);
                    }
                    Ok(false) => *inline = Some(h),
                    // What CPython's accept raises: the caller hears of it.
                    Err(e) if e.kind() == ErrorKind::Authentication => return Err(e),
                    Err(e) => log_dropped(&h.address, &h.peer, h.timeout, &e),
                }
            } else if timed_out {
                let e = Error::new(ErrorKind::Timeout, "timed out");
                log_dropped(&h.address, &h.peer, h.timeout, &e);
            } else {
                *inline = Some(h);
            }
        }
    }

    /// One non-blocking `accept(2)`: `None` when no client is waiting (or one vanished before
    /// it was taken).
    fn accept_now(&self, hub: Option<&Hub>) -> Result<Option<(OwnedFd, Option<Address>)>> {
        if self.closed() || hub.is_some_and(Hub::is_shut) {
            return Err(listener_closed());
        }
        let r = match &self.socket {
            Socket::Unix(l) => l
                .accept()
                .map(|(s, a)| (OwnedFd::from(s), Address::from_unix(&a))),
            Socket::Tcp(l) => l.accept().map(|(s, a)| {
                let _ = s.set_nodelay(true);
                (OwnedFd::from(s), Some(Address::Tcp(a)))
            }),
        };
        match r {
            // Accepted sockets do not inherit O_NONBLOCK on Linux: the connection blocks.
            Ok(c) => Ok(Some(c)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.accept_error(e)),
        }
    }

    /// Sleeps until a client may be waiting (if `clients`), a handshake finished (if `hub`),
    /// the `inline` handshake's client sent something or its deadline passed, or the socket
    /// was shut down ([`close`](Listener::close), here or in another process). Returns
    /// whether a client waits in the backlog, whether the inline client sent something, and
    /// whether its deadline passed.
    fn wait_for(
        &self,
        clients: bool,
        hub: Option<&Hub>,
        inline: Option<&Handshake>,
    ) -> Result<(bool, bool, bool)> {
        let deadline = inline.and_then(|h| h.hs.deadline());
        let mut fds = [
            libc::pollfd {
                fd: self.socket.fd(),
                events: if clients { libc::POLLIN } else { 0 },
                revents: 0,
            },
            libc::pollfd {
                fd: hub.map_or(-1, |h| h.wake.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: inline.map_or(-1, |h| h.conn.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let n = sys::poll(&mut fds, timeout).map_err(|e| Error::os("poll", e))?;
        // A listening socket that was shut down polls as hung up (a Unix one also as
        // readable, while accept(2) says EAGAIN).
        if self.closed() || fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return Err(listener_closed());
        }
        let timed_out = n == 0 && deadline.is_some_and(|d| Instant::now() >= d);
        Ok((fds[0].revents != 0, fds[2].revents != 0, timed_out))
    }

    /// This process's handshake hub, made on first use.
    fn hub(&self) -> Result<Arc<Hub>> {
        let mut g = self.hub.lock().unwrap_or_else(|e| e.into_inner());
        match &*g {
            Some(h) if h.pid == sys::getpid() => Ok(h.clone()),
            _ => {
                // A hub inherited through fork() belongs to the parent's threads: leave it.
                if let Some(old) = g.take() {
                    std::mem::forget(old);
                }
                let h = Arc::new(Hub::new()?);
                h.handles.fetch_add(1, Ordering::AcqRel);
                *g = Some(h.clone());
                Ok(h)
            }
        }
    }

    fn accept_error(&self, e: std::io::Error) -> Error {
        if self.closed() {
            listener_closed()
        } else {
            Error::os("accept", e)
        }
    }

    /// The address the listener is bound to (with the port the system chose, if it was 0):
    /// Python's `address`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::bind(("127.0.0.1", 0))?;
    /// let mp::connection::Address::Tcp(a) = l.address() else { unreachable!() };
    /// assert_ne!(a.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The address of the last accepted client: Python's `last_accepted`. `None` before the
    /// first accept, and for Unix clients, whose sockets have no name.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::new()?;
    /// assert_eq!(l.last_accepted(), None);
    /// # Ok(()) }
    /// ```
    pub fn last_accepted(&self) -> Option<Address> {
        self.last_accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Closes the listener: Python's `close()`. A thread blocked in
    /// [`accept`](Listener::accept) wakes up with an error; later accepts fail. Handshakes
    /// under way are broken off: their clients see the connection close (the client that an
    /// accepting thread was authenticating itself, when that `accept` returns), and the
    /// handshake threads have ended when `close` returns. The socket file of a Unix path is removed (by the
    /// process that created the listener). Later calls are no-ops.
    ///
    /// `close` shuts the socket down, also for copies of it in other processes (see
    /// [`try_clone`](Listener::try_clone)); dropping a listener only releases this copy (and,
    /// in the creating process, removes the socket file).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::new()?;
    /// l.close();
    /// assert!(l.closed());
    /// assert_eq!(l.accept().unwrap_err().kind(), mp::ErrorKind::Os);
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: shutdown on a descriptor we own; it wakes threads blocked in accept.
        unsafe { libc::shutdown(self.socket.fd(), libc::SHUT_RDWR) };
        if let Some(hub) = self.this_process_hub() {
            hub.shut();
        }
        self.remove_file();
    }

    /// The hub, if this process made one (a hub inherited through fork() is not ours).
    fn this_process_hub(&self) -> Option<Arc<Hub>> {
        let g = self.hub.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().filter(|h| h.pid == sys::getpid()).cloned()
    }

    fn remove_file(&self) {
        if let Some(c) = &self.cleanup
            && c.pid == sys::getpid()
        {
            let _ = std::fs::remove_file(&c.path);
            if let Some(d) = &c.dir {
                let _ = std::fs::remove_dir(d);
            }
        }
    }

    /// A second handle on the same listening socket (a duplicated descriptor), for example
    /// to pass to a child process that accepts while this process keeps the listener (and
    /// its socket file) alive. Clones in one process share the handshakes under way: a
    /// client authenticated while one clone waited may be returned by another's `accept`.
    ///
    /// # Errors
    ///
    /// Out of descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::new()?;
    /// let l2 = l.try_clone()?;
    /// drop(l2); // the socket file stays: `l` owns it
    /// let mp::connection::Address::Unix(path) = l.address() else { unreachable!() };
    /// assert!(path.exists());
    /// # Ok(()) }
    /// ```
    pub fn try_clone(&self) -> Result<Listener> {
        let fd = sys::dup(self.socket.fd()).map_err(|e| Error::os("dup", e))?;
        let socket = match &self.socket {
            Socket::Tcp(_) => Socket::Tcp(TcpListener::from(fd)),
            Socket::Unix(_) => Socket::Unix(UnixListener::from(fd)),
        };
        // Clones in this process share the handshakes under way.
        let hub = match self.authkey {
            AuthKey::Off => None,
            _ => {
                let h = self.hub()?;
                h.handles.fetch_add(1, Ordering::AcqRel);
                Some(h)
            }
        };
        Ok(Listener {
            socket,
            address: self.address.clone(),
            authkey: self.authkey.clone(),
            handshake_timeout: self.handshake_timeout,
            max_message: self.max_message,
            last_accepted: Mutex::new(None),
            closed: AtomicBool::new(false),
            cleanup: None,
            hub: Mutex::new(hub),
        })
    }

    /// Whether [`close`](Listener::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::new()?;
    /// assert!(!l.closed());
    /// # Ok(()) }
    /// ```
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

fn listener_closed() -> Error {
    Error::new(ErrorKind::Os, "the listener is closed")
}

/// Most clients a listener authenticates at once (handshakes under way plus finished ones not
/// yet returned by `accept`); further clients wait in the kernel's backlog.
const MAX_PENDING: usize = 64;

/// A client in the middle of its handshake.
struct Handshake {
    conn: Connection,
    peer: Option<Address>,
    hs: auth::ServerHandshake,
    timeout: Option<Duration>,
    max_message: Option<u64>,
    /// The listener's, for the log.
    address: Address,
}

/// Logs a client dropped during its handshake (a timeout, a hang-up, a broken message).
fn log_dropped(address: &Address, peer: &Option<Address>, timeout: Option<Duration>, e: &Error) {
    let who = peer
        .as_ref()
        .map_or_else(|| "a client".to_owned(), |p| format!("client {p}"));
    if e.kind() == ErrorKind::Timeout {
        crate::logging::info!(
            "listener {address}: dropped {who}: it did not finish the authentication handshake \
             within {:?}",
            timeout.unwrap_or_default()
        );
    } else {
        crate::logging::info!(
            "listener {address}: dropped {who} during the authentication handshake: {e}"
        );
    }
}

/// What `accept` returns for a finished handshake.
type Done = Result<(Connection, Option<Address>)>;

/// The handshakes of one listening socket in one process: each runs on its own thread, so a
/// silent or slow client delays nobody; `accept` collects them in the order they finish.
struct Hub {
    /// The process the threads belong to.
    pid: i32,
    /// An eventfd in semaphore mode holding one count per entry of `State::done`, so that
    /// `accept` can sleep in poll(2) on it and the listening socket together.
    wake: OwnedFd,
    /// Listener handles (the one that made the hub and its clones) of this process; the
    /// last one to go shuts the hub.
    handles: AtomicUsize,
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    next: u64,
    /// Handshakes under way: the client's descriptor (open while its entry is here) and the
    /// thread.
    running: HashMap<u64, (RawFd, Option<crate::thread::JoinHandle<()>>)>,
    done: VecDeque<Done>,
    shut: bool,
}

impl Hub {
    fn new() -> Result<Hub> {
        // SAFETY: eventfd with integer flags; the result is checked before use.
        let fd = sys::cvt(unsafe {
            libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE,
            )
        })
        .map_err(|e| Error::os("eventfd", e))?;
        Ok(Hub {
            pid: sys::getpid(),
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
            handles: AtomicUsize::new(0),
            state: Mutex::new(HubState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_shut(&self) -> bool {
        self.lock().shut
    }

    fn has_room(&self) -> bool {
        let st = self.lock();
        st.running.len() + st.done.len() < MAX_PENDING
    }

    /// Adds one count to the eventfd.
    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        let _ = unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&raw const one).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Takes one count from the eventfd.
    fn unsignal(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd (non-blocking).
        let _ = unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                (&raw mut n).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// The oldest finished handshake, if any.
    fn take(&self) -> Result<Option<Done>> {
        let mut st = self.lock();
        if st.shut {
            return Err(listener_closed());
        }
        let done = st.done.pop_front();
        if done.is_some() {
            self.unsignal();
        }
        Ok(done)
    }

    /// Gives the rest of a handshake to a thread of its own; if none can be started, the
    /// client is dropped (and logged).
    fn hand_off(self: &Arc<Self>, h: Handshake) {
        if self.is_shut() {
            return; // the listener closed: so does the client's connection
        }
        let (address, peer) = (h.address.clone(), h.peer.clone());
        if let Err(e) = self.start(h) {
            crate::logging::warning!(
                "listener {address}: dropped {} during the authentication handshake: {e}",
                peer.map_or_else(|| "a client".to_owned(), |p| format!("client {p}"))
            );
        }
    }

    /// Runs the rest of a handshake on a new thread.
    fn start(self: &Arc<Self>, h: Handshake) -> Result<()> {
        let mut st = self.lock();
        if st.shut {
            return Err(listener_closed());
        }
        let id = st.next;
        st.next += 1;
        let fd = h.conn.as_raw_fd();
        let hub = self.clone();
        // Under the lock, so that the entry is in place before the thread can finish.
        let thread = crate::thread::spawn("mp-listener-auth", move || hub.run(id, h))
            .map_err(|e| Error::os("cannot start a thread for the authentication handshake", e))?;
        st.running.insert(id, (fd, Some(thread)));
        Ok(())
    }

    /// The thread of one handshake.
    fn run(&self, id: u64, h: Handshake) {
        let Handshake {
            conn,
            peer,
            hs,
            timeout,
            max_message,
            address,
        } = h;
        let r = hs.finish(&conn);
        let mut st = self.lock();
        // Our own handle: dropping it detaches this (ending) thread.
        st.running.remove(&id);
        if st.shut {
            return;
        }
        match r {
            Ok(()) => {
                conn.set_max_message_size(max_message);
                st.done.push_back(Ok((conn, peer)));
            }
            // What CPython's accept raises: the caller hears of it.
            Err(e) if e.kind() == ErrorKind::Authentication => st.done.push_back(Err(e)),
            Err(e) => {
                log_dropped(&address, &peer, timeout, &e);
                return;
            }
        }
        self.signal();
    }

    /// Ends every handshake under way (their clients see the connection close), drops the
    /// finished ones nobody took, and waits for the threads; later calls do nothing.
    fn shut(&self) {
        let threads: Vec<_> = {
            let mut st = self.lock();
            if st.shut {
                return;
            }
            st.shut = true;
            st.done.clear();
            st.running
                .drain()
                .filter_map(|(_, (fd, thread))| {
                    // SAFETY: `fd` is open: its thread closes it only after removing the
                    // entry, under this lock. Shutting it down wakes the thread.
                    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                    thread
                })
                .collect()
        };
        // Wake the callers of `accept` (they find the hub shut).
        self.signal();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(hub) = self.this_process_hub()
            && hub.handles.fetch_sub(1, Ordering::AcqRel) == 1
        {
            // The last handle of this process: nobody will accept these clients.
            hub.shut();
        }
        if !self.closed() {
            self.remove_file();
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.fd()
    }
}

/// The listening socket. [`close`](Listener::close) shuts it down but keeps it open until the
/// listener is dropped, so the borrowed descriptor stays valid.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// # fn main() -> mp::Result<()> {
/// let l = mp::Listener::bind("127.0.0.1:0")?;
/// let fd = l.as_fd().try_clone_to_owned()?;
/// drop(fd);
/// # Ok(()) }
/// ```
impl AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.socket {
            Socket::Unix(l) => l.as_fd(),
            Socket::Tcp(l) => l.as_fd(),
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticate", &!matches!(self.authkey, AuthKey::Off))
            .field("closed", &self.closed())
            .finish()
    }
}

/// A fresh private directory and a socket path inside it (Python's `arbitrary_address`).
fn default_unix_address() -> Result<(PathBuf, PathBuf)> {
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let mut r = [0u8; 6];
        sys::random_bytes(&mut r);
        let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("mp-{}-{tag}", sys::getpid()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let path = dir.join("listener");
                return Ok((dir, path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::os(
                    format!("cannot create a directory in {}", base.display()),
                    e,
                ));
            }
        }
    }
    Err(Error::new(
        ErrorKind::Os,
        "cannot create a private directory for the listener",
    ))
}

use std::os::unix::fs::DirBuilderExt;

fn set_backlog(fd: RawFd, backlog: i32) -> Result<()> {
    // Calling listen(2) again on a listening socket changes its backlog.
    // SAFETY: listen on a descriptor we own.
    sys::cvt(unsafe { libc::listen(fd, backlog.max(0)) })
        .map(|_| ())
        .map_err(|e| Error::os("listen", e))
}

impl<T: Bind> ListenerBuilderIn<T> {
    /// Where to listen (default: a fresh Unix socket in a private temporary directory).
    /// Errors in the address are reported by [`bind`](ListenerBuilder::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::connection::Listener::builder().address("[::1]:0").bind();
    /// # let _ = l; // IPv6 may be disabled on the machine
    /// # Ok(()) }
    /// ```
    pub fn address(mut self, address: impl ToAddress) -> Self {
        self.address = Some(address.to_address());
        self
    }

    /// The family (default: inferred from the address; `Unix` without an address). An
    /// address of another family is an error at [`bind`](ListenerBuilder::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use mp::connection::{Family, Listener};
    /// let l = Listener::builder().family(Family::Inet).bind()?; // 127.0.0.1, any port
    /// assert_eq!(l.address().family(), Family::Inet);
    /// assert!(Listener::builder().address("/tmp/x").family(Family::Inet).bind().is_err());
    /// # Ok(()) }
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.family = Some(family);
        self
    }

    /// The `listen(2)` backlog (default 1, as in CPython).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::connection::Listener::builder().backlog(128).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The authentication key: clients must prove they know it (default: none, no
    /// handshake, as CPython 3's `authkey=None`). For the process's key, as managers use,
    /// pass [`mp::current_process().authkey()`](crate::CurrentProcess::authkey). An empty key
    /// still performs the handshake (as CPython's `Client` does; CPython's `Listener` skips
    /// it for an empty key).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::connection::Listener::builder().authkey(b"secret").bind()?;
    /// let _m = mp::connection::Listener::builder()
    ///     .authkey(mp::current_process().authkey())
    ///     .bind()?;
    /// # Ok(()) }
    /// ```
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = AuthKey::Key(key.as_ref().to_vec());
        self
    }

    /// Python 2's `authenticate` flag (default `false`, unless a key was set). `true`
    /// authenticates with the key given to [`authkey`](ListenerBuilder::authkey) or, without
    /// one, with `current_process().authkey()` (read at each accept); `false` runs no
    /// handshake (Python 3's `authkey=None`): anyone who can connect gets a connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::builder().authenticate(true).bind()?; // the process's key
    /// let address = l.address().clone();
    /// let t = std::thread::spawn(move || {
    ///     Client::builder(&address).authkey(mp::current_process().authkey()).connect()
    /// });
    /// l.accept()?;
    /// t.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    pub fn authenticate(mut self, on: bool) -> Self {
        self.authkey = self.authkey.authenticate(on);
        self
    }

    /// How long a client may take to complete the handshake, from the moment
    /// [`accept`](Listener::accept) takes it from the backlog; a client that takes longer is
    /// dropped (`None`: no limit, as CPython). Default
    /// [`Listener::DEFAULT_HANDSHAKE_TIMEOUT`]. Unused without a key.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let _l = mp::connection::Listener::builder()
    ///     .handshake_timeout(Some(Duration::from_secs(1)))
    ///     .bind()?;
    /// # Ok(()) }
    /// ```
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The largest message accepted connections receive (`None`: no limit). Default
    /// [`Listener::DEFAULT_MAX_MESSAGE`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::connection::Listener::builder().max_message_size(Some(1 << 20)).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn max_message_size(mut self, limit: Option<u64>) -> Self {
        self.max_message = limit;
        self
    }

    /// Creates, binds and starts the listener.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a malformed address or one that does not match the family;
    /// [`ErrorKind::Os`] if the address is in use or the socket cannot be created.
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilder`].
    pub fn bind(self) -> Result<T> {
        T::bind(self)
    }
}

impl sealed::BindImpl for Listener {
    fn bind(b: ListenerBuilder) -> Result<Listener> {
        b.bind_socket()
    }
}

impl ListenerBuilder {
    fn bind_socket(self) -> Result<Listener> {
        let (address, cleanup_dir) = match self.address {
            Some(a) => (a?, None),
            None => match self.family {
                Some(Family::Inet) => (Address::Tcp(([127, 0, 0, 1], 0).into()), None),
                Some(Family::Inet6) => (
                    Address::Tcp((std::net::Ipv6Addr::LOCALHOST, 0).into()),
                    None,
                ),
                Some(Family::Unix) | None => {
                    let (dir, path) = default_unix_address()?;
                    (Address::Unix(path), Some(dir))
                }
            },
        };
        check_family(&address, self.family)?;
        let remove_dir = |dir: &Option<PathBuf>| {
            if let Some(d) = dir {
                let _ = std::fs::remove_dir(d);
            }
        };
        let (socket, bound) = match &address {
            Address::Tcp(a) => {
                // std sets SO_REUSEADDR, as CPython does on POSIX.
                let l = TcpListener::bind(a).map_err(|e| Error::os(format!("bind {a}"), e))?;
                let bound = l.local_addr().map_err(|e| Error::os("getsockname", e))?;
                (Socket::Tcp(l), Address::Tcp(bound))
            }
            _ => {
                let sa = match address.unix_addr() {
                    Ok(sa) => sa,
                    Err(e) => {
                        remove_dir(&cleanup_dir);
                        return Err(e);
                    }
                };
                let l = match UnixListener::bind_addr(&sa) {
                    Ok(l) => l,
                    Err(e) => {
                        remove_dir(&cleanup_dir);
                        return Err(Error::os(format!("bind {address}"), e));
                    }
                };
                (Socket::Unix(l), address.clone())
            }
        };
        set_backlog(socket.fd(), self.backlog)?;
        socket.set_nonblocking()?;
        let cleanup = match &bound {
            Address::Unix(p) => Some(Cleanup {
                pid: sys::getpid(),
                path: p.clone(),
                dir: cleanup_dir,
            }),
            _ => None,
        };
        Ok(Listener {
            socket,
            address: bound,
            authkey: self.authkey,
            handshake_timeout: self.handshake_timeout,
            max_message: self.max_message,
            last_accepted: Mutex::new(None),
            closed: AtomicBool::new(false),
            cleanup,
            hub: Mutex::new(None),
        })
    }
}

impl fmt::Debug for AuthKeyRedacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AuthKey::Process => f.write_str("Process"),
            AuthKey::Off => f.write_str("Off"),
            AuthKey::Key(_) => f.write_str("Key(..)"),
        }
    }
}

struct AuthKeyRedacted<'a>(&'a AuthKey);

impl Serialize for Listener {
    /// The socket travels to the receiving process, which can accept on it; the socket file
    /// stays owned by the creator. The key travels too (only over mp's own transports).
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let fd = match &self.socket {
            Socket::Unix(l) => l.as_fd(),
            Socket::Tcp(l) => l.as_fd(),
        };
        (
            Fd(fd),
            &self.address,
            self.authkey.resolve(),
            self.handshake_timeout,
            self.max_message,
        )
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Listener {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Listener, D::Error> {
        type Parts = (
            OwnedFdDe,
            Address,
            Option<Vec<u8>>,
            Option<Duration>,
            Option<u64>,
        );
        let (fd, address, key, handshake_timeout, max_message): Parts =
            Deserialize::deserialize(d)?;
        let socket = match address {
            Address::Tcp(_) => Socket::Tcp(TcpListener::from(fd.0)),
            _ => Socket::Unix(UnixListener::from(fd.0)),
        };
        socket.set_nonblocking().map_err(serde::de::Error::custom)?;
        Ok(Listener {
            socket,
            address,
            authkey: key.map_or(AuthKey::Off, AuthKey::Key),
            handshake_timeout,
            max_message,
            last_accepted: Mutex::new(None),
            closed: AtomicBool::new(false),
            cleanup: None,
            hub: Mutex::new(None),
        })
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        AuthKeyRedacted(self).fmt(f)
    }
}
