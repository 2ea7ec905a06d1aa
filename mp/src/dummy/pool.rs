//! Thread pools with the API of [`mp::pool`](crate::pool): Python's
//! `multiprocessing.pool.ThreadPool`, which `multiprocessing.dummy.Pool` returns.
//!
//! The same targets as [`mp::Pool`](crate::Pool) — `#[mp::task]` fns — run in worker
//! *threads*: [`Task::run`] is called directly, the arguments and values are moved, never
//! serialized. Use it for work that waits (I/O, sleeping, calling out) rather than
//! computes, or to run the same program without processes.
//!
//! Errors keep [`mp::Pool`](crate::Pool)'s kinds and messages, so that code handling them is
//! portable: a task's panic or `Err` is an [`ErrorKind::Remote`] error whose message is the
//! task's own (`task `f` failed: <the Err's text>`) and whose
//! [`source`](std::error::Error::source) is a [`RemoteTraceback`] naming the worker thread.
//! Nothing else is wrapped (CPython's thread pool re-raises the original exception).
//!
//! Differences from the process pool, all from threads being threads:
//!
//! - [`terminate`](Pool::terminate) cannot stop a task that is running: it fails every
//!   result not ready yet with [`ErrorKind::ShutDown`] at once (as mp's does), drops the
//!   queued tasks, and the running ones finish in the background; [`join`](Pool::join)
//!   (and dropping the pool) waits for them, as CPython's `ThreadPool.terminate` does.
//! - a panicking task cannot kill its worker, so there is no `WorkerLost`.
//! - [`PoolBuilder::context`] and [`PoolBuilder::start_method`] are accepted and ignored.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::ThreadId;

use crate::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::handle::{self, Packet};
use crate::context::{Context, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::task::{Portable, Task};

pub use crate::pool::RemoteTraceback;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_running() -> Error {
    Error::value("Pool not running")
}

fn shut_down() -> Error {
    Error::new(
        ErrorKind::ShutDown,
        "the pool was terminated before the task finished",
    )
}

fn timeout_error() -> Error {
    Error::new(ErrorKind::Timeout, "timed out waiting for the result")
}

// ---------------------------------------------------------------------------------------------
// Running a task, capturing its panic
// ---------------------------------------------------------------------------------------------

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that, while a pool task runs in this thread, records the
/// panic's message and location instead of printing them: the caller gets them, as CPython's
/// thread pool hands the exception over without printing it.
fn install_capture_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let p = info.payload();
                let message = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "Box<dyn Any>".to_string());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                CAPTURED.with(|c| *c.borrow_mut() = Some((message, location)));
            } else {
                prev(info);
            }
        }));
    });
}

/// How a task (or an initializer) failed.
struct Failure {
    panicked: bool,
    message: String,
    location: Option<String>,
    index: usize,
}

/// Runs `f` with panics captured: a panic becomes a [`Failure`] at `progress`.
fn capture<R>(
    progress: &Cell<usize>,
    f: impl FnOnce() -> std::result::Result<R, Failure>,
) -> std::result::Result<R, Failure> {
    let outer = CAPTURING.with(|c| c.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(outer));
    match r {
        Ok(r) => r,
        Err(payload) => {
            let cap = CAPTURED.with(|c| c.borrow_mut().take());
            // Dropping a payload can itself panic; keep the worker alive whatever it does.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            let (message, location) = cap.unwrap_or_else(|| ("panic".to_string(), None));
            Err(Failure {
                panicked: true,
                message,
                location,
                index: progress.get(),
            })
        }
    }
}

/// Runs `T` on every item of a chunk: the values, or the first failure.
fn run_chunk<T: Task>(items: Vec<T::Args>) -> std::result::Result<Vec<T::Value>, Failure> {
    let progress = Cell::new(0);
    capture(&progress, || {
        let mut out = Vec::with_capacity(items.len());
        for (i, a) in items.into_iter().enumerate() {
            progress.set(i);
            match T::into_value(T::run(a)) {
                Ok(v) => out.push(v),
                Err(message) => {
                    return Err(Failure {
                        panicked: false,
                        message,
                        location: None,
                        index: i,
                    });
                }
            }
        }
        Ok(out)
    })
}

/// The caller's error for a task's failure: mp's kind and message, with a traceback.
fn task_error(task: &str, worker: &str, f: Failure) -> Error {
    let short = task.rsplit("::").next().unwrap_or(task);
    let message = if f.panicked {
        match &f.location {
            Some(loc) => format!("task `{short}` panicked at {loc}: {}", f.message),
            None => format!("task `{short}` panicked: {}", f.message),
        }
    } else {
        format!("task `{short}` failed: {}", f.message)
    };
    let tb = RemoteTraceback::local(
        task,
        worker.to_string(),
        f.panicked,
        f.message,
        f.location,
        f.index,
    );
    Error::new(ErrorKind::Remote, message).with_source(tb)
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".into())
}

fn input_panicked(index: usize, p: Box<dyn std::any::Any + Send>) -> Error {
    Error::new(
        ErrorKind::Runtime,
        format!(
            "the input iterator panicked at item {index}: {}",
            panic_message(&*p)
        ),
    )
}

/// Python's default `map` chunksize: `ceil(len / (4 * processes))`.
fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(processes * 4).max(1)
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// Where a job's outcome goes; `fail` is how the pool fails a job it will not run.
trait JobSink: Send + Sync {
    fn fail(&self, chunk: usize, e: Error);
}

type Callback<T> = Box<dyn FnOnce(&T) + Send>;
type ErrorCallback = Box<dyn FnOnce(&Error) + Send>;

struct SlotState<T> {
    value: Option<Result<T>>,
    ready: bool,
    success: Option<bool>,
    callback: Option<Callback<T>>,
    error_callback: Option<ErrorCallback>,
    /// Threads sleeping in `wait_deadline` (the notification is skipped when there are none).
    sleepers: usize,
}

/// Where one async result lands.
///
/// `done` mirrors `state.ready` so that a waiter can spin on it briefly before it sleeps: a
/// thread pool's answer is often a few microseconds away, less than a sleep and a wake-up.
struct Slot<T> {
    done: AtomicBool,
    state: Mutex<SlotState<T>>,
    cond: Condvar,
}

