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
#[doc(hidden)]
pub use self::core::fuzz_ring as __fuzz_ring;
mod error;
pub(crate) mod local;
mod shm;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

use self::core::{JOINABLE, QUEUE, SIMPLE, Wait};

pub use self::error::{GetError, PutError, TryGetError, TryPutError};
pub use self::local::Local;
pub use self::shm::Shm;

fn closed_os(what: &str) -> Error {
    Error::new(ErrorKind::Os, format!("{what} is closed"))
}

fn lost_wait() -> Error {
    Error::new(ErrorKind::Runtime, "a wait without a deadline timed out")
}

/// Where a queue's items wait: [`Shm`] (a shared-memory ring, between processes: `mp::Queue`)
/// or [`Local`] (memory of this process, between threads: `mp::dummy::Queue`). Sealed.
///
/// # Examples
///
/// ```
/// fn drain<F: mp::queues::Carries<u32>>(q: &mp::queues::QueueIn<u32, F>) -> Vec<u32> {
///     std::iter::from_fn(|| q.get_nowait().ok()).collect()
/// }
/// # fn main() -> mp::Result<()> {
/// let a = mp::Queue::new(0)?;
/// a.put(1).unwrap();
/// let b = mp::dummy::Queue::new(0)?;
/// b.put(2).unwrap();
/// assert_eq!((drain(&a), drain(&b)), (vec![1], vec![2]));
/// # Ok(()) }
/// ```
pub trait Flavour: sealed::FlavourImpl {}

impl<F: sealed::FlavourImpl> Flavour for F {}

/// A [`Flavour`] that carries items of type `T`: [`Shm`] those that serialize, [`Local`] any.
pub trait Carries<T>: sealed::CarriesImpl<T> {}

impl<T, F: sealed::CarriesImpl<T>> Carries<T> for F {}

pub(crate) mod sealed {
    use super::*;

    /// The conditions an async queue waiter waits for.
    #[cfg(feature = "async")]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Cv {
        NotEmpty,
        NotFull,
        AllDone,
    }

    /// The queue operations that do not touch items.
    pub trait FlavourImpl: Sized + 'static {
        /// The state shared by a queue's handles.
        type Core<T>;
        /// A new queue of kind `kind` (`QUEUE`, `JOINABLE`, `SIMPLE`).
        fn create<T>(kind: u32, maxsize: usize, capacity: Option<usize>) -> Result<Self::Core<T>>;
        fn qsize<T>(c: &Self::Core<T>) -> usize;
        fn full<T>(c: &Self::Core<T>) -> bool;
        fn maxsize<T>(c: &Self::Core<T>) -> usize;
        fn capacity<T>(c: &Self::Core<T>) -> usize;
        fn close<T>(c: &Self::Core<T>);
        fn is_closed<T>(c: &Self::Core<T>) -> bool;
        /// Whether anything was ever put (a closed, used queue's `empty` is an error).
        fn was_used<T>(c: &Self::Core<T>) -> bool;
        fn shutdown<T>(c: &Self::Core<T>, immediate: bool) -> Result<()>;
        fn is_shutdown<T>(c: &Self::Core<T>) -> bool;
        fn task_done<T>(c: &Self::Core<T>) -> Result<()>;
        /// Waits for the unfinished tasks; `false` when `wait` ran out first.
        fn join<T>(c: &Self::Core<T>, wait: Wait) -> Result<bool>;
        fn unfinished<T>(c: &Self::Core<T>) -> usize;
        /// Counts an async waiter on `which`: the word that moves when it may be satisfied,
        /// and its value now.
        #[cfg(feature = "async")]
        fn subscribe<T>(
            c: &Self::Core<T>,
            which: Cv,
        ) -> Result<(&std::sync::atomic::AtomicU32, u32)>;
        /// Uncounts it; `pass_on`: it leaves without acting on what woke it.
        #[cfg(feature = "async")]
        fn unsubscribe<T>(c: &Self::Core<T>, which: Cv, seen: u32, pass_on: bool);
    }

    /// Putting and getting items of type `T`.
    pub trait CarriesImpl<T>: FlavourImpl {
        fn put(c: &Self::Core<T>, item: T, wait: Wait) -> std::result::Result<(), TryPutError<T>>;
        fn get(c: &Self::Core<T>, wait: Wait) -> std::result::Result<T, TryGetError>;
    }
}

#[cfg(feature = "async")]
use sealed::Cv;

