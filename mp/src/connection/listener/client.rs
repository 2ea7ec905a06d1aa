//! [`Client`] and [`ClientBuilder`]: the connecting end, Python's
//! `multiprocessing.connection.Client`.

use std::marker::PhantomData;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::super::{Connection, ConnectionIn, Link, Socket, auth};
use super::{Address, AuthKey, Family, Listener, ToAddress, check_family};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// Connects to a [`Listener`]: Python's `multiprocessing.connection.Client(address, family,
/// authkey)`.
///
/// As in CPython 3, a client without a key runs no handshake (`authkey=None`); with
/// [`ClientBuilder::authkey`] it answers the listener's challenge and challenges it in turn,
/// giving up after [`ClientBuilder::handshake_timeout`] if none comes. The returned
/// [`Connection`] speaks CPython's framing, so the listener may be a Python program.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::connection::{Client, Listener};
/// let listener = Listener::new()?; // no key: no handshake, as Python's `Listener()`
/// let address = listener.address().clone();
/// let t = std::thread::spawn(move || listener.accept()?.recv::<String>());
/// let conn = Client::connect(&address)?;
/// conn.send("hi")?;
/// assert_eq!(t.join().unwrap()?, "hi");
/// # Ok(()) }
/// ```
pub type Client = ClientIn<Socket>;

/// The connecting end over a link: [`Client`] for sockets, and
/// `mp::dummy::connection::Client` for in-memory
/// connections to a listener of this process. Both take the same builder; what a link cannot
/// use (a key, for memory) is accepted and ignored, as Python's dummy module does.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let l = mp::dummy::connection::Listener::new()?;
/// let c = mp::dummy::connection::Client::builder(l.address()).authkey(b"ignored").connect()?;
/// c.send(&1u8)?;
/// assert_eq!(l.accept()?.recv::<u8>()?, 1);
/// # Ok(()) }
/// ```
pub struct ClientIn<L> {
    _link: PhantomData<fn() -> L>,
}

impl<L> Clone for ClientIn<L> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L> Copy for ClientIn<L> {}

impl<L> std::fmt::Debug for ClientIn<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
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
pub type ClientBuilder = ClientBuilderIn<Socket>;

/// Builds a client connection over a link (see [`ClientBuilder`]).
#[must_use = "call `.connect()` to connect"]
pub struct ClientBuilderIn<L> {
    pub(crate) address: Result<Address>,
    family: Option<Family>,
    authkey: AuthKey,
    pub(crate) timeout: Option<Duration>,
    handshake_timeout: Option<Duration>,
    pub(crate) max_message: Option<u64>,
    _link: PhantomData<fn() -> L>,
}

impl<L> std::fmt::Debug for ClientBuilderIn<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("family", &self.family)
            .field("authkey", &self.authkey)
            .field("timeout", &self.timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_message", &self.max_message)
            .finish()
    }
}

impl<L: Link> ClientIn<L> {
    /// Connects to `address` without authenticating: Python's `Client(address)`.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub fn connect(address: impl ToAddress) -> Result<ConnectionIn<L>> {
        Self::builder(address).connect()
    }

    /// A builder for the other arguments.
    ///
    /// # Examples
    ///
    /// See [`ClientBuilder`].
    pub fn builder(address: impl ToAddress) -> ClientBuilderIn<L> {
        ClientBuilderIn {
            address: address.to_address(),
            family: None,
            authkey: AuthKey::Off,
            timeout: None,
            handshake_timeout: Some(Listener::DEFAULT_HANDSHAKE_TIMEOUT),
            max_message: Some(Listener::DEFAULT_MAX_MESSAGE),
            _link: PhantomData,
        }
    }
}

impl<L: Link> ClientBuilderIn<L> {
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

