//! Queues between processes: Python's `multiprocessing.queues` ([`Queue`], [`JoinableQueue`],
//! [`SimpleQueue`]).
//!
//! All three are multi-producer, multi-consumer FIFO queues of serde values, typed by their
//! item: a `Queue<T>` carries `T`s. Items put by one process come out in the order that process
//! put them. A queue handle is cheap to clone (clones share one attachment in this process),
//! can be a task argument under every start method, be captured by a closure under `fork`, and
//! travel through [`Connection`](crate::Connection)s and other queues. Handles inside items
//! ([`Connection`](crate::Connection)s, queues, locks...) arrive usable in the receiving process.
//!
//! | Python | mp |
//! |---|---|
//! | `Queue(maxsize)` / `ctx.Queue()` | [`Queue::new(maxsize)?`](Queue::new) / [`ctx.queue(maxsize)?`](crate::Context::queue) (`0`: unbounded) |
//! | `q.put(x)`, `q.put(x, False)`, `q.put(x, timeout=t)` | [`q.put(x)`](Queue::put), [`q.put_nowait(x)`](Queue::put_nowait), [`q.put_timeout(x, t)`](Queue::put_timeout) |
//! | `q.get()`, `q.get(False)`, `q.get(timeout=t)` | [`q.get()`](Queue::get), [`q.get_nowait()`](Queue::get_nowait), [`q.get_timeout(t)`](Queue::get_timeout) |
//! | `queue.Full`, `queue.Empty`, `queue.ShutDown` | [`TryPutError::Full`], [`TryGetError::Empty`], `…::ShutDown` (each hands the item back) |
//! | `q.qsize()`, `q.empty()`, `q.full()` | [`q.qsize()`](Queue::qsize), [`q.empty()?`](Queue::empty), [`q.full()`](Queue::full) |
//! | `q.close()`, `q.join_thread()`, `q.cancel_join_thread()` | [`q.close()`](Queue::close), [`q.join_thread()?`](Queue::join_thread), [`q.cancel_join_thread()`](Queue::cancel_join_thread) |
//! | `q.shutdown(immediate)` (3.14+) | [`q.shutdown(immediate)?`](Queue::shutdown) |
//! | `JoinableQueue()`, `q.task_done()`, `q.join()` | [`JoinableQueue::new(0)?`](JoinableQueue::new), [`q.task_done()?`](JoinableQueue::task_done), [`q.join()?`](JoinableQueue::join) |
//! | `SimpleQueue()`, `put`, `get`, `empty`, `close` | [`SimpleQueue::new()?`](SimpleQueue::new), [`put`](SimpleQueue::put), [`get`](SimpleQueue::get), [`empty`](SimpleQueue::empty), [`close`](SimpleQueue::close) |
//!
//! # Differences from CPython (all on purpose)
//!
//! There is no feeder thread and no pipe. A queue is one anonymous shared-memory region holding
//! a ring buffer of encoded items; [`put`](Queue::put) serializes the item in the calling
//! thread and copies it into the ring before it returns. Hence:
//!
//! - a process can put items (of any size) and exit at once: nothing is lost, and its exit
//!   never waits for a reader. The deadlock of CPython's "joining processes that use queues"
//!   cannot happen;
//! - an item that does not serialize is an error of `put`, with the item handed back, and the
//!   queue goes on (CPython prints the error from the feeder thread);
//! - [`qsize`](Queue::qsize) and [`empty`](Queue::empty) are exact as soon as `put` returns;
//! - [`join_thread`](Queue::join_thread) and [`cancel_join_thread`](Queue::cancel_join_thread)
//!   have nothing to wait for;
//! - a process killed while it holds a queue's internal lock does not break the queue: the next
//!   user takes the lock over and undoes the dead process's half-done operation (CPython warns
//!   that the queue is "likely to become corrupted").
//!
//! The ring holds at most its capacity of encoded bytes (1 GiB by default, memory is used only
//! for the items actually waiting; see [`Queue::with_capacity`]); when it is full, `put` waits as
//! for a full `maxsize`. Items carrying handles pass their descriptors through a socket whose
//! buffer bounds how many of them can wait at once: at least a few hundred, about ten thousand
//! where `net.core.wmem_max` allows the 4 MiB buffer mp asks for.