/// An async waiter counted on a queue condition; uncounted when dropped.
#[cfg(feature = "async")]
struct Subscription<'a, T, F: Flavour> {
    core: &'a F::Core<T>,
    which: Cv,
    seen: u32,
    /// Dropped by the waiter's own loop (it looks again itself), not by a cancellation.
    looked: bool,
}

#[cfg(feature = "async")]
impl<T, F: Flavour> Drop for Subscription<'_, T, F> {
    fn drop(&mut self) {
        F::unsubscribe(self.core, self.which, self.seen, !self.looked);
    }
}

/// Runs `attempt` until it gives an answer, sleeping (without blocking the executor) until
/// `which` may have changed whenever it gives none. Cancel-safe when `attempt` is: a waiter
/// dropped while asleep passes on the notification it may have taken.
#[cfg(feature = "async")]
async fn until<T, F: Flavour, R>(
    core: &F::Core<T>,
    which: Cv,
    mut attempt: impl FnMut() -> Option<R>,
) -> Result<R> {
    loop {
        let (word, seen) = F::subscribe(core, which)?;
        let mut sub = Subscription::<T, F> {
            core,
            which,
            seen,
            looked: false,
        };
        if let Some(r) = attempt() {
            sub.looked = true;
            return Ok(r);
        }
        crate::aio::futex::changed(word, seen).await?;
        sub.looked = true;
    }
}

#[cfg(feature = "async")]
async fn get_async<T, F: Carries<T>>(core: &F::Core<T>) -> std::result::Result<T, GetError> {
    until::<T, F, _>(core, Cv::NotEmpty, || match F::get(core, Wait::Never) {
        Err(TryGetError::Empty) => None,
        Ok(item) => Some(Ok(item)),
        Err(TryGetError::Closed) => Some(Err(GetError::Closed)),
        Err(TryGetError::ShutDown) => Some(Err(GetError::ShutDown)),
        Err(TryGetError::Failed(e)) => Some(Err(GetError::Failed(e))),
    })
    .await
    .unwrap_or_else(|e| Err(GetError::Failed(e)))
}

#[cfg(feature = "async")]
async fn put_async<T, F: Carries<T>>(
    core: &F::Core<T>,
    item: T,
) -> std::result::Result<(), PutError<T>> {
    let mut held = Some(item);
    let r = until::<T, F, _>(core, Cv::NotFull, || {
        let item = held.take()?;
        match F::put(core, item, Wait::Never) {
            Err(TryPutError::Full(item)) => {
                held = Some(item);
                None
            }
            Ok(()) => Some(Ok(())),
            Err(TryPutError::Closed(t)) => Some(Err(PutError::Closed(t))),
            Err(TryPutError::ShutDown(t)) => Some(Err(PutError::ShutDown(t))),
            Err(TryPutError::Failed(t, e)) => Some(Err(PutError::Failed(t, e))),
        }
    })
    .await;
    match (r, held) {
        (Ok(r), _) => r,
        (Err(e), Some(item)) => Err(PutError::Failed(item, e)),
        // `attempt` keeps the item whenever it answers nothing; a wait error comes after.
        (Err(e), None) => unreachable!("a queue lost an item it did not put: {e}"),
    }
}

fn put_forever<T, F: Carries<T>>(
    core: &F::Core<T>,
    item: T,
) -> std::result::Result<(), PutError<T>> {
    F::put(core, item, Wait::Forever).map_err(|e| match e {
        TryPutError::Full(t) => PutError::Failed(t, lost_wait()),
        TryPutError::Closed(t) => PutError::Closed(t),
        TryPutError::ShutDown(t) => PutError::ShutDown(t),
        TryPutError::Failed(t, e) => PutError::Failed(t, e),
    })
}