/// Spins briefly on `flag` (at most ~20 µs, never past `deadline`) before the caller sleeps.
fn spin_until(flag: &AtomicBool, deadline: Option<Instant>) -> bool {
    if flag.load(Ordering::Acquire) {
        return true;
    }
    let start = Instant::now();
    let limit = Duration::from_micros(20);
    let mut i = 0u32;
    loop {
        if flag.load(Ordering::Acquire) {
            return true;
        }
        i += 1;
        if i % 64 == 0 {
            let now = Instant::now();
            if now - start > limit || deadline.is_some_and(|d| now >= d) {
                return false;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

fn call_guarded(f: impl FnOnce()) {
    if panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        crate::logging::warning!("a pool callback panicked");
    }
}

impl<T> Slot<T> {
    fn new() -> Arc<Slot<T>> {
        Arc::new(Slot {
            done: AtomicBool::new(false),
            state: Mutex::new(SlotState {
                value: None,
                ready: false,
                success: None,
                callback: None,
                error_callback: None,
                sleepers: 0,
            }),
            cond: Condvar::new(),
        })
    }

    /// Delivers the result (only the first time): callbacks first, then waiters wake.
    fn set(&self, v: Result<T>) {
        let (cb, ecb) = {
            let mut st = lock(&self.state);
            if st.ready || st.success.is_some() {
                return;
            }
            // Claim the slot so that a concurrent `set` (a terminate) is ignored.
            st.success = Some(v.is_ok());
            (st.callback.take(), st.error_callback.take())
        };
        match &v {
            Ok(x) => {
                if let Some(cb) = cb {
                    call_guarded(|| cb(x));
                }
            }
            Err(e) => {
                if let Some(ecb) = ecb {
                    call_guarded(|| ecb(e));
                }
            }
        }
        let mut st = lock(&self.state);
        // Callbacks attached while the first ones ran.
        match &v {
            Ok(x) => {
                if let Some(cb) = st.callback.take() {
                    call_guarded(|| cb(x));
                }
            }
            Err(e) => {
                if let Some(ecb) = st.error_callback.take() {
                    call_guarded(|| ecb(e));
                }
            }
        }
        st.value = Some(v);
        st.ready = true;
        self.done.store(true, Ordering::Release);
        let wake = st.sleepers > 0;
        drop(st);
        if wake {
            self.cond.notify_all();
        }
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if spin_until(&self.done, deadline) {
            return true;
        }
        let mut st = lock(&self.state);
        while !st.ready {
            st.sleepers += 1;
            let timed_out = match deadline {
                None => {
                    st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                    false
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        true
                    } else {
                        st = self
                            .cond
                            .wait_timeout(st, d - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                        false
                    }
                }
            };
            st.sleepers -= 1;
            if timed_out {
                return false;
            }
        }
        true
    }

    fn take(&self) -> Result<T> {
        match lock(&self.state).value.take() {
            Some(v) => v,
            None => Err(Error::value(
                "the result was already taken by an earlier get()",
            )),
        }
    }
}

/// The result of [`Pool::apply_async`] and [`Pool::map_async`], with the API of
/// [`mp::AsyncResult`](crate::AsyncResult).
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::new(2)?;
/// let r = pool.apply_async(square, (10,))?;
/// assert_eq!(r.get_timeout(std::time::Duration::from_secs(30))?, 100);
/// assert!(r.ready() && r.successful()?);
/// # Ok(()) }
/// ```
pub struct AsyncResult<T> {
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<T> AsyncResult<T> {
    /// Waits for the result and returns it: Python's `get()`.
    ///
    /// # Errors
    ///
    /// The task's failure ([`ErrorKind::Remote`]), [`ErrorKind::ShutDown`] after
    /// `terminate`, or [`ErrorKind::Value`] if the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn half(x: u32) -> Result<u32, String> {
    ///     if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
    /// }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert_eq!(pool.apply_async(half, (8,))?.get()?, 4);
    /// let err = pool.apply_async(half, (3,))?.get().unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Remote);
    /// assert!(err.to_string().contains("3 is odd"));
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> Result<T> {
        self.slot.wait_deadline(None);
        self.slot.take()
    }

    /// Like [`get`](AsyncResult::get), waiting at most `timeout`: Python's `get(timeout)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if the result is not ready in time (ask again later), or what
    /// [`get`](AsyncResult::get) returns.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let r = pool.apply_async(nap, (200,))?;
    /// let err = r.get_timeout(std::time::Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Timeout);
    /// r.get()?;
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        if !self.slot.wait_deadline(Instant::now().checked_add(timeout)) {
            return Err(timeout_error());
        }
        self.slot.take()
    }

    /// Waits until the result is ready: Python's `wait()`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn one() -> u8 { 1 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let r = pool.apply_async(one, ())?;
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok(()) }
    /// ```
    pub fn wait(&self) {
        self.slot.wait_deadline(None);
    }

    /// Waits at most `timeout`; returns whether the result is ready: Python's `wait(timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn one() -> u8 { 1 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let r = pool.apply_async(one, ())?;
    /// assert!(r.wait_timeout(std::time::Duration::from_secs(30)));
    /// # Ok(()) }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.slot.wait_deadline(Instant::now().checked_add(timeout))
    }

    /// Whether the call has completed, without blocking: Python's `ready()`.
    ///
    /// # Examples
    ///
    /// See [`AsyncResult`].
    pub fn ready(&self) -> bool {
        lock(&self.slot.state).ready
    }

    /// Whether the call completed without error: Python's `successful()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the result is not ready yet.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let r = pool.apply_async(nap, (300,))?;
    /// assert_eq!(r.successful().unwrap_err().kind(), mp::ErrorKind::Value);
    /// r.wait();
    /// assert!(r.successful()?);
    /// # Ok(()) }
    /// ```
    pub fn successful(&self) -> Result<bool> {
        let st = lock(&self.slot.state);
        if !st.ready {
            return Err(Error::value(
                "the result is not ready: successful() needs a finished call",
            ));
        }
        Ok(st.success.unwrap_or(false))
    }

    /// Runs `f` with the value when the call succeeds: Python's `callback=`. It runs on the
    /// worker thread that finished the task, before waiters wake; if the call has already
    /// succeeded it runs now, on this thread (unless the value was taken by `get`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let pool = mp::dummy::Pool::new(2)?;
    /// for i in 0..4 {
    ///     let seen = seen.clone();
    ///     pool.apply_async(square, (i,))?.callback(move |v| seen.lock().unwrap().push(*v));
    /// }
    /// pool.close()?;
    /// pool.join()?; // callbacks have run when join returns
    /// let mut got = seen.lock().unwrap().clone();
    /// got.sort();
    /// assert_eq!(got, [0, 1, 4, 9]);
    /// # Ok(()) }
    /// ```
    pub fn callback(self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        let mut st = lock(&self.slot.state);
        if st.ready {
            if let Some(Ok(v)) = &st.value {
                call_guarded(|| f(v));
            }
        } else {
            st.callback = Some(Box::new(f));
        }
        drop(st);
        self
    }

    /// Runs `f` with the error when the call fails: Python's `error_callback=`. Same threads
    /// as [`callback`](AsyncResult::callback).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// #[mp::task]
    /// fn boom() { panic!("boom") }
    /// # fn main() -> mp::Result<()> {
    /// let (tx, rx) = mpsc::channel();
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let r = pool.apply_async(boom, ())?.error_callback(move |e| tx.send(e.to_string()).unwrap());
    /// assert!(r.get().is_err());
    /// assert!(rx.recv().unwrap().contains("boom"));
    /// # Ok(()) }
    /// ```
    pub fn error_callback(self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        let mut st = lock(&self.slot.state);
        if st.ready {
            if let Some(Err(e)) = &st.value {
                call_guarded(|| f(e));
            }
        } else {
            st.error_callback = Some(Box::new(f));
        }
        drop(st);
        self
    }
}

/// The sink of `apply_async`.
struct ApplySink<V> {
    slot: Arc<Slot<V>>,
}

impl<V: Send> JobSink for ApplySink<V> {
    fn fail(&self, _chunk: usize, e: Error) {
        self.slot.set(Err(e));
    }
}

struct MapState<V> {
    chunks: Vec<Option<Vec<V>>>,
    finished: Vec<bool>,
    left: usize,
    error: Option<Error>,
}

/// The sink of `map_async`: every chunk, then the whole list (or the first failure).
struct MapSink<V> {
    slot: Arc<Slot<Vec<V>>>,
    state: Mutex<MapState<V>>,
}

impl<V> MapSink<V> {
    fn complete(&self, chunk: usize, r: Result<Vec<V>>) {
        let mut st = lock(&self.state);
        if chunk >= st.chunks.len() || st.finished[chunk] {
            return;
        }
        st.finished[chunk] = true;
        match r {
            Ok(v) if st.error.is_none() => st.chunks[chunk] = Some(v),
            Ok(_) => {}
            Err(e) => {
                // Only the first failure is kept; the values are released.
                if st.error.is_none() {
                    st.error = Some(e);
                    st.chunks.iter_mut().for_each(|c| *c = None);
                }
            }
        }
        st.left -= 1;
        if st.left > 0 {
            return;
        }
        let result = match st.error.take() {
            Some(e) => Err(e),
            None => {
                let total = st
                    .chunks
                    .iter()
                    .map(|c| c.as_ref().map_or(0, Vec::len))
                    .sum();
                let mut all = Vec::with_capacity(total);
                for c in st.chunks.drain(..) {
                    all.extend(c.unwrap_or_default());
                }
                Ok(all)
            }
        };
        drop(st);
        self.slot.set(result);
    }
}

impl<V: Send> JobSink for MapSink<V> {
    fn fail(&self, chunk: usize, e: Error) {
        self.complete(chunk, Err(e));
    }
}

struct IMapState<V> {
    /// Finished chunks not yet handed to the iterator, by chunk index.
    done: BTreeMap<usize, Result<Vec<V>>>,
    /// Chunks already completed (a terminate may fail a chunk that then finishes).
    completed_set: std::collections::HashSet<usize>,
    total: Option<usize>,
    submitted: usize,
    completed: usize,
    abandoned: bool,
}

/// The sink of `imap` and `imap_unordered`.
struct IMapSink<V> {
    state: Mutex<IMapState<V>>,
    cond: Condvar,
}

impl<V> IMapSink<V> {
    fn new() -> Arc<IMapSink<V>> {
        Arc::new(IMapSink {
            state: Mutex::new(IMapState {
                done: BTreeMap::new(),
                completed_set: std::collections::HashSet::new(),
                total: None,
                submitted: 0,
                completed: 0,
                abandoned: false,
            }),
            cond: Condvar::new(),
        })
    }

    fn complete(&self, chunk: usize, r: Result<Vec<V>>) {
        let mut st = lock(&self.state);
        if !st.completed_set.insert(chunk) {
            return;
        }
        st.completed += 1;
        if !st.abandoned {
            st.done.insert(chunk, r);
        }
        drop(st);
        self.cond.notify_all();
    }

    /// Feeder: waits until fewer than `limit` chunks are outstanding; false if the iterator
    /// is gone.
    fn wait_room(&self, limit: usize) -> bool {
        let mut st = lock(&self.state);
        while !st.abandoned && st.submitted - st.completed >= limit {
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        !st.abandoned
    }

    fn finish(&self, n: usize) {
        lock(&self.state).total = Some(n);
        self.cond.notify_all();
    }

    fn fail_input(&self, i: usize, e: Error) {
        let mut st = lock(&self.state);
        st.done.insert(i, Err(e));
        st.total = Some(i + 1);
        drop(st);
        self.cond.notify_all();
    }
}

impl<V: Send> JobSink for IMapSink<V> {
    fn fail(&self, chunk: usize, e: Error) {
        self.complete(chunk, Err(e));
    }
}

/// The iterator of [`Pool::imap`] and [`Pool::imap_unordered`], with the API of
/// [`mp::IMapIterator`](crate::IMapIterator).
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::new(2)?;
/// let got: Vec<u64> = pool.imap(square, 0..10)?.collect::<mp::Result<_>>()?;
/// assert_eq!(got, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// # Ok(()) }
/// ```
pub struct IMapIterator<V> {
    sink: Arc<IMapSink<V>>,
    ordered: bool,
    next_chunk: usize,
    buf: VecDeque<V>,
    _v: PhantomData<V>,
}

impl<V> fmt::Debug for IMapIterator<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMapIterator")
            .field("ordered", &self.ordered)
            .field("next_chunk", &self.next_chunk)
            .finish()
    }
}

