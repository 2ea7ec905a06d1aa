//! `Listener` and `Client`: Python's socket-based `multiprocessing.connection` endpoints, with
//! CPython's authentication handshake and framing, so that either end may be a Python program.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixSocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::io::Transport;
use super::{Connection, Fd, OwnedFdDe, auth};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// The address of a [`Listener`]: Python's `AF_UNIX` path, Linux abstract name or `AF_INET`
/// `(host, port)`.
///
/// Build one from a string (see [`FromStr`](#impl-FromStr-for-Address)), a `(host, port)`
/// tuple, a [`SocketAddr`] or a [`Path`], or with the constructors. Addresses are
/// serializable, so they can be sent to other processes (a manager sends its listener's
/// address to its clients).
///
/// # Examples
///
/// ```
/// use mp::connection::Address;
/// # fn main() -> mp::Result<()> {
/// assert_eq!("/tmp/x.sock".parse::<Address>()?, Address::Unix("/tmp/x.sock".into()));
/// assert_eq!("\0name".parse::<Address>()?, Address::Abstract(b"name".to_vec()));
/// assert_eq!("127.0.0.1:6000".parse::<Address>()?, Address::Tcp(([127, 0, 0, 1], 6000).into()));
/// assert!(matches!(Address::tcp("localhost", 6000)?, Address::Tcp(a) if a.port() == 6000));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A Unix socket path (`AF_UNIX`).
    Unix(PathBuf),
    /// A Linux abstract socket name (Python's `"\0name"`), without the leading NUL.
    Abstract(Vec<u8>),
    /// A TCP address (`AF_INET` or `AF_INET6`).
    Tcp(SocketAddr),
}

/// The kind of socket of a [`Listener`] or [`Client`]: Python's `family` argument.
///
/// Parse Python's names with [`FromStr`](#impl-FromStr-for-Family): `"AF_INET"`,
/// `"AF_INET6"`, `"AF_UNIX"` (`"AF_PIPE"` is Windows-only and rejected).
///
/// # Examples
///
/// ```
/// use mp::connection::Family;
/// assert_eq!("AF_UNIX".parse::<Family>().unwrap(), Family::Unix);
/// assert!("AF_PIPE".parse::<Family>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// TCP over IPv4.
    Inet,
    /// TCP over IPv6.
    Inet6,
    /// Unix domain sockets (paths and abstract names).
    Unix,
}

impl FromStr for Family {
    type Err = Error;
    fn from_str(s: &str) -> Result<Family> {
        match s {
            "AF_INET" => Ok(Family::Inet),
            "AF_INET6" => Ok(Family::Inet6),
            "AF_UNIX" => Ok(Family::Unix),
            "AF_PIPE" => Err(Error::value("family AF_PIPE is only available on Windows")),
            _ => Err(Error::value(format!(
                "unrecognized family `{s}`; expected one of \"AF_INET\", \"AF_INET6\", \"AF_UNIX\""
            ))),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Inet => "AF_INET",
            Family::Inet6 => "AF_INET6",
            Family::Unix => "AF_UNIX",
        })
    }
}

impl Address {
    /// A Unix socket path.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::connection::Address::unix("/tmp/s");
    /// assert_eq!(a.family(), mp::connection::Family::Unix);
    /// ```
    pub fn unix(path: impl Into<PathBuf>) -> Address {
        Address::Unix(path.into())
    }

    /// A Linux abstract socket name (no file is created).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::connection::Address::abstract_name("mp-test");
    /// assert_eq!(a.to_string(), "@mp-test");
    /// ```
    pub fn abstract_name(name: impl AsRef<[u8]>) -> Address {
        Address::Abstract(name.as_ref().to_vec())
    }