mod chan;
mod core;
mod error;
pub(crate) mod local;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::connection::{Fd, OwnedFdDe};
use crate::error::{Error, ErrorKind, Result};
use crate::reduction;

use self::core::{Core, Fail, JOINABLE, QUEUE, SIMPLE, Wait};

pub use self::error::{GetError, PutError, TryGetError, TryPutError};

fn type_hash<T>() -> u64 {
    self::core::type_hash(std::any::type_name::<T>())
}

fn closed_os(what: &str) -> Error {
    Error::new(ErrorKind::Os, format!("{what} is closed"))
}

fn lost_wait() -> Error {
    Error::new(ErrorKind::Runtime, "a wait without a deadline timed out")
}

/// Puts `item` through `core`, mapping failures to the error of a put with a wait.
fn put_with<T: Serialize>(
    core: &Core,
    item: T,
    wait: Wait,
) -> std::result::Result<(), TryPutError<T>> {
    // References carried for the receiver by handles in `item` (manager proxies) are given
    // back if the item is not put.
    let (encoded, carried) = reduction::holding(|| reduction::encode(&item));
    let (bytes, fds) = match encoded {
        Ok(x) => x,
        Err(e) => return Err(TryPutError::Failed(item, e)),
    };
    let put = core.put(&bytes, &fds, wait);
    carried.settle(put.is_ok());
    match put {
        Ok(()) => Ok(()),
        Err(Fail::Timeout) => Err(TryPutError::Full(item)),
        Err(Fail::Closed) => Err(TryPutError::Closed(item)),
        Err(Fail::ShutDown) => Err(TryPutError::ShutDown(item)),
        Err(Fail::Err(e)) => Err(TryPutError::Failed(item, e)),
    }
}

/// A put that may wait forever: it never runs out of time.
fn put_forever<T: Serialize>(core: &Core, item: T) -> std::result::Result<(), PutError<T>> {
    put_with(core, item, Wait::Forever).map_err(|e| match e {
        TryPutError::Full(t) => PutError::Failed(t, lost_wait()),
        TryPutError::Closed(t) => PutError::Closed(t),
        TryPutError::ShutDown(t) => PutError::ShutDown(t),
        TryPutError::Failed(t, e) => PutError::Failed(t, e),
    })
}

fn get_with<T: DeserializeOwned>(core: &Core, wait: Wait) -> std::result::Result<T, TryGetError> {
    match core.get(wait) {
        Ok((bytes, fds)) => reduction::decode(&bytes, fds).map_err(TryGetError::Failed),
        Err(Fail::Timeout) => Err(TryGetError::Empty),
        Err(Fail::Closed) => Err(TryGetError::Closed),
        Err(Fail::ShutDown) => Err(TryGetError::ShutDown),
        Err(Fail::Err(e)) => Err(TryGetError::Failed(e)),
    }
}

fn get_forever<T: DeserializeOwned>(core: &Core) -> std::result::Result<T, GetError> {
    get_with(core, Wait::Forever).map_err(|e| match e {
        TryGetError::Empty => GetError::Failed(lost_wait()),
        TryGetError::Closed => GetError::Closed,
        TryGetError::ShutDown => GetError::ShutDown,
        TryGetError::Failed(e) => GetError::Failed(e),
    })
}

fn fail_to_error(f: Fail) -> Error {
    match f {
        Fail::Timeout => lost_wait(),
        Fail::Closed => Error::value("queue is closed"),
        Fail::ShutDown => Error::new(ErrorKind::ShutDown, "queue is shut down"),
        Fail::Err(e) => e,
    }
}

fn serialize_core<S: Serializer>(core: &Core, s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    if core.is_closed() {
        return Err(S::Error::custom("queue is closed"));
    }
    let [region, chan] = core.fds();
    (Fd(region), Fd(chan)).serialize(s)
}

