//! In-memory connections, listeners and clients with the API of
//! [`mp::connection`](crate::connection): Python's `multiprocessing.dummy.connection`.
//!
//! A [`Pipe`] is a pair of in-memory message queues; a [`Listener`]'s address is an
//! in-process name that [`Client`] looks up, as CPython's dummy listener hands out its queue
//! (`families == [None]`: no socket family, see [`FAMILIES`]). Nothing touches the kernel: no
//! descriptor, no authentication (the keys given to the builders are accepted and ignored, as
//! the dummy module has none).
//!
//! [`Connection`] is [`mp::connection::ConnectionIn`](crate::connection::ConnectionIn) over its
//! in-memory link: the same front as [`mp::Connection`](crate::Connection), written once. Messages
//! behave as mp's: [`send`](crate::connection::ConnectionIn::send)/[`recv`](crate::connection::ConnectionIn::recv) carry serde
//! values (encoded with mp's codec, so a message sent with `send` can be received by
//! `recv_bytes` and the other way round, exactly as in mp, and handles inside them — mp's or
//! dummy's — arrive usable); [`send_bytes`](crate::connection::ConnectionIn::send_bytes) carries bytes as they are;
//! closing or dropping an end makes the other end's `recv` fail with [`ErrorKind::Eof`](crate::ErrorKind::Eof) once
//! the messages in flight are read. Beyond mp, [`send_value`](crate::connection::ConnectionIn::send_value) moves
//! any `Send` value without serializing it (what CPython's dummy `send` does with objects).

use crate::connection::{
    ClientBuilderIn, ClientIn, ConnectionIn, Family, InMemory, InMemoryListener, ListenerBuilderIn,
};
use crate::error::Result;

pub use crate::connection::{Address, Readiness, ToAddress, Waitable, wait};

/// Accepts connections from [`Client`]s in this process: Python's
/// `multiprocessing.dummy.connection.Listener`, with the API of
/// [`mp::connection::Listener`](crate::connection::Listener). See [`InMemoryListener`].
///
/// A listener made without an address, or with a TCP one of port 0, gets a fresh name
/// (an [`Address::Abstract`] that no socket uses); any other address is a name clients of this
/// process look up.
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
pub type Listener = InMemoryListener;

/// Builds a [`Listener`]: Python's keyword arguments, with mp's builder (the family, key and
/// handshake timeout are accepted and ignored: in-process connections have none).
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
pub type ListenerBuilder = ListenerBuilderIn<InMemoryListener>;

/// Connects to a dummy [`Listener`] of this process: Python's
/// `multiprocessing.dummy.connection.Client(address)`, with the API of
/// [`mp::connection::Client`](crate::connection::Client).
///
/// # Examples
///
/// See [`Listener`].
pub type Client = ClientIn<InMemory>;

/// Builds a dummy [`Client`] connection: the settings of mp's, of which the timeout (how long
/// to wait for room in the listener's backlog) and the message limit apply.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// use mp::dummy::connection::{Client, Listener};
/// let l = Listener::new()?; // backlog 1
/// let _first = Client::connect(l.address())?;
/// let err = Client::builder(l.address()).timeout(Some(Duration::from_millis(20))).connect();
/// assert_eq!(err.unwrap_err().kind(), mp::ErrorKind::Timeout);
/// # Ok(()) }
/// ```
pub type ClientBuilder = ClientBuilderIn<InMemory>;

/// The socket families of `multiprocessing.dummy.connection`: only `None` (in-process).
///
/// # Examples
///
/// ```
/// assert_eq!(mp::dummy::connection::FAMILIES, [None]);
/// ```
pub const FAMILIES: [Option<Family>; 1] = [None];

/// One end of a [`Pipe`] or of a listener's connection: an in-memory channel with the API of
/// [`mp::Connection`](crate::Connection) (Python's `multiprocessing.dummy.connection.Connection`).
///
/// Messages are never merged or split; an empty message is a message. Dropping or closing an
/// end makes the other end's receives fail with [`ErrorKind::Eof`](crate::ErrorKind::Eof) once
/// it has read what was sent, and its sends fail ([`ErrorKind::Os`](crate::ErrorKind::Os),
/// `EPIPE`). [`fileno`](ConnectionIn::fileno) is [`ErrorKind::NotImplemented`](crate::ErrorKind::NotImplemented):
/// there is no descriptor.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let (a, b) = mp::dummy::Pipe(true)?;
/// a.send(&(1, "two".to_string()))?;
/// let (n, s): (i32, String) = b.recv()?;
/// assert_eq!((n, s.as_str()), (1, "two"));
/// // A dummy queue travels as itself:
/// let q = mp::dummy::Queue::<u8>::new(0)?;
/// a.send(&q)?;
/// b.recv::<mp::dummy::Queue<u8>>()?.put(7)?;
/// assert_eq!(q.get()?, 7);
/// # Ok(()) }
/// ```
pub type Connection = ConnectionIn<InMemory>;

/// Creates a pair of connected in-memory [`Connection`]s: `multiprocessing.dummy.Pipe(duplex)`.
///
/// With `duplex = false` the first end can only receive and the second can only send; using
/// either in the wrong direction is an [`ErrorKind::Os`](crate::ErrorKind::Os) error (as mp's;
/// CPython's dummy pipe ignores `duplex`).
///
/// # Errors
///
/// None; the `Result` is [`mp::Pipe`](crate::Pipe)'s.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let (r, w) = mp::dummy::Pipe(false)?;
/// w.send_bytes(b"hello")?;
/// assert_eq!(r.recv_bytes()?, b"hello");
/// assert!(r.send_bytes(b"x").is_err());
/// # Ok(()) }
/// ```
#[allow(non_snake_case)]
pub fn Pipe(duplex: bool) -> Result<(Connection, Connection)> {
    pipe(duplex)
}

/// Snake-case spelling of [`Pipe`].
///
/// # Errors
///
/// None.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let (a, b) = mp::dummy::connection::pipe(true)?;
/// a.send(&5u8)?;
/// assert_eq!(b.recv::<u8>()?, 5);
/// # Ok(()) }
/// ```
pub fn pipe(duplex: bool) -> Result<(Connection, Connection)> {
    Ok(crate::connection::memory_pipe(duplex))
}