    /// A TCP address from a host name or IP literal and a port: Python's `(host, port)`.
    /// Host names resolve to their first IPv4 address if they have one (as Python's
    /// `AF_INET` does), else to their first IPv6 address.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the host does not resolve.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let a = mp::connection::Address::tcp("127.0.0.1", 0)?;
    /// assert_eq!(a.family(), mp::connection::Family::Inet);
    /// # Ok(()) }
    /// ```
    pub fn tcp(host: &str, port: u16) -> Result<Address> {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Address::Tcp(SocketAddr::new(ip, port)));
        }
        let all: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::os(format!("cannot resolve `{host}`"), e))?
            .collect();
        all.iter()
            .find(|a| a.is_ipv4())
            .or_else(|| all.first())
            .map(|a| Address::Tcp(*a))
            .ok_or_else(|| Error::new(ErrorKind::Os, format!("`{host}` has no address")))
    }

    /// The family this address belongs to: Python's `address_type(address)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::connection::{Address, Family};
    /// assert_eq!(Address::abstract_name("x").family(), Family::Unix);
    /// ```
    pub fn family(&self) -> Family {
        match self {
            Address::Unix(_) | Address::Abstract(_) => Family::Unix,
            Address::Tcp(a) if a.is_ipv6() => Family::Inet6,
            Address::Tcp(_) => Family::Inet,
        }
    }

    fn unix_addr(&self) -> Result<UnixSocketAddr> {
        match self {
            Address::Unix(p) => UnixSocketAddr::from_pathname(p)
                .map_err(|e| Error::value(format!("bad unix socket path {}: {e}", p.display()))),
            Address::Abstract(n) => UnixSocketAddr::from_abstract_name(n)
                .map_err(|e| Error::value(format!("bad abstract socket name: {e}"))),
            Address::Tcp(_) => Err(Error::value("not a unix address")),
        }
    }

    fn from_unix(a: &UnixSocketAddr) -> Option<Address> {
        if let Some(p) = a.as_pathname() {
            return Some(Address::Unix(p.to_path_buf()));
        }
        a.as_abstract_name().map(|n| Address::Abstract(n.to_vec()))
    }
}

impl fmt::Display for Address {
    /// A path, `@name` for an abstract name, `ip:port` for TCP.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

impl FromStr for Address {
    type Err = Error;

    /// Python's rules for strings, plus `host:port` for TCP:
    ///
    /// - `"\0name"`: an abstract name;
    /// - `"\\\\.\\pipe\\name"`: a Windows pipe, rejected ([`ErrorKind::Value`]);
    /// - an IP socket address (`"127.0.0.1:80"`, `"[::1]:80"`), or `host:port` without a
    ///   `/`: TCP (the host is resolved, see [`Address::tcp`]);
    /// - anything else: a Unix socket path (use [`Address::unix`] for a path that looks like
    ///   `host:port`).
    fn from_str(s: &str) -> Result<Address> {
        if let Some(name) = s.strip_prefix('\0') {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if s.starts_with("\\\\") {
            return Err(Error::value(format!(
                "address type of {s:?} unrecognized: Windows named pipes (AF_PIPE) are not \
                 available on this platform"
            )));
        }
        if s.is_empty() {
            return Err(Error::value("empty address"));
        }
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Address::Tcp(a));
        }
        if !s.contains('/')
            && let Some((host, port)) = s.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
            && !host.is_empty()
        {
            return Address::tcp(host, port);
        }
        Ok(Address::Unix(PathBuf::from(s)))
    }
}

/// Conversion into an [`Address`]; implemented for strings (see
/// [`Address::from_str`](#impl-FromStr-for-Address)), `(host, port)` tuples, socket addresses
/// and paths. Like `std::net::ToSocketAddrs`, this lets [`Listener::bind`] and
/// [`Client::connect`] take Python-shaped addresses.
///
/// # Examples
///
/// ```
/// use mp::connection::ToAddress;
/// # fn main() -> mp::Result<()> {
/// let a = ("localhost", 6000).to_address()?;
/// assert_eq!(a.family(), mp::connection::Family::Inet);
/// # Ok(()) }
/// ```
pub trait ToAddress {
    /// Converts (and, for host names, resolves) the address.
    ///
    /// # Errors
    ///
    /// The address is malformed or does not resolve.
    fn to_address(&self) -> Result<Address>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address> {
        Ok(self.clone())
    }
}
impl ToAddress for str {
    fn to_address(&self) -> Result<Address> {
        self.parse()
    }
}
impl ToAddress for String {
    fn to_address(&self) -> Result<Address> {
        self.parse()
    }
}
impl ToAddress for (&str, u16) {
    fn to_address(&self) -> Result<Address> {
        Address::tcp(self.0, self.1)
    }
}
impl ToAddress for (String, u16) {
    fn to_address(&self) -> Result<Address> {
        Address::tcp(&self.0, self.1)
    }
}
impl ToAddress for (IpAddr, u16) {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Tcp(SocketAddr::new(self.0, self.1)))
    }
}
impl ToAddress for SocketAddr {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Tcp(*self))
    }
}
impl ToAddress for Path {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Unix(self.to_path_buf()))
    }
}
impl ToAddress for PathBuf {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Unix(self.clone()))
    }
}
impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Result<Address> {
        (**self).to_address()
    }
}

