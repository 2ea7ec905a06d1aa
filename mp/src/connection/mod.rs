//! Connections, pipes, listeners and clients: Python's `multiprocessing.connection`.
//!
//! A [`Connection`] carries whole messages over a byte stream with CPython's framing: a 4-byte
//! big-endian signed length, or `FF FF FF FF` and an 8-byte length for messages over 2 GiB
//! (`docs/design/wire-format.md`).
//! [`send_bytes`](Connection::send_bytes)/[`recv_bytes`](Connection::recv_bytes) move raw bytes
//! and are wire-compatible with CPython; [`send`](Connection::send)/[`recv`](Connection::recv)
//! move any serde type (with the handles inside it, see [`crate::reduction`]).
//!
//! | Python | mp |
//! |---|---|
//! | `Pipe(duplex=True)` | [`Pipe(true)?`](Pipe) |
//! | `conn.send(obj)`, `conn.recv()` | [`conn.send(&obj)?`](Connection::send), [`conn.recv::<T>()?`](Connection::recv) |
//! | `conn.send_bytes(buf, offset, size)` | [`conn.send_bytes(&buf)?`](Connection::send_bytes), [`conn.send_bytes_range(&buf, offset, Some(size))?`](Connection::send_bytes_range) |
//! | `conn.recv_bytes()`, `conn.recv_bytes(maxlength)` | [`conn.recv_bytes()?`](Connection::recv_bytes), [`conn.recv_bytes_max(maxlength)?`](Connection::recv_bytes_max) |
//! | `conn.recv_bytes_into(buf, offset)` | [`conn.recv_bytes_into(&mut buf, offset)?`](Connection::recv_bytes_into) |
//! | `conn.poll()`, `conn.poll(t)`, `conn.poll(None)` | [`poll()?`](Connection::poll), [`poll_timeout(t)?`](Connection::poll_timeout), [`poll_forever()?`](Connection::poll_forever) |
//! | `Listener(address, family, backlog, authkey)` | [`Listener::builder().address(a).family(f).backlog(n).authkey(k).bind()?`](Listener::builder) |
//! | `Client(address, family, authkey)` | [`Client::builder(a).family(f).authkey(k).connect()?`](Client::builder) |
//! | `wait(object_list, timeout)` | [`wait(&objects, timeout)?`](wait()) (indices of the ready ones) |
//! | `deliver_challenge`, `answer_challenge` | [`deliver_challenge`], [`answer_challenge`] |
//! | `conn.send(obj)` to a Python peer | `conn.send_pickle(&obj)?` (feature `pickle`) |

use std::cell::RefCell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::reduction;
use crate::sys;

pub mod auth;
mod buffer;
#[doc(hidden)]
pub mod handles;
mod io;
mod listener;
#[cfg(feature = "pickle")]
mod pickle;
mod wait;

pub use auth::{answer_challenge, deliver_challenge};
pub use buffer::{Buffer, BufferMut, Element};
pub use listener::{Address, Client, ClientBuilder, Family, Listener, ListenerBuilder, ToAddress};
pub(crate) use listener::{initial_process_authkey, set_process_authkey_source};
#[cfg(feature = "pickle")]
pub use pickle::PyValue;
pub use wait::{Waitable, wait};

use io::{PACKET_SMALL, ReadError, Reader, Transport};

thread_local! {
    /// Per-thread buffer that small incoming messages land in (no allocation per message).
    static RECV_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Per-thread buffer that [`Connection::send`] encodes into.
    static SEND_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Send buffers larger than this are not kept for the next message.
const KEEP_SEND_BUFFER: usize = 1 << 20;

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
pub struct Connection {
    fd: Option<OwnedFd>,
    readable: AtomicBool,
    /// Set when an over-long message made the connection unreadable.
    poisoned: AtomicBool,
    writable: bool,
    transport: Transport,
    max_message: AtomicU64,
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
    pipe(duplex)
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
    let (a, b) = io::packet_pair().map_err(|e| Error::os("socketpair", e))?;
    if duplex {
        Ok((
            Connection::with(a, true, true, Transport::Packet),
            Connection::with(b, true, true, Transport::Packet),
        ))
    } else {
        // One-way ends of a socketpair (rather than a pipe) so that handles can travel through
        // them, which Queues rely on.
        // SAFETY: shutdown on descriptors we own.
        unsafe {
            libc::shutdown(a.as_raw_fd(), libc::SHUT_WR);
            libc::shutdown(b.as_raw_fd(), libc::SHUT_RD);
        }
        Ok((
            Connection::with(a, true, false, Transport::Packet),
            Connection::with(b, false, true, Transport::Packet),
        ))
    }
}

/// Where a received payload is: in the thread's scratch buffer or in its own allocation.
enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Owned(v) => v,
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self {
            Payload::Borrowed(b) => b.to_vec(),
            Payload::Owned(v) => v,
        }
    }
}

