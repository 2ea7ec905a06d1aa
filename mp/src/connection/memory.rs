//! The in-memory link of a [`ConnectionIn`](super::ConnectionIn): two message queues in this
//! process, what `mp::dummy::Pipe` and the dummy listener's connections are made of (Python's
//! `multiprocessing.dummy.connection`, whose connections are a pair of `queue.Queue`s).
//!
//! Nothing touches the kernel: no descriptor, no framing. A message is the codec's bytes (with
//! the handles inside it kept in memory, [`Packet`]), raw bytes, or a value moved as it is
//! ([`ConnectionIn::send_value`]). Closing the last writing handle of a direction makes its
//! reader see end of file once the queue is drained; closing the last reading handle drops
//! what is queued and makes writes fail with `EPIPE`, as a socket does.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::wait::activity;
use super::{ConnectionIn, Message, sealed};
use crate::error::{Error, ErrorKind, Result};
use crate::space::handle::{Handle, Packet, handle_serde};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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
                    crate::sys::spin_until_changed(&self.changes, seen, deadline);
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

/// The link of an in-memory connection (`mp::dummy::Connection`):
/// the channel it receives from and the one it sends into.
pub struct InMemory {
    rx: Option<Arc<Chan>>,
    tx: Option<Arc<Chan>>,
}

impl InMemory {
    fn new(rx: Option<Arc<Chan>>, tx: Option<Arc<Chan>>) -> InMemory {
        if let Some(c) = &rx {
            c.add(false);
        }
        if let Some(c) = &tx {
            c.add(true);
        }
        InMemory { rx, tx }
    }

    fn rx(&self) -> Result<&Chan> {
        self.rx
            .as_deref()
            .ok_or_else(|| Error::new(ErrorKind::Os, "connection is write-only"))
    }

    fn tx(&self) -> Result<&Chan> {
        self.tx
            .as_deref()
            .ok_or_else(|| Error::new(ErrorKind::Os, "connection is read-only"))
    }
}

impl std::fmt::Debug for InMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemory")
            .field("rx", &self.rx.is_some())
            .field("tx", &self.tx.is_some())
            .finish()
    }
}

impl Drop for InMemory {
    fn drop(&mut self) {
        if let Some(c) = self.rx.take() {
            c.remove(false);
        }
        if let Some(c) = self.tx.take() {
            c.remove(true);
        }
    }
}

impl sealed::LinkImpl for InMemory {
    fn duplicate(&self) -> Result<InMemory> {
        Ok(InMemory::new(self.rx.clone(), self.tx.clone()))
    }

    fn fileno(&self) -> Result<std::os::fd::RawFd> {
        Err(Error::new(
            ErrorKind::NotImplemented,
            "an mp::dummy connection is in memory: it has no file descriptor",
        ))
    }

    fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.tx()?.push(Msg::Bytes(bytes.to_vec()))
    }

    fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let tx = self.tx()?;
        let p = Packet::encode(value)?;
        tx.push(if p.fds.is_empty() && p.kept.is_empty() {
            Msg::Bytes(p.bytes)
        } else {
            Msg::Packet(p)
        })
    }

    fn receive<R>(
        &self,
        deadline: Option<Instant>,
        check: &dyn Fn(u64) -> Result<()>,
        f: impl FnOnce(Message<'_>) -> Result<R>,
    ) -> Result<R> {
        let rx = self.rx()?;
        let (mut st, ready) = rx.wait_ready(lock(&rx.state), deadline);
        if !ready {
            return Err(Error::new(
                ErrorKind::Timeout,
                "timed out waiting for the peer",
            ));
        }
        let m = st.msgs.pop_front().ok_or_else(super::eof)?;
        drop(st);
        let len = match &m {
            Msg::Bytes(b) => b.len(),
            Msg::Packet(p) => p.bytes.len(),
            Msg::Value(_) => 0,
        };
        check(len as u64)?;
        f(match m {
            Msg::Bytes(b) => Message::Owned(b, Vec::new()),
            Msg::Packet(p) => Message::Packet(p),
            Msg::Value(v) => Message::Value(v),
        })
    }

    fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        let rx = self.rx()?;
        let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
        Ok(rx.wait_ready(lock(&rx.state), deadline).1)
    }

    fn ready_now(&self) -> Option<bool> {
        let st = lock(&self.rx.as_ref()?.state);
        Some(!st.msgs.is_empty() || st.writers == 0)
    }

    fn describe(&self, d: &mut std::fmt::DebugStruct<'_, '_>) {
        d.field("link", &"in-memory");
    }

    fn connect(b: super::ClientBuilderIn<InMemory>) -> Result<ConnectionIn<InMemory>> {
        super::memory_connect(b)
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// Creates a pair of connected in-memory connections.
pub(crate) fn pipe(duplex: bool) -> (ConnectionIn<InMemory>, ConnectionIn<InMemory>) {
    let ab = Chan::new();
    let (a, b) = if duplex {
        let ba = Chan::new();
        (
            InMemory::new(Some(ba.clone()), Some(ab.clone())),
            InMemory::new(Some(ab), Some(ba)),
        )
    } else {
        (
            InMemory::new(Some(ab.clone()), None),
            InMemory::new(None, Some(ab)),
        )
    };
    let (ra, wa) = (a.rx.is_some(), a.tx.is_some());
    let (rb, wb) = (b.rx.is_some(), b.tx.is_some());
    (ConnectionIn::with(a, ra, wa), ConnectionIn::with(b, rb, wb))
}

type MemoryConnection = ConnectionIn<InMemory>;

impl ConnectionIn<InMemory> {
    /// Moves `value` to the peer without serializing it (in-memory connections only;
    /// CPython's dummy `send` does this with every object). Receive it with
    /// [`recv_value`](ConnectionIn::recv_value).
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
        self.check_writable()?
            .tx()?
            .push(Msg::Value(Box::new(value)))
    }

    /// Receives a value moved with [`send_value`](ConnectionIn::send_value).
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](ConnectionIn::recv_bytes); [`ErrorKind::Type`] if the message is
    /// not a moved `T` (it is consumed).
    ///
    /// # Examples
    ///
    /// See [`send_value`](ConnectionIn::send_value).
    pub fn recv_value<T: 'static>(&self) -> Result<T> {
        self.receive(None, None, |m| match m {
            Message::Value(v) => v.downcast::<T>().map(|b| *b).map_err(|_| {
                Error::new(
                    ErrorKind::Type,
                    format!(
                        "the value sent with `send_value` is not a `{}`",
                        std::any::type_name::<T>()
                    ),
                )
            }),
            _ => Err(Error::new(
                ErrorKind::Type,
                "the message was sent with `send` or `send_bytes`: receive it with `recv` or \
                 `recv_bytes`",
            )),
        })
    }
}

impl Handle for MemoryConnection {
    fn dup(&self) -> Self {
        // A closed connection travels as a closed one.
        self.try_clone()
            .unwrap_or_else(|_| ConnectionIn::closed_one())
    }
}
handle_serde!(MemoryConnection);