impl<V> IMapIterator<V> {
    fn next_deadline(&mut self, deadline: Option<Instant>) -> Option<Result<V>> {
        loop {
            if let Some(v) = self.buf.pop_front() {
                return Some(Ok(v));
            }
            let mut st = lock(&self.sink.state);
            loop {
                if st.total.is_some_and(|t| self.next_chunk >= t) {
                    return None;
                }
                let key = if self.ordered {
                    st.done
                        .contains_key(&self.next_chunk)
                        .then_some(self.next_chunk)
                } else {
                    st.done.keys().next().copied()
                };
                if let Some(k) = key {
                    let r = st.done.remove(&k);
                    drop(st);
                    self.next_chunk += 1;
                    match r {
                        Some(Ok(v)) => {
                            self.buf.extend(v);
                            break;
                        }
                        Some(Err(e)) => return Some(Err(e)),
                        None => break,
                    }
                }
                match deadline {
                    None => st = self.sink.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d {
                            return Some(Err(timeout_error()));
                        }
                        st = self
                            .sink
                            .cond
                            .wait_timeout(st, d - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        }
    }

    /// The next result, waiting at most `timeout`: Python's `next(timeout)`. `None` at the
    /// end, `Some(Err(e))` with [`ErrorKind::Timeout`] if nothing came in time (ask again).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// #[mp::task]
    /// fn nap(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let mut it = pool.imap(nap, [300])?;
    /// let first = it.next_timeout(Duration::from_millis(1)).unwrap().unwrap_err();
    /// assert_eq!(first.kind(), mp::ErrorKind::Timeout);
    /// assert_eq!(it.next_timeout(Duration::from_secs(60)).unwrap()?, 300);
    /// assert!(it.next_timeout(Duration::from_secs(60)).is_none());
    /// # Ok(()) }
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<V>> {
        self.next_deadline(Instant::now().checked_add(timeout))
    }
}

impl<V> Iterator for IMapIterator<V> {
    type Item = Result<V>;
    fn next(&mut self) -> Option<Result<V>> {
        self.next_deadline(None)
    }
}

impl<V> Drop for IMapIterator<V> {
    fn drop(&mut self) {
        let mut st = lock(&self.sink.state);
        st.abandoned = true;
        st.done.clear();
        drop(st);
        self.sink.cond.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Running,
    Closed,
    Terminated,
}

/// A unit of work: one chunk of one job.
struct Job {
    sink: Arc<dyn JobSink>,
    chunk: usize,
    run: Box<dyn FnOnce(&str) + Send>,
}

/// Runs the initializer in a worker; `Err` breaks the pool.
type Init = Arc<dyn Fn() -> std::result::Result<(), Failure> + Send + Sync>;

struct Config {
    processes: usize,
    maxtasks: Option<usize>,
    init: Option<Init>,
}

struct WorkerRec {
    id: u64,
    thread: ThreadId,
    tid: i32,
}

struct State {
    status: Status,
    jobs: VecDeque<Job>,
    /// The job each worker runs: (worker id, sink, chunk).
    running: Vec<(u64, Arc<dyn JobSink>, usize)>,
    workers: Vec<WorkerRec>,
    /// Threads started and not yet finished.
    alive: usize,
    handles: Vec<JoinHandle<()>>,
    /// Workers sleeping for work.
    idle: usize,
    /// `imap` feeders still submitting.
    feeders: usize,
    broken: Option<String>,
    next_worker: u64,
}

struct Shared {
    cfg: Config,
    state: Mutex<State>,
    /// Workers wait here for jobs.
    work: Condvar,
    /// `join` waits here for workers to finish.
    finished: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Starts a worker thread (the state lock held).
    fn spawn_worker(self: &Arc<Shared>, st: &mut State) -> Result<()> {
        st.next_worker += 1;
        let id = st.next_worker;
        let name = format!("ThreadPoolWorker-{id}");
        let shared = self.clone();
        let n2 = name.clone();
        let h = crate::thread::spawn(&name, move || worker_main(shared, id, n2))
            .map_err(|e| Error::os("cannot start a pool worker thread", e))?;
        st.workers.push(WorkerRec {
            id,
            thread: h.id(),
            tid: 0,
        });
        st.alive += 1;
        st.handles.push(h);
        Ok(())
    }

    fn check_running(&self) -> Result<()> {
        let st = self.lock();
        if st.status != Status::Running {
            return Err(not_running());
        }
        if let Some(msg) = &st.broken {
            return Err(Error::new(ErrorKind::Remote, msg.clone()));
        }
        Ok(())
    }

    fn submit(&self, jobs: Vec<Job>, from_feeder: bool) -> Result<()> {
        let mut st = self.lock();
        match st.status {
            Status::Running => {}
            Status::Closed if from_feeder => {}
            _ => return Err(not_running()),
        }
        if let Some(msg) = &st.broken {
            return Err(Error::new(ErrorKind::Remote, msg.clone()));
        }
        let n = jobs.len();
        st.jobs.extend(jobs);
        let idle = st.idle;
        drop(st);
        if idle > 0 {
            if n == 1 {
                self.work.notify_one();
            } else {
                self.work.notify_all();
            }
        }
        Ok(())
    }

    /// The initializer failed: every job waiting and every later submission fails.
    fn break_pool(&self, msg: String) {
        let mut st = self.lock();
        if st.broken.is_none() {
            st.broken = Some(msg.clone());
        }
        let jobs: Vec<Job> = st.jobs.drain(..).collect();
        drop(st);
        for j in jobs {
            j.sink
                .fail(j.chunk, Error::new(ErrorKind::Remote, msg.clone()));
        }
        self.work.notify_all();
    }

    fn close(&self) {
        let mut st = self.lock();
        if st.status == Status::Running {
            st.status = Status::Closed;
        }
        drop(st);
        self.work.notify_all();
    }

    fn terminate(&self) {
        let mut st = self.lock();
        st.status = Status::Terminated;
        let jobs: Vec<Job> = st.jobs.drain(..).collect();
        let running: Vec<(Arc<dyn JobSink>, usize)> =
            st.running.iter().map(|(_, s, c)| (s.clone(), *c)).collect();
        drop(st);
        self.work.notify_all();
        for j in jobs {
            j.sink.fail(j.chunk, shut_down());
        }
        for (s, c) in running {
            s.fail(c, shut_down());
        }
    }

    fn feeder(&self, delta: isize) {
        let mut st = self.lock();
        st.feeders = st.feeders.saturating_add_signed(delta);
        let last = st.feeders == 0;
        drop(st);
        if last {
            self.work.notify_all();
        }
    }

    fn is_worker(&self, t: ThreadId) -> bool {
        self.lock().workers.iter().any(|w| w.thread == t)
    }
}

/// A worker's loop: runs jobs until the pool closes (or it retires).
fn serve(shared: &Arc<Shared>, id: u64, name: &str) {
    let mut done = 0usize;
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.status == Status::Terminated || st.broken.is_some() {
                    break None;
                }
                if let Some(j) = st.jobs.pop_front() {
                    st.running.push((id, j.sink.clone(), j.chunk));
                    break Some(j);
                }
                if st.status == Status::Closed && st.feeders == 0 {
                    break None;
                }
                st.idle += 1;
                st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
                st.idle -= 1;
            }
        };
        let Some(job) = job else { break };
        (job.run)(name);
        done += 1;
        let mut st = shared.lock();
        st.running.retain(|(w, ..)| *w != id);
        if shared.cfg.maxtasks.is_some_and(|m| done >= m) {
            // Retire: a fresh thread takes this one's place while work may still come.
            let more = st.status == Status::Running
                || (st.status == Status::Closed && (!st.jobs.is_empty() || st.feeders > 0));
            if more && st.broken.is_none() && shared.spawn_worker(&mut st).is_err() {
                st.broken = Some("cannot start a replacement pool worker thread".into());
            }
            break;
        }
    }
}

fn worker_main(shared: Arc<Shared>, id: u64, name: String) {
    install_capture_hook();
    {
        let mut st = shared.lock();
        let tid = crate::sys::gettid() as i32;
        if let Some(w) = st.workers.iter_mut().find(|w| w.id == id) {
            w.tid = tid;
        }
    }
    let mut ok = true;
    if let Some(init) = &shared.cfg.init {
        let progress = Cell::new(0);
        if let Err(f) = capture(&progress, || init()) {
            let loc = f.location.map(|l| format!(" at {l}")).unwrap_or_default();
            shared.break_pool(format!(
                "the pool initializer failed in {name}{loc}: {}; the pool is broken",
                f.message
            ));
            ok = false;
        }
    }
    if ok {
        serve(&shared, id, &name);
    }
    let mut st = shared.lock();
    st.workers.retain(|w| w.id != id);
    st.alive -= 1;
    drop(st);
    shared.finished.notify_all();
}

/// A pool of worker threads: Python's `multiprocessing.pool.ThreadPool`
/// (`multiprocessing.dummy.Pool`), with the API of [`mp::Pool`](crate::Pool).
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::new(4)?;
/// assert_eq!(pool.apply(square, (10,))?, 100);
/// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// pool.close()?;
/// pool.join()?;
/// # Ok(()) }
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.shared.lock().status {
            Status::Running => "RUN",
            Status::Closed => "CLOSE",
            Status::Terminated => "TERMINATE",
        };
        write!(
            f,
            "<ThreadPool state={state} pool_size={}>",
            self.shared.cfg.processes
        )
    }
}