fn read_error(e: ReadError) -> Error {
    match e {
        ReadError::Eof => Error::new(
            ErrorKind::Eof,
            "end of file: the other end closed the connection",
        ),
        ReadError::EofInMessage => eof_in_message(),
        ReadError::Timeout => Error::new(ErrorKind::Timeout, "timed out waiting for the peer"),
        ReadError::Protocol(m) => Error::new(ErrorKind::Os, format!("bad message: {m}")),
        ReadError::Io(e) => Error::os("recv", e),
    }
}

fn eof_in_message() -> Error {
    Error::new(ErrorKind::Os, "got end of file during message")
}

/// Runs `f` with the thread's receive scratch buffer (at least [`PACKET_SMALL`] bytes).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    // `try_with`: in an `atexit` handler (the exit handler joining forkserver children) the
    // thread's locals are already gone; a fresh buffer does then.
    let mut buf = RECV_SCRATCH
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default();
    if buf.len() < PACKET_SMALL {
        buf.resize(PACKET_SMALL, 0);
    }
    let r = f(&mut buf);
    let _ = RECV_SCRATCH.try_with(|s| *s.borrow_mut() = buf);
    r
}

impl Connection {
    fn with(fd: OwnedFd, readable: bool, writable: bool, transport: Transport) -> Connection {
        Connection {
            fd: Some(fd),
            readable: AtomicBool::new(readable),
            poisoned: AtomicBool::new(false),
            writable,
            transport,
            max_message: AtomicU64::new(u64::MAX),
        }
    }

    /// Wraps an open descriptor (a socket, a pipe end): Python's `Connection(handle, readable,
    /// writable)`.
    ///
    /// Stream sockets (`UnixStream`, `TcpStream`) and pipes carry CPython's framing byte for
    /// byte, so the peer may be a Python program. The descriptor is used as it is: if it is
    /// non-blocking, reads and writes that would block fail.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] when both `readable` and `writable` are false or the descriptor is
    /// not open.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = UnixStream::pair()?;
    /// let a = mp::Connection::from_fd(a.into(), true, true)?;
    /// let b = mp::Connection::from_fd(b.into(), true, true)?;
    /// a.send_bytes(b"x")?;
    /// assert_eq!(b.recv_bytes()?, b"x");
    /// # Ok(()) }
    /// ```
    pub fn from_fd(fd: OwnedFd, readable: bool, writable: bool) -> Result<Connection> {
        if !readable && !writable {
            return Err(Error::value(
                "at least one of `readable` and `writable` must be true",
            ));
        }
        let raw = fd.as_raw_fd();
        if !sys::fd_is_valid(raw) {
            return Err(Error::value(format!("invalid handle {raw}")));
        }
        let transport = Transport::detect(raw);
        Ok(Connection::with(fd, readable, writable, transport))
    }

