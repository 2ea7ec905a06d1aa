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
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::process::Process;
use crate::connection::{Buffer, BufferMut, Family};
use crate::error::{Error, ErrorKind, Result};
use crate::space::handle::{Handle, Packet, handle_serde};

// The addresses, listeners and clients live in their own file.
mod listener;

pub use listener::{Address, Client, ClientBuilder, Listener, ListenerBuilder, ToAddress};

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