fn deserialize_core<'de, D: Deserializer<'de>, T>(
    d: D,
    flavors: &[u32],
) -> std::result::Result<Core, D::Error> {
    let (region, chan): (OwnedFdDe, OwnedFdDe) = Deserialize::deserialize(d)?;
    Core::attach(
        region.0,
        chan.0,
        flavors,
        type_hash::<T>(),
        std::any::type_name::<T>(),
    )
    .map_err(serde::de::Error::custom)
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

/// A process-shared FIFO queue of `T`s: Python's `multiprocessing.Queue`.
///
/// # Examples
///
/// The first example of Python's documentation:
///
/// ```
/// use mp::{Process, Queue};
///
/// #[mp::task]
/// fn f(q: Queue<(i32, Option<i32>, String)>) -> mp::Result<()> {
///     q.put((42, None, "hello".into()))?;
///     Ok(())
/// }
///
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let q = Queue::new(0)?;
/// let p = Process::new(f, (q.clone(),));
/// p.start()?;
/// assert_eq!(q.get()?, (42, None, "hello".to_string()));
/// p.join()?;
/// # Ok(()) }
/// ```
pub struct Queue<T> {
    core: Arc<Core>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> Queue<T>
where
    T: Serialize + DeserializeOwned,
{
    /// A new queue holding at most `maxsize` items (`0`: no limit): Python's `Queue(maxsize)`.
    ///
    /// # Errors
    ///
    /// Fails if the system cannot create the shared memory or the socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(2)?;
    /// q.put("a".to_string())?;
    /// q.put("b".to_string())?;
    /// assert!(q.full());
    /// assert!(q.put_nowait("c".to_string()).unwrap_err().is_full());
    /// # Ok(()) }
    /// ```
    pub fn new(maxsize: usize) -> Result<Queue<T>> {
        Queue::from_core(Core::with_default_capacity(
            QUEUE,
            maxsize,
            type_hash::<T>(),
        )?)
    }

    /// A new queue whose ring holds at most `capacity` bytes of encoded items (rounded up to a
    /// page; default 1 GiB, or less if the address space is limited). The memory is reserved,
    /// not used: only the items waiting in the queue take memory. An item larger than the
    /// capacity cannot be put.
    ///
    /// # Errors
    ///
    /// As [`new`](Queue::new).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::with_capacity(0, 4096)?;
    /// assert_eq!(q.capacity(), 4096);
    /// let err = q.put(vec![0u8; 10_000]).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Value);
    /// assert_eq!(err.into_inner().len(), 10_000);
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<Queue<T>> {
        Queue::create(QUEUE, maxsize, capacity)
    }

    fn create(flavor: u32, maxsize: usize, capacity: usize) -> Result<Queue<T>> {
        Queue::from_core(Core::new(flavor, maxsize, capacity, type_hash::<T>())?)
    }

    fn from_core(core: Core) -> Result<Queue<T>> {
        Ok(Queue {
            core: Arc::new(core),
            _item: PhantomData,
        })
    }

    /// Puts `item`, waiting while the queue is full: Python's `put(obj)`.
    ///
    /// The item is serialized and copied into the queue before this returns; the calling
    /// process may exit right after.
    ///
    /// # Errors
    ///
    /// The item comes back in the error if this handle was closed, the queue was shut down, or
    /// the item cannot be put (it does not serialize, or it is larger than the queue).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// q.put(vec![1, 2, 3])?;
    /// assert_eq!(q.get()?, vec![1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn put(&self, item: T) -> std::result::Result<(), PutError<T>> {
        put_forever(&self.core, item)
    }

    /// Puts `item` if there is room now: Python's `put_nowait(obj)` (`put(obj, False)`).
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] (with the item) if the queue is full; otherwise as
    /// [`put`](Queue::put).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(1)?;
    /// q.put_nowait(1)?;
    /// assert!(q.put_nowait(2).unwrap_err().is_full());
    /// # Ok(()) }
    /// ```
    pub fn put_nowait(&self, item: T) -> std::result::Result<(), TryPutError<T>> {
        put_with(&self.core, item, Wait::Never)
    }

    /// Puts `item`, waiting at most `timeout` for room: Python's `put(obj, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] (with the item) if the queue stayed full; otherwise as
    /// [`put`](Queue::put).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let q = mp::Queue::new(1)?;
    /// q.put(1)?;
    /// let t = Instant::now();
    /// assert!(q.put_timeout(2, Duration::from_millis(50)).unwrap_err().is_full());
    /// assert!(t.elapsed() >= Duration::from_millis(50));
    /// # Ok(()) }
    /// ```
    pub fn put_timeout(
        &self,
        item: T,
        timeout: Duration,
    ) -> std::result::Result<(), TryPutError<T>> {
        put_with(&self.core, item, Wait::timeout(timeout))
    }

    /// Takes the oldest item, waiting until there is one: Python's `get()`.
    ///
    /// # Errors
    ///
    /// [`GetError::Closed`] if this handle was closed, [`GetError::ShutDown`] once the queue
    /// is shut down and empty, [`GetError::Failed`] if the item does not decode as a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// q.put('x')?;
    /// q.put('y')?;
    /// assert_eq!((q.get()?, q.get()?), ('x', 'y'));
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> std::result::Result<T, GetError> {
        get_forever(&self.core)
    }

    /// Takes the oldest item if there is one now: Python's `get_nowait()` (`get(False)`).
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if the queue is empty; otherwise as [`get`](Queue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<i64>::new(0)?;
    /// assert!(q.get_nowait().unwrap_err().is_empty());
    /// q.put(7)?;
    /// assert_eq!(q.get_nowait()?, 7);
    /// # Ok(()) }
    /// ```
    pub fn get_nowait(&self) -> std::result::Result<T, TryGetError> {
        get_with(&self.core, Wait::Never)
    }

    /// Takes the oldest item, waiting at most `timeout` for one: Python's `get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if none came in time; otherwise as [`get`](Queue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let q = mp::Queue::<u8>::new(0)?;
    /// let t = Instant::now();
    /// assert!(q.get_timeout(Duration::from_millis(50)).unwrap_err().is_empty());
    /// assert!(t.elapsed() >= Duration::from_millis(50));
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, TryGetError> {
        get_with(&self.core, Wait::timeout(timeout))
    }
}

impl<T> Queue<T> {
    /// The number of items in the queue: Python's `qsize()`. Exact: an item counts as soon as
    /// its `put` returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.qsize(), 2);
    /// q.get()?;
    /// assert_eq!(q.qsize(), 1);
    /// # Ok(()) }
    /// ```
    pub fn qsize(&self) -> usize {
        self.core.qsize()
    }

    /// Whether the queue is empty: Python's `empty()`.
    ///
    /// # Errors
    ///
    /// As in CPython, once this handle was [closed](Queue::close) after this process put
    /// something, an [`ErrorKind::Os`] error ("queue is closed"). A closed handle that never
    /// put anything still answers.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// assert!(q.empty()?);
    /// q.put("x".to_string())?;
    /// assert!(!q.empty()?); // at once: there is no feeder thread
    /// # Ok(()) }
    /// ```
    pub fn empty(&self) -> Result<bool> {
        if self.core.is_closed() && self.core.was_used() {
            return Err(closed_os("queue"));
        }
        Ok(self.core.qsize() == 0)
    }

    /// Whether the queue holds `maxsize` items: Python's `full()`. Always false for an
    /// unbounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(1)?;
    /// assert!(!q.full());
    /// q.put(0)?;
    /// assert!(q.full());
    /// # Ok(()) }
    /// ```
    pub fn full(&self) -> bool {
        self.core.full()
    }

    /// The `maxsize` the queue was made with (`0`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// assert_eq!(mp::Queue::<u8>::new(6)?.maxsize(), 6);
    /// # Ok(()) }
    /// ```
    pub fn maxsize(&self) -> usize {
        self.core.maxsize()
    }

    /// The size of the ring, in bytes of encoded items (see [`Queue::with_capacity`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// assert_eq!(mp::Queue::<u8>::new(0)?.capacity(), 1 << 30);
    /// # Ok(()) }
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// Closes this process's handle (and its clones): Python's `close()`. Later `put`s and
    /// `get`s through it fail with `Closed`; other processes are not affected. The memory is
    /// released when the last handle in this process is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// q.close();
    /// assert_eq!(q.get().unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Python's `join_thread()`: waits for the feeder thread to flush. mp has no feeder
    /// thread (every `put` is complete when it returns), so there is nothing to wait for.
    ///
    /// # Errors
    ///
    /// As in CPython, an [`ErrorKind::Assertion`] error if the handle was not closed first.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// assert!(q.join_thread().is_err());
    /// q.close();
    /// q.join_thread()?;
    /// # Ok(()) }
    /// ```
    pub fn join_thread(&self) -> Result<()> {
        if !self.core.is_closed() {
            return Err(Error::assertion("Queue.join_thread() before close()"));
        }
        Ok(())
    }

    /// Python's `cancel_join_thread()`: lets the process exit without flushing its buffered
    /// items. mp never buffers (nothing can be lost), so this does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// q.cancel_join_thread();
    /// # Ok(()) }
    /// ```
    pub fn cancel_join_thread(&self) {}

    /// Shuts the queue down for every process: Python's `shutdown(immediate)` (3.14+).
    ///
    /// Afterwards every `put` fails with `ShutDown`. With `immediate = false` the items already
    /// queued can still be taken, and `get` fails with `ShutDown` once the queue is empty; with
    /// `immediate = true` they are discarded at once (and, in a [`JoinableQueue`], their tasks
    /// count as done). Blocked callers in every process wake up and fail with `ShutDown`.
    /// Shutting down again is allowed (a non-immediate shutdown can be made immediate later).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if this handle was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// q.put(1)?;
    /// q.shutdown(false)?;
    /// assert_eq!(q.put(2).unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// assert_eq!(q.get()?, 1);
    /// assert_eq!(q.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self, immediate: bool) -> Result<()> {
        self.core.shutdown(immediate).map_err(fail_to_error)
    }

    /// Whether [`shutdown`](Queue::shutdown) was called (by any process).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// assert!(!q.is_shutdown());
    /// q.shutdown(true)?;
    /// assert!(q.is_shutdown());
    /// # Ok(()) }
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.core.is_shutdown()
    }

    /// Takes the queue's internal lock and never releases it. For tests of a process that
    /// dies while holding it; never call it otherwise.
    #[doc(hidden)]
    pub fn __hold_lock_forever(&self) -> Result<()> {
        self.core.hold_lock_forever()
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            core: Arc::clone(&self.core),
            _item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("closed", &self.core.is_closed())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_core(&self.core, s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Queue<T>, D::Error> {
        let core = deserialize_core::<D, T>(d, &[QUEUE, JOINABLE])?;
        Ok(Queue {
            core: Arc::new(core),
            _item: PhantomData,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// JoinableQueue
// ---------------------------------------------------------------------------------------------

/// A [`Queue`] that counts unfinished tasks: Python's `multiprocessing.JoinableQueue`.
///
/// Every `put` adds a task; a consumer calls [`task_done`](JoinableQueue::task_done) once per
/// item it took and finished; [`join`](JoinableQueue::join) waits until no task is left. All of
/// [`Queue`]'s methods are available through `Deref`.
///
/// # Examples
///
/// ```
/// use mp::{JoinableQueue, Process};
///
/// #[mp::task]
/// fn worker(q: JoinableQueue<u32>) -> mp::Result<()> {
///     loop {
///         let n = q.get()?;
///         println!("working on {n}");
///         q.task_done()?;
///     }
/// }
///
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let q = JoinableQueue::new(0)?;
/// let p = Process::builder(worker, (q.clone(),)).daemon(true).build();
/// p.start()?;
/// for n in 0..5 {
///     q.put(n)?;
/// }
/// q.join()?; // every item was taken and finished
/// p.terminate()?;
/// p.join()?;
/// # Ok(()) }
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> JoinableQueue<T>
where
    T: Serialize + DeserializeOwned,
{
    /// A new joinable queue holding at most `maxsize` items (`0`: no limit): Python's
    /// `JoinableQueue(maxsize)`.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::JoinableQueue::new(0)?;
    /// q.put("job".to_string())?;
    /// assert_eq!(q.get()?, "job");
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok(()) }
    /// ```
    pub fn new(maxsize: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::from_core(Core::with_default_capacity(
                JOINABLE,
                maxsize,
                type_hash::<T>(),
            )?)?,
        })
    }

    /// As [`Queue::with_capacity`].
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::JoinableQueue::<u8>::with_capacity(0, 1 << 20)?;
    /// assert_eq!(q.capacity(), 1 << 20);
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::create(JOINABLE, maxsize, capacity)?,
        })
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one task as finished: Python's `task_done()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("task_done() called too many times") if no task is unfinished.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::JoinableQueue::new(0)?;
    /// q.put(1)?;
    /// q.get()?;
    /// q.task_done()?;
    /// assert_eq!(q.task_done().unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn task_done(&self) -> Result<()> {
        self.queue.core.task_done()
    }

    /// Waits until every item put was taken and marked done: Python's `join()`.
    ///
    /// # Errors
    ///
    /// Only if the system fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::JoinableQueue::<u8>::new(0)?;
    /// q.join()?; // nothing was put: returns at once
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        self.queue.core.join(Wait::Forever).map(drop)
    }

    /// Waits at most `timeout` for every task to be done; returns whether they all were.
    ///
    /// # Errors
    ///
    /// Only if the system fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let q = mp::JoinableQueue::new(0)?;
    /// q.put(1)?;
    /// assert!(!q.join_timeout(Duration::from_millis(10))?);
    /// q.get()?;
    /// q.task_done()?;
    /// assert!(q.join_timeout(Duration::from_millis(10))?);
    /// # Ok(()) }
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.queue.core.join(Wait::timeout(timeout))
    }

    /// The number of tasks not yet marked done.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::JoinableQueue::new(0)?;
    /// q.put(1)?;
    /// q.get()?;
    /// assert_eq!((q.qsize(), q.unfinished_tasks()), (0, 1));
    /// # Ok(()) }
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.queue.core.unfinished()
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("closed", &self.queue.core.is_closed())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_core(&self.queue.core, s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let core = deserialize_core::<D, T>(d, &[JOINABLE])?;
        Ok(JoinableQueue {
            queue: Queue {
                core: Arc::new(core),
                _item: PhantomData,
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// SimpleQueue
// ---------------------------------------------------------------------------------------------

/// An unbounded queue with only `put`, `get`, `empty` and `close`: Python's
/// `multiprocessing.SimpleQueue`.
///
/// # Examples
///
/// ```
/// use mp::{Process, SimpleQueue};
///
/// #[mp::task]
/// fn square(inq: SimpleQueue<u64>, outq: SimpleQueue<u64>) -> mp::Result<()> {
///     let n = inq.get()?;
///     outq.put(n * n)?;
///     Ok(())
/// }
///
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let (inq, outq) = (SimpleQueue::new()?, SimpleQueue::new()?);
/// let p = Process::new(square, (inq.clone(), outq.clone()));
/// p.start()?;
/// inq.put(12)?;
/// assert_eq!(outq.get()?, 144);
/// p.join()?;
/// # Ok(()) }
/// ```
pub struct SimpleQueue<T> {
    core: Arc<Core>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> SimpleQueue<T>
where
    T: Serialize + DeserializeOwned,
{
    /// A new simple queue: Python's `SimpleQueue()`.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::new()?;
    /// q.put(1.5)?;
    /// assert_eq!(q.get()?, 1.5);
    /// # Ok(()) }
    /// ```
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            core: Arc::new(Core::with_default_capacity(SIMPLE, 0, type_hash::<T>())?),
            _item: PhantomData,
        })
    }

    /// A new simple queue whose ring holds at most `capacity` bytes (see
    /// [`Queue::with_capacity`]).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::<u8>::with_capacity(8192)?;
    /// q.put(1)?;
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            core: Arc::new(Core::new(SIMPLE, 0, capacity, type_hash::<T>())?),
            _item: PhantomData,
        })
    }

    /// Puts `item`: Python's `put(item)`. It waits only if the ring is full of bytes.
    ///
    /// # Errors
    ///
    /// The item comes back in the error if the queue was closed or the item cannot be put.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::new()?;
    /// q.put("hello".to_string())?;
    /// assert!(!q.empty()?);
    /// # Ok(()) }
    /// ```
    pub fn put(&self, item: T) -> std::result::Result<(), PutError<T>> {
        put_forever(&self.core, item)
    }

    /// Takes the oldest item, waiting until there is one: Python's `get()`.
    ///
    /// # Errors
    ///
    /// [`GetError::Closed`] if the queue was closed, [`GetError::Failed`] if the item does not
    /// decode as a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::new()?;
    /// q.put([1u8, 2])?;
    /// assert_eq!(q.get()?, [1, 2]);
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> std::result::Result<T, GetError> {
        get_forever(&self.core)
    }

    /// Takes the oldest item, waiting at most `timeout` for one (not in CPython, whose
    /// `SimpleQueue.get` cannot time out).
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if none came in time; otherwise as [`get`](SimpleQueue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::<u8>::new()?;
    /// assert!(q.get_timeout(std::time::Duration::from_millis(5)).unwrap_err().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, TryGetError> {
        get_with(&self.core, Wait::timeout(timeout))
    }
}