    /// The authentication key, which the listener must share (default: none, no handshake,
    /// as CPython 3's `authkey=None`). For the process's key, pass
    /// [`mp::current_process().authkey()`](crate::CurrentProcess::authkey).
    ///
    /// # Examples
    ///
    /// See [`ClientBuilder`], and [`ClientBuilder::handshake_timeout`] for the error when the
    /// listener has no key.
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = AuthKey::Key(key.as_ref().to_vec());
        self
    }

    /// Python 2's `authenticate` flag (default `false`, unless a key was set). `true`
    /// authenticates with the key given to [`authkey`](ClientBuilder::authkey) or, without
    /// one, with `current_process().authkey()`; `false` runs no handshake (Python 3's
    /// `authkey=None`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::builder().authenticate(false).bind()?; // the default
    /// let c = Client::builder(l.address()).authenticate(false).connect()?;
    /// c.send_bytes(b"x")?;
    /// assert_eq!(l.accept()?.recv_bytes()?, b"x");
    /// # Ok(()) }
    /// ```
    pub fn authenticate(mut self, on: bool) -> Self {
        self.authkey = self.authkey.authenticate(on);
        self
    }

    /// A limit on the whole handshake that, when it passes, is an [`ErrorKind::Timeout`]
    /// (default `None`: only [`handshake_timeout`](ClientBuilder::handshake_timeout) applies).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::builder().authkey(b"k").bind()?; // never accepts, so never answers
    /// let err = Client::builder(l.address())
    ///     .authkey(b"k")
    ///     .timeout(Some(Duration::from_millis(50)))
    ///     .connect();
    /// assert_eq!(err.unwrap_err().kind(), mp::ErrorKind::Timeout);
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long an authenticating client waits for the server's challenge and the rest of
    /// the handshake (`None`: as long as it takes, as CPython). Default
    /// [`Listener::DEFAULT_HANDSHAKE_TIMEOUT`]. Unused without a key.
    ///
    /// A server that sends no challenge within this time is an [`ErrorKind::Authentication`]
    /// error saying so: it most likely does not authenticate (a listener without a key),
    /// though a server that is busy and does not accept in time trips it too. Raise it (or
    /// use `None`) for such a server.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// use mp::connection::{Client, Listener};
    /// let l = Listener::new()?; // no key: sends no challenge
    /// let err = Client::builder(l.address())
    ///     .authkey(b"k")
    ///     .handshake_timeout(Some(Duration::from_millis(50)))
    ///     .connect()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Authentication);
    /// assert!(err.message().contains("no authentication challenge"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
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

    /// Connects, and authenticates if a key was set.
    ///
    /// A client without a key that meets a listener with one cannot tell at connect time
    /// (the listener has not necessarily accepted it yet): its first message reaches the
    /// listener as a wrong answer to the challenge, the listener's `accept` fails with
    /// [`ErrorKind::Authentication`] and closes the connection, and the client receives the
    /// listener's challenge (a message starting with `#CHALLENGE#`, which `recv_pickle`
    /// reports as an authentication error),
    /// `#FAILURE#`, then end of file.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a malformed address or a family mismatch; [`ErrorKind::Os`] if
    /// nobody listens there. With a key: [`ErrorKind::Authentication`] if the keys differ
    /// ("digest sent was rejected"), if the server sent no challenge within the
    /// [handshake timeout](ClientBuilder::handshake_timeout), or a first message that is not
    /// a challenge ("the peer did not send an authentication challenge"): both mean that it
    /// does not authenticate; [`ErrorKind::Timeout`] if [`timeout`](ClientBuilder::timeout)
    /// was set and passed; [`ErrorKind::Eof`] if the server closed the connection during the
    /// handshake.
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub fn connect(self) -> Result<ConnectionIn<L>> {
        L::connect(self)
    }
}

impl ClientBuilderIn<Socket> {
    /// [`connect`](ClientBuilderIn::connect) for sockets.
    pub(crate) fn connect_socket(self) -> Result<Connection> {
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
        let conn = Connection::from_stream_fd(fd);
        if let Some(key) = self.authkey.resolve() {
            let overall = self.timeout.and_then(sys::deadline_after);
            let handshake = self.handshake_timeout.and_then(sys::deadline_after);
            // Which limit comes first decides what its passing means: the caller's `timeout`
            // is a timeout; the handshake timeout, with no challenge yet, says that the server
            // may not authenticate.
            let (deadline, silence) = match (overall, handshake) {
                (Some(o), Some(h)) if o < h => (Some(o), None),
                (_, Some(h)) => (Some(h), Some(no_challenge(self.handshake_timeout))),
                (o, None) => (o, None),
            };
            auth::answer_or(&conn, &key, deadline, silence)?;
            auth::deliver(&conn, &key, deadline)?;
        }
        conn.set_max_message_size(self.max_message);
        Ok(conn)
    }
}

/// The error of a client whose server sent no challenge within its handshake timeout.
fn no_challenge(timeout: Option<Duration>) -> Error {
    Error::new(
        ErrorKind::Authentication,
        format!(
            "the server sent no authentication challenge within {:?}: perhaps it does not \
             authenticate (a listener without an authkey: connect without one too), or it is \
             not accepting connections",
            timeout.unwrap_or_default()
        ),
    )
}
