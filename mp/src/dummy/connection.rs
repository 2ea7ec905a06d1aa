//! In-memory connections, listeners and clients with the API of
//! [`mp::connection`](crate::connection): Python's `multiprocessing.dummy.connection`.
//!
//! A [`Pipe`] is a pair of in-memory message queues; a [`Listener`]'s address is an
//! in-process name that [`Client`] looks up, as CPython's dummy listener hands out its queue
//! (`families == [None]`: no socket family, see [`FAMILIES`]). Nothing touches the kernel: no
//! descriptor, no authentication (the keys given to the builders are accepted and ignored, as
//! the dummy module has none).
//!
//! Messages behave as mp's: [`send`](Connection::send)/[`recv`](Connection::recv) carry serde
//! values (encoded with mp's codec, so a message sent with `send` can be received by
//! `recv_bytes` and the other way round, exactly as in mp, and handles inside them — mp's or
//! dummy's — arrive usable); [`send_bytes`](Connection::send_bytes) carries bytes as they are;
//! closing or dropping an end makes the other end's `recv` fail with [`ErrorKind::Eof`] once
//! the messages in flight are read. Beyond mp, [`send_value`](Connection::send_value) moves
//! any `Send` value without serializing it (what CPython's dummy `send` does with objects).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::process::Process;
use crate::connection::{Buffer, BufferMut, Family};
use crate::error::{Error, ErrorKind, Result};
use crate::space::handle::{Handle, Packet, handle_serde};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The socket families of `multiprocessing.dummy.connection`: only `None` (in-process).
///
/// # Examples
///
/// ```
/// assert_eq!(mp::dummy::connection::FAMILIES, [None]);
/// ```
pub const FAMILIES: [Option<Family>; 1] = [None];

// ---------------------------------------------------------------------------------------------
// Activity: what `wait` sleeps on
// ---------------------------------------------------------------------------------------------

static WAITERS: AtomicUsize = AtomicUsize::new(0);
static GENERATION: Mutex<u64> = Mutex::new(0);
static ACTIVITY: Condvar = Condvar::new();

/// Something happened that may make a [`Waitable`] ready (a message, a close, a client, a
/// thread's end): wakes the threads in [`wait`]. Costs one atomic load when nobody waits.
#[linkme::distributed_slice(crate::space::THREAD_ENDS)]
static ON_THREAD_END: fn() = activity;

