//! Connections, pipes, listeners and clients: Python's `multiprocessing.connection`.
//!
//! A [`Connection`] carries whole messages over a byte stream with CPython's framing: a 4-byte
//! big-endian signed length, or `FF FF FF FF` and an 8-byte length for messages over 2 GiB
//! (`docs/design/wire-format.md`).
//! [`send_bytes`](ConnectionIn::send_bytes)/[`recv_bytes`](ConnectionIn::recv_bytes) move raw bytes
//! and are wire-compatible with CPython; [`send`](ConnectionIn::send)/[`recv`](ConnectionIn::recv)
//! move any serde type (with the handles inside it, see [`crate::reduction`]).
//!
//! | Python | mp |
//! |---|---|
//! | `Pipe(duplex=True)` | [`Pipe(true)?`](Pipe) |
//! | `conn.send(obj)`, `conn.recv()` | [`conn.send(&obj)?`](ConnectionIn::send), [`conn.recv::<T>()?`](ConnectionIn::recv) |
//! | `conn.send_bytes(buf, offset, size)` | [`conn.send_bytes(&buf)?`](ConnectionIn::send_bytes), [`conn.send_bytes_range(&buf, offset, Some(size))?`](ConnectionIn::send_bytes_range) |
//! | `conn.recv_bytes()`, `conn.recv_bytes(maxlength)` | [`conn.recv_bytes()?`](ConnectionIn::recv_bytes), [`conn.recv_bytes_max(maxlength)?`](ConnectionIn::recv_bytes_max) |
//! | `conn.recv_bytes_into(buf, offset)` | [`conn.recv_bytes_into(&mut buf, offset)?`](ConnectionIn::recv_bytes_into) |
//! | `conn.poll()`, `conn.poll(t)`, `conn.poll(None)` | [`poll()?`](ConnectionIn::poll), [`poll_timeout(t)?`](ConnectionIn::poll_timeout), [`poll_forever()?`](ConnectionIn::poll_forever) |
//! | `Listener(address, family, backlog, authkey)` | [`Listener::builder().address(a).family(f).backlog(n).authkey(k).bind()?`](Listener::builder) |
//! | `Client(address, family, authkey)` | [`Client::builder(a).family(f).authkey(k).connect()?`](Client::builder) |
//! | `wait(object_list, timeout)` | [`wait(&objects, timeout)?`](wait()) (indices of the ready ones) |
//! | `deliver_challenge`, `answer_challenge` | [`deliver_challenge`], [`answer_challenge`] |
//! | `conn.send(obj)` to a Python peer | `conn.send_pickle(&obj)?` (feature `pickle`) |

use std::fmt;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::space::handle::Packet;

pub mod auth;
mod buffer;
#[doc(hidden)]
pub mod handles;
mod io;
mod listener;
mod memory;
#[cfg(feature = "pickle")]
mod pickle;
mod socket;
pub(crate) mod wait;

pub use auth::{answer_challenge, deliver_challenge};
pub use buffer::{Buffer, BufferMut, Element};
pub(crate) use listener::memory_connect;
pub use listener::{
    Address, Bind, Client, ClientBuilder, ClientBuilderIn, ClientIn, Family, InMemoryListener,
    Listener, ListenerBuilder, ListenerBuilderIn, ToAddress,
};
pub(crate) use listener::{initial_process_authkey, set_process_authkey_source};
pub use memory::InMemory;
pub(crate) use memory::pipe as memory_pipe;
#[cfg(feature = "pickle")]
pub use pickle::PyValue;
pub use socket::Socket;
pub(crate) use socket::{Fd, OwnedFdDe};
pub(crate) use wait::activity;
#[cfg(feature = "async")]
pub use wait::wait_async;
pub use wait::{Readiness, Waitable, wait};

/// One end of a [`Pipe`] or a socket connection: Python's `Connection`.
///
/// Messages are never merged or split: each `send*` arrives as exactly one `recv*`, an empty
/// message included. Dropping a connection closes it. A connection can itself be sent through
/// another one or passed to a child process as a task argument, under every start method; it
/// keeps its direction.
///
/// As in CPython, two processes or threads must not read (or write) the same end at the same
/// time without a lock: their messages could interleave.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let (a, b) = mp::Pipe(true)?;
/// a.send(&(1, "two".to_string()))?;
/// let (n, s): (i32, String) = b.recv()?;
/// assert_eq!((n, s.as_str()), (1, "two"));
/// # Ok(()) }
/// ```
pub type Connection = ConnectionIn<Socket>;

