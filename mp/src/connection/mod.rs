//! Connections and pipes: Python's `multiprocessing.connection`.
//!
//! A [`Connection`] carries whole messages over a byte stream with CPython's framing: a 4-byte
//! big-endian signed length, or `FF FF FF FF` and an 8-byte length for messages over 2 GiB.
//! [`send_bytes`](Connection::send_bytes)/[`recv_bytes`](Connection::recv_bytes) move raw bytes
//! and are wire-compatible with CPython; [`send`](Connection::send)/[`recv`](Connection::recv)
//! move any serde type (with the handles inside it, see [`crate::reduction`]).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::reduction;
use crate::sys;

pub mod auth;

pub use auth::{answer_challenge, deliver_challenge};

/// Payloads up to this size are written together with their header in one call.
const SMALL: usize = 16 * 1024;
/// Buffers for incoming messages grow in steps at most this large, so a length read from the
/// wire never allocates more than the bytes that really arrived (plus one step).
const READ_STEP: usize = 8 * 1024 * 1024;

/// One end of a [`Pipe`] or a socket connection: Python's `Connection`.
///
/// Dropping a connection closes it.
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
    writable: bool,
    is_socket: bool,
    max_message: AtomicU64,
}

/// Creates a pair of connected [`Connection`]s: Python's `Pipe(duplex)`.
///
/// With `duplex = false` the first end can only receive and the second can only send.
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
    let (a, b) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    if duplex {
        Ok((
            Connection::from_socket(a, true, true),
            Connection::from_socket(b, true, true),
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
            Connection::from_socket(a, true, false),
            Connection::from_socket(b, false, true),
        ))
    }
}

impl Connection {
    fn from_socket(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        Connection {
            fd: Some(fd),
            readable: AtomicBool::new(readable),
            writable,
            is_socket: true,
            max_message: AtomicU64::new(u64::MAX),
        }
    }

    /// Wraps an open descriptor (a socket, a pipe end): Python's `Connection(handle, readable,
    /// writable)`.
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
        let is_socket = sys::is_socket(raw);
        Ok(Connection {
            fd: Some(fd),
            readable: AtomicBool::new(readable),
            writable,
            is_socket,
            max_message: AtomicU64::new(u64::MAX),
        })
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
    /// "handle is closed".
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
    /// unreadable. Connections made by a `Listener` start with a limit; pipes have none.
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

    // ----- sending -----

    fn write_frame(&self, fd: RawFd, payload: &[u8], fds: &[RawFd]) -> Result<()> {
        let mut header = [0u8; 12];
        let hlen = if payload.len() > 0x7fff_ffff {
            header[..4].copy_from_slice(&(-1i32).to_be_bytes());
            header[4..12].copy_from_slice(&(payload.len() as u64).to_be_bytes());
            12
        } else {
            header[..4].copy_from_slice(&(payload.len() as i32).to_be_bytes());
            4
        };
        let res = if payload.len() <= SMALL {
            let mut buf = Vec::with_capacity(hlen + payload.len());
            buf.extend_from_slice(&header[..hlen]);
            buf.extend_from_slice(payload);
            sys::send_with_fds(fd, &buf, fds)
        } else {
            sys::send_with_fds(fd, &header[..hlen], fds).and_then(|()| sys::write_all(fd, payload))
        };
        res.map_err(|e| Error::os("send", e))
    }

    /// Sends raw bytes as one message: Python's `send_bytes(buf)`.
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
    /// # Ok(()) }
    /// ```
    pub fn send_bytes(&self, buf: &[u8]) -> Result<()> {
        let fd = self.check_writable()?;
        self.write_frame(fd, buf, &[])
    }

    /// Sends `buf[offset..offset + size]` (`size = None`: to the end): Python's
    /// `send_bytes(buf, offset, size)`, with its validation.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] when `offset > buf.len()` or `offset + size > buf.len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_bytes_range(b"abcdef", 2, Some(3))?;
    /// assert_eq!(b.recv_bytes()?, b"cde");
    /// assert!(a.send_bytes_range(b"abc", 4, None).is_err());
    /// # Ok(()) }
    /// ```
    pub fn send_bytes_range(&self, buf: &[u8], offset: usize, size: Option<usize>) -> Result<()> {
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
    /// Handles inside the value (connections, queues, locks...) travel with it.
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
        let (bytes, fds) = reduction::encode(value)?;
        if !fds.is_empty() && !self.is_socket {
            return Err(Error::value(
                "handles can only be sent over a socket connection",
            ));
        }
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        self.write_frame(fd, &bytes, &raw)
    }

    pub(crate) fn send_raw_with_fds(&self, bytes: &[u8], fds: &[RawFd]) -> Result<()> {
        let fd = self.check_writable()?;
        self.write_frame(fd, bytes, fds)
    }

    // ----- receiving -----