/// Builder for a [`Pool`]: Python's `ThreadPool(processes, initializer, initargs)`, with mp's
/// `maxtasksperchild` too.
///
/// # Examples
///
/// ```
/// static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
///
/// #[mp::task]
/// fn init(text: String) { let _ = TAG.set(text); }
/// #[mp::task]
/// fn tag() -> String { TAG.get().cloned().unwrap_or_default() }
///
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::builder()
///     .processes(2)
///     .initializer(init, ("ready".to_string(),))
///     .maxtasksperchild(100)
///     .build()?;
/// assert_eq!(pool.apply(tag, ())?, "ready");
/// # Ok(()) }
/// ```
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Result<(&'static str, Init)>>,
    maxtasks: Option<usize>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field(
                "initializer",
                &self.init.as_ref().map(|i| i.as_ref().map(|x| x.0).ok()),
            )
            .field("maxtasksperchild", &self.maxtasks)
            .finish()
    }
}

impl PoolBuilder {
    /// The number of worker threads (default: [`cpu_count()`](crate::cpu_count), as
    /// CPython's `ThreadPool`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(3).build()?;
    /// assert_eq!(pool.processes(), 3);
    /// assert!(mp::dummy::Pool::builder().processes(0).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args...)` in each worker thread when it starts: Python's `initializer=f,
    /// initargs=args`. The arguments are encoded once and decoded for each worker (so they
    /// need not be `Clone`); handles inside them (mp's and dummy's) work. If it fails, the
    /// pool is broken: outstanding and later tasks fail with its error.
    ///
    /// # Examples
    ///
    /// See [`PoolBuilder`].
    pub fn initializer<T: Task>(mut self, f: T, args: T::Args) -> Self {
        let _ = f;
        // Decoded once per worker: proxies inside take their own references, the pins keep
        // their objects alive meanwhile.
        let ((encoded, kept), pins) =
            crate::managers::pinning(|| handle::with_encoding(|| args.mp_encode()));
        self.init = Some(encoded.map(|(bytes, fds)| {
            let packet = Packet { bytes, fds, kept };
            let init: Init = Arc::new(move || {
                let _pins = &pins;
                let p = packet.try_clone().map_err(|e| Failure {
                    panicked: false,
                    message: e.to_string(),
                    location: None,
                    index: 0,
                })?;
                let args: T::Args = handle::with_decoding(p.kept, || {
                    <T::Args as Portable>::mp_decode(&p.bytes, p.fds)
                })
                .map_err(|e| Failure {
                    panicked: false,
                    message: e.to_string(),
                    location: None,
                    index: 0,
                })?;
                T::into_value(T::run(args))
                    .map(drop)
                    .map_err(|message| Failure {
                        panicked: false,
                        message,
                        location: None,
                        index: 0,
                    })
            });
            (T::NAME, init)
        }));
        self
    }

