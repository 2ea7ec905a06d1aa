//! The in-process addresses, [`Listener`] and [`Client`] of `mp::dummy::connection`: a
//! listener's address is a name that clients look up in this process.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Connection, activity, lock, pipe};
use crate::connection::Family;
use crate::error::{Error, ErrorKind, Result};

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/// The address of a dummy [`Listener`]: an in-process name (Python's dummy listener hands out
/// its queue as its "address").
///
/// A listener made by [`Listener::new`] (or bound to a TCP address with port 0) gets a fresh
/// [`Local`](Address::Local) address; one bound to anything else — a path, `"host:port"`, a
/// name — is found under that text ([`Named`](Address::Named)).
///
/// # Examples
///
/// ```
/// use mp::dummy::connection::{Address, ToAddress};
/// # fn main() -> mp::Result<()> {
/// assert_eq!("/tmp/x.sock".to_address()?, Address::Named("/tmp/x.sock".into()));
/// assert_eq!(("127.0.0.1", 6000).to_address()?, Address::Named("127.0.0.1:6000".into()));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A listener's own address (`Local(0)` asks [`Listener::bind`] for a fresh one).
    Local(u64),
    /// A name given by the program.
    Named(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Local(id) => write!(f, "<dummy listener {id}>"),
            Address::Named(n) => f.write_str(n),
        }
    }
}

/// Conversion into an [`Address`]: implemented for the same types as mp's
/// [`ToAddress`](crate::connection::ToAddress), whose text becomes the name.
pub trait ToAddress {
    /// Converts the address.
    ///
    /// # Errors
    ///
    /// None for the implementations here; the `Result` is mp's.
    fn to_address(&self) -> Result<Address>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address> {
        Ok(self.clone())
    }
}
impl ToAddress for str {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Named(self.to_string()))
    }
}
impl ToAddress for String {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Named(self.clone()))
    }
}
fn host_port(host: &str, port: u16) -> Address {
    if port == 0 {
        Address::Local(0)
    } else {
        Address::Named(format!("{host}:{port}"))
    }
}
impl ToAddress for (&str, u16) {
    fn to_address(&self) -> Result<Address> {
        Ok(host_port(self.0, self.1))
    }
}
impl ToAddress for (String, u16) {
    fn to_address(&self) -> Result<Address> {
        Ok(host_port(&self.0, self.1))
    }
}
impl ToAddress for (IpAddr, u16) {
    fn to_address(&self) -> Result<Address> {
        Ok(host_port(&self.0.to_string(), self.1))
    }
}
impl ToAddress for SocketAddr {
    fn to_address(&self) -> Result<Address> {
        Ok(if self.port() == 0 {
            Address::Local(0)
        } else {
            Address::Named(self.to_string())
        })
    }
}
impl ToAddress for Path {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Named(self.display().to_string()))
    }
}
impl ToAddress for PathBuf {
    fn to_address(&self) -> Result<Address> {
        self.as_path().to_address()
    }
}
impl ToAddress for crate::connection::Address {
    fn to_address(&self) -> Result<Address> {
        Ok(match self {
            crate::connection::Address::Tcp(a) => return a.to_address(),
            other => Address::Named(other.to_string()),
        })
    }
}
impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Result<Address> {
        (**self).to_address()
    }
}

// ---------------------------------------------------------------------------------------------
// Listener / Client
// ---------------------------------------------------------------------------------------------

struct BacklogState {
    pending: VecDeque<Connection>,
    closed: bool,
    accepters: usize,
    connecters: usize,
}

/// A listener's queue of connections not yet accepted (Python's `_backlog_queue`).
struct Backlog {
    state: Mutex<BacklogState>,
    cv: Condvar,
    capacity: usize,
    max_message: Option<u64>,
    /// Listener handles alive (the backlog closes with the last).
    handles: AtomicUsize,
}

impl Backlog {
    fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        st.pending.clear();
        drop(st);
        self.cv.notify_all();
        activity();
    }
}

#[derive(Default)]
struct Registry {
    next: u64,
    by_id: HashMap<u64, Weak<Backlog>>,
    by_name: HashMap<String, Weak<Backlog>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    lock(&REGISTRY)
}

fn listener_closed() -> Error {
    Error::new(ErrorKind::Os, "the listener is closed")
}