pub(crate) fn activity() {
    if WAITERS.load(Ordering::SeqCst) > 0 {
        *lock(&GENERATION) += 1;
        ACTIVITY.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

enum Msg {
    Bytes(Vec<u8>),
    Packet(Packet),
    Value(Box<dyn Any + Send>),
}

struct ChanState {
    msgs: VecDeque<Msg>,
    /// Open handles that can send into this channel, and receive from it.
    writers: usize,
    readers: usize,
    waiting: usize,
}

/// One direction of a connection.
struct Chan {
    state: Mutex<ChanState>,
    cv: Condvar,
    /// Bumped by every push and by the last writer leaving: what a reader spins on before it
    /// sleeps.
    changes: AtomicU64,
}

impl Chan {
    fn new() -> Arc<Chan> {
        Arc::new(Chan {
            state: Mutex::new(ChanState {
                msgs: VecDeque::new(),
                writers: 0,
                readers: 0,
                waiting: 0,
            }),
            cv: Condvar::new(),
            changes: AtomicU64::new(0),
        })
    }

    fn push(&self, m: Msg) -> Result<()> {
        let mut st = lock(&self.state);
        if st.readers == 0 {
            return Err(Error::os(
                "send",
                std::io::Error::from_raw_os_error(libc::EPIPE),
            ));
        }
        st.msgs.push_back(m);
        self.changes.fetch_add(1, Ordering::Release);
        let wake = st.waiting > 0;
        drop(st);
        if wake {
            self.cv.notify_one();
        }
        activity();
        Ok(())
    }

    /// Waits until a message or the end of the stream is there (`true`), or `deadline`.
    fn wait_ready<'a>(
        &'a self,
        mut st: MutexGuard<'a, ChanState>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, ChanState>, bool) {
        let mut spun = false;
        loop {
            if !st.msgs.is_empty() || st.writers == 0 {
                return (st, true);
            }
            if !spun {
                // Before sleeping, spin a little for a message from a thread on another CPU
                // (waking a sleeper there costs ~30 us); then look again under the lock.
                spun = true;
                if crate::sys::spinning_pays() {
                    let seen = self.changes.load(Ordering::Acquire);
                    drop(st);
                    crate::queues::local::spin_until_changed(&self.changes, seen, deadline);
                    st = lock(&self.state);
                    continue;
                }
            }
            st.waiting += 1;
            match deadline {
                None => st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        st.waiting -= 1;
                        return (st, false);
                    }
                    st = self
                        .cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
            st.waiting -= 1;
        }
    }

    fn pop(&self) -> Result<Msg> {
        let st = lock(&self.state);
        let (mut st, _) = self.wait_ready(st, None);
        match st.msgs.pop_front() {
            Some(m) => Ok(m),
            None => Err(Error::new(
                ErrorKind::Eof,
                "end of file: the other end closed the connection",
            )),
        }
    }

    fn ready(&self) -> bool {
        let st = lock(&self.state);
        !st.msgs.is_empty() || st.writers == 0
    }

    fn add(&self, writer: bool) {
        let mut st = lock(&self.state);
        if writer {
            st.writers += 1;
        } else {
            st.readers += 1;
        }
    }

    fn remove(&self, writer: bool) {
        let mut st = lock(&self.state);
        if writer {
            st.writers = st.writers.saturating_sub(1);
            self.changes.fetch_add(1, Ordering::Release);
        } else {
            st.readers = st.readers.saturating_sub(1);
            if st.readers == 0 {
                // Nobody can read them any more: release what they hold.
                st.msgs.clear();
            }
        }
        drop(st);
        self.cv.notify_all();
        activity();
    }
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

/// One end of a [`Pipe`] or of a listener's connection: an in-memory channel with the API of
/// [`mp::Connection`](crate::Connection) (Python's `multiprocessing.dummy.connection.Connection`).
///
/// Messages are never merged or split; an empty message is a message. Dropping or closing an
/// end makes the other end's receives fail with [`ErrorKind::Eof`] once it has read what was
/// sent, and its sends fail ([`ErrorKind::Os`], `EPIPE`).
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let (a, b) = mp::dummy::Pipe(true)?;
/// a.send(&(1, "two".to_string()))?;
/// let (n, s): (i32, String) = b.recv()?;
/// assert_eq!((n, s.as_str()), (1, "two"));
/// # Ok(()) }
/// ```
pub struct Connection {
    rx: Option<Arc<Chan>>,
    tx: Option<Arc<Chan>>,
    open: bool,
    readable: AtomicBool,
    poisoned: AtomicBool,
    writable: bool,
    max_message: AtomicU64,
}

/// Creates a pair of connected in-memory [`Connection`]s: `multiprocessing.dummy.Pipe(duplex)`.
///
/// With `duplex = false` the first end can only receive and the second can only send; using
/// either in the wrong direction is an [`ErrorKind::Os`] error (as mp's; CPython's dummy pipe
/// ignores `duplex`).
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
    let ab = Chan::new();
    if duplex {
        let ba = Chan::new();
        Ok((
            Connection::with(Some(ba.clone()), Some(ab.clone())),
            Connection::with(Some(ab), Some(ba)),
        ))
    } else {
        Ok((
            Connection::with(Some(ab.clone()), None),
            Connection::with(None, Some(ab)),
        ))
    }
}

impl Connection {
    fn with(rx: Option<Arc<Chan>>, tx: Option<Arc<Chan>>) -> Connection {
        if let Some(c) = &rx {
            c.add(false);
        }
        if let Some(c) = &tx {
            c.add(true);
        }
        Connection {
            readable: AtomicBool::new(rx.is_some()),
            writable: tx.is_some(),
            rx,
            tx,
            open: true,
            poisoned: AtomicBool::new(false),
            max_message: AtomicU64::new(u64::MAX),
        }
    }

    /// A second handle on the same connection: both send and receive on the one channel
    /// (each message goes to exactly one reader), and the peer sees end of file only once
    /// every handle is closed.
    ///
    /// # Errors
    ///
    /// The connection is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// let a2 = a.try_clone()?;
    /// drop(a);
    /// a2.send_bytes(b"via the clone")?;
    /// assert_eq!(b.recv_bytes()?, b"via the clone");
    /// # Ok(()) }
    /// ```
    pub fn try_clone(&self) -> Result<Connection> {
        if !self.open {
            return Err(Error::closed());
        }
        let c = Connection::with(self.rx.clone(), self.tx.clone());
        c.readable
            .store(self.readable.load(Ordering::Relaxed), Ordering::Relaxed);
        c.max_message
            .store(self.max_message.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(c)
    }

    /// Python's `fileno()`: an in-memory connection has no descriptor.
    ///
    /// # Errors
    ///
    /// Always: [`ErrorKind::NotImplemented`] ([`ErrorKind::Os`] once closed).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, _b) = mp::dummy::Pipe(true)?;
    /// assert_eq!(a.fileno().unwrap_err().kind(), mp::ErrorKind::NotImplemented);
    /// # Ok(()) }
    /// ```
    pub fn fileno(&self) -> Result<std::os::fd::RawFd> {
        if !self.open {
            return Err(Error::closed());
        }
        Err(Error::new(
            ErrorKind::NotImplemented,
            "an mp::dummy connection is in memory: it has no file descriptor",
        ))
    }

    /// Whether [`close`](Connection::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (mut a, _b) = mp::dummy::Pipe(true)?;
    /// a.close();
    /// assert!(a.closed());
    /// # Ok(()) }
    /// ```
    pub fn closed(&self) -> bool {
        !self.open
    }

    /// Whether this end can receive.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (r, w) = mp::dummy::Pipe(false)?;
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
    /// let (r, w) = mp::dummy::Pipe(false)?;
    /// assert!(w.writable() && !r.writable());
    /// # Ok(()) }
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    fn release(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        if let Some(c) = self.rx.take() {
            c.remove(false);
        }
        if let Some(c) = self.tx.take() {
            c.remove(true);
        }
    }

    /// Closes this end: later calls are no-ops, every other method fails with "handle is
    /// closed", and the peer sees end of file. Dropping the connection closes it too.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (mut a, b) = mp::dummy::Pipe(true)?;
    /// a.close();
    /// assert!(a.send_bytes(b"x").is_err());
    /// assert_eq!(b.recv_bytes().unwrap_err().kind(), mp::ErrorKind::Eof);
    /// # Ok(()) }
    /// ```
    pub fn close(&mut self) {
        self.release();
    }

    /// Sets the largest message the receiving methods accept (`None`: no limit); a longer
    /// one is an error and makes the connection unreadable, as in mp.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
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
    /// let (a, _b) = mp::dummy::Pipe(true)?;
    /// assert_eq!(a.max_message_size(), None);
    /// # Ok(()) }
    /// ```
    pub fn max_message_size(&self) -> Option<u64> {
        match self.max_message.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(n),
        }
    }

    fn tx(&self) -> Result<&Chan> {
        if !self.open {
            return Err(Error::closed());
        }
        match &self.tx {
            Some(c) => Ok(c),
            None => Err(Error::new(ErrorKind::Os, "connection is read-only")),
        }
    }

    fn rx(&self) -> Result<&Chan> {
        if !self.open {
            return Err(Error::closed());
        }
        if !self.readable.load(Ordering::Relaxed) {
            if self.poisoned.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Os,
                    "connection is no longer readable: a message was over the length limit",
                ));
            }
            return Err(Error::new(ErrorKind::Os, "connection is write-only"));
        }
        match &self.rx {
            Some(c) => Ok(c),
            None => Err(Error::new(ErrorKind::Os, "connection is write-only")),
        }
    }

    // ----- sending -----

    /// Sends the bytes of `buf` as one message: Python's `send_bytes(buf)`.
    ///
    /// # Errors
    ///
    /// The connection is closed or read-only, or the peer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send_bytes(b"")?; // an empty message is a message
    /// assert_eq!(b.recv_bytes()?, b"");
    /// a.send_bytes(&[42i32, 1729])?;
    /// assert_eq!(b.recv_bytes()?.len(), 8);
    /// # Ok(()) }
    /// ```
    pub fn send_bytes<B: Buffer + ?Sized>(&self, buf: &B) -> Result<()> {
        self.tx()?.push(Msg::Bytes(buf.as_bytes().to_vec()))
    }

    /// Sends `size` bytes of `buf` starting at byte `offset` (`size = None`: to the end):
    /// Python's `send_bytes(buf, offset, size)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] when `offset > len` or `offset + size > len`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send_bytes_range(b"abcdef", 2, Some(3))?;
    /// assert_eq!(b.recv_bytes()?, b"cde");
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

    /// Serializes `value` and sends it as one message: Python's `send(obj)`. Handles inside
    /// the value (mp's and dummy's) travel with it.
    ///
    /// # Errors
    ///
    /// The value cannot be serialized, or the connection is closed, read-only or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send(&vec![2.25, 1.5])?;
    /// assert_eq!(b.recv::<Vec<f64>>()?, vec![2.25, 1.5]);
    /// // A dummy queue travels as itself:
    /// let q = mp::dummy::Queue::<u8>::new(0)?;
    /// a.send(&q)?;
    /// b.recv::<mp::dummy::Queue<u8>>()?.put(7)?;
    /// assert_eq!(q.get()?, 7);
    /// # Ok(()) }
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let tx = self.tx()?;
        let p = Packet::encode(value)?;
        tx.push(if p.fds.is_empty() && p.kept.is_empty() {
            Msg::Bytes(p.bytes)
        } else {
            Msg::Packet(p)
        })
    }

    /// Moves `value` to the peer without serializing it (mp::dummy only; CPython's dummy
    /// `send` does this with every object). Receive it with
    /// [`recv_value`](Connection::recv_value).
    ///
    /// # Errors
    ///
    /// The connection is closed, read-only or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// let job: Box<dyn FnOnce() -> u32 + Send> = Box::new(|| 42);
    /// a.send_value(job)?;
    /// let got = b.recv_value::<Box<dyn FnOnce() -> u32 + Send>>()?;
    /// assert_eq!(got(), 42);
    /// # Ok(()) }
    /// ```
    pub fn send_value<T: Send + 'static>(&self, value: T) -> Result<()> {
        self.tx()?.push(Msg::Value(Box::new(value)))
    }

    // ----- receiving -----

    fn take(&self, maxlength: Option<usize>) -> Result<Msg> {
        let rx = self.rx()?;
        let m = rx.pop()?;
        let len = match &m {
            Msg::Bytes(b) => b.len(),
            Msg::Packet(p) => p.bytes.len(),
            Msg::Value(_) => 0,
        } as u64;
        let cap = maxlength
            .map(|m| m as u64)
            .unwrap_or(u64::MAX)
            .min(self.max_message.load(Ordering::Relaxed));
        if len > cap {
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
        Ok(m)
    }

    fn bytes_of(m: Msg) -> Result<Vec<u8>> {
        match m {
            Msg::Bytes(b) => Ok(b),
            Msg::Packet(p) => Ok(p.bytes),
            Msg::Value(_) => Err(Error::new(
                ErrorKind::Type,
                "the message is a value sent with `send_value`, not bytes",
            )),
        }
    }

    /// Receives one message as bytes: Python's `recv_bytes()`. Blocks until one arrives.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Eof`] when the peer closed and every message was read.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send_bytes(b"hi")?;
    /// drop(a);
    /// assert_eq!(b.recv_bytes()?, b"hi");
    /// assert_eq!(b.recv_bytes().unwrap_err().kind(), mp::ErrorKind::Eof);
    /// # Ok(()) }
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        Self::bytes_of(self.take(None)?)
    }

    /// Receives one message of at most `maxlength` bytes: Python's `recv_bytes(maxlength)`.
    ///
    /// # Errors
    ///
    /// A longer message is an [`ErrorKind::Os`] error ("bad message length") and the
    /// connection becomes unreadable, as in CPython.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send_bytes(b"12345")?;
    /// assert!(b.recv_bytes_max(3).is_err());
    /// assert!(!b.readable());
    /// # Ok(()) }
    /// ```
    pub fn recv_bytes_max(&self, maxlength: usize) -> Result<Vec<u8>> {
        Self::bytes_of(self.take(Some(maxlength))?)
    }

    /// Receives one message into `buf` starting at byte `offset`; returns its length:
    /// Python's `recv_bytes_into(buf, offset)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `offset` is past the end of the buffer;
    /// [`ErrorKind::BufferTooShort`] if the message does not fit (it is consumed and the
    /// error carries it, [`Error::payload`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
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
        let bytes = Self::bytes_of(self.take(None)?)?;
        let room = buf.len() - offset;
        if bytes.len() > room {
            return Err(Error::new(
                ErrorKind::BufferTooShort,
                format!(
                    "buffer too short: the message has {} bytes, the buffer room for {room}",
                    bytes.len()
                ),
            )
            .with_payload(bytes));
        }
        buf[offset..offset + bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Receives one message and deserializes it as `T`: Python's `recv()`.
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Connection::recv_bytes), plus [`ErrorKind::Serialization`] if the
    /// bytes are not a `T`, and [`ErrorKind::Type`] for a value moved with
    /// [`send_value`](Connection::send_value) (receive it with
    /// [`recv_value`](Connection::recv_value)).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send(&Some("junk".to_string()))?;
    /// assert_eq!(b.recv::<Option<String>>()?, Some("junk".into()));
    /// # Ok(()) }
    /// ```
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        match self.take(None)? {
            Msg::Bytes(b) => crate::reduction::decode(&b, Vec::new()),
            Msg::Packet(p) => p.decode(),
            Msg::Value(_) => Err(Error::new(
                ErrorKind::Type,
                "the message is a value sent with `send_value`: receive it with `recv_value`",
            )),
        }
    }

    /// Receives a value moved with [`send_value`](Connection::send_value).
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Connection::recv_bytes); [`ErrorKind::Type`] if the message is not
    /// a moved `T` (it is consumed).
    ///
    /// # Examples
    ///
    /// See [`send_value`](Connection::send_value).
    pub fn recv_value<T: 'static>(&self) -> Result<T> {
        match self.take(None)? {
            Msg::Value(v) => downcast(v),
            _ => Err(Error::new(
                ErrorKind::Type,
                "the message was sent with `send` or `send_bytes`: receive it with `recv` or \
                 `recv_bytes`",
            )),
        }
    }

    /// Whether a message (or end of file) is waiting, without blocking: Python's `poll()`.
    ///
    /// # Errors
    ///
    /// The connection is closed or write-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// assert!(!b.poll()?);
    /// a.send_bytes(b"")?;
    /// assert!(b.poll()? && b.poll()?); // polling does not consume
    /// # Ok(()) }
    /// ```
    pub fn poll(&self) -> Result<bool> {
        Ok(self.rx()?.ready())
    }

    /// Waits up to `timeout` for a message (or end of file): Python's `poll(timeout)`.
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
    /// let (_a, b) = mp::dummy::Pipe(true)?;
    /// assert!(!b.poll_timeout(Duration::from_millis(10))?);
    /// # Ok(()) }
    /// ```
    pub fn poll_timeout(&self, timeout: Duration) -> Result<bool> {
        let rx = self.rx()?;
        let st = lock(&rx.state);
        Ok(rx.wait_ready(st, Instant::now().checked_add(timeout)).1)
    }

    /// Waits without a limit until a message (or end of file) is waiting: Python's
    /// `poll(None)`.
    ///
    /// # Errors
    ///
    /// The connection is closed or write-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::dummy::Pipe(true)?;
    /// a.send(&1u8)?;
    /// b.poll_forever()?;
    /// # Ok(()) }
    /// ```
    pub fn poll_forever(&self) -> Result<()> {
        let rx = self.rx()?;
        let st = lock(&rx.state);
        let _ = rx.wait_ready(st, None);
        Ok(())
    }
}

