//! The local flavour of mp's queues: queues between threads with the API of
//! [`mp::queues`](crate::queues), Python's `queue.Queue`, which `multiprocessing.dummy`
//! exports as `Queue` and `JoinableQueue` (`mp::dummy::Queue` is this module's [`Queue`]). A
//! manager's server keeps its queues in the same engine ([`Core`]).
//!
//! Items are moved into the queue and out of it: nothing is serialized, so any `Send` type can
//! be an item. The errors are mp's own types ([`PutError`], [`TryPutError`], [`GetError`],
//! [`TryGetError`]), which hand the item back, so code matching on them works with both.

use std::collections::VecDeque;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::futex;
use crate::space::handle::{Handle, handle_serde};

use super::core::Wait as FrontWait;
use super::{JoinableQueueIn, QueueIn, SimpleQueueIn, TryGetError, TryPutError, sealed};

/// The `capacity` a queue reports when none was given (mp's default ring size).
const DEFAULT_CAPACITY: usize = 1 << 30;

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

#[allow(missing_debug_implementations)]
pub struct Core<T> {
    state: Mutex<State<T>>,
    /// Bumped by every put, close and shutdown: what a getter spins on before it sleeps.
    changes: AtomicU64,
    /// Bumped (and woken) by every change while async waiters are counted: what they sleep
    /// on (`aio::futex`).
    #[cfg(feature = "async")]
    event: std::sync::atomic::AtomicU32,
    #[cfg(feature = "async")]
    async_waiters: std::sync::atomic::AtomicUsize,
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
    pub(crate) fn new(maxsize: usize, capacity: usize) -> Core<T> {
        Core {
            changes: AtomicU64::new(0),
            #[cfg(feature = "async")]
            event: std::sync::atomic::AtomicU32::new(0),
            #[cfg(feature = "async")]
            async_waiters: std::sync::atomic::AtomicUsize::new(0),
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
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a change (with the lock released): wakes the async waiters, if any.
    #[inline]
    fn poke(&self) {
        #[cfg(feature = "async")]
        if self.async_waiters.load(Ordering::SeqCst) > 0 {
            self.event.fetch_add(1, Ordering::Release);
            futex::wake(&self.event, i32::MAX);
        }
    }

    #[cfg(feature = "async")]
    pub(crate) fn subscribe(&self) -> (&std::sync::atomic::AtomicU32, u32) {
        self.async_waiters.fetch_add(1, Ordering::SeqCst);
        (&self.event, self.event.load(Ordering::Acquire))
    }

    #[cfg(feature = "async")]
    pub(crate) fn unsubscribe(&self) {
        // Every change wakes every async waiter: nothing to pass on.
        self.async_waiters.fetch_sub(1, Ordering::SeqCst);
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
        self.poke();
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
                self.poke();
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
        self.poke();
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
        self.poke();
        Ok(())
    }

    pub(crate) fn task_done(&self) -> Result<()> {
        let mut st = self.lock();
        if st.unfinished == 0 {
            return Err(Error::value("task_done() called too many times"));
        }
        st.unfinished -= 1;
        let done = st.unfinished == 0;
        let wake = done && st.joiners > 0;
        drop(st);
        if wake {
            self.all_done.notify_all();
        }
        if done {
            self.poke();
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

/// The flavour of `mp::dummy::Queue` and its kin: items are moved into
/// a deque in this process's memory (no serialization), between threads.
#[derive(Debug)]
pub struct Local;

fn wait_of(w: FrontWait) -> Wait {
    match w {
        FrontWait::Never => Wait::Never,
        FrontWait::Until(d) => Wait::Until(Some(d)),
        FrontWait::Forever => Wait::Until(None),
    }
}

impl sealed::FlavourImpl for Local {
    type Core<T> = Core<T>;

    fn create<T>(_kind: u32, maxsize: usize, capacity: Option<usize>) -> Result<Core<T>> {
        Ok(Core::new(maxsize, capacity.unwrap_or(DEFAULT_CAPACITY)))
    }

    fn qsize<T>(c: &Core<T>) -> usize {
        c.qsize()
    }

    fn full<T>(c: &Core<T>) -> bool {
        c.maxsize > 0 && c.qsize() >= c.maxsize
    }

    fn maxsize<T>(c: &Core<T>) -> usize {
        c.maxsize
    }

    fn capacity<T>(c: &Core<T>) -> usize {
        c.capacity
    }

    fn close<T>(c: &Core<T>) {
        c.close();
    }

    fn is_closed<T>(c: &Core<T>) -> bool {
        c.lock().closed
    }

    fn was_used<T>(c: &Core<T>) -> bool {
        c.lock().used
    }

    fn shutdown<T>(c: &Core<T>, immediate: bool) -> Result<()> {
        c.shutdown(immediate)
    }

    fn is_shutdown<T>(c: &Core<T>) -> bool {
        c.lock().shutdown
    }

    fn task_done<T>(c: &Core<T>) -> Result<()> {
        c.task_done()
    }

    fn join<T>(c: &Core<T>, wait: FrontWait) -> Result<bool> {
        Ok(c.join(wait_of(wait)))
    }

    fn unfinished<T>(c: &Core<T>) -> usize {
        c.lock().unfinished
    }

    #[cfg(feature = "async")]
    fn subscribe<T>(
        c: &Core<T>,
        _which: super::sealed::Cv,
    ) -> Result<(&std::sync::atomic::AtomicU32, u32)> {
        Ok(c.subscribe())
    }

    #[cfg(feature = "async")]
    fn unsubscribe<T>(c: &Core<T>, _which: super::sealed::Cv, _seen: u32, _pass_on: bool) {
        c.unsubscribe();
    }
}

impl<T> sealed::CarriesImpl<T> for Local {
    fn put(c: &Core<T>, item: T, wait: FrontWait) -> std::result::Result<(), TryPutError<T>> {
        c.put(item, wait_of(wait))
    }

    fn get(c: &Core<T>, wait: FrontWait) -> std::result::Result<T, TryGetError> {
        c.get(wait_of(wait))
    }
}

/// `mp::dummy::Queue`.
pub type Queue<T> = QueueIn<T, Local>;
/// `mp::dummy::JoinableQueue`.
pub type JoinableQueue<T> = JoinableQueueIn<T, Local>;
/// `mp::dummy::SimpleQueue`.
pub type SimpleQueue<T> = SimpleQueueIn<T, Local>;

impl<T: Send + 'static> Handle for Queue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Queue<T>);

impl<T: Send + 'static> Handle for JoinableQueue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(JoinableQueue<T>);

impl<T: Send + 'static> Handle for SimpleQueue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(SimpleQueue<T>);
