//! Typed results: [`AsyncResult`] (Python's `ApplyResult`/`MapResult`) and [`IMapIterator`],
//! and the sinks the pool thread feeds them through.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::engine::{JobSink, Outcome};
use crate::error::{Error, ErrorKind, Result};
use crate::reduction;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn decode<V: DeserializeOwned>(outcome: Outcome) -> Result<Vec<V>> {
    match outcome {
        Outcome::Ok(bytes, fds) => reduction::decode::<Vec<V>>(&bytes, fds).map_err(|e| {
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

/// Spins briefly on `flag` before the caller sleeps: a pool reply is often microseconds away.
fn spin_until(flag: &AtomicBool) -> bool {
    let start = Instant::now();
    let mut i = 0u32;
    loop {
        if flag.load(Ordering::Acquire) {
            return true;
        }
        i += 1;
        if i % 64 == 0 {
            if start.elapsed() > Duration::from_micros(30) {
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
    success: Option<bool>,
    taken: bool,
    callback: Option<Callback<T>>,
    error_callback: Option<ErrorCallback>,
}

/// Where one async result lands.
pub(super) struct Slot<T> {
    ready: AtomicBool,
    state: Mutex<SlotState<T>>,
    cond: Condvar,
}

fn call_guarded(f: impl FnOnce()) {
    if panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        crate::logging::warning!("a pool callback panicked");
    }
}

impl<T> Slot<T> {
    pub(super) fn new() -> Arc<Slot<T>> {
        Arc::new(Slot {
            ready: AtomicBool::new(false),
            state: Mutex::new(SlotState {
                value: None,
                success: None,
                taken: false,
                callback: None,
                error_callback: None,
            }),
            cond: Condvar::new(),
        })
    }

    /// Delivers the result: callbacks first (as CPython does), then waiters wake.
    pub(super) fn set(&self, v: Result<T>) {
        let (cb, ecb) = {
            let mut st = lock(&self.state);
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
        st.success = Some(v.is_ok());
        st.value = Some(v);
        self.ready.store(true, Ordering::Release);
        drop(st);
        self.cond.notify_all();
    }

    /// Whether the result is there.
    pub(super) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.ready.load(Ordering::Acquire) || spin_until(&self.ready) {
            return true;
        }
        let mut st = lock(&self.state);
        while !self.ready.load(Ordering::Acquire) {
            match deadline {
                None => st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    st = self
                        .cond
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        true
    }

    fn take(&self) -> Result<T> {
        let mut st = lock(&self.state);
        match st.value.take() {
            Some(v) => {
                st.taken = true;
                v
            }
            None => Err(Error::value(
                "the result was already taken by an earlier get()",
            )),
        }
    }
}

/// The result of [`Pool::apply_async`](super::Pool::apply_async) and
/// [`Pool::map_async`](super::Pool::map_async): Python's `AsyncResult`.
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
    pub(super) fn new(slot: Arc<Slot<T>>) -> AsyncResult<T> {
        AsyncResult { slot }
    }

    /// Waits for the result and returns it: Python's `get()`. A task's panic or `Err` is an
    /// [`ErrorKind::Remote`] error; a worker that died running it gives
    /// [`ErrorKind::WorkerLost`].
    ///
    /// # Errors
    ///
    /// The task's failure, or [`ErrorKind::Value`] if the value was already taken.
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
        self.slot.ready.load(Ordering::Acquire)
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
        if !self.ready() {
            return Err(Error::value(
                "the result is not ready: successful() needs a finished call",
            ));
        }
        Ok(lock(&self.slot.state).success.unwrap_or(false))
    }

    /// Runs `f` with the value when the call succeeds: Python's `callback=`. It runs on the
    /// pool's result thread (so it should return quickly), before waiters wake; if the call
    /// has already succeeded it runs now, on this thread (unless the value was taken by `get`).
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
        if self.slot.ready.load(Ordering::Acquire) {
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
        if self.slot.ready.load(Ordering::Acquire) {
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
// Sinks
// ---------------------------------------------------------------------------------------------

/// The sink of `apply_async`: one chunk of one item.
pub(super) struct ApplySink<V> {
    pub(super) slot: Arc<Slot<V>>,
}

impl<V: DeserializeOwned + Send> JobSink for ApplySink<V> {
    fn complete(&self, _chunk: usize, outcome: Outcome) {
        let v = decode::<V>(outcome).and_then(|mut v| {
            v.pop()
                .ok_or_else(|| Error::new(ErrorKind::Serialization, "a pool result arrived empty"))
        });
        self.slot.set(v);
    }
}

struct MapState<V> {
    chunks: Vec<Option<Vec<V>>>,
    left: usize,
    error: Option<Error>,
}

/// The sink of `map_async`: every chunk, then the whole list (or the first failure).
pub(super) struct MapSink<V> {
    pub(super) slot: Arc<Slot<Vec<V>>>,
    state: Mutex<MapState<V>>,
}

impl<V> MapSink<V> {
    pub(super) fn new(slot: Arc<Slot<Vec<V>>>, nchunks: usize) -> MapSink<V> {
        MapSink {
            slot,
            state: Mutex::new(MapState {
                chunks: (0..nchunks).map(|_| None).collect(),
                left: nchunks,
                error: None,
            }),
        }
    }
}

impl<V: DeserializeOwned + Send> JobSink for MapSink<V> {
    fn complete(&self, chunk: usize, outcome: Outcome) {
        let r = decode::<V>(outcome);
        let mut st = lock(&self.state);
        if st.left == 0 || chunk >= st.chunks.len() {
            return;
        }
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
    /// The number of chunks, once the feeder knows it.
    total: Option<usize>,
    submitted: usize,
    completed: usize,
    /// The iterator was dropped: the feeder stops.
    abandoned: bool,
}

/// The sink of `imap` and `imap_unordered`.
pub(super) struct IMapSink<V> {
    state: Mutex<IMapState<V>>,
    cond: Condvar,
}

impl<V> IMapSink<V> {
    pub(super) fn new() -> Arc<IMapSink<V>> {
        Arc::new(IMapSink {
            state: Mutex::new(IMapState {
                done: BTreeMap::new(),
                total: None,
                submitted: 0,
                completed: 0,
                abandoned: false,
            }),
            cond: Condvar::new(),
        })
    }

    /// Feeder: waits until fewer than `limit` chunks are running; false if the iterator is gone.
    pub(super) fn wait_room(&self, limit: usize) -> bool {
        let mut st = lock(&self.state);
        while !st.abandoned && st.submitted - st.completed >= limit {
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        !st.abandoned
    }

    /// Feeder: chunk `i` went to the pool.
    pub(super) fn submitted(&self) {
        lock(&self.state).submitted += 1;
    }

    /// Feeder: the input ended after `n` chunks.
    pub(super) fn finish(&self, n: usize) {
        lock(&self.state).total = Some(n);
        self.cond.notify_all();
    }

    /// Feeder: the input failed where chunk `i` would start; the iteration ends there.
    pub(super) fn fail_input(&self, i: usize, e: Error) {
        let mut st = lock(&self.state);
        st.done.insert(i, Err(e));
        st.total = Some(i + 1);
        drop(st);
        self.cond.notify_all();
    }
}

impl<V: DeserializeOwned + Send> JobSink for IMapSink<V> {
    fn complete(&self, chunk: usize, outcome: Outcome) {
        let r = decode::<V>(outcome);
        let mut st = lock(&self.state);
        st.completed += 1;
        if !st.abandoned {
            st.done.insert(chunk, r);
        }
        drop(st);
        self.cond.notify_all();
    }
}

/// The iterator of [`Pool::imap`](super::Pool::imap) and
/// [`Pool::imap_unordered`](super::Pool::imap_unordered): Python's `IMapIterator`.
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
    pub(super) fn new(sink: Arc<IMapSink<V>>, ordered: bool) -> IMapIterator<V> {
        IMapIterator {
            sink,
            ordered,
            next_chunk: 0,
            buf: VecDeque::new(),
            _v: PhantomData,
        }
    }

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

impl<V> Drop for IMapIterator<V> {
    fn drop(&mut self) {
        let mut st = lock(&self.sink.state);
        st.abandoned = true;
        st.done.clear();
        drop(st);
        self.sink.cond.notify_all();
    }
}
