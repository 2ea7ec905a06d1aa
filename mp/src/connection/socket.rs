//! The descriptor link of a [`ConnectionIn`](super::ConnectionIn): a socket or a pipe end with
//! CPython's framing, what [`mp::Pipe`](crate::Pipe), listeners and clients make (see `io.rs`
//! for the transports).

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::io::{self, MAX_RECORD, PACKET_SMALL, ReadError, Reader, Transport};
use super::{Connection, ConnectionIn, Message, sealed, too_short};
use crate::error::{Error, ErrorKind, Result};
use crate::reduction;
use crate::sys;

thread_local! {
    /// Per-thread buffer that small incoming messages land in (no allocation per message).
    static RECV_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Per-thread buffer that [`Connection::send`] encodes into.
    static SEND_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Send buffers larger than this are not kept for the next message.
const KEEP_SEND_BUFFER: usize = 1 << 20;

/// The link of a descriptor connection ([`mp::Connection`](crate::Connection)): the descriptor
/// and how it moves bytes.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    transport: Transport,
}

fn read_error(e: ReadError) -> Error {
    match e {
        ReadError::Eof => super::eof(),
        ReadError::EofInMessage => Error::new(ErrorKind::Os, "got end of file during message"),
        ReadError::Timeout => Error::new(ErrorKind::Timeout, "timed out waiting for the peer"),
        ReadError::Protocol(m) => Error::new(ErrorKind::Os, format!("bad message: {m}")),
        ReadError::Io(e) => Error::os("recv", e),
    }
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

fn bad_length() -> Error {
    Error::new(ErrorKind::Os, "bad message length")
}

impl Socket {
    pub(super) fn new(fd: OwnedFd, transport: Transport) -> Socket {
        Socket { fd, transport }
    }

    pub(super) fn transport(&self) -> Transport {
        self.transport
    }

    fn write_frame(&self, payload: &[u8], fds: &[RawFd]) -> Result<()> {
        if !fds.is_empty() && !self.transport.carries_fds() {
            return Err(Error::value(
                "handles can only be sent over a socket connection",
            ));
        }
        io::send_frame(self.fd.as_raw_fd(), self.transport, payload, fds)
            .map_err(|e| Error::os("send", e))
    }

    fn reader(&self, deadline: Option<Instant>) -> Reader {
        Reader {
            fd: self.fd.as_raw_fd(),
            transport: self.transport,
            deadline,
            fds: Vec::new(),
        }
    }
}

impl sealed::LinkImpl for Socket {
    fn duplicate(&self) -> Result<Socket> {
        let fd = sys::dup(self.fd.as_raw_fd()).map_err(|e| Error::os("dup", e))?;
        Ok(Socket::new(fd, self.transport))
    }

    fn fileno(&self) -> Result<RawFd> {
        Ok(self.fd.as_raw_fd())
    }

    fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.write_frame(bytes, &[])
    }

    fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let mut buf = SEND_SCRATCH
            .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
            .unwrap_or_default();
        buf.clear();
        // References carried for the receiver by handles in `value` (manager proxies) are
        // given back if the message is not sent.
        let (res, carried) = reduction::holding(|| {
            reduction::encode_into(value, &mut buf).and_then(|fds| {
                let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
                self.write_frame(&buf, &raw)
            })
        });
        carried.settle(res.is_ok());
        if buf.capacity() <= KEEP_SEND_BUFFER {
            let _ = SEND_SCRATCH.try_with(|s| *s.borrow_mut() = buf);
        }
        res
    }

    fn receive<R>(
        &self,
        deadline: Option<Instant>,
        check: &dyn Fn(u64) -> Result<()>,
        f: impl FnOnce(Message<'_>) -> Result<R>,
    ) -> Result<R> {
        let mut reader = self.reader(deadline);
        with_scratch(|scratch| {
            let (len, have, hlen) = reader.begin(scratch).map_err(read_error)?;
            // As CPython: a message over the limit is left unread.
            check(len)?;
            let len = usize::try_from(len).map_err(|_| bad_length())?;
            if hlen + len <= scratch.len() {
                if have < len {
                    reader
                        .fill(&mut scratch[hlen + have..hlen + len], true)
                        .map_err(read_error)?;
                }
                let fds = std::mem::take(&mut reader.fds);
                f(Message::Borrowed(&scratch[hlen..hlen + len], fds))
            } else {
                let mut v = Vec::with_capacity(have.max(len.min(MAX_RECORD)));
                v.extend_from_slice(&scratch[hlen..hlen + have]);
                reader.fill_vec(&mut v, len).map_err(read_error)?;
                f(Message::Owned(v, std::mem::take(&mut reader.fds)))
            }
        })
    }

    fn receive_into(&self, dest: &mut [u8], check: &dyn Fn(u64) -> Result<()>) -> Result<usize> {
        // Straight into the caller's buffer: no copy through a message of its own.
        let mut reader = self.reader(None);
        with_scratch(|scratch| {
            let (len, have, hlen) = reader.begin(scratch).map_err(read_error)?;
            check(len)?;
            let len = usize::try_from(len).map_err(|_| bad_length())?;
            if len > dest.len() {
                let mut whole = Vec::with_capacity(have.max(len.min(MAX_RECORD)));
                whole.extend_from_slice(&scratch[hlen..hlen + have]);
                reader.fill_vec(&mut whole, len).map_err(read_error)?;
                return Err(too_short(whole, dest.len()));
            }
            let dest = &mut dest[..len];
            dest[..have].copy_from_slice(&scratch[hlen..hlen + have]);
            if have < len {
                reader.fill(&mut dest[have..], true).map_err(read_error)?;
            }
            Ok(len)
        })
    }

    fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        sys::poll_readable(self.fd.as_raw_fd(), timeout).map_err(|e| Error::os("poll", e))
    }

    fn ready_now(&self) -> Option<bool> {
        None
    }

    fn describe(&self, d: &mut std::fmt::DebugStruct<'_, '_>) {
        d.field("fd", &self.fd.as_raw_fd());
    }

    fn connect(b: super::ClientBuilderIn<Socket>) -> Result<Connection> {
        b.connect_socket()
    }
}

