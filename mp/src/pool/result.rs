//! Typed results: [`AsyncResult`] (Python's `ApplyResult`/`MapResult`) and [`IMapIterator`],
//! the sinks that fill them, and the `imap` feeder loop. Both [`Pool`](super::Pool) and
//! [`dummy::Pool`](crate::dummy::Pool) use them (as CPython's `ThreadPool` uses the process
//! pool's result classes): the process pool's `JobSink` impls (at the end) decode encoded
//! outcomes, the thread pool hands typed values to the same sinks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
#[cfg(feature = "async")]
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::task::Portable;

use super::engine::{JobSink, Outcome};
use crate::error::{Error, ErrorKind, Result};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn decode<V: Portable>(outcome: Outcome) -> Result<Vec<V>> {
    match outcome {
        Outcome::Ok(bytes, fds) => V::mp_decode_seq(&bytes, fds).map_err(|e| {
            Error::new(
                ErrorKind::Serialization,
                format!("cannot decode a pool result: {e}"),
            )
        }),
        Outcome::Err(e) => Err(e),
    }
}

fn timeout_error() -> Error {
    Error::new(ErrorKind::Timeout, "timed out waiting for the result")
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".into())
}

/// The error of an input iterator that panicked at item `index` (`map` and `imap` inputs).
pub(crate) fn input_panicked(index: usize, p: Box<dyn std::any::Any + Send>) -> Error {
    Error::new(
        ErrorKind::Runtime,
        format!(
            "the input iterator panicked at item {index}: {}",
            panic_message(&*p)
        ),
    )
}

/// Spins briefly on `flag` (at most `limit`, never past `deadline`) before the caller sleeps:
/// a pool's answer is often a few microseconds away, less than a sleep and a wake-up.
fn spin_until(flag: &AtomicBool, deadline: Option<Instant>, limit: Duration) -> bool {
    if flag.load(Ordering::Acquire) {
        return true;
    }
    let start = Instant::now();
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
    /// Tasks awaiting the result.
    wakers: Vec<Waker>,
}

/// Where one async result lands (both pools).
///
/// `done` mirrors `state.ready` so that a waiter can spin on it briefly (`spin`) before it
/// sleeps.
pub(crate) struct Slot<T> {
    done: AtomicBool,
    spin: Duration,
    state: Mutex<SlotState<T>>,
    cond: Condvar,
}

fn call_guarded(f: impl FnOnce()) {
    if panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        crate::logging::warning!("a pool callback panicked");
    }
}

impl<T> Slot<T> {
    /// An empty slot whose waiters spin at most `spin` before they sleep.
    pub(crate) fn new(spin: Duration) -> Arc<Slot<T>> {
        Arc::new(Slot {
            done: AtomicBool::new(false),
            spin,
            state: Mutex::new(SlotState {
                value: None,
                ready: false,
                success: None,
                callback: None,
                error_callback: None,
                sleepers: 0,
                wakers: Vec::new(),
            }),
            cond: Condvar::new(),
        })
    }

