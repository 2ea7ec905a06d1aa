//! The local flavour of mp's queues: queues between threads with the API of
//! [`mp::queues`](crate::queues), Python's `queue.Queue`, which `multiprocessing.dummy`
//! exports as `Queue` and `JoinableQueue` (`mp::dummy::Queue` is this module's [`Queue`]). A
//! manager's server keeps its queues in the same engine ([`Core`]).
//!
//! Items are moved into the queue and out of it: nothing is serialized, so any `Send` type can
//! be an item. The errors are mp's own types ([`PutError`], [`TryPutError`], [`GetError`],
//! [`TryGetError`]), which hand the item back, so code matching on them works with both.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::futex;
use crate::space::handle::{Handle, handle_serde};

use crate::queues::{GetError, PutError, TryGetError, TryPutError};

/// The `capacity` a queue reports when none was given (mp's default ring size).
const DEFAULT_CAPACITY: usize = 1 << 30;

fn closed_os(what: &str) -> Error {
    Error::new(ErrorKind::Os, format!("{what} is closed"))
}

pub(crate) struct State<T> {
    items: VecDeque<T>,
    /// Items put and not yet marked done (a JoinableQueue's tasks).
    unfinished: usize,
    closed: bool,
    /// Whether anything was ever put (CPython's `empty()` after `close()` depends on it).
    used: bool,
    shutdown: bool,
    getters: usize,
    putters: usize,
    joiners: usize,
}

pub(crate) struct Core<T> {
    state: Mutex<State<T>>,
    /// Bumped by every put, close and shutdown: what a getter spins on before it sleeps.
    changes: AtomicU64,
    not_empty: Condvar,
    not_full: Condvar,
    all_done: Condvar,
    pub(crate) maxsize: usize,
    capacity: usize,
}

/// How long an operation may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    Never,
    Until(Option<Instant>),
}

impl Wait {
    fn timeout(t: Duration) -> Wait {
        Wait::Until(Instant::now().checked_add(t))
    }
}

/// Waits on `cv` until `deadline`; false when it passed.
/// How a [`wait_on`] ended.
#[derive(PartialEq)]
enum Woke {
    /// It slept (and may have been woken): look again.
    Waited,
    /// It did not sleep: no wait was allowed, or the deadline had passed.
    TimedOut,
    /// This thread's waits are cancelled ([`futex::cancelled`]: a manager's serving thread
    /// whose client went away). A wake-up it may have consumed is passed on.
    Cancelled,
}

fn wait_on<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, State<T>>,
    wait: Wait,
) -> (MutexGuard<'a, State<T>>, Woke) {
    let Wait::Until(deadline) = wait else {
        return (g, Woke::TimedOut);
    };
    let slice = match deadline {
        None => None,
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return (g, Woke::TimedOut);
            }
            Some(d - now)
        }
    };
    let g = match futex::cancel_slice(slice) {
        None => cv.wait(g).unwrap_or_else(|e| e.into_inner()),
        Some(s) => cv.wait_timeout(g, s).unwrap_or_else(|e| e.into_inner()).0,
    };
    if futex::cancelled() {
        cv.notify_one();
        return (g, Woke::Cancelled);
    }
    (g, Woke::Waited)
}

