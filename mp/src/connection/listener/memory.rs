//! The in-memory listener: a listener's address is a name that clients look up in this
//! process (Python's `multiprocessing.dummy.connection`, whose listener hands out a queue).
//! Its connections are [`ConnectionIn<InMemory>`](crate::connection::ConnectionIn).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::super::{ConnectionIn, InMemory, Readiness, Waitable, activity, memory_pipe};
use super::{Address, ClientBuilderIn, ListenerBuilderIn, ToAddress, sealed};
use crate::error::{Error, ErrorKind, Result};

type Connection = ConnectionIn<InMemory>;
type ListenerBuilder = ListenerBuilderIn<InMemoryListener>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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
    listeners: HashMap<Address, Weak<Backlog>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    lock(&REGISTRY)
}

fn listener_closed() -> Error {
    Error::new(ErrorKind::Os, "the listener is closed")
}

fn refused(address: &Address) -> Error {
    Error::os(
        format!("connect {address}"),
        std::io::Error::from_raw_os_error(libc::ECONNREFUSED),
    )
}

/// Accepts connections from `Client`s in this process: Python's
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
pub struct InMemoryListener {
    backlog: Arc<Backlog>,
    address: Address,
    closed: AtomicBool,
}

impl InMemoryListener {
    /// As mp's (unused by in-memory connections, which need no handshake).
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration =
        crate::connection::Listener::DEFAULT_HANDSHAKE_TIMEOUT;
    /// The largest message an accepted connection (or a `Client`) receives by default.
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
    pub fn new() -> Result<InMemoryListener> {
        InMemoryListener::builder().bind()
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
    pub fn bind(address: impl ToAddress) -> Result<InMemoryListener> {
        InMemoryListener::builder().address(address).bind()
    }

    /// A builder for the other arguments.
    ///
    /// # Examples
    ///
    /// See [`ListenerBuilderIn`].
    pub fn builder() -> ListenerBuilder {
        ListenerBuilderIn::new()
    }

    /// `accept` for async code (feature `async`): waits for a client without blocking the
    /// executor. Cancel-safe: a dropped future accepted nobody.
    ///
    /// # Errors
    ///
    /// As [`accept`](InMemoryListener::accept).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use mp::dummy::connection::{Client, Listener};
    /// let l = Listener::new()?;
    /// let c = Client::connect(l.address())?;
    /// let s = l.accept_async().await?;
    /// c.send(&"hi")?;
    /// assert_eq!(s.recv_async::<String>().await?, "hi");
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
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the listener is closed (also when another thread closes it
    /// while this one waits).
    ///
    /// # Examples
    ///
    /// See [`InMemoryListener`].
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

    /// The listener's address: Python's `address`. A listener bound without an address, or
    /// to a TCP one with port 0, has a fresh abstract name that no socket uses.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use mp::dummy::connection::{Address, Listener};
    /// let l = Listener::bind(("127.0.0.1", 0))?;
    /// assert!(matches!(l.address(), Address::Abstract(_)));
    /// assert_eq!(Listener::bind("/tmp/x.sock")?.address(), &Address::Unix("/tmp/x.sock".into()));
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

    /// Closes the listener for every handle: a thread blocked in [`accept`](InMemoryListener::accept)
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
            r.listeners.retain(|_, w| !mine(w));
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
    pub fn try_clone(&self) -> Result<InMemoryListener> {
        self.backlog.handles.fetch_add(1, Ordering::AcqRel);
        Ok(InMemoryListener {
            backlog: self.backlog.clone(),
            address: self.address.clone(),
            closed: AtomicBool::new(false),
        })
    }

    /// Whether [`close`](InMemoryListener::close) was called (on any handle).
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

    fn has_pending(&self) -> Result<bool> {
        let st = lock(&self.backlog.state);
        if st.closed || self.closed.load(Ordering::Acquire) {
            return Err(listener_closed());
        }
        Ok(!st.pending.is_empty())
    }
}

impl Waitable for InMemoryListener {
    fn readiness(&self) -> Result<Readiness> {
        self.has_pending().map(Readiness::Now)
    }
}

impl Drop for InMemoryListener {
    fn drop(&mut self) {
        if self.backlog.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.unregister();
            self.backlog.close();
        }
    }
}

impl fmt::Debug for InMemoryListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("closed", &self.closed())
            .finish()
    }
}

impl sealed::BindImpl for InMemoryListener {
    fn bind(b: ListenerBuilder) -> Result<InMemoryListener> {
        // No address, or a TCP one with port 0: a fresh name.
        let requested = match b.address {
            None => None,
            Some(a) => match a? {
                Address::Tcp(t) if t.port() == 0 => None,
                a => Some(a),
            },
        };
        let backlog = Arc::new(Backlog {
            state: Mutex::new(BacklogState {
                pending: VecDeque::new(),
                closed: false,
                accepters: 0,
                connecters: 0,
            }),
            cv: Condvar::new(),
            capacity: usize::try_from(b.backlog.max(1)).unwrap_or(1),
            max_message: b.max_message,
            handles: AtomicUsize::new(1),
        });
        let mut guard = registry();
        let r = guard.get_or_insert_with(Registry::default);
        let taken =
            |r: &Registry, a: &Address| r.listeners.get(a).is_some_and(|w| w.strong_count() > 0);
        let address = match requested {
            Some(a) => {
                if taken(r, &a) {
                    return Err(Error::os(
                        format!("bind {a}"),
                        std::io::Error::from_raw_os_error(libc::EADDRINUSE),
                    ));
                }
                a
            }
            None => loop {
                r.next += 1;
                let a = Address::Abstract(format!("mp-dummy-listener-{}", r.next).into_bytes());
                if !taken(r, &a) {
                    break a;
                }
            },
        };
        r.listeners
            .insert(address.clone(), Arc::downgrade(&backlog));
        drop(guard);
        Ok(InMemoryListener {
            backlog,
            address,
            closed: AtomicBool::new(false),
        })
    }
}

/// Connects to an in-memory listener of this process (what `ClientBuilderIn::connect` does for
/// in-memory links); the key and handshake settings do not apply.
pub(crate) fn connect(b: ClientBuilderIn<InMemory>) -> Result<Connection> {
    let address = b.address?;
    let backlog = registry()
        .as_ref()
        .and_then(|r| r.listeners.get(&address).and_then(Weak::upgrade))
        .ok_or_else(|| refused(&address))?;
    let (server, client) = memory_pipe(true);
    server.set_max_message_size(backlog.max_message);
    client.set_max_message_size(b.max_message);
    let deadline = b.timeout.and_then(|t| Instant::now().checked_add(t));
    let mut st = lock(&backlog.state);
    loop {
        if st.closed {
            return Err(refused(&address));
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