/// A connection over a link: Python's `Connection`, written once for its two links.
///
/// [`mp::Connection`](Connection) is `ConnectionIn<Socket>`: a descriptor (a socketpair of
/// [`Pipe`], a listener's socket, a pipe end) carrying CPython's framing, that can be passed
/// to other processes. `mp::dummy::Connection` is
/// `ConnectionIn<InMemory>`: two message queues in this process, as in Python's
/// `multiprocessing.dummy.connection`. Both have every method below, with the same errors;
/// what only one link can do is in its own `impl` block ([`from_fd`](ConnectionIn::from_fd)
/// and the descriptor traits for sockets, [`send_value`](ConnectionIn::send_value) for memory).
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// fn echo<L: mp::connection::Link>(a: &mp::connection::ConnectionIn<L>,
///                                  b: &mp::connection::ConnectionIn<L>) -> mp::Result<u32> {
///     a.send(&7u32)?;
///     b.recv()
/// }
/// let (a, b) = mp::Pipe(true)?;
/// assert_eq!(echo(&a, &b)?, 7);
/// let (a, b) = mp::dummy::Pipe(true)?;
/// assert_eq!(echo(&a, &b)?, 7);
/// # Ok(()) }
/// ```
pub struct ConnectionIn<L: Link> {
    /// `None` once closed.
    link: Option<L>,
    readable: AtomicBool,
    /// Set when an over-long message made the connection unreadable.
    poisoned: AtomicBool,
    writable: bool,
    max_message: AtomicU64,
    /// The reactor registration of async waits (a duplicate of the descriptor).
    #[cfg(feature = "async")]
    reactor: crate::aio::reactor::Registered,
}

/// What a [`ConnectionIn`] moves messages over: [`Socket`] or [`InMemory`]. Sealed.
pub trait Link: sealed::LinkImpl {}

impl<L: sealed::LinkImpl> Link for L {}

pub(crate) mod sealed {
    use super::*;

    /// What a link does; the front checks the handle's state around it.
    pub trait LinkImpl: Sized + Send + Sync + 'static {
        /// A second handle on the same channel.
        fn duplicate(&self) -> Result<Self>;
        /// The descriptor, where there is one.
        fn fileno(&self) -> Result<RawFd>;
        fn send_bytes(&self, bytes: &[u8]) -> Result<()>;
        fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()>;
        /// Receives one message, giving up at `deadline`: `check` sees its length before its
        /// payload is read, `f` gets it.
        fn receive<R>(
            &self,
            deadline: Option<Instant>,
            check: &dyn Fn(u64) -> Result<()>,
            f: impl FnOnce(Message<'_>) -> Result<R>,
        ) -> Result<R>;
        /// Receives one message into `dest`; a longer one is [`too_short`].
        fn receive_into(
            &self,
            dest: &mut [u8],
            check: &dyn Fn(u64) -> Result<()>,
        ) -> Result<usize> {
            self.receive(None, check, |m| {
                let bytes = m.bytes()?;
                match dest.get_mut(..bytes.len()) {
                    Some(d) => {
                        d.copy_from_slice(bytes);
                        Ok(bytes.len())
                    }
                    None => Err(too_short(bytes.to_vec(), dest.len())),
                }
            })
        }
        /// Whether a message (or end of file) is there within `timeout` (`None`: no limit).
        fn poll(&self, timeout: Option<Duration>) -> Result<bool>;
        /// For [`wait`]: `None` for a link with a descriptor to poll; for an in-memory one,
        /// whether it is ready now (`None` too when it cannot receive).
        fn ready_now(&self) -> Option<bool>;
        fn describe(&self, d: &mut fmt::DebugStruct<'_, '_>);
        /// What a client builder's `connect` does.
        fn connect(b: ClientBuilderIn<Self>) -> Result<ConnectionIn<Self>>;
    }

    /// A received message.
    #[allow(missing_debug_implementations)]
    pub enum Message<'a> {
        /// Bytes in the thread's scratch buffer, and the descriptors that came with them.
        Borrowed(&'a [u8], Vec<OwnedFd>),
        Owned(Vec<u8>, Vec<OwnedFd>),
        /// An in-memory message with the handles inside it.
        Packet(Packet),
        /// A value moved with `send_value`.
        Value(Box<dyn std::any::Any + Send>),
    }
}