impl<T> Core<T> {
    pub(crate) fn new(maxsize: usize, capacity: usize) -> Arc<Core<T>> {
        Arc::new(Core {
            changes: AtomicU64::new(0),
            state: Mutex::new(State {
                items: VecDeque::new(),
                unfinished: 0,
                closed: false,
                used: false,
                shutdown: false,
                getters: 0,
                putters: 0,
                joiners: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            all_done: Condvar::new(),
            maxsize,
            capacity,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn put(&self, item: T, wait: Wait) -> std::result::Result<(), TryPutError<T>> {
        let mut st = self.lock();
        loop {
            if st.closed {
                return Err(TryPutError::Closed(item));
            }
            if st.shutdown {
                return Err(TryPutError::ShutDown(item));
            }
            if self.maxsize == 0 || st.items.len() < self.maxsize {
                break;
            }
            st.putters += 1;
            let (g, woke) = wait_on(&self.not_full, st, wait);
            st = g;
            st.putters -= 1;
            if woke == Woke::Cancelled {
                return Err(TryPutError::Failed(item, futex::cancelled_error()));
            }
            if woke == Woke::TimedOut
                && st.items.len() >= self.maxsize
                && !st.closed
                && !st.shutdown
            {
                return Err(TryPutError::Full(item));
            }
        }
        st.items.push_back(item);
        st.unfinished += 1;
        st.used = true;
        self.changes.fetch_add(1, Ordering::Release);
        let wake = st.getters > 0;
        drop(st);
        if wake {
            self.not_empty.notify_one();
        }
        Ok(())
    }

    pub(crate) fn get(&self, wait: Wait) -> std::result::Result<T, TryGetError> {
        let mut st = self.lock();
        let mut spun = false;
        loop {
            if st.closed {
                return Err(TryGetError::Closed);
            }
            if let Some(x) = st.items.pop_front() {
                let wake = st.putters > 0;
                drop(st);
                if wake {
                    self.not_full.notify_one();
                }
                return Ok(x);
            }
            if st.shutdown {
                return Err(TryGetError::ShutDown);
            }
            if !spun && let Wait::Until(deadline) = wait {
                // Before sleeping, spin a little for a put from a thread on another CPU
                // (waking a sleeper there costs ~30 us); then look again under the lock.
                spun = true;
                if crate::sys::spinning_pays() {
                    let seen = self.changes.load(Ordering::Acquire);
                    drop(st);
                    crate::sys::spin_until_changed(&self.changes, seen, deadline);
                    st = self.lock();
                    continue;
                }
            }
            st.getters += 1;
            let (g, woke) = wait_on(&self.not_empty, st, wait);
            st = g;
            st.getters -= 1;
            if woke == Woke::Cancelled {
                return Err(TryGetError::Failed(futex::cancelled_error()));
            }
            if woke == Woke::TimedOut && st.items.is_empty() && !st.closed && !st.shutdown {
                return Err(TryGetError::Empty);
            }
        }
    }

    pub(crate) fn qsize(&self) -> usize {
        self.lock().items.len()
    }

    fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.changes.fetch_add(1, Ordering::Release);
        drop(st);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    fn shutdown(&self, immediate: bool) -> Result<()> {
        let mut st = self.lock();
        if st.closed {
            return Err(Error::value("queue is closed"));
        }
        st.shutdown = true;
        self.changes.fetch_add(1, Ordering::Release);
        if immediate {
            let n = st.items.len();
            st.items.clear();
            st.unfinished = st.unfinished.saturating_sub(n);
        }
        drop(st);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        self.all_done.notify_all();
        Ok(())
    }

    pub(crate) fn task_done(&self) -> Result<()> {
        let mut st = self.lock();
        if st.unfinished == 0 {
            return Err(Error::value("task_done() called too many times"));
        }
        st.unfinished -= 1;
        let wake = st.unfinished == 0 && st.joiners > 0;
        drop(st);
        if wake {
            self.all_done.notify_all();
        }
        Ok(())
    }

    /// Waits until every item put was marked done; false if `wait` ended first (a timeout,
    /// or a cancelled wait).
    pub(crate) fn join(&self, wait: Wait) -> bool {
        let mut st = self.lock();
        while st.unfinished > 0 {
            st.joiners += 1;
            let (g, woke) = wait_on(&self.all_done, st, wait);
            st = g;
            st.joiners -= 1;
            if woke != Woke::Waited && st.unfinished > 0 {
                return false;
            }
        }
        true
    }
}

fn put_forever<T>(core: &Core<T>, item: T) -> std::result::Result<(), PutError<T>> {
    core.put(item, Wait::Until(None)).map_err(|e| match e {
        TryPutError::Full(t) => PutError::Failed(
            t,
            Error::new(ErrorKind::Runtime, "a wait without a deadline timed out"),
        ),
        TryPutError::Closed(t) => PutError::Closed(t),
        TryPutError::ShutDown(t) => PutError::ShutDown(t),
        TryPutError::Failed(t, e) => PutError::Failed(t, e),
    })
}

fn get_forever<T>(core: &Core<T>) -> std::result::Result<T, GetError> {
    core.get(Wait::Until(None)).map_err(|e| match e {
        TryGetError::Empty => GetError::Failed(Error::new(
            ErrorKind::Runtime,
            "a wait without a deadline timed out",
        )),
        TryGetError::Closed => GetError::Closed,
        TryGetError::ShutDown => GetError::ShutDown,
        TryGetError::Failed(e) => GetError::Failed(e),
    })
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

/// A FIFO queue between threads: Python's `queue.Queue` (`multiprocessing.dummy.Queue`), with
/// the API of [`mp::Queue`](crate::Queue).
///
/// # Examples
///
/// ```
/// use mp::dummy::{Process, Queue};
///
/// #[mp::task]
/// fn f(q: Queue<(i32, Option<i32>, String)>) -> mp::Result<()> {
///     q.put((42, None, "hello".into()))?;
///     Ok(())
/// }
///
/// # fn main() -> mp::Result<()> {
/// let q = Queue::new(0)?;
/// let p = Process::new(f, (q.clone(),));
/// p.start()?;
/// assert_eq!(q.get()?, (42, None, "hello".to_string()));
/// p.join()?;
/// # Ok(()) }
/// ```
pub struct Queue<T> {
    core: Arc<Core<T>>,
}

impl<T> Queue<T> {
    /// A new queue holding at most `maxsize` items (`0`: no limit): Python's `Queue(maxsize)`.
    ///
    /// # Errors
    ///
    /// None; the `Result` is [`mp::Queue::new`](crate::Queue::new)'s.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(2)?;
    /// q.put("a".to_string())?;
    /// q.put("b".to_string())?;
    /// assert!(q.full());
    /// assert!(q.put_nowait("c".to_string()).unwrap_err().is_full());
    /// # Ok(()) }
    /// ```
    pub fn new(maxsize: usize) -> Result<Queue<T>> {
        Ok(Queue {
            core: Core::new(maxsize, DEFAULT_CAPACITY),
        })
    }

    /// As [`new`](Queue::new); `capacity` is what [`capacity`](Queue::capacity) reports. A
    /// thread queue holds the items themselves, so it bounds nothing (in mp it is the size of
    /// the ring of encoded bytes).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::<u8>::with_capacity(0, 4096)?;
    /// assert_eq!(q.capacity(), 4096);
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<Queue<T>> {
        Ok(Queue {
            core: Core::new(maxsize, capacity),
        })
    }

    /// Puts `item`, waiting while the queue is full: Python's `put(obj)`.
    ///
    /// # Errors
    ///
    /// The item comes back in the error if the queue was closed or shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(0)?;
    /// q.put(vec![1, 2, 3])?;
    /// assert_eq!(q.get()?, vec![1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn put(&self, item: T) -> std::result::Result<(), PutError<T>> {
        put_forever(&self.core, item)
    }

    /// Puts `item` if there is room now: Python's `put_nowait(obj)`.
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
    /// let q = mp::dummy::Queue::new(1)?;
    /// q.put_nowait(1)?;
    /// assert!(q.put_nowait(2).unwrap_err().is_full());
    /// # Ok(()) }
    /// ```
    pub fn put_nowait(&self, item: T) -> std::result::Result<(), TryPutError<T>> {
        self.core.put(item, Wait::Never)
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
    /// let q = mp::dummy::Queue::new(1)?;
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
        self.core.put(item, Wait::timeout(timeout))
    }

    /// Takes the oldest item, waiting until there is one: Python's `get()`.
    ///
    /// # Errors
    ///
    /// [`GetError::Closed`] after [`close`](Queue::close), [`GetError::ShutDown`] once the
    /// queue is shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(0)?;
    /// q.put('x')?;
    /// q.put('y')?;
    /// assert_eq!((q.get()?, q.get()?), ('x', 'y'));
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> std::result::Result<T, GetError> {
        get_forever(&self.core)
    }

    /// Takes the oldest item if there is one now: Python's `get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if the queue is empty; otherwise as [`get`](Queue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::<i64>::new(0)?;
    /// assert!(q.get_nowait().unwrap_err().is_empty());
    /// q.put(7)?;
    /// assert_eq!(q.get_nowait()?, 7);
    /// # Ok(()) }
    /// ```
    pub fn get_nowait(&self) -> std::result::Result<T, TryGetError> {
        self.core.get(Wait::Never)
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
    /// let q = mp::dummy::Queue::<u8>::new(0)?;
    /// let t = Instant::now();
    /// assert!(q.get_timeout(Duration::from_millis(50)).unwrap_err().is_empty());
    /// assert!(t.elapsed() >= Duration::from_millis(50));
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, TryGetError> {
        self.core.get(Wait::timeout(timeout))
    }

    /// The number of items in the queue: Python's `qsize()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(0)?;
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
    /// As `mp::Queue`: once the queue was [closed](Queue::close) after something was put, an
    /// [`ErrorKind::Os`] error ("queue is closed").
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(0)?;
    /// assert!(q.empty()?);
    /// q.put("x".to_string())?;
    /// assert!(!q.empty()?);
    /// # Ok(()) }
    /// ```
    pub fn empty(&self) -> Result<bool> {
        let st = self.core.lock();
        if st.closed && st.used {
            return Err(closed_os("queue"));
        }
        Ok(st.items.is_empty())
    }

    /// Whether the queue holds `maxsize` items: Python's `full()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(1)?;
    /// assert!(!q.full());
    /// q.put(0)?;
    /// assert!(q.full());
    /// # Ok(()) }
    /// ```
    pub fn full(&self) -> bool {
        self.core.maxsize > 0 && self.core.qsize() >= self.core.maxsize
    }

    /// The `maxsize` the queue was made with (`0`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// assert_eq!(mp::dummy::Queue::<u8>::new(6)?.maxsize(), 6);
    /// # Ok(()) }
    /// ```
    pub fn maxsize(&self) -> usize {
        self.core.maxsize
    }

    /// The capacity given to [`with_capacity`](Queue::with_capacity) (1 GiB, mp's default,
    /// otherwise). It bounds nothing in a thread queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// assert_eq!(mp::dummy::Queue::<u8>::new(0)?.capacity(), 1 << 30);
    /// # Ok(()) }
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.capacity
    }

    /// Closes the queue (every handle: a thread queue has one owner, the process): later
    /// `put`s and `get`s fail with `Closed`, and blocked callers wake up with it. mp's
    /// `close()`; Python's `queue.Queue` has none.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::<u8>::new(0)?;
    /// q.close();
    /// assert_eq!(q.get().unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Python's `join_thread()`: nothing to wait for (a thread queue has no feeder thread).
    ///
    /// # Errors
    ///
    /// As mp's, an [`ErrorKind::Assertion`] error if the queue was not closed first.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::<u8>::new(0)?;
    /// assert!(q.join_thread().is_err());
    /// q.close();
    /// q.join_thread()?;
    /// # Ok(()) }
    /// ```
    pub fn join_thread(&self) -> Result<()> {
        if !self.core.lock().closed {
            return Err(Error::assertion("Queue.join_thread() before close()"));
        }
        Ok(())
    }

    /// Python's `cancel_join_thread()`: does nothing (nothing is ever buffered).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// mp::dummy::Queue::<u8>::new(0)?.cancel_join_thread();
    /// # Ok(()) }
    /// ```
    pub fn cancel_join_thread(&self) {}

    /// Shuts the queue down: Python's `shutdown(immediate)` (3.13+).
    ///
    /// Afterwards every `put` fails with `ShutDown`. With `immediate = false` the items
    /// already queued can still be taken, and `get` fails with `ShutDown` once the queue is
    /// empty; with `immediate = true` they are discarded at once (and their tasks count as
    /// done). Blocked callers wake up.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the queue was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::new(0)?;
    /// q.put(1)?;
    /// q.shutdown(false)?;
    /// assert_eq!(q.put(2).unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// assert_eq!(q.get()?, 1);
    /// assert_eq!(q.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self, immediate: bool) -> Result<()> {
        self.core.shutdown(immediate)
    }

    /// Whether [`shutdown`](Queue::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::Queue::<u8>::new(0)?;
    /// assert!(!q.is_shutdown());
    /// q.shutdown(true)?;
    /// assert!(q.is_shutdown());
    /// # Ok(()) }
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.core.lock().shutdown
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            core: Arc::clone(&self.core),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.core.lock();
        f.debug_struct("Queue")
            .field("qsize", &st.items.len())
            .field("maxsize", &self.core.maxsize)
            .field("closed", &st.closed)
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

impl<T: Send + 'static> Handle for Queue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Queue<T>);

// ---------------------------------------------------------------------------------------------
// JoinableQueue
// ---------------------------------------------------------------------------------------------

/// A [`Queue`] that counts unfinished tasks, with the API of
/// [`mp::JoinableQueue`](crate::JoinableQueue) (in Python's `multiprocessing.dummy`,
/// `JoinableQueue` is `queue.Queue`, which always counts them).
///
/// # Examples
///
/// ```
/// use mp::dummy::{JoinableQueue, Process};
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
/// # fn main() -> mp::Result<()> {
/// let q = JoinableQueue::new(0)?;
/// let p = Process::builder(worker, (q.clone(),)).daemon(true).build();
/// p.start()?;
/// for n in 0..5 {
///     q.put(n)?;
/// }
/// q.join()?; // every item was taken and finished
/// q.shutdown(true)?; // the worker's next get fails: it returns
/// p.join()?;
/// # Ok(()) }
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> JoinableQueue<T> {
    /// A new joinable queue holding at most `maxsize` items (`0`: no limit).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::JoinableQueue::new(0)?;
    /// q.put("job".to_string())?;
    /// assert_eq!(q.get()?, "job");
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok(()) }
    /// ```
    pub fn new(maxsize: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::new(maxsize)?,
        })
    }

    /// As [`Queue::with_capacity`].
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::JoinableQueue::<u8>::with_capacity(0, 1 << 20)?;
    /// assert_eq!(q.capacity(), 1 << 20);
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(maxsize: usize, capacity: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::with_capacity(maxsize, capacity)?,
        })
    }

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
    /// let q = mp::dummy::JoinableQueue::new(0)?;
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
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::JoinableQueue::<u8>::new(0)?;
    /// q.join()?; // nothing was put: returns at once
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        self.queue.core.join(Wait::Until(None));
        Ok(())
    }

    /// Waits at most `timeout` for every task to be done; returns whether they all were.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let q = mp::dummy::JoinableQueue::new(0)?;
    /// q.put(1)?;
    /// assert!(!q.join_timeout(Duration::from_millis(10))?);
    /// q.get()?;
    /// q.task_done()?;
    /// assert!(q.join_timeout(Duration::from_millis(10))?);
    /// # Ok(()) }
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        Ok(self.queue.core.join(Wait::timeout(timeout)))
    }

    /// The number of tasks not yet marked done.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::JoinableQueue::new(0)?;
    /// q.put(1)?;
    /// q.get()?;
    /// assert_eq!((q.qsize(), q.unfinished_tasks()), (0, 1));
    /// # Ok(()) }
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.queue.core.lock().unfinished
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
        let st = self.queue.core.lock();
        f.debug_struct("JoinableQueue")
            .field("qsize", &st.items.len())
            .field("maxsize", &self.queue.core.maxsize)
            .field("unfinished_tasks", &st.unfinished)
            .field("closed", &st.closed)
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