    /// A connection over one end of a `SOCK_SEQPACKET` socketpair that mp made itself (see
    /// [`sys::seqpacket_pair`]): no system call to find out what the descriptor is.
    pub(crate) fn from_packet_fd(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        Connection::with(fd, readable, writable, Transport::Packet)
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
    pub fn try_clone(&self) -> Result<Connection> {
        let fd = sys::dup(self.raw()?).map_err(|e| Error::os("dup", e))?;
        let c = Connection::with(fd, self.readable(), self.writable, self.transport);
        c.max_message
            .store(self.max_message.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(c)
    }

    fn raw(&self) -> Result<RawFd> {
        self.fd
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or_else(Error::closed)
    }

    fn check_readable(&self) -> Result<RawFd> {
        let fd = self.raw()?;
        if !self.readable.load(Ordering::Relaxed) {
            if self.poisoned.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Os,
                    "connection is no longer readable: a message was over the length limit",
                ));
            }
            return Err(Error::new(ErrorKind::Os, "connection is write-only"));
        }
        Ok(fd)
    }

    fn check_writable(&self) -> Result<RawFd> {
        let fd = self.raw()?;
        if !self.writable {
            return Err(Error::new(ErrorKind::Os, "connection is read-only"));
        }
        Ok(fd)
    }

    /// The descriptor number: Python's `fileno()`.
    ///
    /// # Errors
    ///
    /// The connection is closed.
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
        self.raw()
    }

    /// Whether [`close`](Connection::close) was called.
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
        self.fd.is_none()
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
        self.fd = None;
    }

    /// Sets the largest message [`recv`](Connection::recv)/[`recv_bytes`](Connection::recv_bytes)
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

    fn write_frame(&self, fd: RawFd, payload: &[u8], fds: &[RawFd]) -> Result<()> {
        if !fds.is_empty() && !self.transport.carries_fds() {
            return Err(Error::value(
                "handles can only be sent over a socket connection",
            ));
        }
        io::send_frame(fd, self.transport, payload, fds).map_err(|e| Error::os("send", e))
    }

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
        let fd = self.check_writable()?;
        self.write_frame(fd, buf.as_bytes(), &[])
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
    /// encoded with mp's codec (bincode); to talk to a Python peer use
    /// [`send_bytes`](Connection::send_bytes) or `send_pickle` (feature `pickle`).
    ///
    /// Performance: serde encodes a `Vec<u8>` byte by byte (about 0.15 GB/s); send large
    /// byte buffers with [`send_bytes`](Connection::send_bytes) (memory speed), or wrap them in
    /// `serde_bytes::ByteBuf` inside typed messages.
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
    /// # Ok(()) }
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let fd = self.check_writable()?;
        let mut buf = SEND_SCRATCH
            .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
            .unwrap_or_default();
        buf.clear();
        // References carried for the receiver by handles in `value` (manager proxies) are
        // given back if the message is not sent.
        let (res, carried) = reduction::holding(|| {
            reduction::encode_into(value, &mut buf).and_then(|fds| {
                let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
                self.write_frame(fd, &buf, &raw)
            })
        });
        carried.settle(res.is_ok());
        if buf.capacity() <= KEEP_SEND_BUFFER {
            let _ = SEND_SCRATCH.try_with(|s| *s.borrow_mut() = buf);
        }
        res
    }

    pub(crate) fn send_raw_with_fds(&self, bytes: &[u8], fds: &[RawFd]) -> Result<()> {
        let fd = self.check_writable()?;
        self.write_frame(fd, bytes, fds)
    }

    // ----- receiving -----

    fn check_length(&self, len: u64, maxlength: Option<usize>) -> Result<()> {
        let cap = maxlength
            .map(|m| m as u64)
            .unwrap_or(u64::MAX)
            .min(self.max_message.load(Ordering::Relaxed));
        if len > cap {
            // As CPython: the payload is left unread and the connection becomes unreadable.
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

    /// Receives one message and hands its payload and descriptors to `f`.
    fn receive<R>(
        &self,
        maxlength: Option<usize>,
        deadline: Option<Instant>,
        f: impl FnOnce(Payload<'_>, Vec<OwnedFd>) -> Result<R>,
    ) -> Result<R> {
        let fd = self.check_readable()?;
        let mut reader = Reader {
            fd,
            transport: self.transport,
            deadline,
            fds: Vec::new(),
        };
        with_scratch(|scratch| {
            let (len, have, hlen) = reader.begin(scratch).map_err(read_error)?;
            self.check_length(len, maxlength)?;
            let len = usize::try_from(len)
                .map_err(|_| Error::new(ErrorKind::Os, "bad message length"))?;
            let payload = if hlen + len <= scratch.len() {
                if have < len {
                    reader
                        .fill(&mut scratch[hlen + have..hlen + len], true)
                        .map_err(read_error)?;
                }
                Payload::Borrowed(&scratch[hlen..hlen + len])
            } else {
                let mut v = Vec::with_capacity(have.max(len.min(io::MAX_RECORD)));
                v.extend_from_slice(&scratch[hlen..hlen + have]);
                reader.fill_vec(&mut v, len).map_err(read_error)?;
                Payload::Owned(v)
            };
            f(payload, std::mem::take(&mut reader.fds))
        })
    }

    pub(crate) fn recv_raw_with_fds(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        self.receive(None, None, |p, fds| Ok((p.into_vec(), fds)))
    }

    /// Receives one message of at most `max` bytes, giving up at `deadline`.
    pub(crate) fn recv_bytes_until(
        &self,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>> {
        self.receive(Some(max), deadline, |p, _| Ok(p.into_vec()))
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
        self.receive(None, None, |p, _| Ok(p.into_vec()))
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
        self.receive(Some(maxlength), None, |p, _| Ok(p.into_vec()))
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
        let fd = self.check_readable()?;
        let mut reader = Reader {
            fd,
            transport: self.transport,
            deadline: None,
            fds: Vec::new(),
        };
        with_scratch(|scratch| {
            let (len, have, hlen) = reader.begin(scratch).map_err(read_error)?;
            self.check_length(len, None)?;
            let len = usize::try_from(len)
                .map_err(|_| Error::new(ErrorKind::Os, "bad message length"))?;
            let room = buf.len() - offset;
            if len > room {
                let mut whole = Vec::with_capacity(have.max(len.min(io::MAX_RECORD)));
                whole.extend_from_slice(&scratch[hlen..hlen + have]);
                reader.fill_vec(&mut whole, len).map_err(read_error)?;
                return Err(Error::new(
                    ErrorKind::BufferTooShort,
                    format!(
                        "buffer too short: the message has {len} bytes, the buffer room for {room}"
                    ),
                )
                .with_payload(whole));
            }
            let dest = &mut buf[offset..offset + len];
            dest[..have].copy_from_slice(&scratch[hlen..hlen + have]);
            if have < len {
                reader.fill(&mut dest[have..], true).map_err(read_error)?;
            }
            Ok(len)
        })
    }

    /// Receives one message and deserializes it as `T`: Python's `recv()`.
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Connection::recv_bytes), plus [`ErrorKind::Serialization`] if the
    /// bytes are not a `T`.
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
        self.receive(None, None, |p, fds| reduction::decode(p.bytes(), fds))
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
        let fd = self.check_readable()?;
        sys::poll_readable(fd, Some(timeout)).map_err(|e| Error::os("poll", e))
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
        let fd = self.check_readable()?;
        sys::poll_readable(fd, None)
            .map(|_| ())
            .map_err(|e| Error::os("poll", e))
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_ref().map(|f| f.as_raw_fd()))
            .field("readable", &self.readable())
            .field("writable", &self.writable)
            .finish()
    }
}