/// Accepts connections from [`Client`]s in this process: Python's
/// `multiprocessing.dummy.connection.Listener`, with the API of
/// [`mp::connection::Listener`](crate::connection::Listener).
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use mp::dummy::connection::{Client, Listener};
/// let listener = Listener::new()?;
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || -> mp::Result<()> {
///     let conn = Client::connect(&address)?;
///     conn.send_bytes(b"hello")?;
///     Ok(())
/// });
/// let conn = listener.accept()?;
/// assert_eq!(conn.recv_bytes()?, b"hello");
/// t.join().unwrap()?;
/// # Ok(()) }
/// ```
pub struct Listener {
    backlog: Arc<Backlog>,
    address: Address,
    closed: AtomicBool,
}

/// Builds a [`Listener`]: Python's keyword arguments, with mp's builder.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use mp::dummy::connection::Listener;
/// let l = Listener::builder().address("jobs").backlog(16).authkey(b"ignored").bind()?;
/// assert_eq!(l.address().to_string(), "jobs");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "call `.bind()` to create the listener"]
pub struct ListenerBuilder {
    address: Option<Result<Address>>,
    backlog: i32,
    max_message: Option<u64>,
}

impl Listener {
    /// As mp's (unused by in-memory connections, which need no handshake).
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration =
        crate::connection::Listener::DEFAULT_HANDSHAKE_TIMEOUT;
    /// The largest message an accepted connection (or a [`Client`]) receives by default.
    pub const DEFAULT_MAX_MESSAGE: u64 = crate::connection::Listener::DEFAULT_MAX_MESSAGE;

    /// A listener at a fresh address, backlog 1: Python's `Listener()`.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let a = mp::dummy::connection::Listener::new()?;
    /// let b = mp::dummy::connection::Listener::new()?;
    /// assert_ne!(a.address(), b.address());
    /// # Ok(()) }
    /// ```
    pub fn new() -> Result<Listener> {
        Listener::builder().bind()
    }

    /// A listener at `address`: Python's `Listener(address)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if another listener of this process has that address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::dummy::connection::Listener::bind("/tmp/mp-dummy-doc.sock")?;
    /// assert!(mp::dummy::connection::Listener::bind(l.address()).is_err()); // in use
    /// # Ok(()) }
    /// ```
    pub fn bind(address: impl ToAddress) -> Result<Listener> {
        Listener::builder().address(address).bind()
    }

    /// A builder for the other arguments.
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilder`].
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder {
            address: None,
            backlog: 1,
            max_message: Some(Listener::DEFAULT_MAX_MESSAGE),
        }
    }

    /// Waits for a client and returns the connection: Python's `accept()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the listener is closed (also when another thread closes it
    /// while this one waits).
    ///
    /// # Examples
    ///
    /// See [`Listener`].
    pub fn accept(&self) -> Result<Connection> {
        let b = &self.backlog;
        let mut st = lock(&b.state);
        loop {
            if st.closed || self.closed.load(Ordering::Acquire) {
                return Err(listener_closed());
            }
            if let Some(c) = st.pending.pop_front() {
                let wake = st.connecters > 0;
                drop(st);
                if wake {
                    b.cv.notify_all();
                }
                return Ok(c);
            }
            st.accepters += 1;
            st = b.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            st.accepters -= 1;
        }
    }

    /// The listener's address: Python's `address`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::dummy::connection::Listener::bind(("127.0.0.1", 0))?;
    /// assert!(matches!(l.address(), mp::dummy::connection::Address::Local(n) if *n > 0));
    /// # Ok(()) }
    /// ```
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Always `None`: an in-memory client has no address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// assert_eq!(mp::dummy::connection::Listener::new()?.last_accepted(), None);
    /// # Ok(()) }
    /// ```
    pub fn last_accepted(&self) -> Option<Address> {
        None
    }

    /// Closes the listener for every handle: a thread blocked in [`accept`](Listener::accept)
    /// wakes up with an error, clients waiting to be accepted see end of file, and the
    /// address is free again. Later calls are no-ops.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let l = mp::dummy::connection::Listener::new()?;
    /// l.close();
    /// assert!(l.closed());
    /// assert_eq!(l.accept().unwrap_err().kind(), mp::ErrorKind::Os);
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.unregister();
        self.backlog.close();
    }

    fn unregister(&self) {
        if let Some(r) = registry().as_mut() {
            let mine =
                |w: &Weak<Backlog>| w.upgrade().is_some_and(|b| Arc::ptr_eq(&b, &self.backlog));
            r.by_id.retain(|_, w| !mine(w));
            r.by_name.retain(|_, w| !mine(w));
        }
    }

    /// A second handle on the same listener.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use mp::dummy::connection::{Client, Listener};
    /// let l = Listener::new()?;
    /// let l2 = l.try_clone()?;
    /// drop(l); // the listener stays: `l2` holds it
    /// let _c = Client::connect(l2.address())?;
    /// assert!(l2.accept().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn try_clone(&self) -> Result<Listener> {
        self.backlog.handles.fetch_add(1, Ordering::AcqRel);
        Ok(Listener {
            backlog: self.backlog.clone(),
            address: self.address.clone(),
            closed: AtomicBool::new(false),
        })
    }

    /// Whether [`close`](Listener::close) was called (on any handle).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// assert!(!mp::dummy::connection::Listener::new()?.closed());
    /// # Ok(()) }
    /// ```
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || lock(&self.backlog.state).closed
    }

    pub(super) fn has_pending(&self) -> Result<bool> {
        let st = lock(&self.backlog.state);
        if st.closed || self.closed.load(Ordering::Acquire) {
            return Err(listener_closed());
        }
        Ok(!st.pending.is_empty())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.backlog.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.unregister();
            self.backlog.close();
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("closed", &self.closed())
            .finish()
    }
}