    /// How many tasks a worker thread runs before a fresh thread replaces it (mp's
    /// `maxtasksperchild`; a chunk of a `map` counts as one task). Zero is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn tid() -> i32 { mp::dummy::current_process().ident() }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(1).maxtasksperchild(1).build()?;
    /// let a = pool.apply(tid, ())?;
    /// let b = pool.apply(tid, ())?;
    /// assert_ne!(a, b);
    /// assert!(mp::dummy::Pool::builder().maxtasksperchild(0).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasks = Some(n);
        self
    }

    /// Accepted so that code written for `mp` compiles, and ignored: threads have no start
    /// method.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(1).context(mp::get_context("fork")?).build()?;
    /// # drop(pool);
    /// # Ok(()) }
    /// ```
    pub fn context(self, ctx: Context) -> Self {
        let _ = ctx;
        self
    }

    /// Accepted and ignored, as [`context`](PoolBuilder::context).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(1).start_method(mp::StartMethod::Spawn).build()?;
    /// # drop(pool);
    /// # Ok(()) }
    /// ```
    pub fn start_method(self, method: StartMethod) -> Self {
        let _ = method;
        self
    }

    /// Starts the worker threads and returns the pool.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for zero processes or a zero `maxtasksperchild`; the
    /// initializer's arguments failing to encode; a thread failing to start.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().build()?;
    /// assert_eq!(pool.processes(), mp::cpu_count());
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes < 1 {
            return Err(Error::value("Number of processes must be at least 1"));
        }
        if self.maxtasks == Some(0) {
            return Err(Error::value(
                "maxtasksperchild must be a positive int or None",
            ));
        }
        let init = self.init.transpose()?.map(|(_, i)| i);
        let shared = Arc::new(Shared {
            cfg: Config {
                processes,
                maxtasks: self.maxtasks,
                init,
            },
            state: Mutex::new(State {
                status: Status::Running,
                jobs: VecDeque::new(),
                running: Vec::new(),
                workers: Vec::new(),
                alive: 0,
                handles: Vec::new(),
                idle: 0,
                feeders: 0,
                broken: None,
                next_worker: 0,
            }),
            work: Condvar::new(),
            finished: Condvar::new(),
        });
        let pool = Pool { shared };
        {
            let mut st = pool.shared.lock();
            for _ in 0..processes {
                if let Err(e) = pool.shared.spawn_worker(&mut st) {
                    drop(st);
                    pool.shared.terminate();
                    let _ = pool.join();
                    return Err(e);
                }
            }
        }
        crate::logging::debug!("created thread pool of {processes} workers");
        Ok(pool)
    }
}