impl<T> SimpleQueue<T> {
    /// Whether the queue is empty: Python's `empty()`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Os`] error ("simple queue is closed") after [`close`](SimpleQueue::close),
    /// as in CPython.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::<u8>::new()?;
    /// assert!(q.empty()?);
    /// q.close();
    /// assert!(q.empty().is_err());
    /// # Ok(()) }
    /// ```
    pub fn empty(&self) -> Result<bool> {
        if self.core.is_closed() {
            return Err(closed_os("simple queue"));
        }
        Ok(self.core.qsize() == 0)
    }

    /// Closes this process's handle (and its clones): Python's `close()`. Idempotent; later
    /// calls of `put`, `get` and `empty` through it fail.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::SimpleQueue::<u8>::new()?;
    /// q.close();
    /// q.close();
    /// assert!(q.put(1).is_err());
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.core.close();
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            core: Arc::clone(&self.core),
            _item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("len", &self.core.qsize())
            .field("closed", &self.core.is_closed())
            .finish()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_core(&self.core, s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let core = deserialize_core::<D, T>(d, &[SIMPLE])?;
        Ok(SimpleQueue {
            core: Arc::new(core),
            _item: PhantomData,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Contexts
// ---------------------------------------------------------------------------------------------

impl crate::Context {
    /// A new [`Queue`]: Python's `ctx.Queue(maxsize)`. mp's queues work with processes of
    /// every start method, whatever context made them.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn foo(q: mp::Queue<String>) -> mp::Result<()> {
    ///     q.put("hello".into())?;
    ///     Ok(())
    /// }
    ///
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let ctx = mp::get_context("spawn")?;
    /// let q = ctx.queue(0)?;
    /// let p = ctx.process(foo, (q.clone(),));
    /// p.start()?;
    /// assert_eq!(q.get()?, "hello");
    /// p.join()?;
    /// # Ok(()) }
    /// ```
    pub fn queue<T: Serialize + DeserializeOwned>(&self, maxsize: usize) -> Result<Queue<T>> {
        Queue::new(maxsize)
    }

    /// A new [`JoinableQueue`]: Python's `ctx.JoinableQueue(maxsize)`.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::default_context().joinable_queue::<u8>(0)?;
    /// q.join()?;
    /// # Ok(()) }
    /// ```
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<JoinableQueue<T>> {
        JoinableQueue::new(maxsize)
    }

    /// A new [`SimpleQueue`]: Python's `ctx.SimpleQueue()`.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::default_context().simple_queue::<u8>()?;
    /// assert!(q.empty()?);
    /// # Ok(()) }
    /// ```
    pub fn simple_queue<T: Serialize + DeserializeOwned>(&self) -> Result<SimpleQueue<T>> {
        SimpleQueue::new()
    }
}