use sealed::Message;

impl Message<'_> {
    fn bytes(&self) -> Result<&[u8]> {
        match self {
            Message::Borrowed(b, _) => Ok(b),
            Message::Owned(v, _) => Ok(v),
            Message::Packet(p) => Ok(&p.bytes),
            Message::Value(_) => Err(moved_value()),
        }
    }

    fn into_bytes(self) -> Result<Vec<u8>> {
        match self {
            Message::Value(_) => Err(moved_value()),
            Message::Packet(p) => Ok(p.bytes),
            other => Ok(other.into_parts().0),
        }
    }

    /// Bytes and descriptors (a moved value has neither).
    fn into_parts(self) -> (Vec<u8>, Vec<OwnedFd>) {
        match self {
            Message::Borrowed(b, fds) => (b.to_vec(), fds),
            Message::Owned(v, fds) => (v, fds),
            Message::Packet(p) => (p.bytes, p.fds),
            Message::Value(_) => (Vec::new(), Vec::new()),
        }
    }

    fn decode<T: DeserializeOwned>(self) -> Result<T> {
        match self {
            Message::Borrowed(b, fds) => crate::reduction::decode(b, fds),
            Message::Owned(v, fds) => crate::reduction::decode(&v, fds),
            Message::Packet(p) => p.decode(),
            Message::Value(_) => Err(Error::new(
                ErrorKind::Type,
                "the message is a value sent with `send_value`: receive it with `recv_value`",
            )),
        }
    }
}

fn moved_value() -> Error {
    Error::new(
        ErrorKind::Type,
        "the message is a value sent with `send_value`, not bytes",
    )
}

fn eof() -> Error {
    Error::new(
        ErrorKind::Eof,
        "end of file: the other end closed the connection",
    )
}

/// The error of a message longer than the room for it: it carries the whole message.
fn too_short(whole: Vec<u8>, room: usize) -> Error {
    Error::new(
        ErrorKind::BufferTooShort,
        format!(
            "buffer too short: the message has {} bytes, the buffer room for {room}",
            whole.len()
        ),
    )
    .with_payload(whole)
}

/// Creates a pair of connected [`Connection`]s: Python's `Pipe(duplex)`.
///
/// With `duplex = false` the first end can only receive and the second can only send; using
/// either in the wrong direction is an [`ErrorKind::Os`] error.
///
/// The ends are a `SOCK_SEQPACKET` socketpair: the bytes are CPython's framing, and the kernel
/// keeps record boundaries, so that a small message is read with one system call. Both ends
/// can carry handles (connections, queues, descriptors) and can be passed to other processes.
///
/// # Errors
///
/// Fails if the system is out of descriptors.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let (r, w) = mp::Pipe(false)?;
/// w.send_bytes(b"hello")?;
/// assert_eq!(r.recv_bytes()?, b"hello");
/// assert!(r.send_bytes(b"x").is_err());
/// # Ok(()) }
/// ```
#[allow(non_snake_case)]
pub fn Pipe(duplex: bool) -> Result<(Connection, Connection)> {
    socket::pipe(duplex)
}

/// Snake-case spelling of [`Pipe`].
///
/// # Errors
///
/// As [`Pipe`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let (a, b) = mp::connection::pipe(true)?;
/// a.send(&5u8)?;
/// assert_eq!(b.recv::<u8>()?, 5);
/// # Ok(()) }
/// ```
pub fn pipe(duplex: bool) -> Result<(Connection, Connection)> {
    socket::pipe(duplex)
}

impl<L: Link> ConnectionIn<L> {
    fn with(link: L, readable: bool, writable: bool) -> ConnectionIn<L> {
        ConnectionIn {
            link: Some(link),
            readable: AtomicBool::new(readable),
            poisoned: AtomicBool::new(false),
            writable,
            max_message: AtomicU64::new(u64::MAX),
            #[cfg(feature = "async")]
            reactor: Default::default(),
        }
    }

    /// A closed handle (what a closed in-memory connection travels as).
    fn closed_one() -> ConnectionIn<L> {
        ConnectionIn {
            link: None,
            readable: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            writable: false,
            max_message: AtomicU64::new(u64::MAX),
            #[cfg(feature = "async")]
            reactor: Default::default(),
        }
    }