    /// Delivers the result, only the first time (a terminate racing a completion: the first
    /// wins): callbacks first (as CPython does), then waiters wake.
    pub(crate) fn set(&self, v: Result<T>) {
        let (cb, ecb) = {
            let mut st = lock(&self.state);
            if st.ready || st.success.is_some() {
                return;
            }
            // Claim the slot so that a concurrent `set` is ignored.
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
        let wakers = std::mem::take(&mut st.wakers);
        drop(st);
        if wake {
            self.cond.notify_all();
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Ready once the result is there; otherwise the task is woken when it comes.
    #[cfg(feature = "async")]
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_ready() {
            return Poll::Ready(());
        }
        let mut st = lock(&self.state);
        if st.ready {
            return Poll::Ready(());
        }
        if !st.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            st.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Whether the result is there.
    pub(crate) fn is_ready(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if spin_until(&self.done, deadline, self.spin) {
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

/// The result of [`Pool::apply_async`](super::Pool::apply_async) and
/// [`Pool::map_async`](super::Pool::map_async): Python's `AsyncResult`. The thread pool
/// [`mp::dummy::Pool`](crate::dummy::Pool) returns the same type (as CPython's `ThreadPool`
/// returns the process pool's `ApplyResult`), re-exported as `mp::dummy::AsyncResult`.
///
/// [`get`](AsyncResult::get) hands the value over, so it succeeds once; later calls are a
/// [`ErrorKind::Value`] error. [`ready`](AsyncResult::ready) and
/// [`successful`](AsyncResult::successful) keep working.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = mp::Pool::new(2)?;
/// let r = pool.apply_async(square, (10,))?;
/// assert_eq!(r.get_timeout(std::time::Duration::from_secs(30))?, 100);
/// assert!(r.ready() && r.successful()?);
/// assert_eq!(r.get().unwrap_err().kind(), mp::ErrorKind::Value); // taken already
///
/// // The same type from a thread pool.
/// let threads = mp::dummy::Pool::new(2)?;
/// let r: mp::dummy::AsyncResult<u64> = threads.apply_async(square, (7,))?;
/// assert_eq!(r.get()?, 49);
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

/// `.await` on an [`AsyncResult`] (feature `async`) gives its result, as
/// [`get`](AsyncResult::get) does, without blocking the executor: the pool's result thread
/// wakes the task. The `AsyncResult` is consumed; to keep it, await
/// [`wait_async`](AsyncResult::wait_async) and then call `get`.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "async")]
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// let pool = mp::Pool::new(2)?;
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let (a, b) = rt.block_on(async {
///     let a = pool.apply_async(square, (3,))?;
///     let b = pool.map_async(square, [1, 2])?;
///     Ok::<_, mp::Error>((a.await?, b.await?))
/// })?;
/// assert_eq!((a, b), (9, vec![1, 4]));
/// # Ok(()) }
/// # #[cfg(not(feature = "async"))] fn main() {}
/// ```
#[cfg(feature = "async")]
impl<T> std::future::IntoFuture for AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = ResultFuture<T>;

    fn into_future(self) -> ResultFuture<T> {
        ResultFuture { slot: self.slot }
    }
}

/// The future of an awaited [`AsyncResult`] (feature `async`). Dropping it discards the
/// result when it comes.
#[cfg(feature = "async")]
pub struct ResultFuture<T> {
    slot: Arc<Slot<T>>,
}

#[cfg(feature = "async")]
impl<T> fmt::Debug for ResultFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultFuture")
            .field("ready", &self.slot.is_ready())
            .finish()
    }
}

#[cfg(feature = "async")]
impl<T> std::future::Future for ResultFuture<T> {
    type Output = Result<T>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match self.slot.poll_ready(cx) {
            Poll::Ready(()) => Poll::Ready(self.slot.take()),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(feature = "async")]
impl<T> AsyncResult<T> {
    /// Waits for the result without blocking the executor and without taking it: Python's
    /// `wait()` for async code. [`get`](AsyncResult::get) then returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "async")]
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// let pool = mp::Pool::new(1)?;
    /// let r = pool.apply_async(square, (4,))?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(r.wait_async());
    /// assert!(r.ready());
    /// assert_eq!(r.get()?, 16);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "async"))] fn main() {}
    /// ```
    pub async fn wait_async(&self) {
        std::future::poll_fn(|cx| self.slot.poll_ready(cx)).await
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>) -> AsyncResult<T> {
        AsyncResult { slot }
    }

    /// Waits for the result and returns it: Python's `get()`. A task's panic or `Err` is an
    /// [`ErrorKind::Remote`] error; a worker process that died running it gives
    /// [`ErrorKind::WorkerLost`].
    ///
    /// # Errors
    ///
    /// The task's failure, [`ErrorKind::ShutDown`] after `terminate`, or
    /// [`ErrorKind::Value`] if the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn half(x: u32) -> Result<u32, String> {
    ///     if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
    /// }
    /// let pool = mp::Pool::new(1)?;
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
    /// [`ErrorKind::Timeout`] if the result is not ready in time (it can be asked again), or
    /// what [`get`](AsyncResult::get) returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// let pool = mp::Pool::new(1)?;
    /// let r = pool.apply_async(nap, (2000,))?;
    /// let err = r.get_timeout(std::time::Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Timeout);
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        if !self.slot.wait_deadline(crate::sys::deadline_after(timeout)) {
            return Err(timeout_error());
        }
        self.slot.take()
    }

    /// Waits until the result is ready: Python's `wait()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn one() -> u8 { 1 }
    /// let pool = mp::Pool::new(1)?;
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
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn one() -> u8 { 1 }
    /// let pool = mp::Pool::new(1)?;
    /// let r = pool.apply_async(one, ())?;
    /// assert!(r.wait_timeout(std::time::Duration::from_secs(30)));
    /// # Ok(()) }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.slot.wait_deadline(crate::sys::deadline_after(timeout))
    }

    /// Whether the call has completed, without blocking: Python's `ready()`.
    ///
    /// # Examples
    ///
    /// See [`AsyncResult`].
    pub fn ready(&self) -> bool {
        self.slot.is_ready()
    }

    /// Whether the call completed without error: Python's `successful()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the result is not ready yet (CPython raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// let pool = mp::Pool::new(1)?;
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
    /// pool's result thread ([`mp::Pool`](crate::Pool)) or on the worker thread that finished
    /// the task ([`mp::dummy::Pool`](crate::dummy::Pool)), so it should return quickly, before
    /// waiters wake; if the call has already succeeded it runs now, on this thread (unless
    /// the value was taken by `get`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::sync::{Arc, Mutex};
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let pool = mp::Pool::new(2)?;
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
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::sync::mpsc;
    /// #[mp::task]
    /// fn boom() { panic!("boom") }
    /// let (tx, rx) = mpsc::channel();
    /// let pool = mp::Pool::new(1)?;
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

// ---------------------------------------------------------------------------------------------
// Sinks: where the chunks of a job land, typed (each pool feeds them its own way)
// ---------------------------------------------------------------------------------------------

/// The sink of `apply_async`: one chunk of one item.
pub(crate) struct ApplySink<V> {
    pub(crate) slot: Arc<Slot<V>>,
}

struct MapState<V> {
    chunks: Vec<Option<Vec<V>>>,
    /// Chunks already completed (a terminate may fail a chunk that then finishes).
    finished: Vec<bool>,
    left: usize,
    error: Option<Error>,
}

/// The sink of `map_async`: every chunk, then the whole list (or the first failure).
pub(crate) struct MapSink<V> {
    pub(crate) slot: Arc<Slot<Vec<V>>>,
    state: Mutex<MapState<V>>,
}

impl<V> MapSink<V> {
    pub(crate) fn new(slot: Arc<Slot<Vec<V>>>, nchunks: usize) -> MapSink<V> {
        MapSink {
            slot,
            state: Mutex::new(MapState {
                chunks: (0..nchunks).map(|_| None).collect(),
                finished: vec![false; nchunks],
                left: nchunks,
                error: None,
            }),
        }
    }

    /// Chunk `chunk` finished with `r` (only its first completion counts); the last one sets
    /// the slot.
    pub(crate) fn deliver(&self, chunk: usize, r: Result<Vec<V>>) {
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

struct IMapState<V> {
    /// Finished chunks not yet handed to the iterator, by chunk index.
    done: BTreeMap<usize, Result<Vec<V>>>,
    /// Every chunk below this one has completed.
    completed_below: usize,
    /// Chunks at or above `completed_below` that have completed (a terminate may fail a
    /// chunk that then finishes: its second completion is ignored).
    completed_set: BTreeSet<usize>,
    /// The number of chunks, once the feeder knows it.
    total: Option<usize>,
    submitted: usize,
    completed: usize,
    /// The iterator was dropped: the feeder stops.
    abandoned: bool,
    /// The task awaiting the stream's next item.
    waker: Option<Waker>,
}

impl<V> IMapState<V> {
    /// Records that `chunk` completed; false if it had already.
    fn mark_completed(&mut self, chunk: usize) -> bool {
        if chunk < self.completed_below || !self.completed_set.insert(chunk) {
            return false;
        }
        while self.completed_set.remove(&self.completed_below) {
            self.completed_below += 1;
        }
        true
    }
}

/// The sink of `imap` and `imap_unordered`.
pub(crate) struct IMapSink<V> {
    state: Mutex<IMapState<V>>,
    cond: Condvar,
}

impl<V> IMapSink<V> {
    pub(crate) fn new() -> Arc<IMapSink<V>> {
        Arc::new(IMapSink {
            state: Mutex::new(IMapState {
                done: BTreeMap::new(),
                completed_below: 0,
                completed_set: BTreeSet::new(),
                total: None,
                submitted: 0,
                completed: 0,
                abandoned: false,
                waker: None,
            }),
            cond: Condvar::new(),
        })
    }

    /// Chunk `chunk` finished with `r` (only its first completion counts).
    pub(crate) fn deliver(&self, chunk: usize, r: Result<Vec<V>>) {
        let mut st = lock(&self.state);
        if !st.mark_completed(chunk) {
            return;
        }
        st.completed += 1;
        if !st.abandoned {
            st.done.insert(chunk, r);
        }
        self.notify(st);
    }

    /// Wakes the iterator (a thread or a task) and the feeder, releasing `st`.
    fn notify(&self, mut st: MutexGuard<'_, IMapState<V>>) {
        let waker = st.waker.take();
        drop(st);
        self.cond.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
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

    /// Feeder: the input ended after `n` chunks.
    fn finish(&self, n: usize) {
        let mut st = lock(&self.state);
        st.total = Some(n);
        self.notify(st);
    }

    /// Feeder: the input failed where chunk `i` would start; the iteration ends there.
    fn fail_input(&self, i: usize, e: Error) {
        let mut st = lock(&self.state);
        st.done.insert(i, Err(e));
        st.total = Some(i + 1);
        self.notify(st);
    }
}

/// The loop of an `imap` feeder thread (both pools): reads `iter` in chunks of `chunksize`,
/// at most `limit` chunks ahead of the results, and hands each chunk with its index to
/// `submit`. It ends at the end of the input, when the iterator is dropped, or at the first
/// failure (the input panicking, `submit` failing), which becomes the iteration's last item.
/// `iter` is dropped before it returns.
pub(crate) fn feed<V, C>(
    sink: &IMapSink<V>,
    mut iter: impl Iterator<Item = C>,
    chunksize: usize,
    limit: usize,
    mut submit: impl FnMut(usize, Vec<C>) -> Result<()>,
) {
    let mut i = 0usize;
    let mut taken = 0usize;
    loop {
        if !sink.wait_room(limit) {
            sink.finish(i);
            break;
        }
        let mut chunk = Vec::with_capacity(chunksize.min(1024));
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            while chunk.len() < chunksize {
                match iter.next() {
                    Some(x) => chunk.push(x),
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
        // Counted before it goes (it may complete before `submit` returns).
        lock(&sink.state).submitted += 1;
        if let Err(e) = submit(i, chunk) {
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
}

/// The iterator of [`Pool::imap`](super::Pool::imap) and
/// [`Pool::imap_unordered`](super::Pool::imap_unordered): Python's `IMapIterator`. The thread
/// pool [`mp::dummy::Pool`](crate::dummy::Pool) returns the same type, re-exported as
/// `mp::dummy::IMapIterator`.
///
/// Each item is a `Result`: a task's failure comes at its position (one `Err` in place of
/// the chunk it belongs to) and the iteration goes on after it, as `next()` does in Python.
/// [`next_timeout`](IMapIterator::next_timeout) is Python's `next(timeout)`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// let pool = mp::Pool::new(2)?;
/// let got: Vec<u64> = pool.imap(square, 0..10)?.collect::<mp::Result<_>>()?;
/// assert_eq!(got, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
///
/// // The same type from a thread pool.
/// let threads = mp::dummy::Pool::new(2)?;
/// let it: mp::dummy::IMapIterator<u64> = threads.imap_unordered(square, 0..4)?;
/// let mut got = it.collect::<mp::Result<Vec<u64>>>()?;
/// got.sort();
/// assert_eq!(got, [0, 1, 4, 9]);
/// # Ok(()) }
/// ```
pub struct IMapIterator<V> {
    sink: Arc<IMapSink<V>>,
    ordered: bool,
    /// Next chunk index (ordered) or number of chunks taken (unordered).
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
    pub(crate) fn new(sink: Arc<IMapSink<V>>, ordered: bool) -> IMapIterator<V> {
        IMapIterator {
            sink,
            ordered,
            next_chunk: 0,
            buf: VecDeque::new(),
            _v: PhantomData,
        }
    }

    /// The next answer if one is there without waiting: `Some(None)` at the end.
    fn next_now(&mut self, st: &mut MutexGuard<'_, IMapState<V>>) -> Option<Option<Result<V>>> {
        loop {
            if let Some(v) = self.buf.pop_front() {
                return Some(Some(Ok(v)));
            }
            if st.total.is_some_and(|t| self.next_chunk >= t) {
                return Some(None);
            }
            let key = if self.ordered {
                st.done
                    .contains_key(&self.next_chunk)
                    .then_some(self.next_chunk)
            } else {
                st.done.keys().next().copied()
            }?;
            let r = st.done.remove(&key);
            self.next_chunk += 1;
            match r {
                Some(Ok(v)) => self.buf.extend(v),
                Some(Err(e)) => return Some(Some(Err(e))),
                None => {}
            }
        }
    }

    fn next_deadline(&mut self, deadline: Option<Instant>) -> Option<Result<V>> {
        if let Some(v) = self.buf.pop_front() {
            return Some(Ok(v));
        }
        let sink = Arc::clone(&self.sink);
        let mut st = lock(&sink.state);
        loop {
            if let Some(answer) = self.next_now(&mut st) {
                return answer;
            }
            match deadline {
                None => st = sink.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Some(Err(timeout_error()));
                    }
                    st = sink
                        .cond
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
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
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// #[mp::task]
    /// fn nap(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
    /// let pool = mp::Pool::new(1)?;
    /// let mut it = pool.imap(nap, [1000])?;
    /// let first = it.next_timeout(Duration::from_millis(1)).unwrap().unwrap_err();
    /// assert_eq!(first.kind(), mp::ErrorKind::Timeout);
    /// assert_eq!(it.next_timeout(Duration::from_secs(60)).unwrap()?, 1000);
    /// assert!(it.next_timeout(Duration::from_secs(60)).is_none());
    /// # Ok(()) }
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<V>> {
        self.next_deadline(crate::sys::deadline_after(timeout))
    }
}

impl<V> Iterator for IMapIterator<V> {
    type Item = Result<V>;
    fn next(&mut self) -> Option<Result<V>> {
        self.next_deadline(None)
    }
}

// Nothing of the iterator is pinned structurally (the stream moves its items out by value).
impl<V> Unpin for IMapIterator<V> {}

/// The results as a [`Stream`](futures_core::Stream) (feature `async`): the same items as the
/// iterator, awaited without blocking the executor. Dropping the stream ends the job's feeding
/// as dropping the iterator does; results not yet yielded are discarded.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// let pool = mp::Pool::new(2)?;
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let got = rt.block_on(async {
///     let mut stream = pool.imap(square, 0..5)?;
///     let mut got = Vec::new();
///     while let Some(x) = std::future::poll_fn(|cx| {
///         futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
///     })
///     .await
///     {
///         got.push(x?);
///     }
///     Ok::<_, mp::Error>(got)
/// })?;
/// assert_eq!(got, [0, 1, 4, 9, 16]);
/// # Ok(()) }
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// ```
#[cfg(feature = "async")]
impl<V> futures_core::Stream for IMapIterator<V> {
    type Item = Result<V>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<V>>> {
        let this = self.get_mut();
        if let Some(v) = this.buf.pop_front() {
            return Poll::Ready(Some(Ok(v)));
        }
        let sink = Arc::clone(&this.sink);
        let mut st = lock(&sink.state);
        match this.next_now(&mut st) {
            Some(answer) => Poll::Ready(answer),
            None => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
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
// The process pool's sinks: encoded outcomes, decoded here
// ---------------------------------------------------------------------------------------------

impl<V: Portable> JobSink for ApplySink<V> {
    fn complete(&self, _chunk: usize, outcome: Outcome) {
        let v = decode::<V>(outcome).and_then(|mut v| {
            v.pop()
                .ok_or_else(|| Error::new(ErrorKind::Serialization, "a pool result arrived empty"))
        });
        self.slot.set(v);
    }
}

impl<V: Portable> JobSink for MapSink<V> {
    fn complete(&self, chunk: usize, outcome: Outcome) {
        self.deliver(chunk, decode::<V>(outcome));
    }
}

impl<V: Portable> JobSink for IMapSink<V> {
    fn complete(&self, chunk: usize, outcome: Outcome) {
        self.deliver(chunk, decode::<V>(outcome));
    }
}

// ---------------------------------------------------------------------------------------------
// The executors' view of the sinks
// ---------------------------------------------------------------------------------------------

/// A sink as the executors see it: the process engine completes chunks with encoded
/// outcomes ([`JobSink`]), the thread engine with values; either fails them.
pub trait Sink<V>: JobSink + Fail + 'static {
    /// Delivers a chunk's values (or its failure).
    fn deliver_values(&self, chunk: usize, r: Result<Vec<V>>);
}

/// Fails a chunk: what a terminate does to the chunks it cancels (untyped).
pub trait Fail: Send + Sync {
    fn fail(&self, chunk: usize, e: Error);
}

impl<V: Portable> Sink<V> for ApplySink<V> {
    fn deliver_values(&self, _chunk: usize, r: Result<Vec<V>>) {
        self.slot.set(r.and_then(|mut v| {
            v.pop()
                .ok_or_else(|| Error::new(ErrorKind::Runtime, "a pool task returned no value"))
        }));
    }
}

impl<V: Portable> Sink<V> for MapSink<V> {
    fn deliver_values(&self, chunk: usize, r: Result<Vec<V>>) {
        self.deliver(chunk, r);
    }
}

impl<V: Portable> Sink<V> for IMapSink<V> {
    fn deliver_values(&self, chunk: usize, r: Result<Vec<V>>) {
        self.deliver(chunk, r);
    }
}

impl<V: Send> Fail for ApplySink<V> {
    fn fail(&self, _chunk: usize, e: Error) {
        self.slot.set(Err(e));
    }
}

impl<V: Send> Fail for MapSink<V> {
    fn fail(&self, chunk: usize, e: Error) {
        self.deliver(chunk, Err(e));
    }
}

impl<V: Send> Fail for IMapSink<V> {
    fn fail(&self, chunk: usize, e: Error) {
        self.deliver(chunk, Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imap_chunk_completes_once() {
        let sink = IMapSink::<u8>::new();
        sink.deliver(1, Ok(vec![1]));
        sink.deliver(1, Err(Error::value("late")));
        sink.deliver(0, Ok(vec![0]));
        sink.deliver(0, Err(Error::value("late")));
        sink.deliver(1, Err(Error::value("late")));
        let st = lock(&sink.state);
        assert_eq!(st.completed, 2);
        // The record of completed chunks does not grow with the stream.
        assert_eq!(st.completed_below, 2);
        assert!(st.completed_set.is_empty());
        assert!(matches!(st.done.get(&0), Some(Ok(v)) if v == &[0]));
        assert!(matches!(st.done.get(&1), Some(Ok(v)) if v == &[1]));
    }

    #[test]
    fn a_map_chunk_completes_once() {
        let slot = Slot::new(Duration::ZERO);
        let sink = MapSink::<u8>::new(slot.clone(), 2);
        sink.deliver(0, Ok(vec![1, 2]));
        sink.deliver(0, Err(Error::value("late")));
        assert!(!slot.is_ready());
        sink.deliver(1, Ok(vec![3]));
        assert_eq!(AsyncResult::new(slot).get().unwrap(), [1, 2, 3]);
    }

    #[test]
    fn the_first_set_wins_and_get_takes_the_value() {
        let slot = Slot::new(Duration::ZERO);
        slot.set(Ok(1u8));
        slot.set(Err(Error::value("terminated")));
        let r = AsyncResult::new(slot);
        assert!(r.successful().unwrap());
        assert_eq!(r.get().unwrap(), 1);
        assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Value);
        assert!(r.ready());
    }
}