impl<T: Send + 'static> Handle for JoinableQueue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(JoinableQueue<T>);

// ---------------------------------------------------------------------------------------------
// SimpleQueue
// ---------------------------------------------------------------------------------------------

/// An unbounded queue with only `put`, `get`, `empty` and `close`, with the API of
/// [`mp::SimpleQueue`](crate::SimpleQueue) (Python's `queue.SimpleQueue`).
///
/// # Examples
///
/// ```
/// use mp::dummy::{Process, SimpleQueue};
///
/// #[mp::task]
/// fn square(inq: SimpleQueue<u64>, outq: SimpleQueue<u64>) -> mp::Result<()> {
///     let n = inq.get()?;
///     outq.put(n * n)?;
///     Ok(())
/// }
///
/// # fn main() -> mp::Result<()> {
/// let (inq, outq) = (SimpleQueue::new()?, SimpleQueue::new()?);
/// let p = Process::new(square, (inq.clone(), outq.clone()));
/// p.start()?;
/// inq.put(12)?;
/// assert_eq!(outq.get()?, 144);
/// p.join()?;
/// # Ok(()) }
/// ```
pub struct SimpleQueue<T> {
    core: Arc<Core<T>>,
}

impl<T> SimpleQueue<T> {
    /// A new simple queue: Python's `SimpleQueue()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::new()?;
    /// q.put(1.5)?;
    /// assert_eq!(q.get()?, 1.5);
    /// # Ok(()) }
    /// ```
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            core: Core::new(0, DEFAULT_CAPACITY),
        })
    }

    /// As [`new`](SimpleQueue::new) (see [`Queue::with_capacity`]).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::<u8>::with_capacity(8192)?;
    /// q.put(1)?;
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            core: Core::new(0, capacity),
        })
    }

    /// Puts `item`: Python's `put(item)`.
    ///
    /// # Errors
    ///
    /// The item comes back in the error if the queue was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::new()?;
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
    /// [`GetError::Closed`] if the queue was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::new()?;
    /// q.put([1u8, 2])?;
    /// assert_eq!(q.get()?, [1, 2]);
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> std::result::Result<T, GetError> {
        get_forever(&self.core)
    }

    /// Takes the oldest item, waiting at most `timeout` for one (as mp's).
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if none came in time; otherwise as [`get`](SimpleQueue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::<u8>::new()?;
    /// assert!(q.get_timeout(std::time::Duration::from_millis(5)).unwrap_err().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> std::result::Result<T, TryGetError> {
        self.core.get(Wait::timeout(timeout))
    }

    /// Whether the queue is empty: Python's `empty()`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Os`] error ("simple queue is closed") after
    /// [`close`](SimpleQueue::close), as mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::<u8>::new()?;
    /// assert!(q.empty()?);
    /// q.close();
    /// assert!(q.empty().is_err());
    /// # Ok(()) }
    /// ```
    pub fn empty(&self) -> Result<bool> {
        let st = self.core.lock();
        if st.closed {
            return Err(closed_os("simple queue"));
        }
        Ok(st.items.is_empty())
    }

    /// Closes the queue: Python's `close()`. Idempotent; later `put`, `get` and `empty` fail.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let q = mp::dummy::SimpleQueue::<u8>::new()?;
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
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.core.lock();
        f.debug_struct("SimpleQueue")
            .field("len", &st.items.len())
            .field("closed", &st.closed)
            .finish()
    }
}

impl<T: Send + 'static> Handle for SimpleQueue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(SimpleQueue<T>);