    /// A second handle on the same connection: the descriptor is duplicated, so both handles
    /// send and receive on the one channel (each message goes to exactly one reader). Python
    /// gets the same effect by passing one `Connection` to several processes.
    ///
    /// # Errors
    ///
    /// The connection is closed, or the system is out of descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// let a2 = a.try_clone()?;
    /// a2.send_bytes(b"via the clone")?;
    /// assert_eq!(b.recv_bytes()?, b"via the clone");
    /// drop(a);
    /// assert!(a2.send_bytes(b"still open").is_ok());
    /// # Ok(()) }
    /// ```
    pub fn try_clone(&self) -> Result<ConnectionIn<L>> {
        let link = self.link.as_ref().ok_or_else(Error::closed)?.duplicate()?;
        let c = ConnectionIn::with(link, self.readable(), self.writable);
        c.max_message
            .store(self.max_message.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(c)
    }

    fn link(&self) -> Result<&L> {
        self.link.as_ref().ok_or_else(Error::closed)
    }

    fn check_readable(&self) -> Result<&L> {
        let link = self.link()?;
        if !self.readable.load(Ordering::Relaxed) {
            if self.poisoned.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Os,
                    "connection is no longer readable: a message was over the length limit",
                ));
            }
            return Err(Error::new(ErrorKind::Os, "connection is write-only"));
        }
        Ok(link)
    }

    fn check_writable(&self) -> Result<&L> {
        let link = self.link()?;
        if !self.writable {
            return Err(Error::new(ErrorKind::Os, "connection is read-only"));
        }
        Ok(link)
    }

    /// The descriptor number: Python's `fileno()`.
    ///
    /// # Errors
    ///
    /// The connection is closed; [`ErrorKind::NotImplemented`] for an in-memory connection,
    /// which has no descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, _b) = mp::Pipe(true)?;
    /// assert!(a.fileno()? >= 0);
    /// # Ok(()) }
    /// ```
    pub fn fileno(&self) -> Result<RawFd> {
        self.link()?.fileno()
    }

    /// Whether [`close`](ConnectionIn::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (mut a, _b) = mp::Pipe(true)?;
    /// a.close();
    /// assert!(a.closed());
    /// # Ok(()) }
    /// ```
    pub fn closed(&self) -> bool {
        self.link.is_none()
    }

    /// Whether this end can receive.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (r, w) = mp::Pipe(false)?;
    /// assert!(r.readable() && !w.readable());
    /// # Ok(()) }
    /// ```
    pub fn readable(&self) -> bool {
        self.readable.load(Ordering::Relaxed)
    }

    /// Whether this end can send.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (r, w) = mp::Pipe(false)?;
    /// assert!(w.writable() && !r.writable());
    /// # Ok(()) }
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Closes the connection. Later calls are no-ops; every other method then fails with
    /// "handle is closed". Dropping the connection closes it too.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (mut a, _b) = mp::Pipe(true)?;
    /// a.close();
    /// assert!(a.send_bytes(b"x").is_err());
    /// # Ok(()) }
    /// ```
    pub fn close(&mut self) {
        self.link = None;
        // The reactor's duplicate of the descriptor goes too (the peer sees end of file).
        #[cfg(feature = "async")]
        self.reactor.clear();
    }

    /// Sets the largest message [`recv`](ConnectionIn::recv)/[`recv_bytes`](ConnectionIn::recv_bytes)
    /// accept (`None`: no limit). A longer message is an error and makes the connection
    /// unreadable. Connections made by a [`Listener`] or a [`Client`] start with a limit of
    /// [`Listener::DEFAULT_MAX_MESSAGE`]; pipes have none. Either way a receive buffer only
    /// grows as bytes really arrive, so a length announced by the peer never allocates by
    /// itself.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// b.set_max_message_size(Some(4));
    /// a.send_bytes(b"too long")?;
    /// assert!(b.recv_bytes().is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_max_message_size(&self, limit: Option<u64>) {
        self.max_message
            .store(limit.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The largest message this connection accepts (`None`: no limit).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, _b) = mp::Pipe(true)?;
    /// assert_eq!(a.max_message_size(), None);
    /// # Ok(()) }
    /// ```
    pub fn max_message_size(&self) -> Option<u64> {
        match self.max_message.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(n),
        }
    }

    // ----- sending -----

    /// Sends the bytes of `buf` as one message: Python's `send_bytes(buf)`.
    ///
    /// `buf` is any [`Buffer`]: a byte slice or array, a `Vec<u8>`, or a slice/array/`Vec` of
    /// numbers, whose raw memory is sent (as Python sends an `array('i', ...)`).
    ///
    /// # Errors
    ///
    /// The connection is closed or read-only, or the peer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes(b"")?; // an empty message is a message
    /// assert_eq!(b.recv_bytes()?, b"");
    /// a.send_bytes(&[42i32, 1729])?;
    /// assert_eq!(b.recv_bytes()?.len(), 8);
    /// # Ok(()) }
    /// ```
    pub fn send_bytes<B: Buffer + ?Sized>(&self, buf: &B) -> Result<()> {
        self.check_writable()?.send_bytes(buf.as_bytes())
    }

    /// Sends `size` bytes of `buf` starting at byte `offset` (`size = None`: to the end):
    /// Python's `send_bytes(buf, offset, size)`, with its validation. Offsets and sizes count
    /// bytes, also for buffers of wider numbers. (Python's negative values cannot be
    /// expressed.)
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] when `offset > len` or `offset + size > len`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes_range(b"abcdef", 2, Some(3))?;
    /// assert_eq!(b.recv_bytes()?, b"cde");
    /// a.send_bytes_range(b"abc", 3, None)?; // offset == len sends b""
    /// assert_eq!(b.recv_bytes()?, b"");
    /// assert!(a.send_bytes_range(b"abc", 4, None).is_err());
    /// assert!(a.send_bytes_range(b"abc", 1, Some(3)).is_err());
    /// # Ok(()) }
    /// ```
    pub fn send_bytes_range<B: Buffer + ?Sized>(
        &self,
        buf: &B,
        offset: usize,
        size: Option<usize>,
    ) -> Result<()> {
        let buf = buf.as_bytes();
        if offset > buf.len() {
            return Err(Error::value("buffer length < offset"));
        }
        let size = size.unwrap_or(buf.len() - offset);
        if offset.checked_add(size).is_none_or(|end| end > buf.len()) {
            return Err(Error::value("buffer length < offset + size"));
        }
        self.send_bytes(&buf[offset..offset + size])
    }

    /// Serializes `value` and sends it as one message: Python's `send(obj)`.
    ///
    /// Handles inside the value (connections, queues, locks...) travel with it. The value is
    /// encoded with mp's codec; to talk to a Python peer use
    /// [`send_bytes`](ConnectionIn::send_bytes) or `send_pickle` (feature `pickle`).
    ///
    /// The message carries a fingerprint of the value's shape: [`recv`](ConnectionIn::recv) as
    /// another type (`send(&299i32)` then `recv::<usize>()`) is an
    /// [`ErrorKind::Serialization`] error, not a different value. Slices and `Vec`s of numbers
    /// (`Vec<u8>`, `Vec<f64>`...), also inside structs, are copied as one block each way.
    ///
    /// # Errors
    ///
    /// The value cannot be serialized, or the connection is closed, read-only or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send(&vec![2.25, 1.5])?;
    /// assert_eq!(b.recv::<Vec<f64>>()?, vec![2.25, 1.5]);
    /// // Read as another type, a message is an error, not another value:
    /// a.send(&299i32)?;
    /// assert_eq!(b.recv::<usize>().unwrap_err().kind(), mp::ErrorKind::Serialization);
    /// # Ok(()) }
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.check_writable()?.send(value)
    }

    // ----- receiving -----

    fn check_length(&self, len: u64, maxlength: Option<usize>) -> Result<()> {
        let cap = maxlength
            .map(|m| m as u64)
            .unwrap_or(u64::MAX)
            .min(self.max_message.load(Ordering::Relaxed));
        if len > cap {
            // As CPython: the connection becomes unreadable.
            self.poisoned.store(true, Ordering::Relaxed);
            self.readable.store(false, Ordering::Relaxed);
            return Err(Error::new(
                ErrorKind::Os,
                format!(
                    "bad message length: {len} bytes is over the limit of {cap}; the \
                     connection is no longer readable"
                ),
            ));
        }
        Ok(())
    }

    /// Receives one message of at most `maxlength` bytes and hands it to `f`.
    fn receive<R>(
        &self,
        maxlength: Option<usize>,
        deadline: Option<Instant>,
        f: impl FnOnce(Message<'_>) -> Result<R>,
    ) -> Result<R> {
        self.check_readable()?
            .receive(deadline, &|len| self.check_length(len, maxlength), f)
    }

    /// Receives one message as bytes: Python's `recv_bytes()`. Blocks until one arrives.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Eof`] when the peer closed before a message started; [`ErrorKind::Os`]
    /// ("got end of file during message") when it closed in the middle of one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes(b"hi")?;
    /// drop(a);
    /// assert_eq!(b.recv_bytes()?, b"hi");
    /// assert_eq!(b.recv_bytes().unwrap_err().kind(), mp::ErrorKind::Eof);
    /// # Ok(()) }
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.receive(None, None, |m| m.into_bytes())
    }

    /// Receives one message of at most `maxlength` bytes: Python's `recv_bytes(maxlength)`.
    ///
    /// # Errors
    ///
    /// A longer message is an [`ErrorKind::Os`] error ("bad message length"); it is left
    /// unread and the connection becomes unreadable, as in CPython.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes(b"12345")?;
    /// assert!(b.recv_bytes_max(3).is_err());
    /// assert!(!b.readable());
    /// # Ok(()) }
    /// ```
    pub fn recv_bytes_max(&self, maxlength: usize) -> Result<Vec<u8>> {
        self.receive(Some(maxlength), None, |m| m.into_bytes())
    }

    /// Receives one message into `buf` starting at byte `offset`; returns its length in
    /// bytes: Python's `recv_bytes_into(buf, offset)`.
    ///
    /// `buf` is any [`BufferMut`]: bytes, or numbers whose memory the message fills (as
    /// Python fills an `array('i', ...)`); `offset` counts bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `offset` is past the end of the buffer;
    /// [`ErrorKind::BufferTooShort`] if the message does not fit: the message is consumed and
    /// the error carries all of it ([`Error::payload`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes(b"abc")?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(b.recv_bytes_into(&mut buf, 2)?, 3);
    /// assert_eq!(&buf[2..5], b"abc");
    /// a.send_bytes(b"too long for it")?;
    /// let err = b.recv_bytes_into(&mut buf, 0).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::BufferTooShort);
    /// assert_eq!(err.payload(), Some(&b"too long for it"[..]));
    /// // Typed buffers get the raw memory:
    /// a.send_bytes(&[42i32, 1729])?;
    /// let mut arr = [0i32; 5];
    /// assert_eq!(b.recv_bytes_into(&mut arr, 0)?, 8);
    /// assert_eq!(arr, [42, 1729, 0, 0, 0]);
    /// # Ok(()) }
    /// ```
    pub fn recv_bytes_into<B: BufferMut + ?Sized>(
        &self,
        buf: &mut B,
        offset: usize,
    ) -> Result<usize> {
        let buf = buf.as_bytes_mut();
        if offset > buf.len() {
            return Err(Error::value(
                "negative offset or offset past the end of the buffer",
            ));
        }
        self.check_readable()?
            .receive_into(&mut buf[offset..], &|len| self.check_length(len, None))
    }

    /// Receives one message and deserializes it as `T`: Python's `recv()`.
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](ConnectionIn::recv_bytes), plus [`ErrorKind::Serialization`] if the
    /// bytes are not a `T` (among them, a message sent as a value of another type).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send(&Some("junk".to_string()))?;
    /// assert_eq!(b.recv::<Option<String>>()?, Some("junk".into()));
    /// # Ok(()) }
    /// ```
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        self.receive(None, None, |m| m.decode())
    }

    /// Whether a message (or EOF) is waiting, without blocking: Python's `poll()`. Polling
    /// never consumes anything.
    ///
    /// # Errors
    ///
    /// The connection is closed or write-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// assert!(!b.poll()?);
    /// a.send_bytes(b"")?;
    /// assert!(b.poll()? && b.poll()?); // polling does not consume
    /// # Ok(()) }
    /// ```
    pub fn poll(&self) -> Result<bool> {
        self.poll_timeout(Duration::ZERO)
    }

    /// Waits up to `timeout` for a message (or EOF): Python's `poll(timeout)`.
    ///
    /// # Errors
    ///
    /// The connection is closed or write-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let (_a, b) = mp::Pipe(true)?;
    /// assert!(!b.poll_timeout(Duration::from_millis(10))?);
    /// # Ok(()) }
    /// ```
    pub fn poll_timeout(&self, timeout: Duration) -> Result<bool> {
        self.check_readable()?.poll(Some(timeout))
    }

    /// Waits without a limit until a message (or EOF) is waiting: Python's `poll(None)`.
    ///
    /// # Errors
    ///
    /// The connection is closed or write-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send(&1u8)?;
    /// b.poll_forever()?;
    /// # Ok(()) }
    /// ```
    pub fn poll_forever(&self) -> Result<()> {
        self.check_readable()?.poll(None).map(|_| ())
    }
}