fn get_forever<T, F: Carries<T>>(core: &F::Core<T>) -> std::result::Result<T, GetError> {
    F::get(core, Wait::Forever).map_err(|e| match e {
        TryGetError::Empty => GetError::Failed(lost_wait()),
        TryGetError::Closed => GetError::Closed,
        TryGetError::ShutDown => GetError::ShutDown,
        TryGetError::Failed(e) => GetError::Failed(e),
    })
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
pub type Queue<T> = QueueIn<T, Shm>;

/// A FIFO queue of `T`s over a [`Flavour`]: [`Queue`] (between processes) and
/// `mp::dummy::Queue` (between threads) are this one type, and have
/// every method below, with the same errors.
pub struct QueueIn<T, F: Flavour> {
    core: Arc<F::Core<T>>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T, F: Carries<T>> QueueIn<T, F> {
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
    pub fn new(maxsize: usize) -> Result<QueueIn<T, F>> {
        QueueIn::create(QUEUE, maxsize, None)
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
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<QueueIn<T, F>> {
        QueueIn::create(QUEUE, maxsize, Some(capacity))
    }

    fn create(kind: u32, maxsize: usize, capacity: Option<usize>) -> Result<QueueIn<T, F>> {
        Ok(QueueIn::from_core(F::create(kind, maxsize, capacity)?))
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
        put_forever::<T, F>(&self.core, item)
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
        F::put(&self.core, item, Wait::Never)
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
        F::put(&self.core, item, Wait::timeout(timeout))
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
        get_forever::<T, F>(&self.core)
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
        F::get(&self.core, Wait::Never)
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
        F::get(&self.core, Wait::timeout(timeout))
    }
}

/// async/await (feature `async`): see [`mp::aio`](crate::aio).
#[cfg(feature = "async")]
impl<T, F: Carries<T>> QueueIn<T, F> {
    /// Takes an item, waiting without blocking the executor: `get` for async code. No thread
    /// sleeps per waiting future (see [`mp::aio`](crate::aio)). Cancel-safe: a dropped
    /// future took nothing (and passes on the wake-up it may have received).
    ///
    /// # Errors
    ///
    /// As [`get`](QueueIn::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let q = mp::Queue::new(1)?;
    /// q.put_async(7u32).await?;
    /// assert_eq!(q.get_async().await?, 7);
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn get_async(&self) -> std::result::Result<T, GetError> {
        get_async::<T, F>(&self.core).await
    }

    /// Puts an item, waiting for room without blocking the executor: `put` for async code.
    /// Cancel-safe: a dropped future did not put the item (it is dropped with the future).
    ///
    /// # Errors
    ///
    /// As [`put`](QueueIn::put), with the item.
    ///
    /// # Examples
    ///
    /// See [`get_async`](QueueIn::get_async).
    pub async fn put_async(&self, item: T) -> std::result::Result<(), PutError<T>> {
        put_async::<T, F>(&self.core, item).await
    }
}

impl<T, F: Flavour> QueueIn<T, F> {
    fn from_core(core: F::Core<T>) -> QueueIn<T, F> {
        QueueIn {
            core: Arc::new(core),
            _item: PhantomData,
        }
    }

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
        F::qsize(&self.core)
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
        if F::is_closed(&self.core) && F::was_used(&self.core) {
            return Err(closed_os("queue"));
        }
        Ok(F::qsize(&self.core) == 0)
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
        F::full(&self.core)
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
        F::maxsize(&self.core)
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
        F::capacity(&self.core)
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
        F::close(&self.core);
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
        if !F::is_closed(&self.core) {
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
        F::shutdown(&self.core, immediate)
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
        F::is_shutdown(&self.core)
    }
}

impl<T> Queue<T> {
    /// Takes the queue's internal lock and never releases it. For tests of a process that
    /// dies while holding it; never call it otherwise.
    #[doc(hidden)]
    pub fn __hold_lock_forever(&self) -> Result<()> {
        self.core.hold_lock_forever()
    }
}

impl<T, F: Flavour> Clone for QueueIn<T, F> {
    fn clone(&self) -> Self {
        QueueIn {
            core: Arc::clone(&self.core),
            _item: PhantomData,
        }
    }
}

impl<T, F: Flavour> fmt::Debug for QueueIn<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("closed", &F::is_closed(&self.core))
            .field("shutdown", &self.is_shutdown())
            .finish()
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
pub type JoinableQueue<T> = JoinableQueueIn<T, Shm>;

/// A [`QueueIn`] that counts unfinished tasks, over a [`Flavour`]: [`JoinableQueue`] and
/// `mp::dummy::JoinableQueue`.
pub struct JoinableQueueIn<T, F: Flavour> {
    queue: QueueIn<T, F>,
}

impl<T, F: Carries<T>> JoinableQueueIn<T, F> {
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
    pub fn new(maxsize: usize) -> Result<JoinableQueueIn<T, F>> {
        Ok(JoinableQueueIn {
            queue: QueueIn::create(JOINABLE, maxsize, None)?,
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
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<JoinableQueueIn<T, F>> {
        Ok(JoinableQueueIn {
            queue: QueueIn::create(JOINABLE, maxsize, Some(capacity))?,
        })
    }
}

/// async/await (feature `async`): see [`mp::aio`](crate::aio). `get_async` and `put_async`
/// come through `Deref` from [`QueueIn`].
#[cfg(feature = "async")]
impl<T, F: Flavour> JoinableQueueIn<T, F> {
    /// Waits until every item put was marked done, without blocking the executor: `join` for
    /// async code. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`join`](JoinableQueueIn::join).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let q = mp::JoinableQueue::new(0)?;
    /// q.put(1u8)?;
    /// let worker = q.clone();
    /// let t = std::thread::spawn(move || -> mp::Result<()> {
    ///     worker.get()?;
    ///     worker.task_done()
    /// });
    /// q.join_async().await?;
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// t.join().unwrap()?;
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn join_async(&self) -> Result<()> {
        let core = &self.queue.core;
        until::<T, F, _>(core, Cv::AllDone, || {
            (F::unfinished(core) == 0).then_some(())
        })
        .await
    }
}

impl<T, F: Flavour> JoinableQueueIn<T, F> {
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
        F::task_done(&self.queue.core)
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
        F::join(&self.queue.core, Wait::Forever).map(drop)
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
        F::join(&self.queue.core, Wait::timeout(timeout))
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
        F::unfinished(&self.queue.core)
    }
}

impl<T, F: Flavour> Deref for JoinableQueueIn<T, F> {
    type Target = QueueIn<T, F>;
    fn deref(&self) -> &QueueIn<T, F> {
        &self.queue
    }
}

impl<T, F: Flavour> Clone for JoinableQueueIn<T, F> {
    fn clone(&self) -> Self {
        JoinableQueueIn {
            queue: self.queue.clone(),
        }
    }
}

impl<T, F: Flavour> fmt::Debug for JoinableQueueIn<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("closed", &F::is_closed(&self.queue.core))
            .field("shutdown", &self.is_shutdown())
            .finish()
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
pub type SimpleQueue<T> = SimpleQueueIn<T, Shm>;

/// The simplest queue over a [`Flavour`]: [`SimpleQueue`] and
/// `mp::dummy::SimpleQueue`.
pub struct SimpleQueueIn<T, F: Flavour> {
    core: Arc<F::Core<T>>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T, F: Carries<T>> SimpleQueueIn<T, F> {
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
    pub fn new() -> Result<SimpleQueueIn<T, F>> {
        Ok(SimpleQueueIn::from_core(F::create(SIMPLE, 0, None)?))
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
    pub fn with_capacity(capacity: usize) -> Result<SimpleQueueIn<T, F>> {
        Ok(SimpleQueueIn::from_core(F::create(
            SIMPLE,
            0,
            Some(capacity),
        )?))
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
        put_forever::<T, F>(&self.core, item)
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
        get_forever::<T, F>(&self.core)
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
        F::get(&self.core, Wait::timeout(timeout))
    }
}

/// async/await (feature `async`): see [`mp::aio`](crate::aio).
#[cfg(feature = "async")]
impl<T, F: Carries<T>> SimpleQueueIn<T, F> {
    /// [`QueueIn::get_async`] for a simple queue.
    ///
    /// # Errors
    ///
    /// As [`get`](SimpleQueueIn::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let q = mp::SimpleQueue::new()?;
    /// q.put_async("x".to_string()).await?;
    /// assert_eq!(q.get_async().await?, "x");
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn get_async(&self) -> std::result::Result<T, GetError> {
        get_async::<T, F>(&self.core).await
    }

    /// [`QueueIn::put_async`] for a simple queue.
    ///
    /// # Errors
    ///
    /// As [`put`](SimpleQueueIn::put).
    ///
    /// # Examples
    ///
    /// See [`get_async`](SimpleQueueIn::get_async).
    pub async fn put_async(&self, item: T) -> std::result::Result<(), PutError<T>> {
        put_async::<T, F>(&self.core, item).await
    }
}

impl<T, F: Flavour> SimpleQueueIn<T, F> {
    fn from_core(core: F::Core<T>) -> SimpleQueueIn<T, F> {
        SimpleQueueIn {
            core: Arc::new(core),
            _item: PhantomData,
        }
    }

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
        if F::is_closed(&self.core) {
            return Err(closed_os("simple queue"));
        }
        Ok(F::qsize(&self.core) == 0)
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
        F::close(&self.core);
    }
}

impl<T, F: Flavour> Clone for SimpleQueueIn<T, F> {
    fn clone(&self) -> Self {
        SimpleQueueIn {
            core: Arc::clone(&self.core),
            _item: PhantomData,
        }
    }
}

impl<T, F: Flavour> fmt::Debug for SimpleQueueIn<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("len", &F::qsize(&self.core))
            .field("closed", &F::is_closed(&self.core))
            .finish()
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