impl Pool {
    /// A pool of `processes` worker threads: Python's `ThreadPool(processes)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `processes` is 0; a thread failing to start.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(3)?;
    /// assert_eq!(pool.processes(), 3);
    /// assert_eq!(mp::dummy::Pool::new(0).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for the pool's keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`PoolBuilder`].
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            init: None,
            maxtasks: None,
        }
    }

    /// The number of worker threads the pool keeps running.
    ///
    /// # Examples
    ///
    /// See [`Pool::new`].
    pub fn processes(&self) -> usize {
        self.shared.cfg.processes
    }

    /// The kernel thread ids of the current workers (mp's `worker_pids`, for threads).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// assert!(pool.worker_pids().len() <= 2);
    /// # Ok(()) }
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.shared
            .lock()
            .workers
            .iter()
            .filter(|w| w.tid != 0)
            .map(|w| w.tid)
            .collect()
    }

    fn apply_impl<T: Task>(&self, args: T::Args) -> Result<AsyncResult<T::Value>> {
        let slot = Slot::new();
        let s2 = slot.clone();
        let run = Box::new(move |worker: &str| {
            let r = run_chunk::<T>(vec![args]);
            s2.set(match r {
                Ok(mut v) => v
                    .pop()
                    .ok_or_else(|| Error::new(ErrorKind::Runtime, "a pool task returned no value")),
                Err(f) => Err(task_error(T::NAME, worker, f)),
            });
        });
        let job = Job {
            sink: Arc::new(ApplySink { slot: slot.clone() }),
            chunk: 0,
            run,
        };
        self.shared.submit(vec![job], false)?;
        Ok(AsyncResult { slot })
    }

    /// Calls `f(args...)` in a worker thread and waits for the value: Python's
    /// `apply(f, args)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`; the task's panic
    /// or `Err` ([`ErrorKind::Remote`]).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert_eq!(pool.apply(add, (2, 3))?, 5);
    /// # Ok(()) }
    /// ```
    pub fn apply<T: Task>(&self, f: T, args: T::Args) -> Result<T::Value> {
        let _ = f;
        self.apply_impl::<T>(args)?.get()
    }

    /// Submits `f(args...)` and returns at once: Python's `apply_async(f, args)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let results: Vec<_> = (0..4).map(|i| pool.apply_async(square, (i,))).collect::<mp::Result<_>>()?;
    /// let values: Vec<u64> = results.iter().map(|r| r.get()).collect::<mp::Result<_>>()?;
    /// assert_eq!(values, [0, 1, 4, 9]);
    /// # Ok(()) }
    /// ```
    pub fn apply_async<T: Task>(&self, f: T, args: T::Args) -> Result<AsyncResult<T::Value>> {
        let _ = f;
        self.apply_impl::<T>(args)
    }

    fn map_impl<T: Task, A>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        args: fn(A) -> T::Args,
    ) -> Result<AsyncResult<Vec<T::Value>>> {
        if chunksize == Some(0) {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        self.shared.check_running()?;
        let mut items: Vec<T::Args> = {
            let mut n = 0usize;
            let mut v = Vec::new();
            let it = items.into_iter();
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                // An endless input announces `usize::MAX`: reserve no more than a page's worth.
                v.reserve(it.size_hint().0.min(4096));
                for x in it {
                    v.push(args(x));
                    n += 1;
                }
            }));
            if let Err(p) = r {
                return Err(input_panicked(n, p));
            }
            v
        };
        let cs = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes()));
        let nchunks = items.len().div_ceil(cs);
        let slot = Slot::new();
        if nchunks == 0 {
            slot.set(Ok(Vec::new()));
            return Ok(AsyncResult { slot });
        }
        let sink = Arc::new(MapSink {
            slot: slot.clone(),
            state: Mutex::new(MapState {
                chunks: (0..nchunks).map(|_| None).collect(),
                finished: vec![false; nchunks],
                left: nchunks,
                error: None,
            }),
        });
        let mut jobs = Vec::with_capacity(nchunks);
        let mut chunk_index = nchunks;
        // Split from the end so that each chunk is moved out without copying the rest.
        while !items.is_empty() {
            chunk_index -= 1;
            let chunk = items.split_off(chunk_index * cs);
            let s2 = sink.clone();
            let i = chunk_index;
            jobs.push(Job {
                sink: sink.clone(),
                chunk: i,
                run: Box::new(move |worker: &str| {
                    let r = run_chunk::<T>(chunk).map_err(|f| task_error(T::NAME, worker, f));
                    s2.complete(i, r);
                }),
            });
        }
        jobs.reverse();
        self.shared.submit(jobs, false)?;
        Ok(AsyncResult { slot })
    }

    /// Applies `f` to every item and returns the values in order: Python's
    /// `map(f, iterable)`, with CPython's default chunksize `ceil(len / (4 * processes))`;
    /// [`Pool::chunksize`] sets another.
    ///
    /// # Errors
    ///
    /// The first chunk that failed (after every chunk has finished, as in CPython); the input
    /// iterator panicking ([`ErrorKind::Runtime`], nothing is submitted); [`ErrorKind::Value`]
    /// after `close`/`terminate`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let v: Vec<u64> = pool.map(square, 0..100)?;
    /// assert_eq!(v[99], 9801);
    /// assert!(pool.map(square, Vec::new())?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn map<T, A, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task<Args = (A,)>,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.map_impl::<T, A>(iterable, None, |a| (a,))?.get()
    }

    /// [`map`](Pool::map) without waiting: Python's `map_async`.
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map), except the tasks' failures, which [`AsyncResult::get`] returns.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let r = pool.map_async(square, 0..5)?.callback(|v| assert_eq!(v.len(), 5));
    /// assert_eq!(r.get()?, [0, 1, 4, 9, 16]);
    /// # Ok(()) }
    /// ```
    pub fn map_async<T, A, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task<Args = (A,)>,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.map_impl::<T, A>(iterable, None, |a| (a,))
    }

    /// Like [`map`](Pool::map) for a task of several arguments, each item being the argument
    /// tuple: Python's `starmap`.
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// assert_eq!(pool.starmap(mul, [(1, 2), (3, 4)])?, [2, 12]);
    /// # Ok(()) }
    /// ```
    pub fn starmap<T, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task,
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.map_impl::<T, T::Args>(iterable, None, |a| a)?.get()
    }

    /// [`starmap`](Pool::starmap) without waiting: Python's `starmap_async`.
    ///
    /// # Errors
    ///
    /// As [`map_async`](Pool::map_async).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// assert_eq!(pool.starmap_async(mul, vec![(5, 5)])?.get()?, [25]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async<T, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task,
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.map_impl::<T, T::Args>(iterable, None, |a| a)
    }

    fn imap_impl<T, A, I>(
        &self,
        iterable: I,
        chunksize: usize,
        ordered: bool,
        args: fn(A) -> T::Args,
    ) -> Result<IMapIterator<T::Value>>
    where
        T: Task,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        if chunksize == 0 {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        self.shared.check_running()?;
        let sink: Arc<IMapSink<T::Value>> = IMapSink::new();
        let it = IMapIterator {
            sink: sink.clone(),
            ordered,
            next_chunk: 0,
            buf: VecDeque::new(),
            _v: PhantomData,
        };
        let shared = self.shared.clone();
        let limit = 4 * shared.cfg.processes + 8;
        let mut iter = iterable.into_iter();
        shared.feeder(1);
        let spawned = crate::thread::spawn("mp-dummy-pool-feeder", move || {
            let mut i = 0usize;
            let mut taken = 0usize;
            loop {
                if !sink.wait_room(limit) {
                    sink.finish(i);
                    break;
                }
                let mut chunk: Vec<T::Args> = Vec::with_capacity(chunksize.min(1024));
                let r = panic::catch_unwind(AssertUnwindSafe(|| {
                    while chunk.len() < chunksize {
                        match iter.next() {
                            Some(x) => chunk.push(args(x)),
                            None => break,
                        }
                    }
                }));
                if let Err(p) = r {
                    sink.fail_input(i, input_panicked(taken + chunk.len(), p));
                    break;
                }
                if chunk.is_empty() {
                    sink.finish(i);
                    break;
                }
                taken += chunk.len();
                let last = chunk.len() < chunksize;
                let s2 = sink.clone();
                let index = i;
                let job = Job {
                    sink: sink.clone(),
                    chunk: index,
                    run: Box::new(move |worker: &str| {
                        let r = run_chunk::<T>(chunk).map_err(|f| task_error(T::NAME, worker, f));
                        s2.complete(index, r);
                    }),
                };
                lock(&sink.state).submitted += 1;
                if let Err(e) = shared.submit(vec![job], true) {
                    lock(&sink.state).submitted -= 1;
                    sink.fail_input(i, e);
                    break;
                }
                i += 1;
                if last {
                    sink.finish(i);
                    break;
                }
            }
            drop(iter);
            shared.feeder(-1);
        });
        if let Err(e) = spawned {
            self.shared.feeder(-1);
            return Err(Error::os("cannot start the pool feeder thread", e));
        }
        Ok(it)
    }

    /// A lazy [`map`](Pool::map): Python's `imap(f, iterable)`. The iterator yields the values
    /// in order as they come; the input is read on a background thread, a few chunks ahead of
    /// the workers, so it can be long or endless. The default chunksize is 1.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] after `close`/`terminate`. Task failures are items of the iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let mut it = pool.imap(f, 0..)?; // an endless input
    /// assert_eq!(it.next().unwrap()?, 0);
    /// assert_eq!(it.next().unwrap()?, 1);
    /// assert_eq!(it.next_timeout(std::time::Duration::from_secs(30)).unwrap()?, 4);
    /// # Ok(()) }
    /// ```
    pub fn imap<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.imap_impl::<T, A, I>(iterable, 1, true, |a| (a,))
    }

    /// Like [`imap`](Pool::imap), yielding the values in the order they finish: Python's
    /// `imap_unordered`.
    ///
    /// # Errors
    ///
    /// As [`imap`](Pool::imap).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let mut v: Vec<u64> = pool.imap_unordered(f, 0..10)?.collect::<mp::Result<_>>()?;
    /// v.sort();
    /// assert_eq!(v, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// # Ok(()) }
    /// ```
    pub fn imap_unordered<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.imap_impl::<T, A, I>(iterable, 1, false, |a| (a,))
    }

    /// The `map`-family methods with `chunksize` items per task: Python's `chunksize=`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x + 1 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// assert_eq!(pool.chunksize(10).map(f, 0..100)?.len(), 100);
    /// assert!(pool.chunksize(0).map(f, 0..1).is_err());
    /// # Ok(()) }
    /// ```
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_> {
        Chunked {
            pool: self,
            chunksize,
        }
    }

    /// Stops accepting work; the workers exit once the submitted work is done: Python's
    /// `close()`.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// pool.close()?;
    /// let err = pool.map(f, [1]).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Value);
    /// assert_eq!(err.to_string(), "Pool not running");
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> Result<()> {
        crate::logging::debug!("closing thread pool");
        self.shared.close();
        Ok(())
    }

    /// Stops the pool without running the queued work: Python's `terminate()`. Results not
    /// ready yet become [`ErrorKind::ShutDown`] errors at once; tasks already running cannot
    /// be interrupted (threads cannot be killed) and finish in the background.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let running = pool.apply_async(nap, (200,))?;
    /// let queued = pool.apply_async(nap, (200,))?;
    /// pool.terminate()?;
    /// assert_eq!(queued.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// assert_eq!(running.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// pool.join()?; // waits for the running task
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) -> Result<()> {
        crate::logging::debug!("terminating thread pool");
        self.shared.terminate();
        Ok(())
    }

    /// Waits for the worker threads to exit: Python's `join()`. After `close` that is when
    /// every submitted task has finished (and its callbacks have run).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool is still running") before `close` or `terminate`;
    /// [`ErrorKind::Runtime`] from one of the pool's own threads (a callback).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert_eq!(pool.join().unwrap_err().to_string(), "Pool is still running");
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        if self.shared.lock().status == Status::Running {
            return Err(Error::value("Pool is still running"));
        }
        if self.shared.is_worker(std::thread::current().id()) {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot join a pool from one of its own threads (a callback)",
            ));
        }
        crate::logging::debug!("joining thread pool");
        let mut st = self.shared.lock();
        while st.alive > 0 {
            st = self
                .shared
                .finished
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
        let handles = std::mem::take(&mut st.handles);
        drop(st);
        for h in handles {
            let _ = h.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// Terminates the pool, as leaving Python's `with ThreadPool() as p:` does, and waits for
    /// the tasks still running (threads cannot be stopped).
    fn drop(&mut self) {
        self.shared.terminate();
        if !self.shared.is_worker(std::thread::current().id()) {
            let _ = self.join();
        }
    }
}

/// The `map`-family methods of a [`Pool`] with a `chunksize`, from [`Pool::chunksize`].
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn mul(a: u32, b: u32) -> u32 { a * b }
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::new(2)?;
/// assert_eq!(pool.chunksize(2).starmap(mul, [(1, 2), (3, 4), (5, 6)])?, [2, 12, 30]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Chunked<'a> {
    pool: &'a Pool,
    chunksize: usize,
}