fn check_family(address: &Address, family: Option<Family>) -> Result<()> {
    match family {
        Some(f) if f != address.family() => Err(Error::value(format!(
            "address {address} is not of family {f} (it is {})",
            address.family()
        ))),
        _ => Ok(()),
    }
}

/// Which key a handshake uses.
#[derive(Clone)]
enum AuthKey {
    /// `current_process().authkey()`, read when needed.
    Default,
    /// No handshake (Python's `authkey=None`).
    Off,
    Key(Vec<u8>),
}

impl AuthKey {
    fn resolve(&self) -> Option<Vec<u8>> {
        match self {
            AuthKey::Default => Some(crate::current_process().authkey()),
            AuthKey::Off => None,
            AuthKey::Key(k) => Some(k.clone()),
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
}

/// What the creating process removes when the listener closes.
struct Cleanup {
    pid: i32,
    path: PathBuf,
    dir: Option<PathBuf>,
}

/// A bound, listening socket that hands out authenticated [`Connection`]s: Python's
/// `multiprocessing.connection.Listener`.
///
/// Unlike CPython 3, a listener authenticates by default, with
/// [`current_process().authkey()`](crate::CurrentProcess::authkey) (Python 2's
/// `authenticate=True`, and what managers do); [`ListenerBuilder::authkey`] sets another key
/// and [`ListenerBuilder::authenticate(false)`](ListenerBuilder::authenticate) turns the
/// handshake off (Python 3's `authkey=None`).
///
/// Robustness: the handshake of an accepted connection must finish within
/// [`DEFAULT_HANDSHAKE_TIMEOUT`](Listener::DEFAULT_HANDSHAKE_TIMEOUT) (configurable) and its
/// messages are capped at 256 bytes, so a client that says nothing or sends garbage makes
/// [`accept`](Listener::accept) fail (the listener stays usable) instead of hanging. Accepted
/// connections refuse messages over [`DEFAULT_MAX_MESSAGE`](Listener::DEFAULT_MAX_MESSAGE)
/// (configurable).
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
#[derive(Debug)]
#[must_use = "call `.bind()` to create the listener"]
pub struct ListenerBuilder {
    address: Option<Result<Address>>,
    family: Option<Family>,
    backlog: i32,
    authkey: AuthKey,
    handshake_timeout: Option<Duration>,
    max_message: Option<u64>,
}

impl Listener {
    /// How long [`accept`](Listener::accept) waits for a client to finish the handshake.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The largest message an accepted connection (or a [`Client`]) receives by default.
    pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 30;

    /// A listener with every default: a fresh Unix socket in a private temporary directory,
    /// backlog 1, authenticating with `current_process().authkey()`: Python's `Listener()`.
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

    /// A listener on `address` with the other defaults: Python's `Listener(address)`.
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
        ListenerBuilder {
            address: None,
            family: None,
            backlog: 1,
            authkey: AuthKey::Default,
            handshake_timeout: Some(Listener::DEFAULT_HANDSHAKE_TIMEOUT),
            max_message: Some(Listener::DEFAULT_MAX_MESSAGE),
        }
    }

    /// Waits for a client, authenticates it, and returns the connection: Python's `accept()`.
    /// Interrupted system calls are resumed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the listener is closed (also when another thread closes it
    /// while this one waits); [`ErrorKind::Authentication`] if the client does not know the
    /// key; [`ErrorKind::Timeout`] if it does not finish the handshake in time; an
    /// [`ErrorKind::Os`] "bad message length" error if it sends an oversized handshake
    /// message. After a failed handshake the listener can accept the next client.
    ///
    /// # Examples
    ///
    /// See [`Listener`].
    pub fn accept(&self) -> Result<Connection> {
        if self.closed() {
            return Err(listener_closed());
        }
        let (fd, peer): (OwnedFd, Option<Address>) = match &self.socket {
            Socket::Unix(l) => {
                let (s, a) = l.accept().map_err(|e| self.accept_error(e))?;
                (s.into(), Address::from_unix(&a))
            }
            Socket::Tcp(l) => {
                let (s, a) = l.accept().map_err(|e| self.accept_error(e))?;
                let _ = s.set_nodelay(true);
                (s.into(), Some(Address::Tcp(a)))
            }
        };
        *self.last_accepted.lock().unwrap_or_else(|e| e.into_inner()) = peer;
        let conn = Connection::with(fd, true, true, Transport::Stream);
        if let Some(key) = self.authkey.resolve() {
            let deadline = self.handshake_timeout.and_then(crate::sys::deadline_after);
            auth::deliver(&conn, &key, deadline)?;
            auth::answer(&conn, &key, deadline)?;
        }
        conn.set_max_message_size(self.max_message);
        Ok(conn)
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
    /// [`accept`](Listener::accept) wakes up with an error; later accepts fail. The socket
    /// file of a Unix path is removed (by the process that created the listener). Later calls
    /// are no-ops.
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
        self.remove_file();
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
    /// its socket file) alive.
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
        Ok(Listener {
            socket,
            address: self.address.clone(),
            authkey: self.authkey.clone(),
            handshake_timeout: self.handshake_timeout,
            max_message: self.max_message,
            last_accepted: Mutex::new(None),
            closed: AtomicBool::new(false),
            cleanup: None,
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

impl Drop for Listener {
    fn drop(&mut self) {
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

impl ListenerBuilder {
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

    /// The authentication key (default: `current_process().authkey()`). An empty key still
    /// performs the handshake, as in CPython.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::connection::Listener::builder().authkey(b"").bind()?;
    /// # Ok(()) }
    /// ```
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = AuthKey::Key(key.as_ref().to_vec());
        self
    }

    /// Whether to run the handshake at all (default `true`). `false` is Python 3's
    /// `authkey=None`: anyone who can connect gets a connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::connection::Listener::builder().authenticate(false).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn authenticate(mut self, on: bool) -> Self {
        self.authkey = match (on, self.authkey) {
            (false, _) => AuthKey::Off,
            (true, AuthKey::Off) => AuthKey::Default,
            (true, k) => k,
        };
        self
    }

    /// How long a client may take to complete the handshake (`None`: forever, as CPython).
    /// Default [`Listener::DEFAULT_HANDSHAKE_TIMEOUT`].
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
    pub fn bind(self) -> Result<Listener> {
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
        })
    }
}

impl fmt::Debug for AuthKeyRedacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AuthKey::Default => f.write_str("Default"),
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
        Ok(Listener {
            socket,
            address,
            authkey: key.map_or(AuthKey::Off, AuthKey::Key),
            handshake_timeout,
            max_message,
            last_accepted: Mutex::new(None),
            closed: AtomicBool::new(false),
            cleanup: None,
        })
    }
}

/// Connects to a [`Listener`]: Python's `multiprocessing.connection.Client(address, family,
/// authkey)`.
///
/// As a [`Listener`], a client authenticates by default with
/// `current_process().authkey()`; [`ClientBuilder::authkey`] and
/// [`ClientBuilder::authenticate`] change that. The returned [`Connection`] speaks CPython's
/// framing, so the listener may be a Python program.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::connection::{Client, Listener};
/// let listener = Listener::new()?; // default key: current_process().authkey()
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || listener.accept()?.recv::<String>());
/// let conn = Client::connect(&address)?;
/// conn.send("hi")?;
/// assert_eq!(t.join().unwrap()?, "hi");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Client {
    _private: (),
}