impl ListenerBuilder {
    /// The address (default: a fresh one).
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilder`].
    pub fn address(mut self, address: impl ToAddress) -> Self {
        self.address = Some(address.to_address());
        self
    }

    /// Accepted and ignored: a dummy listener has no socket family (`families == [None]`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use mp::connection::Family;
    /// let _l = mp::dummy::connection::Listener::builder().family(Family::Inet).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn family(self, family: Family) -> Self {
        let _ = family;
        self
    }

    /// How many clients may wait to be accepted (default 1); a further
    /// [`Client::connect`] waits for room, as in CPython's dummy (a bounded queue).
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilder`].
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Accepted and ignored: in-process connections are not authenticated.
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilder`].
    pub fn authkey(self, key: impl AsRef<[u8]>) -> Self {
        let _ = key.as_ref();
        self
    }

    /// Accepted and ignored, as [`authkey`](ListenerBuilder::authkey).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::dummy::connection::Listener::builder().authenticate(false).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn authenticate(self, on: bool) -> Self {
        let _ = on;
        self
    }

    /// Accepted and ignored: there is no handshake.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::dummy::connection::Listener::builder().handshake_timeout(None).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn handshake_timeout(self, timeout: Option<Duration>) -> Self {
        let _ = timeout;
        self
    }

    /// The largest message an accepted connection receives (`None`: no limit). Default
    /// [`Listener::DEFAULT_MAX_MESSAGE`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let _l = mp::dummy::connection::Listener::builder().max_message_size(Some(1024)).bind()?;
    /// # Ok(()) }
    /// ```
    pub fn max_message_size(mut self, limit: Option<u64>) -> Self {
        self.max_message = limit;
        self
    }

    /// Creates the listener.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if another listener of this process has that address.
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilder`].
    pub fn bind(self) -> Result<Listener> {
        let requested = match self.address {
            None => Address::Local(0),
            Some(a) => a?,
        };
        let backlog = Arc::new(Backlog {
            state: Mutex::new(BacklogState {
                pending: VecDeque::new(),
                closed: false,
                accepters: 0,
                connecters: 0,
            }),
            cv: Condvar::new(),
            capacity: usize::try_from(self.backlog.max(1)).unwrap_or(1),
            max_message: self.max_message,
            handles: AtomicUsize::new(1),
        });
        let mut guard = registry();
        let r = guard.get_or_insert_with(Registry::default);
        let address = match requested {
            Address::Named(n) => {
                if r.by_name.get(&n).is_some_and(|w| w.strong_count() > 0) {
                    return Err(Error::os(
                        format!("bind {n}"),
                        std::io::Error::from_raw_os_error(libc::EADDRINUSE),
                    ));
                }
                r.by_name.insert(n.clone(), Arc::downgrade(&backlog));
                Address::Named(n)
            }
            Address::Local(id) => {
                if id != 0 && r.by_id.get(&id).is_some_and(|w| w.strong_count() > 0) {
                    return Err(Error::os(
                        format!("bind {}", Address::Local(id)),
                        std::io::Error::from_raw_os_error(libc::EADDRINUSE),
                    ));
                }
                let id = if id == 0 {
                    r.next += 1;
                    r.next
                } else {
                    id
                };
                r.by_id.insert(id, Arc::downgrade(&backlog));
                Address::Local(id)
            }
        };
        drop(guard);
        Ok(Listener {
            backlog,
            address,
            closed: AtomicBool::new(false),
        })
    }
}

/// Connects to a dummy [`Listener`] of this process: Python's
/// `multiprocessing.dummy.connection.Client(address)`, with the API of
/// [`mp::connection::Client`](crate::connection::Client).
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use mp::dummy::connection::{Client, Listener};
/// let listener = Listener::bind("service")?;
/// let t = std::thread::spawn(move || listener.accept()?.recv::<String>());
/// let conn = Client::connect("service")?;
/// conn.send("hi")?;
/// assert_eq!(t.join().unwrap()?, "hi");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Client {
    _private: (),
}

/// Builds a client connection, with mp's builder.
///
/// # Examples
///
/// ```
/// use mp::dummy::connection::Client;
/// let err = Client::builder("nobody-listens-here").authkey(b"k").connect().unwrap_err();
/// assert_eq!(err.kind(), mp::ErrorKind::Os);
/// ```
#[derive(Debug)]
#[must_use = "call `.connect()` to connect"]
pub struct ClientBuilder {
    address: Result<Address>,
    timeout: Option<Duration>,
    max_message: Option<u64>,
}