    /// Reads one frame header; returns the payload length and any descriptors.
    fn read_header(&self, fd: RawFd) -> Result<(u64, Vec<OwnedFd>)> {
        let mut h = [0u8; 4];
        let (n, fds) = if self.is_socket {
            sys::recv_with_fds(fd, &mut h)
        } else {
            sys::read_full(fd, &mut h).map(|n| (n, Vec::new()))
        }
        .map_err(|e| Error::os("recv", e))?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::Eof,
                "end of file: the other end closed the connection",
            ));
        }
        if n < 4 {
            return Err(eof_in_message());
        }
        let len = i32::from_be_bytes(h);
        let len = if len == -1 {
            let mut x = [0u8; 8];
            let n = sys::read_full(fd, &mut x).map_err(|e| Error::os("recv", e))?;
            if n < 8 {
                return Err(eof_in_message());
            }
            u64::from_be_bytes(x)
        } else if len < 0 {
            return Err(Error::new(
                ErrorKind::Os,
                format!("bad message length {len} in header"),
            ));
        } else {
            len as u64
        };
        Ok((len, fds))
    }

    fn read_payload(&self, fd: RawFd, len: u64) -> Result<Vec<u8>> {
        let len =
            usize::try_from(len).map_err(|_| Error::new(ErrorKind::Os, "bad message length"))?;
        let mut buf = Vec::with_capacity(len.min(READ_STEP));
        while buf.len() < len {
            let want = (len - buf.len()).min(READ_STEP.max(buf.len()));
            let start = buf.len();
            buf.resize(start + want, 0);
            let n = sys::read_full(fd, &mut buf[start..]).map_err(|e| Error::os("recv", e))?;
            if n < want {
                return Err(eof_in_message());
            }
        }
        Ok(buf)
    }

    fn check_length(&self, len: u64, maxlength: Option<usize>) -> Result<()> {
        let cap = maxlength
            .map(|m| m as u64)
            .unwrap_or(u64::MAX)
            .min(self.max_message.load(Ordering::Relaxed));
        if len > cap {
            // As CPython: the payload is left unread and the connection becomes unreadable.
            self.readable.store(false, Ordering::Relaxed);
            return Err(Error::new(
                ErrorKind::Os,
                format!("bad message length: {len} bytes is over the limit of {cap}"),
            ));
        }
        Ok(())
    }

    fn recv_frame(&self, maxlength: Option<usize>) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        let fd = self.check_readable()?;
        let (len, fds) = self.read_header(fd)?;
        self.check_length(len, maxlength)?;
        let payload = self.read_payload(fd, len)?;
        Ok((payload, fds))
    }

    pub(crate) fn recv_raw_with_fds(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        self.recv_frame(None)
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
        self.recv_frame(None).map(|(b, _)| b)
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
        self.recv_frame(Some(maxlength)).map(|(b, _)| b)
    }

    /// Receives one message into `buf` starting at byte `offset`; returns its length: Python's
    /// `recv_bytes_into(buf, offset)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `offset > buf.len()`; [`ErrorKind::BufferTooShort`] if the
    /// message does not fit: the message is consumed and the error carries all of it
    /// ([`Error::payload`]).
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
    /// # Ok(()) }
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<usize> {
        if offset > buf.len() {
            return Err(Error::value(
                "negative offset or offset past the end of the buffer",
            ));
        }
        let fd = self.check_readable()?;
        let (len, _fds) = self.read_header(fd)?;
        self.check_length(len, None)?;
        let room = (buf.len() - offset) as u64;
        if len > room {
            let whole = self.read_payload(fd, len)?;
            return Err(Error::new(
                ErrorKind::BufferTooShort,
                "buffer too short for the message",
            )
            .with_payload(whole));
        }
        let len = len as usize;
        let n =
            sys::read_full(fd, &mut buf[offset..offset + len]).map_err(|e| Error::os("recv", e))?;
        if n < len {
            return Err(eof_in_message());
        }
        Ok(len)
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
        let (bytes, fds) = self.recv_frame(None)?;
        reduction::decode(&bytes, fds)
    }

    /// Whether a message (or EOF) is waiting, without blocking: Python's `poll()`.
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

    /// Waits without a limit until a message (or EOF) is waiting.
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

fn eof_in_message() -> Error {
    Error::new(ErrorKind::Os, "got end of file during message")
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

impl AsFd for Connection {
    /// # Panics
    ///
    /// Panics if the connection is closed.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("connection is closed").as_fd()
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
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&Fd(fd.as_fd()))?;
        t.serialize_element(&self.readable())?;
        t.serialize_element(&self.writable)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Connection, D::Error> {
        let (fd, readable, writable): (OwnedFdDe, bool, bool) = Deserialize::deserialize(d)?;
        let mut c = Connection::from_socket(fd.0, readable, writable);
        c.is_socket = c.fd.as_ref().is_some_and(|f| sys::is_socket(f.as_raw_fd()));
        Ok(c)
    }
}

/// A borrowed descriptor that serializes through the side table.
pub(crate) struct Fd<'a>(pub(crate) BorrowedFd<'a>);

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
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Connection {
        // SAFETY: forwarded from the caller.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Connection::from_socket(owned, true, true)
    }
}