fn downcast<T: 'static>(v: Box<dyn Any + Send>) -> Result<T> {
    match v.downcast::<T>() {
        Ok(b) => Ok(*b),
        Err(_) => Err(Error::new(
            ErrorKind::Type,
            format!(
                "the value sent with `send_value` is not a `{}`",
                std::any::type_name::<T>()
            ),
        )),
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &!self.open)
            .field("readable", &self.readable())
            .field("writable", &self.writable)
            .finish()
    }
}

impl Handle for Connection {
    fn dup(&self) -> Self {
        // A closed connection travels as a closed one.
        self.try_clone().unwrap_or_else(|_| Connection {
            rx: None,
            tx: None,
            open: false,
            readable: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            writable: false,
            max_message: AtomicU64::new(u64::MAX),
        })
    }
}
handle_serde!(Connection);

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

    fn has_pending(&self) -> Result<bool> {
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

// ---------------------------------------------------------------------------------------------
// wait
// ---------------------------------------------------------------------------------------------

/// Something [`wait`] can wait on: a [`Connection`] (a message or end of file), a
/// [`Listener`] (a client to accept), a [`Process`] (finished). mp's
/// [`Waitable`](crate::connection::Waitable) for dummy objects.
pub trait Waitable {
    /// Whether the object is ready now.
    ///
    /// # Errors
    ///
    /// The object cannot be waited on (closed, write-only, not started).
    fn is_ready(&self) -> Result<bool>;
}

impl Waitable for Connection {
    fn is_ready(&self) -> Result<bool> {
        self.poll()
    }
}

impl Waitable for Listener {
    fn is_ready(&self) -> Result<bool> {
        self.has_pending()
    }
}

impl Waitable for Process {
    fn is_ready(&self) -> Result<bool> {
        self.finished()
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn is_ready(&self) -> Result<bool> {
        (**self).is_ready()
    }
}

impl<T: Waitable + ?Sized> Waitable for &mut T {
    fn is_ready(&self) -> Result<bool> {
        (**self).is_ready()
    }
}

impl<T: Waitable + ?Sized> Waitable for Box<T> {
    fn is_ready(&self) -> Result<bool> {
        (**self).is_ready()
    }
}

/// Waits until at least one of `objects` is ready, or `timeout` passes; returns the indices
/// of the ready ones, in input order: mp's [`connection::wait`](crate::connection::wait()) for
/// dummy objects (CPython's dummy module has none).
///
/// # Errors
///
/// An object cannot be waited on (a closed or write-only connection, a process not started).
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// use mp::dummy::connection::wait;
/// let (r1, w1) = mp::dummy::Pipe(false)?;
/// let (r2, w2) = mp::dummy::Pipe(false)?;
/// assert!(wait(&[&r1, &r2], Some(Duration::ZERO))?.is_empty());
/// w2.send(&"second")?;
/// assert_eq!(wait(&[&r1, &r2], None)?, vec![1]);
/// drop(w1); // end of file makes r1 ready too
/// assert_eq!(wait(&[&r1, &r2], None)?, vec![0, 1]);
/// # Ok(()) }
/// ```
pub fn wait<W: Waitable>(objects: &[W], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    WAITERS.fetch_add(1, Ordering::SeqCst);
    let r = (|| loop {
        let seen = *lock(&GENERATION);
        let mut ready = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            if o.is_ready()? {
                ready.push(i);
            }
        }
        if !ready.is_empty() || timeout == Some(Duration::ZERO) {
            return Ok(ready);
        }
        let mut g = lock(&GENERATION);
        while *g == seen {
            match deadline {
                None => g = ACTIVITY.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(Vec::new());
                    }
                    g = ACTIVITY
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    })();
    WAITERS.fetch_sub(1, Ordering::SeqCst);
    r
}