impl Client {
    /// Connects to `address`.
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
            timeout: None,
            max_message: Some(Listener::DEFAULT_MAX_MESSAGE),
        }
    }
}

impl ClientBuilder {
    /// Accepted and ignored (`families == [None]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::connection::Client::builder("x").family(mp::connection::Family::Unix);
    /// # drop(b);
    /// ```
    pub fn family(self, family: Family) -> Self {
        let _ = family;
        self
    }

    /// Accepted and ignored: in-process connections are not authenticated.
    ///
    /// # Examples
    ///
    /// See [`ClientBuilder`].
    pub fn authkey(self, key: impl AsRef<[u8]>) -> Self {
        let _ = key.as_ref();
        self
    }

    /// Accepted and ignored, as [`authkey`](ClientBuilder::authkey).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::connection::Client::builder("x").authenticate(false);
    /// # drop(b);
    /// ```
    pub fn authenticate(self, on: bool) -> Self {
        let _ = on;
        self
    }

    /// How long to wait for room in the listener's backlog (default `None`: as long as it
    /// takes, as CPython's dummy client does).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// use mp::dummy::connection::{Client, Listener};
    /// let l = Listener::new()?; // backlog 1, never accepts
    /// let _first = Client::connect(l.address())?;
    /// let err = Client::builder(l.address()).timeout(Some(Duration::from_millis(20))).connect();
    /// assert_eq!(err.unwrap_err().kind(), mp::ErrorKind::Timeout);
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Accepted and ignored, as [`authkey`](ClientBuilder::authkey): there is no handshake
    /// (the API of [`mp::connection::ClientBuilder::handshake_timeout`](crate::connection::ClientBuilder::handshake_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::connection::Client::builder("x").handshake_timeout(None);
    /// # drop(b);
    /// ```
    pub fn handshake_timeout(self, timeout: Option<Duration>) -> Self {
        let _ = timeout;
        self
    }

    /// The largest message the connection receives (`None`: no limit).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::connection::Client::builder("x").max_message_size(None);
    /// # drop(b);
    /// ```
    pub fn max_message_size(mut self, limit: Option<u64>) -> Self {
        self.max_message = limit;
        self
    }

    /// Connects: queues the server's end in the listener's backlog and returns the client's.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if no listener of this process has that address (or it closes while
    /// the client waits); [`ErrorKind::Timeout`] if a timeout was set and the backlog stayed
    /// full.
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub fn connect(self) -> Result<Connection> {
        let address = self.address?;
        let backlog = {
            let guard = registry();
            let found = guard.as_ref().and_then(|r| match &address {
                Address::Local(id) => r.by_id.get(id).and_then(Weak::upgrade),
                Address::Named(n) => r.by_name.get(n).and_then(Weak::upgrade),
            });
            found.ok_or_else(|| {
                Error::os(
                    format!("connect {address}"),
                    std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
                )
            })?
        };
        let (server, client) = pipe(true)?;
        server.set_max_message_size(backlog.max_message);
        client.set_max_message_size(self.max_message);
        let deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = lock(&backlog.state);
        loop {
            if st.closed {
                return Err(Error::os(
                    format!("connect {address}"),
                    std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
                ));
            }
            if st.pending.len() < backlog.capacity {
                break;
            }
            st.connecters += 1;
            st = match deadline {
                None => backlog.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        st.connecters -= 1;
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!("timed out waiting for {address} to accept"),
                        ));
                    }
                    backlog
                        .cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            st.connecters -= 1;
        }
        st.pending.push_back(server);
        let wake = st.accepters > 0;
        drop(st);
        if wake {
            backlog.cv.notify_all();
        }
        activity();
        Ok(client)
    }
}