/// async/await (feature `async`; descriptor links need `tokio` or `async-io`): see
/// [`mp::aio`](crate::aio) for the executors, the threads involved and cancel safety.
#[cfg(feature = "async")]
impl<L: Link> ConnectionIn<L> {
    /// Waits for a message without blocking the executor, then reads it: `recv` for async
    /// code. Cancel-safe: a dropped future has consumed nothing.
    ///
    /// # Errors
    ///
    /// As [`recv`](ConnectionIn::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let (a, b) = mp::Pipe(true)?;
    /// let reader = async { b.recv_async::<String>().await };
    /// a.send_async(&"hello".to_string()).await?;
    /// assert_eq!(reader.await?, "hello");
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn recv_async<T: DeserializeOwned>(&self) -> Result<T> {
        self.readable_async().await?;
        self.recv()
    }

    /// [`recv_bytes`](ConnectionIn::recv_bytes) for async code (see
    /// [`recv_async`](ConnectionIn::recv_async)).
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](ConnectionIn::recv_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes_async(b"raw").await?;
    /// assert_eq!(b.recv_bytes_async().await?, b"raw");
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn recv_bytes_async(&self) -> Result<Vec<u8>> {
        self.readable_async().await?;
        self.recv_bytes()
    }

    /// Waits until the connection can take data without blocking the executor, then sends
    /// `value` in one piece: `send` for async code. A message larger than the free buffer
    /// space is finished by a blocking write, as [`send`](ConnectionIn::send) does.
    ///
    /// # Errors
    ///
    /// As [`send`](ConnectionIn::send).
    ///
    /// # Examples
    ///
    /// See [`recv_async`](ConnectionIn::recv_async).
    pub async fn send_async<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.writable_async().await?;
        self.send(value)
    }

    /// [`send_bytes`](ConnectionIn::send_bytes) for async code (see
    /// [`send_async`](ConnectionIn::send_async)).
    ///
    /// # Errors
    ///
    /// As [`send_bytes`](ConnectionIn::send_bytes).
    ///
    /// # Examples
    ///
    /// See [`recv_bytes_async`](ConnectionIn::recv_bytes_async).
    pub async fn send_bytes_async<B: Buffer + ?Sized>(&self, buf: &B) -> Result<()> {
        self.writable_async().await?;
        self.send_bytes(buf)
    }

    /// Waits until a message (or end of file) is there: `poll(None)` for async code.
    ///
    /// # Errors
    ///
    /// The connection is closed or write-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send(&1u8)?;
    /// b.readable_async().await?;
    /// assert!(b.poll()?);
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn readable_async(&self) -> Result<()> {
        // What is there already costs one poll(2), no reactor registration.
        while !self.poll()? {
            let link = self.check_readable()?;
            if link.ready_now().is_some() {
                // In memory: woken by in-process activity.
                wait::readable(self).await?;
            } else {
                let fd = link.fileno()?;
                self.reactor
                    .ready(fd, crate::aio::Interest::Readable)
                    .await?;
            }
        }
        Ok(())
    }

    async fn writable_async(&self) -> Result<()> {
        let link = self.check_writable()?;
        if link.ready_now().is_some() {
            // An in-memory link never blocks a sender.
            return Ok(());
        }
        let fd = link.fileno()?;
        let mut pfd = [libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        }];
        if crate::sys::poll(&mut pfd, Some(Duration::ZERO)).map_err(|e| Error::os("poll", e))? > 0 {
            return Ok(());
        }
        self.reactor.ready(fd, crate::aio::Interest::Writable).await
    }
}

impl<L: Link> fmt::Debug for ConnectionIn<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Connection");
        match &self.link {
            Some(link) => link.describe(&mut d),
            None => {
                d.field("closed", &true);
            }
        }
        d.field("readable", &self.readable())
            .field("writable", &self.writable)
            .finish()
    }
}