/// Creates a pair of connected socket connections (see [`Pipe`](super::Pipe)).
pub(crate) fn pipe(duplex: bool) -> Result<(Connection, Connection)> {
    let (a, b) = io::packet_pair().map_err(|e| Error::os("socketpair", e))?;
    if !duplex {
        // One-way ends of a socketpair (rather than a pipe) so that handles can travel through
        // them, which Queues rely on.
        // SAFETY: shutdown on descriptors we own.
        unsafe {
            libc::shutdown(a.as_raw_fd(), libc::SHUT_WR);
            libc::shutdown(b.as_raw_fd(), libc::SHUT_RD);
        }
    }
    Ok((
        Connection::from_packet_fd(a, true, duplex),
        Connection::from_packet_fd(b, duplex, true),
    ))
}

impl ConnectionIn<Socket> {
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
        Ok(Connection::with(
            Socket::new(fd, transport),
            readable,
            writable,
        ))
    }

    /// A connection over one end of a `SOCK_SEQPACKET` socketpair that mp made itself (see
    /// [`sys::seqpacket_pair`]): no system call to find out what the descriptor is.
    pub(crate) fn from_packet_fd(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        Connection::with(Socket::new(fd, Transport::Packet), readable, writable)
    }

    /// A duplex connection over a connected stream socket.
    pub(crate) fn from_stream_fd(fd: OwnedFd) -> Connection {
        Connection::with(Socket::new(fd, Transport::Stream), true, true)
    }

    pub(crate) fn send_raw_with_fds(&self, bytes: &[u8], fds: &[RawFd]) -> Result<()> {
        self.check_writable()?.write_frame(bytes, fds)
    }

    pub(crate) fn recv_raw_with_fds(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        self.receive(None, None, |m| Ok(m.into_parts()))
    }

    /// Receives one message of at most `max` bytes, giving up at `deadline`.
    pub(crate) fn recv_bytes_until(
        &self,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>> {
        self.receive(Some(max), deadline, |m| Ok(m.into_parts().0))
    }
}

impl AsRawFd for Connection {
    /// The descriptor, or `-1` once the connection is closed.
    fn as_raw_fd(&self) -> RawFd {
        self.link.as_ref().map_or(-1, |s| s.fd.as_raw_fd())
    }
}

/// A duplex connection over `fd`, its kind detected: the safe form of
/// [`FromRawFd::from_raw_fd`] (see [`Connection::from_fd`] for the checked one).
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// use std::os::unix::net::UnixStream;
/// # fn main() -> mp::Result<()> {
/// let (a, b) = UnixStream::pair()?;
/// let (a, b) = (mp::Connection::from(OwnedFd::from(a)), mp::Connection::from(OwnedFd::from(b)));
/// a.send(&3u8)?;
/// assert_eq!(b.recv::<u8>()?, 3);
/// # Ok(()) }
/// ```
impl From<OwnedFd> for Connection {
    fn from(fd: OwnedFd) -> Connection {
        let transport = Transport::detect(fd.as_raw_fd());
        Connection::with(Socket::new(fd, transport), true, true)
    }
}

/// The connection's descriptor, taken back: `Err` with the connection if it is closed.
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// # fn main() -> mp::Result<()> {
/// let (a, _b) = mp::Pipe(true)?;
/// let fd = OwnedFd::try_from(a).unwrap();
/// let mut c = mp::Connection::from(fd);
/// c.close();
/// assert!(OwnedFd::try_from(c).is_err());
/// # Ok(()) }
/// ```
impl TryFrom<Connection> for OwnedFd {
    type Error = Connection;

    fn try_from(mut c: Connection) -> std::result::Result<OwnedFd, Connection> {
        match c.link.take() {
            Some(s) => Ok(s.fd),
            None => Err(c),
        }
    }
}

impl IntoRawFd for Connection {
    fn into_raw_fd(mut self) -> RawFd {
        self.link.take().map_or(-1, |s| s.fd.into_raw_fd())
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
        Connection::with(Socket::new(owned, transport), true, true)
    }
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeTuple};
        let link = self
            .link
            .as_ref()
            .ok_or_else(|| S::Error::custom("handle is closed"))?;
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&Fd(link.fd.as_fd()))?;
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
        let c = Connection::with(Socket::new(fd.0, transport), readable, writable);
        c.max_message.store(max, Ordering::Relaxed);
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