/// Builds a client connection: Python's `Client` keyword arguments, plus limits.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use mp::connection::{Client, Family};
/// let err = Client::builder("127.0.0.1:1").family(Family::Inet).authkey(b"k").connect();
/// assert!(err.is_err()); // nobody listens on port 1
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "call `.connect()` to connect"]
pub struct ClientBuilder {
    address: Result<Address>,
    family: Option<Family>,
    authkey: AuthKey,
    timeout: Option<Duration>,
    max_message: Option<u64>,
}

impl Client {
    /// Connects to `address` and authenticates with `current_process().authkey()`.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub fn connect(address: impl ToAddress) -> Result<Connection> {
        Client::builder(address).connect()
    }

    /// A builder for the other arguments.
    ///
    /// # Examples
    ///
    /// See [`ClientBuilder`].
    pub fn builder(address: impl ToAddress) -> ClientBuilder {
        ClientBuilder {
            address: address.to_address(),
            family: None,
            authkey: AuthKey::Default,
            timeout: None,
            max_message: Some(Listener::DEFAULT_MAX_MESSAGE),
        }
    }
}

impl ClientBuilder {
    /// The family (default: inferred from the address); a mismatch is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::connection::{Client, Family};
    /// let err = Client::builder("/tmp/none").family(Family::Inet).connect().unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Value);
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.family = Some(family);
        self
    }

    /// The authentication key (default: `current_process().authkey()`).
    ///
    /// # Examples
    ///
    /// See [`ClientBuilder`].
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = AuthKey::Key(key.as_ref().to_vec());
        self
    }

    /// Whether to run the handshake (default `true`; `false` is Python 3's `authkey=None`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::builder().authenticate(false).bind()?;
    /// let c = Client::builder(l.address()).authenticate(false).connect()?;
    /// c.send_bytes(b"x")?;
    /// assert_eq!(l.accept()?.recv_bytes()?, b"x");
    /// # Ok(()) }
    /// ```
    pub fn authenticate(mut self, on: bool) -> Self {
        self.authkey = match (on, self.authkey) {
            (false, _) => AuthKey::Off,
            (true, AuthKey::Off) => AuthKey::Default,
            (true, k) => k,
        };
        self
    }

    /// How long the handshake may take (default `None`: wait for a busy server as long as it
    /// takes, as CPython does).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::new()?; // never accepts, so never answers
    /// let err = Client::builder(l.address()).timeout(Some(Duration::from_millis(50))).connect();
    /// assert_eq!(err.unwrap_err().kind(), mp::ErrorKind::Timeout);
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest message the connection receives (`None`: no limit). Default
    /// [`Listener::DEFAULT_MAX_MESSAGE`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::connection::Client::builder("/tmp/x").max_message_size(None);
    /// # drop(b);
    /// ```
    pub fn max_message_size(mut self, limit: Option<u64>) -> Self {
        self.max_message = limit;
        self
    }

    /// Connects and authenticates.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a malformed address or a family mismatch; [`ErrorKind::Os`] if
    /// nobody listens there; [`ErrorKind::Authentication`] if the keys differ ("digest sent
    /// was rejected"); [`ErrorKind::Timeout`] if a timeout was set and passed.
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub fn connect(self) -> Result<Connection> {
        let address = self.address?;
        check_family(&address, self.family)?;
        let fd: OwnedFd = match &address {
            Address::Tcp(a) => {
                let s = TcpStream::connect(a).map_err(|e| Error::os(format!("connect {a}"), e))?;
                let _ = s.set_nodelay(true);
                s.into()
            }
            _ => UnixStream::connect_addr(&address.unix_addr()?)
                .map_err(|e| Error::os(format!("connect {address}"), e))?
                .into(),
        };
        let conn = Connection::with(fd, true, true, Transport::Stream);
        if let Some(key) = self.authkey.resolve() {
            let deadline = self.timeout.and_then(crate::sys::deadline_after);
            auth::answer(&conn, &key, deadline)?;
            auth::deliver(&conn, &key, deadline)?;
        }
        conn.set_max_message_size(self.max_message);
        Ok(conn)
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        AuthKeyRedacted(self).fmt(f)
    }
}