impl AsRawFd for Connection {
    /// The descriptor, or `-1` once the connection is closed.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |f| f.as_raw_fd())
    }
}

impl IntoRawFd for Connection {
    fn into_raw_fd(mut self) -> RawFd {
        self.fd.take().map(IntoRawFd::into_raw_fd).unwrap_or(-1)
    }
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeTuple};
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| S::Error::custom("handle is closed"))?;
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&Fd(fd.as_fd()))?;
        t.serialize_element(&self.readable())?;
        t.serialize_element(&self.writable)?;
        t.serialize_element(&self.max_message.load(Ordering::Relaxed))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Connection, D::Error> {
        let (fd, readable, writable, max): (OwnedFdDe, bool, bool, u64) =
            Deserialize::deserialize(d)?;
        let transport = Transport::detect(fd.0.as_raw_fd());
        let c = Connection::with(fd.0, readable, writable, transport);
        c.max_message.store(max, Ordering::Relaxed);
        Ok(c)
    }
}

/// A borrowed descriptor that serializes through the side table.
pub(crate) struct Fd<'a>(pub(crate) std::os::fd::BorrowedFd<'a>);

impl Serialize for Fd<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        reduction::serialize_fd(self.0, s)
    }
}

/// An owned descriptor that deserializes from the side table.
pub(crate) struct OwnedFdDe(pub(crate) OwnedFd);

impl<'de> Deserialize<'de> for OwnedFdDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<OwnedFdDe, D::Error> {
        reduction::deserialize_fd(d).map(OwnedFdDe)
    }
}

impl FromRawFd for Connection {
    /// A duplex connection over `fd` (its kind is detected).
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Connection {
        // SAFETY: forwarded from the caller.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let transport = Transport::detect(fd);
        Connection::with(owned, true, true, transport)
    }
}