impl Chunked<'_> {
    /// [`Pool::map`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::map`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// See [`Pool::chunksize`].
    pub fn map<T, A, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task<Args = (A,)>,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, A>(iterable, Some(self.chunksize), |a| (a,))?
            .get()
    }

    /// [`Pool::map_async`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_async`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u8) -> u8 { x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert!(pool.chunksize(1).map_async(f, Vec::new())?.get()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn map_async<T, A, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task<Args = (A,)>,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, A>(iterable, Some(self.chunksize), |a| (a,))
    }

    /// [`Pool::starmap`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::starmap`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// See [`Chunked`].
    pub fn starmap<T, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task,
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, T::Args>(iterable, Some(self.chunksize), |a| a)?
            .get()
    }

    /// [`Pool::starmap_async`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::starmap_async`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn add(a: u8, b: u8) -> u8 { a + b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert_eq!(pool.chunksize(3).starmap_async(add, [(1, 1), (2, 2)])?.get()?, [2, 4]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async<T, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task,
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, T::Args>(iterable, Some(self.chunksize), |a| a)
    }

    /// [`Pool::imap`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 2 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let v: Vec<u64> = pool.chunksize(100).imap(f, 0..1000)?.collect::<mp::Result<_>>()?;
    /// assert_eq!(v[999], 1998);
    /// # Ok(()) }
    /// ```
    pub fn imap<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.pool
            .imap_impl::<T, A, I>(iterable, self.chunksize, true, |a| (a,))
    }

    /// [`Pool::imap_unordered`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap_unordered`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 2 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let n = pool.chunksize(7).imap_unordered(f, 0..50)?.count();
    /// assert_eq!(n, 50);
    /// # Ok(()) }
    /// ```
    pub fn imap_unordered<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.pool
            .imap_impl::<T, A, I>(iterable, self.chunksize, false, |a| (a,))
    }
}
