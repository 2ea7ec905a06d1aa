//! Synchronization primitives shared between processes and threads: Python's
//! `multiprocessing.synchronize`.
//!
//! | Python | mp |
//! |---|---|
//! | `Lock()`, `RLock()` | [`Lock::new()?`](Lock::new), [`RLock::new()?`](RLock::new) |
//! | `l.acquire()` / `l.acquire(False)` / `l.acquire(timeout=t)` | [`acquire()?`](Lock::acquire) / [`try_acquire()?`](Lock::try_acquire) / [`acquire_timeout(t)?`](Lock::acquire_timeout) |
//! | `l.release()`, `l.locked()` | [`release()?`](Lock::release), [`locked()`](Lock::locked) |
//! | `with l:` | [`let _g = l.lock()?;`](Lock::lock) |
//! | `Semaphore(2)`, `BoundedSemaphore(2)` | [`Semaphore::new(2)?`](Semaphore::new), [`BoundedSemaphore::new(2)?`](BoundedSemaphore::new) |
//! | `s.get_value()` | [`s.get_value()`](Semaphore::get_value) |
//! | `Condition()`, `Condition(lock)` | [`Condition::new()?`](Condition::new), [`Condition::with_lock(lock)?`](Condition::with_lock) |
//! | `c.wait()`, `c.wait(t)`, `c.wait_for(p, t)` | [`wait()?`](Condition::wait), [`wait_timeout(t)?`](Condition::wait_timeout), [`wait_for_timeout(p, t)?`](Condition::wait_for_timeout) |
//! | `c.notify(n)`, `c.notify_all()` | [`notify(n)?`](Condition::notify), [`notify_all()?`](Condition::notify_all) |
//! | `Event()`, `e.set()`, `e.wait(t)` | [`Event::new()?`](Event::new), [`set()`](Event::set), [`wait_timeout(t)`](Event::wait_timeout) |
//! | `Barrier(n, action, timeout)` | [`Barrier::builder(n).action(f).timeout(t).build()?`](Barrier::builder) |
//! | `BrokenBarrierError` | [`ErrorKind::BrokenBarrier`] |
//!
//! Every primitive lives in a block of a shared arena (anonymous shared memory, a `memfd` that
//! holds many objects, as CPython's `multiprocessing.heap`), made of atomics and futexes:
//! thousands of them cost a few descriptors. A handle is cheap to [`Clone`] (another handle to
//! the same primitive, like passing the Python object around), is `Send + Sync`, and can be a
//! task argument under every start method or travel through a
//! [`Connection`](crate::Connection): it serializes as its arena's descriptor (once per
//! message) and its place in it. The primitive lives as long as some process holds a handle to
//! it; then its block is reused. Threads and processes can be mixed freely.
//!
//! # Beyond CPython: dead holders
//!
//! When a process dies (even by `SIGKILL`) while it holds a [`Lock`] or an [`RLock`], CPython
//! leaves everybody else blocked forever. mp notices it: a blocked `acquire` returns
//! [`ErrorKind::OwnerDied`] naming the dead pid, and so does every later acquisition, until
//! somebody calls `recover()` (after checking whatever the lock protected). The same holds for
//! a [`Condition`] (its lock) and a [`Barrier`] whose party died while waiting (the barrier
//! breaks; [`Barrier::reset`] recovers it). A dead holder is noticed after a waiter has slept
//! about 20 ms, so the uncontended paths pay nothing for it.
//!
//! A [`Lock`] may still be released by any thread or process, as in Python: the dead-holder
//! check applies when the process that *acquired* it is gone while it is still locked.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::futex::{self, OwnerDied, RawCondvar, RawMutex};
use crate::shm::{self, BlockWire, pid_alive};
use crate::space::handle::{self, Handle};
use crate::space::{Mem, Processes, Space, Threads};
use crate::task::{Task, TaskRef};

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

/// A state struct that can live at the start of a region.
///
/// # Safety
///
/// The type must be `#[repr(C)]`, made only of atomics (valid for every bit pattern, all-zero
/// included, since other processes write it), at most 64-byte aligned.
unsafe trait SharedState: Sized + Send + Sync {
    const KIND: u32;
    const LAYOUT: u64;
}

/// FNV-1a over a description, for the layout hash of a primitive's state.
const fn layout_hash(desc: &str, size: usize) -> u64 {
    let b = desc.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h ^ (size as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The memory of a primitive (a block of a shared arena, or heap memory, as the space `Sp`
/// says) holding an `S` at offset 0 (and possibly a trailing table).
struct Shared<S, Sp> {
    region: Arc<Mem>,
    /// The state (the start of the memory), cached: an acquire reaches it with one load.
    state: NonNull<S>,
    space: PhantomData<fn() -> Sp>,
}

// SAFETY: `state` points into the memory `region` keeps alive; `S: SharedState` is made of
// atomics, used from any thread or process.
unsafe impl<S: Send + Sync, Sp> Send for Shared<S, Sp> {}
// SAFETY: as above.
unsafe impl<S: Send + Sync, Sp> Sync for Shared<S, Sp> {}

impl<S, Sp> Clone for Shared<S, Sp> {
    fn clone(&self) -> Self {
        Shared {
            region: self.region.clone(),
            state: self.state,
            space: PhantomData,
        }
    }
}

impl<S: SharedState + 'static, Sp: Space> Handle for Shared<S, Sp> {
    fn dup(&self) -> Self {
        self.clone()
    }
}

impl<S: SharedState, Sp: Space> Shared<S, Sp> {
    fn new(extra: usize) -> Result<Self> {
        let len = std::mem::size_of::<S>()
            .checked_add(extra)
            .ok_or_else(|| Error::value("shared object too large"))?;
        let region = Mem::alloc::<Sp>(len, S::KIND, S::LAYOUT)?;
        Ok(Shared::of(region))
    }

    fn of(region: Mem) -> Self {
        let state = NonNull::new(region.data().cast::<S>()).unwrap_or(NonNull::dangling());
        Shared {
            region: Arc::new(region),
            state,
            space: PhantomData,
        }
    }

    fn attach(wire: BlockWire) -> Result<Self> {
        let region = shm::Block::attach(wire, S::KIND, S::LAYOUT)?;
        if region.data_len() < std::mem::size_of::<S>() {
            return Err(Error::value(
                "cannot attach shared memory: it is smaller than its header says",
            ));
        }
        Ok(Shared::of(Mem::Arena(region)))
    }

    #[inline]
    fn get(&self) -> &S {
        // SAFETY: the memory was made (or checked on attach) with room for an `S` at offset
        // 0, 64-byte aligned, and `region` keeps it alive; `SharedState` guarantees any bit
        // pattern is valid.
        unsafe { self.state.as_ref() }
    }

    /// The `i`-th `u32` of the trailing table that starts at `offset`.
    fn word(&self, offset: usize, i: usize) -> Option<&AtomicU32> {
        let at = offset.checked_add(i.checked_mul(4)?)?;
        if at.checked_add(4)? > self.region.data_len() {
            return None;
        }
        // SAFETY: in bounds (checked above), 4-byte aligned (offset is a multiple of 64 and
        // every entry is 4 bytes), and an AtomicU32 is valid for any bit pattern.
        Some(unsafe { &*self.region.data().add(at).cast::<AtomicU32>() })
    }

    fn addr(&self) -> usize {
        self.region.data() as usize
    }
}

/// A process primitive travels as its arena block; a thread primitive as a reference through
/// an in-process transport (`mp::dummy`'s), and nowhere else.
impl<S: SharedState + 'static, Sp: Space> Serialize for Shared<S, Sp> {
    fn serialize<Se: Serializer>(&self, s: Se) -> std::result::Result<Se::Ok, Se::Error> {
        match self.region.block() {
            Some(b) if !Sp::THREADS => b.serialize(s),
            _ => handle::serialize(self, s),
        }
    }
}

impl<'de, S: SharedState + 'static, Sp: Space> Deserialize<'de> for Shared<S, Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        if Sp::THREADS {
            return handle::deserialize(d);
        }
        let wire = BlockWire::deserialize(d)?;
        Shared::attach(wire).map_err(serde::de::Error::custom)
    }
}

/// Python's error for a misuse: `multiprocessing`'s for a process primitive, `threading`'s
/// for a thread one.
fn misuse<Sp: Space>(processes: Error, threads: (ErrorKind, &str)) -> Error {
    if Sp::THREADS {
        Error::new(threads.0, threads.1)
    } else {
        processes
    }
}

/// `now + timeout`, or `None` (wait forever) if that overflows.
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

fn owner_died(what: &str, e: OwnerDied) -> Error {
    Error::new(
        ErrorKind::OwnerDied,
        format!(
            "the process holding the {what} (pid {}) died while holding it; check what it \
             protects, then call `recover()`",
            e.pid
        ),
    )
}

/// How the calling thread appears in a lock's repr: the process name, plus `|thread` off the
/// main thread (CPython's `MainProcess|T1`).
fn me_for_repr<Sp: Space>() -> String {
    if Sp::THREADS {
        // `threading.current_thread().name`.
        return crate::space::thread_name();
    }
    let name = crate::process::info().name();
    let (pid, tid) = futex::ids();
    if pid == tid {
        return name;
    }
    match std::thread::current().name() {
        Some(t) => format!("{name}|{t}"),
        None => format!("{name}|Thread-{tid}"),
    }
}

/// Who holds a mutex, as CPython's lock reprs say it.
fn owner_for_repr<Sp: Space>(m: &RawMutex) -> String {
    if !m.is_locked() {
        return "None".into();
    }
    let (pid, _) = futex::ids();
    match m.owner() {
        Some(o) if o == futex::ids() => me_for_repr::<Sp>(),
        Some((p, _)) if p == pid => "SomeOtherThread".into(),
        Some(_) => "SomeOtherProcess".into(),
        None => "unknown".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Lock
// ---------------------------------------------------------------------------------------------

#[repr(C)]
struct LockState {
    mutex: RawMutex,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for LockState {
    const KIND: u32 = shm::kind::LOCK;
    const LAYOUT: u64 = layout_hash("mp::Lock v1", std::mem::size_of::<LockState>());
}

/// A non-recursive lock: Python's `multiprocessing.Lock`.
///
/// Once a process or thread has acquired it, others block until it is released; any process
/// or thread may release it. Clones are handles to the same lock.
///
/// # Examples
///
/// The program of the Python documentation's "Synchronization between processes": ten processes
/// print under one lock.
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::Lock;
///
/// #[mp::task]
/// fn f(l: Lock, i: i32) -> mp::Result<()> {
///     let _g = l.lock()?;
///     println!("hello world {i}");
///     Ok(())
/// }
///
/// let lock = Lock::new()?;
/// let ps: Vec<_> = (0..10).map(|i| mp::Process::new(f, (lock.clone(), i))).collect();
/// for p in &ps { p.start()?; }
/// for p in &ps { p.join()?; assert_eq!(p.exitcode(), Some(0)); }
/// # Ok(()) }
/// ```
pub type Lock = LockIn<Processes>;

/// A [`Lock`] in the memory space `Sp`: [`Processes`] for `mp::Lock`, [`Threads`] for
/// `mp::dummy::Lock` (see [`crate::space`]).
#[derive(Clone)]
pub struct LockIn<Sp: Space = Processes> {
    shared: Shared<LockState, Sp>,
}

impl<Sp: Space> LockIn<Sp> {
    /// A new, unlocked lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created (out of memory, or of
    /// descriptors when a new arena is needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Ok(LockIn {
            shared: Shared::new(0)?,
        })
    }

    #[inline]
    fn mutex(&self) -> &RawMutex {
        &self.shared.get().mutex
    }

    /// Blocks until the lock is acquired: Python's `acquire()` (which returns `True`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the process holding it died (see [`Lock::recover`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// l.acquire()?;
    /// assert!(l.locked());
    /// l.release()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<()> {
        match self.mutex().try_lock() {
            Ok(true) => Ok(()),
            _ => self.acquire_slow(None).map(drop),
        }
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>) -> Result<bool> {
        self.mutex()
            .lock(deadline)
            .map_err(|e| owner_died("lock", e))
    }

    /// Acquires the lock if it is free, without blocking: Python's `acquire(False)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if a holder died and the lock was not recovered.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// assert!(l.try_acquire()?);
    /// assert!(!l.try_acquire()?); // not recursive
    /// l.release()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<bool> {
        self.mutex().try_lock().map_err(|e| owner_died("lock", e))
    }

    /// Waits at most `timeout` for the lock: Python's `acquire(timeout=t)` (a negative Python
    /// timeout is `Duration::ZERO` here). Returns whether it was acquired.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = mp::Lock::new()?;
    /// l.acquire()?;
    /// assert!(!l.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        if self.try_acquire()? {
            return Ok(true);
        }
        if timeout.is_zero() {
            return Ok(false);
        }
        self.acquire_slow(deadline_after(timeout))
    }

    /// Releases the lock, from any thread or process: Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the lock is not locked (CPython's `ValueError`);
    /// [`ErrorKind::OwnerDied`] if it was abandoned by a dead holder (use `recover`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn release(&self) -> Result<()> {
        let m = self.mutex();
        if let Some(pid) = m.abandoned_by() {
            return Err(owner_died("lock", OwnerDied { pid }));
        }
        if m.unlock() {
            Ok(())
        } else {
            Err(misuse::<Sp>(
                Error::value("semaphore or lock released too many times"),
                (ErrorKind::Runtime, "release unlocked lock"),
            ))
        }
    }

    /// Whether the lock is held (by anyone): Python's `locked()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// let g = l.lock()?;
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.mutex().is_locked()
    }

    /// Acquires the lock and returns a guard that releases it when dropped: Python's
    /// `with lock:`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Lock::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// {
    ///     let _g = l.lock()?;
    ///     assert!(l.locked());
    /// }
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<LockGuard<'_, Sp>> {
        self.acquire()?;
        Ok(LockGuard { lock: self })
    }

    /// The pid of a process that died holding the lock, if the lock is in that state.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// assert_eq!(l.owner_died(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn owner_died(&self) -> Option<i32> {
        self.mutex().abandoned_by()
    }

    /// Makes a lock abandoned by a dead holder usable again (it becomes unlocked). Returns
    /// whether it was abandoned. Call it once whatever the lock protects is consistent again.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// assert!(!l.recover()); // nothing to recover
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn recover(&self) -> bool {
        self.mutex().recover()
    }

    pub(crate) fn is_mine(&self) -> bool {
        self.mutex().held_by_me()
    }
}

impl<Sp: Space> fmt::Debug for LockIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Lock(owner={})>", owner_for_repr::<Sp>(self.mutex()))
    }
}

impl<Sp: Space> Serialize for LockIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shared.serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for LockIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(LockIn {
            shared: Shared::deserialize(d)?,
        })
    }
}

/// Releases a [`Lock`] when dropped. Made by [`Lock::lock`].
///
/// # Examples
///
/// ```
/// let l = mp::Lock::new()?;
/// let g: mp::synchronize::LockGuard<'_> = l.lock()?;
/// drop(g);
/// assert!(!l.locked());
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, Sp: Space = Processes> {
    lock: &'a LockIn<Sp>,
}

impl<Sp: Space> Drop for LockGuard<'_, Sp> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl<Sp: Space> fmt::Debug for LockGuard<'_, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LockGuard").field(self.lock).finish()
    }
}

// ---------------------------------------------------------------------------------------------
// RLock
// ---------------------------------------------------------------------------------------------

#[repr(C)]
struct RLockState {
    mutex: RawMutex,
    count: AtomicU32,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for RLockState {
    const KIND: u32 = shm::kind::RLOCK;
    const LAYOUT: u64 = layout_hash("mp::RLock v1", std::mem::size_of::<RLockState>());
}

/// A recursive lock: Python's `multiprocessing.RLock`.
///
/// The thread (of whatever process) that holds it may acquire it again; it must release it as
/// many times. Only the owner may release it.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::RLock;
///
/// #[mp::task]
/// fn child(l: RLock) -> mp::Result<bool> {
///     Ok(l.locked())
/// }
///
/// let l = RLock::new()?;
/// l.acquire()?;
/// l.acquire()?;
/// assert_eq!(l.count(), 2);
/// let p = mp::Process::new(child, (l.clone(),));
/// p.start()?;
/// p.join()?;
/// l.release()?;
/// l.release()?;
/// assert!(l.release().is_err()); // not held any more
/// # Ok(()) }
/// ```
pub type RLock = RLockIn<Processes>;

/// A [`RLock`] in the memory space `Sp`: [`Processes`] for `mp::RLock`, [`Threads`] for
/// `mp::dummy::RLock` (see [`crate::space`]).
#[derive(Clone)]
pub struct RLockIn<Sp: Space = Processes> {
    shared: Shared<RLockState, Sp>,
}

impl<Sp: Space> RLockIn<Sp> {
    /// A new, unlocked recursive lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Ok(RLockIn {
            shared: Shared::new(0)?,
        })
    }

    #[inline]
    fn st(&self) -> &RLockState {
        self.shared.get()
    }

    #[inline]
    fn reenter(&self) -> Result<bool> {
        let st = self.st();
        if st.mutex.held_by_me() {
            let c = st.count.load(Ordering::Relaxed);
            if c == u32::MAX {
                return Err(Error::new(
                    ErrorKind::Runtime,
                    "RLock acquired too many times (recursion count overflow)",
                ));
            }
            st.count.store(c + 1, Ordering::Relaxed);
            return Ok(true);
        }
        Ok(false)
    }

    #[inline]
    fn took(&self, got: bool) -> bool {
        if got {
            self.st().count.store(1, Ordering::Relaxed);
        }
        got
    }

    /// Blocks until the lock is acquired (at once if this thread holds it): Python's
    /// `acquire()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the process holding it died.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// l.acquire()?;
    /// l.acquire()?;
    /// assert_eq!(l.count(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<()> {
        if self.reenter()? {
            return Ok(());
        }
        let m = &self.st().mutex;
        let got = match m.try_lock() {
            Ok(true) => true,
            _ => m.lock(None).map_err(|e| owner_died("lock", e))?,
        };
        self.took(got);
        Ok(())
    }

    /// Acquires the lock if it is free or held by this thread: Python's `acquire(False)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if a holder died and the lock was not recovered.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// assert!(l.try_acquire()?);
    /// assert!(l.try_acquire()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        if self.reenter()? {
            return Ok(true);
        }
        let got = self
            .st()
            .mutex
            .try_lock()
            .map_err(|e| owner_died("lock", e))?;
        Ok(self.took(got))
    }

    /// Waits at most `timeout` for the lock: Python's `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// assert!(l.acquire_timeout(std::time::Duration::from_millis(1))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        if self.try_acquire()? {
            return Ok(true);
        }
        if timeout.is_zero() {
            return Ok(false);
        }
        let got = self
            .st()
            .mutex
            .lock(deadline_after(timeout))
            .map_err(|e| owner_died("lock", e))?;
        Ok(self.took(got))
    }

    /// Releases one level of recursion: Python's `release()`. The lock is free once it has
    /// been released as many times as it was acquired.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Assertion`] if the calling thread does not hold it (CPython's
    /// `AssertionError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Assertion);
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn release(&self) -> Result<()> {
        let st = self.st();
        if !st.mutex.held_by_me() {
            return Err(misuse::<Sp>(
                Error::assertion("attempt to release recursive lock not owned by thread"),
                (ErrorKind::Runtime, "cannot release un-acquired lock"),
            ));
        }
        let c = st.count.load(Ordering::Relaxed);
        if c > 1 {
            st.count.store(c - 1, Ordering::Relaxed);
        } else {
            st.count.store(0, Ordering::Relaxed);
            st.mutex.unlock();
        }
        Ok(())
    }

    /// Whether the lock is held by anyone.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.st().mutex.is_locked()
    }

    /// The recursion level held by the calling thread (0 if it does not hold the lock):
    /// CPython's `_count()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// let _a = l.lock()?;
    /// let _b = l.lock()?;
    /// assert_eq!(l.count(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn count(&self) -> u32 {
        if self.is_mine() {
            self.st().count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// The recursion depth, whoever holds it (for a manager's repr).
    pub(crate) fn depth(&self) -> u32 {
        self.st().count.load(Ordering::Relaxed)
    }

    /// Whether the calling thread holds the lock: CPython's `_is_mine()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// let _g = l.lock()?;
    /// assert!(l.is_mine());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn is_mine(&self) -> bool {
        self.st().mutex.held_by_me()
    }

    /// Acquires the lock and returns a guard releasing one level when dropped.
    ///
    /// # Errors
    ///
    /// As [`acquire`](RLock::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::RLock::new()?;
    /// let g = l.lock()?;
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<RLockGuard<'_, Sp>> {
        self.acquire()?;
        Ok(RLockGuard { lock: self })
    }

    /// The pid of a process that died holding the lock, if the lock is in that state.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::RLock::new()?.owner_died(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn owner_died(&self) -> Option<i32> {
        self.st().mutex.abandoned_by()
    }

    /// Makes a lock abandoned by a dead holder usable again (unlocked, count 0). Returns
    /// whether it was abandoned.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::RLock::new()?.recover());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn recover(&self) -> bool {
        let st = self.st();
        if st.mutex.abandoned_by().is_none() {
            return false;
        }
        st.count.store(0, Ordering::Relaxed);
        st.mutex.recover()
    }

    /// Releases every level held by this thread; returns the count (Condition::wait).
    fn release_save(&self) -> u32 {
        let st = self.st();
        let c = st.count.swap(0, Ordering::Relaxed);
        st.mutex.unlock();
        c
    }

    fn acquire_restore(&self, count: u32) -> Result<()> {
        let st = self.st();
        st.mutex.lock(None).map_err(|e| owner_died("lock", e))?;
        st.count.store(count.max(1), Ordering::Relaxed);
        Ok(())
    }
}

impl<Sp: Space> fmt::Debug for RLockIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.st();
        let (owner, count) = if self.is_mine() {
            (
                me_for_repr::<Sp>(),
                st.count.load(Ordering::Relaxed).to_string(),
            )
        } else if !st.mutex.is_locked() {
            ("None".to_string(), "0".to_string())
        } else {
            (owner_for_repr::<Sp>(&st.mutex), "nonzero".to_string())
        };
        write!(f, "<RLock({owner}, {count})>")
    }
}

impl<Sp: Space> Serialize for RLockIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shared.serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for RLockIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(RLockIn {
            shared: Shared::deserialize(d)?,
        })
    }
}

/// Releases one level of an [`RLock`] when dropped. Made by [`RLock::lock`].
///
/// # Examples
///
/// ```
/// let l = mp::RLock::new()?;
/// let g: mp::synchronize::RLockGuard<'_> = l.lock()?;
/// drop(g);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a, Sp: Space = Processes> {
    lock: &'a RLockIn<Sp>,
}

impl<Sp: Space> Drop for RLockGuard<'_, Sp> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl<Sp: Space> fmt::Debug for RLockGuard<'_, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RLockGuard").field(self.lock).finish()
    }
}

// ---------------------------------------------------------------------------------------------
// AnyLock: the `lock` argument of Condition, Value and Array
// ---------------------------------------------------------------------------------------------

/// Either kind of lock, where Python accepts "a `Lock` or `RLock` object": the lock of a
/// [`Condition`], of a [`Value`](crate::Value) or an [`Array`](crate::Array).
///
/// # Examples
///
/// ```
/// use mp::synchronize::AnyLock;
/// let l: AnyLock = mp::Lock::new()?.into();
/// let _g = l.lock()?;
/// assert!(l.locked());
/// # Ok::<(), mp::Error>(())
/// ```
pub type AnyLock = AnyLockIn<Processes>;

/// An [`AnyLock`] in the memory space `Sp` (see [`crate::space`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum AnyLockIn<Sp: Space = Processes> {
    /// A [`Lock`].
    Lock(LockIn<Sp>),
    /// An [`RLock`].
    RLock(RLockIn<Sp>),
}

impl<Sp: Space> AnyLockIn<Sp> {
    /// A new [`RLock`], the default lock of Python's `Condition()` and `Value()`.
    ///
    /// # Errors
    ///
    /// As [`RLock::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::synchronize::AnyLock::new_rlock()?;
    /// assert!(matches!(l, mp::synchronize::AnyLock::RLock(_)));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new_rlock() -> Result<Self> {
        RLockIn::new().map(AnyLockIn::RLock)
    }

    /// Blocks until acquired.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::synchronize::AnyLock::new_rlock()?;
    /// l.acquire()?;
    /// l.release()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<()> {
        match self {
            AnyLockIn::Lock(l) => l.acquire(),
            AnyLockIn::RLock(l) => l.acquire(),
        }
    }

    /// Acquires without blocking; returns whether it did.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let l: mp::synchronize::AnyLock = mp::Lock::new()?.into();
    /// assert!(l.try_acquire()?);
    /// assert!(!l.try_acquire()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        match self {
            AnyLockIn::Lock(l) => l.try_acquire(),
            AnyLockIn::RLock(l) => l.try_acquire(),
        }
    }

    /// Waits at most `timeout`; returns whether it acquired the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let l: mp::synchronize::AnyLock = mp::Lock::new()?.into();
    /// assert!(l.acquire_timeout(std::time::Duration::ZERO)?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        match self {
            AnyLockIn::Lock(l) => l.acquire_timeout(timeout),
            AnyLockIn::RLock(l) => l.acquire_timeout(timeout),
        }
    }

    /// Releases (one level of) the lock.
    ///
    /// # Errors
    ///
    /// As [`Lock::release`] or [`RLock::release`].
    ///
    /// # Examples
    ///
    /// ```
    /// let l: mp::synchronize::AnyLock = mp::Lock::new()?.into();
    /// assert!(l.release().is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn release(&self) -> Result<()> {
        match self {
            AnyLockIn::Lock(l) => l.release(),
            AnyLockIn::RLock(l) => l.release(),
        }
    }

    /// Whether the lock is held by anyone.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::synchronize::AnyLock::new_rlock()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        match self {
            AnyLockIn::Lock(l) => l.locked(),
            AnyLockIn::RLock(l) => l.locked(),
        }
    }

    /// Whether the calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::synchronize::AnyLock::new_rlock()?;
    /// let _g = l.lock()?;
    /// assert!(l.is_mine());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn is_mine(&self) -> bool {
        match self {
            AnyLockIn::Lock(l) => l.is_mine(),
            AnyLockIn::RLock(l) => l.is_mine(),
        }
    }

    /// Acquires it and returns a guard that releases it when dropped (Python's `with lock:`).
    ///
    /// # Errors
    ///
    /// As [`acquire`](AnyLockIn::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::synchronize::AnyLock::new_rlock()?;
    /// {
    ///     let _g = l.lock()?;
    ///     assert!(l.locked());
    /// }
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<AnyLockGuard<'_, Sp>> {
        self.acquire()?;
        Ok(AnyLockGuard { lock: self })
    }

    /// Makes a lock abandoned by a dead holder usable again; returns whether it was.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::synchronize::AnyLock::new_rlock()?.recover());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn recover(&self) -> bool {
        match self {
            AnyLockIn::Lock(l) => l.recover(),
            AnyLockIn::RLock(l) => l.recover(),
        }
    }

    /// Whether both are handles on the same lock.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (AnyLockIn::Lock(a), AnyLockIn::Lock(b)) => a.shared.addr() == b.shared.addr(),
            (AnyLockIn::RLock(a), AnyLockIn::RLock(b)) => a.shared.addr() == b.shared.addr(),
            _ => false,
        }
    }

    fn release_save(&self) -> u32 {
        match self {
            AnyLockIn::Lock(l) => {
                l.mutex().unlock();
                1
            }
            AnyLockIn::RLock(l) => l.release_save(),
        }
    }

    fn acquire_restore(&self, count: u32) -> Result<()> {
        match self {
            AnyLockIn::Lock(l) => l.acquire_slow(None).map(drop),
            AnyLockIn::RLock(l) => l.acquire_restore(count),
        }
    }
}

impl<Sp: Space> PartialEq for AnyLockIn<Sp> {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}

impl<Sp: Space> From<LockIn<Sp>> for AnyLockIn<Sp> {
    fn from(l: LockIn<Sp>) -> Self {
        AnyLockIn::Lock(l)
    }
}

impl<Sp: Space> From<RLockIn<Sp>> for AnyLockIn<Sp> {
    fn from(l: RLockIn<Sp>) -> Self {
        AnyLockIn::RLock(l)
    }
}

/// Releases an [`AnyLock`] when dropped. Made by [`AnyLockIn::lock`].
///
/// # Examples
///
/// ```
/// let l = mp::synchronize::AnyLock::new_rlock()?;
/// let g: mp::synchronize::AnyLockGuard<'_> = l.lock()?;
/// drop(g);
/// assert!(!l.locked());
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct AnyLockGuard<'a, Sp: Space = Processes> {
    lock: &'a AnyLockIn<Sp>,
}

impl<Sp: Space> Drop for AnyLockGuard<'_, Sp> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl<Sp: Space> fmt::Debug for AnyLockGuard<'_, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnyLockGuard").field(self.lock).finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore and BoundedSemaphore
// ---------------------------------------------------------------------------------------------

/// The largest value of a semaphore (CPython's `SEM_VALUE_MAX` on Linux).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

#[repr(C)]
struct SemState {
    value: AtomicU32,
    waiters: AtomicU32,
    /// The bound of a BoundedSemaphore, `SEM_VALUE_MAX` otherwise.
    max: AtomicU32,
    /// 1 for a BoundedSemaphore.
    bounded: AtomicU32,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for SemState {
    const KIND: u32 = shm::kind::SEMAPHORE;
    const LAYOUT: u64 = layout_hash("mp::Semaphore v1", std::mem::size_of::<SemState>());
}

const SEM_SPINS: u32 = 64;

/// The engine shared by Semaphore and BoundedSemaphore.
#[derive(Clone)]
struct Sem<Sp> {
    shared: Shared<SemState, Sp>,
}

impl<Sp: Space> Sem<Sp> {
    fn new(value: u32, max: u32, bounded: bool) -> Result<Self> {
        if value > max {
            return Err(Error::value(format!(
                "semaphore initial value {value} is above its maximum {max}"
            )));
        }
        let shared: Shared<SemState, Sp> = Shared::new(0)?;
        let st = shared.get();
        st.value.store(value, Ordering::Relaxed);
        st.max.store(max, Ordering::Relaxed);
        st.bounded.store(bounded as u32, Ordering::Release);
        Ok(Sem { shared })
    }

    fn st(&self) -> &SemState {
        self.shared.get()
    }

    #[inline]
    fn try_dec(&self) -> bool {
        let v = &self.st().value;
        let mut cur = v.load(Ordering::Relaxed);
        while cur > 0 {
            match v.compare_exchange_weak(cur, cur - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    fn acquire(&self, deadline: Option<Instant>) -> bool {
        if self.try_dec() {
            return true;
        }
        for _ in 0..SEM_SPINS {
            std::hint::spin_loop();
            if self.st().value.load(Ordering::Relaxed) > 0 && self.try_dec() {
                return true;
            }
        }
        let st = self.st();
        loop {
            st.waiters.fetch_add(1, Ordering::SeqCst);
            if self.try_dec() {
                st.waiters.fetch_sub(1, Ordering::SeqCst);
                return true;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        st.waiters.fetch_sub(1, Ordering::SeqCst);
                        return false;
                    }
                    Some(d - now)
                }
            };
            futex::wait(&st.value, 0, timeout);
            st.waiters.fetch_sub(1, Ordering::SeqCst);
            if self.try_dec() {
                return true;
            }
        }
    }

    fn release(&self, n: u32) -> Result<()> {
        let st = self.st();
        let max = st.max.load(Ordering::Relaxed);
        let mut cur = st.value.load(Ordering::Relaxed);
        loop {
            let new = match cur.checked_add(n) {
                Some(v) if v <= max => v,
                _ => {
                    return Err(if st.bounded.load(Ordering::Relaxed) != 0 {
                        Error::value(if Sp::THREADS {
                            "Semaphore released too many times"
                        } else {
                            "semaphore or lock released too many times"
                        })
                    } else {
                        Error::value("semaphore value would overflow SEM_VALUE_MAX")
                    });
                }
            };
            match st
                .value
                .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if st.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&st.value, n.min(i32::MAX as u32) as i32);
        }
        Ok(())
    }

    fn value(&self) -> u32 {
        self.st().value.load(Ordering::Relaxed)
    }

    fn attach_checked<E: serde::de::Error>(
        shared: Shared<SemState, Sp>,
        bounded: bool,
    ) -> std::result::Result<Self, E> {
        if (shared.get().bounded.load(Ordering::Acquire) != 0) != bounded {
            return Err(E::custom(if bounded {
                "cannot attach shared memory: it holds a Semaphore, not a BoundedSemaphore"
            } else {
                "cannot attach shared memory: it holds a BoundedSemaphore, not a Semaphore"
            }));
        }
        Ok(Sem { shared })
    }
}

macro_rules! semaphore_common {
    ($ty:ident, $guard:ident, $name:literal) => {
        impl<Sp: Space> $ty<Sp> {
            /// Blocks until the value is above zero, then decrements it: Python's
            /// `acquire()`.
            ///
            /// # Errors
            ///
            /// None today; the `Result` leaves room for the interruption CPython raises on
            /// `SIGINT`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::", $name, "::new(1)?;")]
            /// s.acquire()?;
            /// assert_eq!(s.get_value(), 0);
            /// # Ok::<(), mp::Error>(())
            /// ```
            #[inline]
            pub fn acquire(&self) -> Result<()> {
                self.sem.acquire(None);
                Ok(())
            }

            /// Decrements the value if it is above zero, without blocking: Python's
            /// `acquire(False)`.
            ///
            /// # Errors
            ///
            /// None today (see [`acquire`](Self::acquire)).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::", $name, "::new(1)?;")]
            /// assert!(s.try_acquire()?);
            /// assert!(!s.try_acquire()?);
            /// # Ok::<(), mp::Error>(())
            /// ```
            #[inline]
            pub fn try_acquire(&self) -> Result<bool> {
                Ok(self.sem.try_dec())
            }

            /// Waits at most `timeout` for the value to be above zero: Python's
            /// `acquire(timeout=t)`. Returns whether it acquired.
            ///
            /// # Errors
            ///
            /// None today (see [`acquire`](Self::acquire)).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::", $name, "::new(0)?;")]
            /// assert!(!s.acquire_timeout(std::time::Duration::from_millis(5))?);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                if self.sem.try_dec() {
                    return Ok(true);
                }
                if timeout.is_zero() {
                    return Ok(false);
                }
                Ok(self.sem.acquire(deadline_after(timeout)))
            }

            /// The current value: Python's `get_value()`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::", $name, "::new(2)?;")]
            /// assert_eq!(s.get_value(), 2);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn get_value(&self) -> u32 {
                self.sem.value()
            }

            /// Acquires and returns a guard that releases when dropped: Python's `with s:`.
            ///
            /// # Errors
            ///
            /// As [`acquire`](Self::acquire).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::", $name, "::new(1)?;")]
            /// {
            ///     let _g = s.lock()?;
            ///     assert_eq!(s.get_value(), 0);
            /// }
            /// assert_eq!(s.get_value(), 1);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn lock(&self) -> Result<$guard<'_, Sp>> {
                self.acquire()?;
                Ok($guard { sem: self })
            }
        }

        impl<Sp: Space> Serialize for $ty<Sp> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.sem.shared.serialize(s)
            }
        }

        /// Releases the semaphore when dropped.
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("let s = mp::", $name, "::new(1)?;")]
        /// let g = s.lock()?;
        /// drop(g);
        /// assert_eq!(s.get_value(), 1);
        /// # Ok::<(), mp::Error>(())
        /// ```
        #[must_use = "the semaphore is released as soon as the guard is dropped"]
        pub struct $guard<'a, Sp: Space = Processes> {
            sem: &'a $ty<Sp>,
        }

        impl<Sp: Space> Drop for $guard<'_, Sp> {
            fn drop(&mut self) {
                let _ = self.sem.release();
            }
        }

        impl<Sp: Space> fmt::Debug for $guard<'_, Sp> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($guard)).field(self.sem).finish()
            }
        }
    };
}

/// A counting semaphore: Python's `multiprocessing.Semaphore`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn worker(s: mp::Semaphore) -> mp::Result<()> {
///     let _slot = s.lock()?; // at most two workers inside at once
///     Ok(())
/// }
///
/// let s = mp::Semaphore::new(2)?;
/// let ps: Vec<_> = (0..4).map(|_| mp::Process::new(worker, (s.clone(),))).collect();
/// for p in &ps { p.start()?; }
/// for p in &ps { p.join()?; }
/// assert_eq!(s.get_value(), 2);
/// # Ok(()) }
/// ```
pub type Semaphore = SemaphoreIn<Processes>;

/// A [`Semaphore`] in the memory space `Sp`: [`Processes`] for `mp::Semaphore`, [`Threads`] for
/// `mp::dummy::Semaphore` (see [`crate::space`]).
#[derive(Clone)]
pub struct SemaphoreIn<Sp: Space = Processes> {
    sem: Sem<Sp>,
}

impl<Sp: Space> SemaphoreIn<Sp> {
    /// A semaphore with an initial value (Python's default is 1).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] above [`SEM_VALUE_MAX`]; [`ErrorKind::Os`] if the shared memory
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::Semaphore::new(3)?;
    /// assert_eq!(s.get_value(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: u32) -> Result<Self> {
        Ok(SemaphoreIn {
            sem: Sem::new(value, SEM_VALUE_MAX, false)?,
        })
    }

    /// Increments the value, waking a waiter: Python's `release()`. A plain semaphore may
    /// go above its initial value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] at [`SEM_VALUE_MAX`] (CPython's `OverflowError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::Semaphore::new(2)?;
    /// s.release()?;
    /// assert_eq!(s.get_value(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.sem.release(1)
    }

    /// Increments the value by `n` at once (Python 3.9's `threading.Semaphore.release(n)`).
    ///
    /// # Errors
    ///
    /// As [`release`](Semaphore::release).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::Semaphore::new(0)?;
    /// s.release_n(3)?;
    /// assert_eq!(s.get_value(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release_n(&self, n: u32) -> Result<()> {
        self.sem.release(n)
    }
}

semaphore_common!(SemaphoreIn, SemaphoreGuard, "Semaphore");

impl<Sp: Space> fmt::Debug for SemaphoreIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Semaphore(value={})>", self.get_value())
    }
}

impl<'de, Sp: Space> Deserialize<'de> for SemaphoreIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let shared = Shared::deserialize(d)?;
        Ok(SemaphoreIn {
            sem: Sem::attach_checked(shared, false)?,
        })
    }
}

/// A semaphore that cannot be released above its initial value: Python's
/// `multiprocessing.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// let s = mp::BoundedSemaphore::new(1)?;
/// s.acquire()?;
/// s.release()?;
/// assert_eq!(s.release().unwrap_err().kind(), mp::ErrorKind::Value);
/// # Ok::<(), mp::Error>(())
/// ```
pub type BoundedSemaphore = BoundedSemaphoreIn<Processes>;

/// A [`BoundedSemaphore`] in the memory space `Sp`: [`Processes`] for `mp::BoundedSemaphore`, [`Threads`] for
/// `mp::dummy::BoundedSemaphore` (see [`crate::space`]).
#[derive(Clone)]
pub struct BoundedSemaphoreIn<Sp: Space = Processes> {
    sem: Sem<Sp>,
}

impl<Sp: Space> BoundedSemaphoreIn<Sp> {
    /// A semaphore whose value starts at, and never exceeds, `value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] above [`SEM_VALUE_MAX`]; [`ErrorKind::Os`] if the shared memory
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::BoundedSemaphore::new(2)?;
    /// assert_eq!(s.get_value(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: u32) -> Result<Self> {
        if value > SEM_VALUE_MAX {
            return Err(Error::value("semaphore value above SEM_VALUE_MAX"));
        }
        Ok(BoundedSemaphoreIn {
            sem: Sem::new(value, value, true)?,
        })
    }

    /// Increments the value: Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if that would go above the initial value ("semaphore or lock
    /// released too many times").
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::BoundedSemaphore::new(1)?;
    /// assert!(s.release().is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.sem.release(1)
    }

    /// Releases `n` at once (Python's `release(n)`), or nothing if that would go above the
    /// bound.
    ///
    /// # Errors
    ///
    /// As [`release`](BoundedSemaphoreIn::release).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::BoundedSemaphore::new(2)?;
    /// s.acquire()?;
    /// assert!(s.release_n(2).is_err());
    /// s.release_n(1)?;
    /// assert_eq!(s.get_value(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release_n(&self, n: u32) -> Result<()> {
        self.sem.release(n)
    }

    /// The bound (the initial value).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::BoundedSemaphore::new(4)?.max_value(), 4);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn max_value(&self) -> u32 {
        self.sem.st().max.load(Ordering::Relaxed)
    }
}

semaphore_common!(
    BoundedSemaphoreIn,
    BoundedSemaphoreGuard,
    "BoundedSemaphore"
);

impl<Sp: Space> fmt::Debug for BoundedSemaphoreIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<BoundedSemaphore(value={}, maxvalue={})>",
            self.get_value(),
            self.max_value()
        )
    }
}

impl<'de, Sp: Space> Deserialize<'de> for BoundedSemaphoreIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let shared = Shared::deserialize(d)?;
        Ok(BoundedSemaphoreIn {
            sem: Sem::attach_checked(shared, true)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Condition
// ---------------------------------------------------------------------------------------------

/// How many threads and processes can wait on one Condition at once.
pub const CONDITION_MAX_WAITERS: usize = 1024;

const SLOT_FREE: u32 = 0;
const SLOT_WAITING: u32 = 1;
const SLOT_NOTIFIED: u32 = 2;
const SLOT_CLAIMED: u32 = 3;

#[repr(C)]
struct WaitSlot {
    state: AtomicU32,
    pid: AtomicU32,
    ticket: AtomicU64,
}

#[repr(C)]
struct CondState {
    ticket: AtomicU64,
    /// One past the highest slot ever used (bounds the notifier's scan).
    high: AtomicU32,
    _pad: [AtomicU32; 13],
    slots: [WaitSlot; CONDITION_MAX_WAITERS],
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for CondState {
    const KIND: u32 = shm::kind::CONDITION;
    const LAYOUT: u64 = layout_hash("mp::Condition v1", std::mem::size_of::<CondState>());
}

/// A condition variable: Python's `multiprocessing.Condition`.
///
/// Each waiter has its own slot in shared memory, so [`notify(n)`](Condition::notify) wakes
/// exactly `n` of the threads and processes waiting at that moment (or all of them if fewer),
/// waiters that already timed out are not counted, and no wakeup is left pending for a later
/// waiter. The notifier never waits for the woken (CPython's does), so a waiter killed while
/// waiting cannot block it: the slot of a dead waiter is reclaimed.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::{Condition, Value};
///
/// #[mp::task]
/// fn producer(c: Condition, ready: Value<u32>) -> mp::Result<()> {
///     let _g = c.lock()?;
///     ready.set(1)?;
///     c.notify_all()
/// }
///
/// let c = Condition::new()?;
/// let ready = Value::new(0u32)?;
/// let p = mp::Process::new(producer, (c.clone(), ready.clone()));
/// {
///     let _g = c.lock()?;
///     p.start()?;
///     let ok = c.wait_for_timeout(|| ready.get().unwrap_or(0) == 1, std::time::Duration::from_secs(60))?;
///     assert!(ok);
/// }
/// p.join()?;
/// # Ok(()) }
/// ```
pub type Condition = ConditionIn<Processes>;

/// A [`Condition`] in the memory space `Sp`: [`Processes`] for `mp::Condition`, [`Threads`] for
/// `mp::dummy::Condition` (see [`crate::space`]).
#[derive(Clone)]
pub struct ConditionIn<Sp: Space = Processes> {
    lock: AnyLockIn<Sp>,
    shared: Shared<CondState, Sp>,
}

impl<Sp: Space> ConditionIn<Sp> {
    /// A condition with a new [`RLock`]: Python's `Condition()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// let _g = c.lock()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        ConditionIn::with_lock(RLockIn::new()?)
    }

    /// A condition using `lock` (a [`Lock`] or an [`RLock`]): Python's `Condition(lock)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// let c = mp::Condition::with_lock(l.clone())?;
    /// let _g = c.lock()?;
    /// assert!(l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn with_lock(lock: impl Into<AnyLockIn<Sp>>) -> Result<Self> {
        Ok(ConditionIn {
            lock: lock.into(),
            shared: Shared::new(0)?,
        })
    }

    /// The underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// assert!(matches!(c.get_lock(), mp::synchronize::AnyLock::RLock(_)));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_lock(&self) -> &AnyLockIn<Sp> {
        &self.lock
    }

    /// Acquires the underlying lock: Python's `acquire()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if its holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// c.acquire()?;
    /// c.release()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.lock.acquire()
    }

    /// Acquires the underlying lock without blocking.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if a holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// assert!(c.try_acquire()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        self.lock.try_acquire()
    }

    /// Acquires the underlying lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if its holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// assert!(c.acquire_timeout(std::time::Duration::ZERO)?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.lock.acquire_timeout(timeout)
    }

    /// Releases the underlying lock: Python's `release()`.
    ///
    /// # Errors
    ///
    /// As the lock's `release`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// assert!(c.release().is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.lock.release()
    }

    /// Acquires the underlying lock and returns a guard: Python's `with cond:`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Condition::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// let _g = c.lock()?;
    /// assert!(!c.wait_timeout(std::time::Duration::from_millis(1))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn lock(&self) -> Result<AnyLockGuard<'_, Sp>> {
        self.lock.lock()
    }

    fn st(&self) -> &CondState {
        self.shared.get()
    }

    fn claim_slot(&self) -> Result<usize> {
        let st = self.st();
        let (me, _) = futex::ids();
        for pass in 0..2 {
            for (i, slot) in st.slots.iter().enumerate() {
                if slot
                    .state
                    .compare_exchange(
                        SLOT_FREE,
                        SLOT_CLAIMED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    slot.pid.store(me as u32, Ordering::Relaxed);
                    slot.ticket
                        .store(st.ticket.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
                    st.high.fetch_max(i as u32 + 1, Ordering::AcqRel);
                    slot.state.store(SLOT_WAITING, Ordering::Release);
                    return Ok(i);
                }
            }
            if pass == 0 {
                // Full: reclaim the slots of waiters whose process died.
                for slot in st.slots.iter() {
                    let s = slot.state.load(Ordering::Acquire);
                    let pid = slot.pid.load(Ordering::Relaxed) as i32;
                    if (s == SLOT_WAITING || s == SLOT_NOTIFIED) && pid != me && !pid_alive(pid) {
                        let _ = slot.state.compare_exchange(
                            s,
                            SLOT_FREE,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                    }
                }
            }
        }
        Err(Error::new(
            ErrorKind::Runtime,
            format!(
                "more than {CONDITION_MAX_WAITERS} threads and processes wait on this Condition"
            ),
        ))
    }

    /// `wait` until `deadline`. A wait that [`futex::cancelled`] ends takes the lock back
    /// and returns [`futex::cancelled_error`] (unless a notification arrived first).
    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> Result<bool> {
        if !self.lock.is_mine() {
            return Err(misuse::<Sp>(
                Error::assertion("must acquire() condition before using wait()"),
                (ErrorKind::Runtime, "cannot wait on un-acquired lock"),
            ));
        }
        let i = self.claim_slot()?;
        let slot = &self.st().slots[i];
        let saved = self.lock.release_save();
        let mut cancelled = false;
        let notified = loop {
            if slot.state.load(Ordering::Acquire) == SLOT_NOTIFIED {
                break true;
            }
            if futex::cancelled() {
                match slot.state.compare_exchange(
                    SLOT_WAITING,
                    SLOT_FREE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        cancelled = true;
                        break false;
                    }
                    Err(_) => continue, // notified meanwhile
                }
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        match slot.state.compare_exchange(
                            SLOT_WAITING,
                            SLOT_FREE,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => break false,
                            Err(_) => continue, // notified meanwhile
                        }
                    }
                    Some(d - now)
                }
            };
            futex::wait(&slot.state, SLOT_WAITING, futex::cancel_slice(timeout));
        };
        if notified {
            slot.state.store(SLOT_FREE, Ordering::Release);
        }
        self.lock.acquire_restore(saved)?;
        if cancelled {
            return Err(futex::cancelled_error());
        }
        Ok(notified)
    }

    /// Releases the lock, waits until notified, and re-acquires the lock: Python's `wait()`.
    /// The calling thread must hold the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Assertion`] if the lock is not held by the calling thread;
    /// [`ErrorKind::OwnerDied`] if, while re-acquiring the lock, its holder had died.
    ///
    /// # Examples
    ///
    /// See [`Condition`].
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(None).map(drop)
    }

    /// As [`wait`](Condition::wait), for at most `timeout`: Python's `wait(t)`. Returns
    /// false if it timed out.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// let _g = c.lock()?;
    /// assert!(!c.wait_timeout(std::time::Duration::ZERO)?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_deadline(deadline_after(timeout))
    }

    /// Waits until `predicate()` is true: Python's `wait_for(predicate)`. The predicate is
    /// checked first and after every wakeup, with the lock held.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// let _g = c.lock()?;
    /// c.wait_for(|| true)?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait_deadline(None)?;
        }
        Ok(())
    }

    /// As [`wait_for`](Condition::wait_for), for at most `timeout`: Python's
    /// `wait_for(predicate, t)`. Returns the predicate's last value.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// let _g = c.lock()?;
    /// assert!(!c.wait_for_timeout(|| false, std::time::Duration::from_millis(10))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_for_timeout(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        let deadline = deadline_after(timeout);
        loop {
            if predicate() {
                return Ok(true);
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(false);
                }
            }
            self.wait_deadline(deadline)?;
        }
    }

    /// Wakes `n` of the current waiters (fewer if fewer wait): Python's `notify(n)`. The
    /// calling thread must hold the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Assertion`] if the lock is not held by the calling thread ("lock is not
    /// owned").
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// assert_eq!(c.notify(1).unwrap_err().kind(), mp::ErrorKind::Assertion);
    /// let _g = c.lock()?;
    /// c.notify(1)?; // nobody waits: nothing happens, nothing is left pending
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        if !self.lock.is_mine() {
            return Err(misuse::<Sp>(
                Error::assertion("lock is not owned"),
                (ErrorKind::Runtime, "cannot notify on un-acquired lock"),
            ));
        }
        if n == 0 {
            return Ok(());
        }
        let st = self.st();
        let (me, _) = futex::ids();
        let high = (st.high.load(Ordering::Acquire) as usize).min(CONDITION_MAX_WAITERS);
        let mut waiting: Vec<(u64, usize)> = st.slots[..high]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state.load(Ordering::Acquire) == SLOT_WAITING)
            .map(|(i, s)| (s.ticket.load(Ordering::Relaxed), i))
            .collect();
        waiting.sort_unstable();
        let mut woken = 0;
        for (_, i) in waiting {
            if woken == n {
                break;
            }
            let slot = &st.slots[i];
            let pid = slot.pid.load(Ordering::Relaxed) as i32;
            if pid != me && !pid_alive(pid) {
                let _ = slot.state.compare_exchange(
                    SLOT_WAITING,
                    SLOT_FREE,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                continue;
            }
            if slot
                .state
                .compare_exchange(
                    SLOT_WAITING,
                    SLOT_NOTIFIED,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                futex::wake(&slot.state, 1);
                woken += 1;
            }
        }
        Ok(())
    }

    /// Wakes every current waiter: Python's `notify_all()`.
    ///
    /// # Errors
    ///
    /// As [`notify`](Condition::notify).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::Condition::new()?;
    /// let _g = c.lock()?;
    /// c.notify_all()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

impl<Sp: Space> fmt::Debug for ConditionIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.st();
        let high = (st.high.load(Ordering::Relaxed) as usize).min(CONDITION_MAX_WAITERS);
        let waiting = st.slots[..high]
            .iter()
            .filter(|s| s.state.load(Ordering::Relaxed) == SLOT_WAITING)
            .count();
        write!(f, "<Condition({:?}, {waiting})>", self.lock)
    }
}

impl<Sp: Space> Serialize for ConditionIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.lock, &self.shared).serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for ConditionIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (lock, shared) = <(AnyLockIn<Sp>, Shared<CondState, Sp>)>::deserialize(d)?;
        Ok(ConditionIn { lock, shared })
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

#[repr(C)]
struct EventState {
    flag: AtomicU32,
    waiters: AtomicU32,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for EventState {
    const KIND: u32 = shm::kind::EVENT;
    const LAYOUT: u64 = layout_hash("mp::Event v1", std::mem::size_of::<EventState>());
}

/// A flag that processes can wait for: Python's `multiprocessing.Event`.
///
/// # Examples
///
/// A stop flag: a producer runs until the main program sets the event.
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::Event;
///
/// #[mp::task]
/// fn producer(stop: Event, started: Event) {
///     started.set();
///     while !stop.is_set() {
///         std::thread::yield_now();
///     }
/// }
///
/// let (stop, started) = (Event::new()?, Event::new()?);
/// let p = mp::Process::new(producer, (stop.clone(), started.clone()));
/// p.start()?;
/// assert!(started.wait_timeout(std::time::Duration::from_secs(60)));
/// stop.set();
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(()) }
/// ```
pub type Event = EventIn<Processes>;

/// A [`Event`] in the memory space `Sp`: [`Processes`] for `mp::Event`, [`Threads`] for
/// `mp::dummy::Event` (see [`crate::space`]).
#[derive(Clone)]
pub struct EventIn<Sp: Space = Processes> {
    shared: Shared<EventState, Sp>,
}

impl<Sp: Space> EventIn<Sp> {
    /// A new, unset event.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::Event::new()?.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Ok(EventIn {
            shared: Shared::new(0)?,
        })
    }

    fn st(&self) -> &EventState {
        self.shared.get()
    }

    /// Whether the flag is set: Python's `is_set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// assert!(e.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.st().flag.load(Ordering::Acquire) != 0
    }

    /// Sets the flag and wakes every waiter: Python's `set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// assert!(e.wait_timeout(std::time::Duration::ZERO));
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn set(&self) {
        let st = self.st();
        st.flag.swap(1, Ordering::SeqCst);
        if st.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake_all(&st.flag);
        }
    }

    /// Resets the flag: Python's `clear()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.st().flag.store(0, Ordering::SeqCst);
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let st = self.st();
        loop {
            if self.is_set() {
                return true;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return false;
                    }
                    Some(d - now)
                }
            };
            st.waiters.fetch_add(1, Ordering::SeqCst);
            futex::wait(&st.flag, 0, timeout);
            st.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Blocks until the flag is set: Python's `wait()` (which then returns `True`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// e.wait();
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Waits at most `timeout` for the flag: Python's `wait(t)`. Returns whether it is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// assert!(!e.wait_timeout(std::time::Duration::from_millis(5)));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(deadline_after(timeout))
    }
}

impl<Sp: Space> fmt::Debug for EventIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(f, "<Event at {:#x} {state}>", self.shared.addr())
    }
}

impl<Sp: Space> Serialize for EventIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shared.serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for EventIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(EventIn {
            shared: Shared::deserialize(d)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier
// ---------------------------------------------------------------------------------------------

/// The largest number of parties of a [`Barrier`].
pub const BARRIER_MAX_PARTIES: u32 = 65_535;

const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;

#[repr(C)]
struct BarrierState {
    mutex: RawMutex,
    cond: RawCondvar,
    parties: AtomicU32,
    count: AtomicU32,
    state: AtomicU32,
    /// The pid of a party that died while waiting (reported until `reset`).
    dead: AtomicU32,
    _pad: [AtomicU32; 6],
}

const BARRIER_TABLE: usize = 64;
const _: () = assert!(std::mem::size_of::<BarrierState>() == BARRIER_TABLE);

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for BarrierState {
    const KIND: u32 = shm::kind::BARRIER;
    const LAYOUT: u64 = layout_hash("mp::Barrier v1", std::mem::size_of::<BarrierState>());
}

/// What a [`Barrier`]'s `action` can be: a `#[mp::task]` fn taking nothing and returning
/// nothing, or a [`TaskRef<(), ()>`](TaskRef). Either works in every process, because it is
/// found by name.
pub trait BarrierAction {
    /// The reference to run.
    fn into_task_ref(self) -> TaskRef<(), ()>;
}

impl BarrierAction for TaskRef<(), ()> {
    fn into_task_ref(self) -> TaskRef<(), ()> {
        self
    }
}

impl<T: Task<Args = (), Output = ()>> BarrierAction for T {
    fn into_task_ref(self) -> TaskRef<(), ()> {
        TaskRef::new(self)
    }
}

/// Builder of a [`Barrier`]: Python's `Barrier(parties, action=None, timeout=None)`.
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn all_here() {}
///
/// let b = mp::Barrier::builder(3)
///     .action(all_here)
///     .timeout(std::time::Duration::from_secs(30))
///     .build()?;
/// assert_eq!(b.parties(), 3);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use]
pub struct BarrierBuilder<Sp: Space = Processes> {
    parties: u32,
    action: Option<Action>,
    timeout: Option<Duration>,
    space: PhantomData<fn() -> Sp>,
}

/// A barrier's action: a task (found by name in every process), or, between threads, any
/// closure.
#[derive(Clone)]
enum Action {
    Task(TaskRef<(), ()>),
    Fn(Arc<dyn Fn() + Send + Sync>),
}

impl Action {
    fn run(&self) -> Result<()> {
        match self {
            Action::Task(t) => t.call(()),
            Action::Fn(f) => {
                f();
                Ok(())
            }
        }
    }
}

impl<Sp: Space> fmt::Debug for BarrierBuilder<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuilder")
            .field("parties", &self.parties)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl BarrierBuilder<Threads> {
    /// Like [`action`](BarrierBuilder::action) with any closure (threads share memory, so
    /// the action need not be a registered task; a process barrier has no such method).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let r = rounds.clone();
    /// let b = mp::dummy::Barrier::builder(1)
    ///     .action_fn(move || { r.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// b.wait()?;
    /// b.wait()?;
    /// assert_eq!(rounds.load(Ordering::SeqCst), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn action_fn(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Action::Fn(Arc::new(action)));
        self
    }
}

impl<Sp: Space> BarrierBuilder<Sp> {
    /// Runs `action` once per round, in the last party to arrive, before any is released.
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn action(mut self, action: impl BarrierAction) -> Self {
        self.action = Some(Action::Task(action.into_task_ref()));
        self
    }

    /// The default timeout of [`Barrier::wait`].
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Creates the barrier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] unless `1 <= parties <= 65535`; [`ErrorKind::Os`] if the shared
    /// memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::Barrier::builder(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<BarrierIn<Sp>> {
        if self.parties == 0 || self.parties > BARRIER_MAX_PARTIES {
            return Err(Error::value(format!(
                "parties must be between 1 and {BARRIER_MAX_PARTIES}, not {}",
                self.parties
            )));
        }
        let shared: Shared<BarrierState, Sp> = Shared::new(self.parties as usize * 4)?;
        shared.get().parties.store(self.parties, Ordering::Release);
        Ok(BarrierIn {
            shared,
            parties: self.parties,
            action: self.action,
            timeout: self.timeout,
        })
    }
}

/// A barrier for a fixed number of parties: Python's `multiprocessing.Barrier`.
///
/// Each of `parties` threads or processes calls [`wait`](Barrier::wait); all are released
/// together once the last arrives, and the barrier is ready for the next round.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::Barrier;
///
/// #[mp::task]
/// fn party(b: Barrier) -> mp::Result<usize> {
///     b.wait()
/// }
///
/// let b = Barrier::new(3)?;
/// let ps: Vec<_> = (0..2).map(|_| mp::Process::new(party, (b.clone(),))).collect();
/// for p in &ps { p.start()?; }
/// let index = b.wait()?;
/// assert!(index < 3);
/// for p in &ps { p.join()?; assert_eq!(p.exitcode(), Some(0)); }
/// # Ok(()) }
/// ```
pub type Barrier = BarrierIn<Processes>;

/// A [`Barrier`] in the memory space `Sp`: [`Processes`] for `mp::Barrier`, [`Threads`] for
/// `mp::dummy::Barrier` (see [`crate::space`]).
#[derive(Clone)]
pub struct BarrierIn<Sp: Space = Processes> {
    shared: Shared<BarrierState, Sp>,
    parties: u32,
    action: Option<Action>,
    timeout: Option<Duration>,
}

enum Woke {
    Released,
    Broken,
    Died(i32),
    /// [`futex::cancelled`] ended the wait (the barrier is broken for everybody).
    Cancelled,
}

impl<Sp: Space> BarrierIn<Sp> {
    /// A barrier for `parties` parties, without action or default timeout.
    ///
    /// # Errors
    ///
    /// As [`BarrierBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(1)?;
    /// assert_eq!(b.wait()?, 0);
    /// assert_eq!(b.wait()?, 0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(parties: u32) -> Result<Self> {
        BarrierIn::builder(parties).build()
    }

    /// A builder for the `action` and `timeout` keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn builder(parties: u32) -> BarrierBuilder<Sp> {
        BarrierBuilder {
            parties,
            action: None,
            timeout: None,
            space: PhantomData,
        }
    }

    fn st(&self) -> &BarrierState {
        self.shared.get()
    }

    fn slot(&self, i: u32) -> Option<&AtomicU32> {
        self.shared.word(BARRIER_TABLE, i as usize)
    }

    /// Takes the internal mutex. A process that died inside the (short) critical section
    /// leaves the state unknown: the barrier is broken and the death reported.
    fn enter(&self) {
        let st = self.st();
        if let Err(e) = st.mutex.lock(None) {
            st.mutex.recover();
            // Somebody else may have recovered it first; `lock` then simply waits its turn.
            while st.mutex.lock(None).is_err() {
                st.mutex.recover();
            }
            st.state.store(BROKEN, Ordering::Relaxed);
            st.dead.store(e.pid as u32, Ordering::Relaxed);
            st.cond.notify_all();
        }
    }

    fn leave(&self) {
        self.st().mutex.unlock();
    }

    fn cond_wait(&self, until: Instant) -> bool {
        let st = self.st();
        match st.cond.wait(&st.mutex, Some(until)) {
            Ok(notified) => notified,
            Err(e) => {
                st.mutex.recover();
                while st.mutex.lock(None).is_err() {
                    st.mutex.recover();
                }
                st.state.store(BROKEN, Ordering::Relaxed);
                st.dead.store(e.pid as u32, Ordering::Relaxed);
                st.cond.notify_all();
                true
            }
        }
    }

    /// Removes parties that died while counted. Called with the mutex held.
    fn purge_dead(&self) {
        let st = self.st();
        let (me, _) = futex::ids();
        for i in 0..self.parties {
            let Some(slot) = self.slot(i) else { break };
            let pid = slot.load(Ordering::Relaxed) as i32;
            if pid == 0 || pid == me || pid_alive(pid) {
                continue;
            }
            slot.store(0, Ordering::Relaxed);
            let count = st.count.load(Ordering::Relaxed).saturating_sub(1);
            st.count.store(count, Ordering::Relaxed);
            match st.state.load(Ordering::Relaxed) {
                FILLING => {
                    st.state.store(BROKEN, Ordering::Relaxed);
                    st.dead.store(pid as u32, Ordering::Relaxed);
                    st.cond.notify_all();
                }
                DRAINING | RESETTING if count == 0 => {
                    st.state.store(FILLING, Ordering::Relaxed);
                    st.cond.notify_all();
                }
                _ => {}
            }
        }
    }

    fn broken_error(&self) -> Error {
        match self.st().dead.load(Ordering::Relaxed) {
            0 => Error::new(ErrorKind::BrokenBarrier, "the barrier is broken"),
            pid => Error::new(
                ErrorKind::BrokenBarrier,
                format!(
                    "the barrier is broken: a party (pid {pid}) died while waiting; call reset()"
                ),
            ),
        }
    }

    /// `wait` until `deadline`; a wait that [`futex::cancelled`] ends breaks the barrier and
    /// returns [`futex::cancelled_error`].
    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> Result<usize> {
        self.enter();
        let r = self.wait_locked(deadline);
        self.leave();
        r
    }

    fn wait_locked(&self, deadline: Option<Instant>) -> Result<usize> {
        let st = self.st();
        // Python's `_enter`: wait while the previous round drains or resets.
        let mut interval = futex::FIRST_CHECK;
        while matches!(st.state.load(Ordering::Relaxed), DRAINING | RESETTING) {
            if !self.cond_wait(Instant::now() + interval) {
                self.purge_dead();
                interval = (interval * 2).min(futex::MAX_CHECK);
            }
        }
        if st.state.load(Ordering::Relaxed) == BROKEN {
            return Err(self.broken_error());
        }
        let index = st.count.load(Ordering::Relaxed);
        let (me, _) = futex::ids();
        if let Some(s) = self.slot(index) {
            s.store(me as u32, Ordering::Relaxed);
        }
        st.count.store(index + 1, Ordering::Relaxed);
        let result = if index + 1 == self.parties {
            self.release_round()
        } else {
            match self.wait_round(deadline) {
                Woke::Released => Ok(()),
                Woke::Broken => Err(self.broken_error()),
                Woke::Cancelled => Err(futex::cancelled_error()),
                Woke::Died(pid) => Err(Error::new(
                    ErrorKind::OwnerDied,
                    format!(
                        "a barrier party (pid {pid}) died while waiting; the barrier is broken \
                         until reset()"
                    ),
                )),
            }
        };
        // Python's `finally: count -= 1; _exit()`.
        if let Some(s) = self.slot(index) {
            if s.load(Ordering::Relaxed) == me as u32 {
                s.store(0, Ordering::Relaxed);
            }
        }
        let count = st.count.load(Ordering::Relaxed).saturating_sub(1);
        st.count.store(count, Ordering::Relaxed);
        if count == 0 && matches!(st.state.load(Ordering::Relaxed), DRAINING | RESETTING) {
            st.state.store(FILLING, Ordering::Relaxed);
            st.cond.notify_all();
        }
        result.map(|()| index as usize)
    }

    fn release_round(&self) -> Result<()> {
        let st = self.st();
        if let Some(action) = &self.action {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| action.run()));
            let failure = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(p) => Some(
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into()),
                ),
            };
            if let Some(msg) = failure {
                st.state.store(BROKEN, Ordering::Relaxed);
                st.cond.notify_all();
                return Err(Error::new(
                    ErrorKind::BrokenBarrier,
                    format!("the barrier action failed, the barrier is broken: {msg}"),
                ));
            }
        }
        st.state.store(DRAINING, Ordering::Relaxed);
        st.cond.notify_all();
        Ok(())
    }

    fn wait_round(&self, deadline: Option<Instant>) -> Woke {
        let st = self.st();
        let mut interval = futex::FIRST_CHECK;
        loop {
            match st.state.load(Ordering::Relaxed) {
                FILLING => {}
                DRAINING => return Woke::Released,
                _ => {
                    return match st.dead.load(Ordering::Relaxed) {
                        0 => Woke::Broken,
                        pid => Woke::Died(pid as i32),
                    };
                }
            }
            let now = Instant::now();
            let until = match deadline {
                Some(d) if d <= now => {
                    // Timed out: break the barrier for everybody (Python's `_break`).
                    st.state.store(BROKEN, Ordering::Relaxed);
                    st.cond.notify_all();
                    return Woke::Broken;
                }
                Some(d) => d.min(now + interval),
                None => now + interval,
            };
            let until = futex::cancel_slice(Some(until - now)).map_or(until, |s| now + s);
            if !self.cond_wait(until) {
                if futex::cancelled() {
                    // As a timeout: break the barrier for everybody.
                    st.state.store(BROKEN, Ordering::Relaxed);
                    st.cond.notify_all();
                    return Woke::Cancelled;
                }
                self.purge_dead();
                interval = (interval * 2).min(futex::MAX_CHECK);
            }
        }
    }

    /// Waits for every party: Python's `wait()`. Returns this party's arrival index, in
    /// `0..parties` (all distinct within a round). Uses the default timeout if one was given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] if the barrier is or becomes broken (aborted, reset while
    /// waiting, timed out, action failed); [`ErrorKind::OwnerDied`] if a party died while
    /// waiting (the barrier is then broken until [`reset`](Barrier::reset)).
    ///
    /// # Examples
    ///
    /// See [`Barrier`].
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(self.timeout.and_then(deadline_after))
    }

    /// As [`wait`](Barrier::wait) with a timeout: Python's `wait(t)`. On timeout the barrier
    /// breaks for every party.
    ///
    /// # Errors
    ///
    /// As [`wait`](Barrier::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(2)?;
    /// let e = b.wait_timeout(std::time::Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e.kind(), mp::ErrorKind::BrokenBarrier);
    /// assert!(b.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(deadline_after(timeout))
    }

    /// Puts the barrier back in its initial state; parties waiting get
    /// [`ErrorKind::BrokenBarrier`]: Python's `reset()`. Also recovers a barrier broken by a
    /// dead party.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(2)?;
    /// b.abort();
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn reset(&self) {
        self.enter();
        let st = self.st();
        self.purge_dead();
        if st.count.load(Ordering::Relaxed) > 0 {
            match st.state.load(Ordering::Relaxed) {
                FILLING | BROKEN => st.state.store(RESETTING, Ordering::Relaxed),
                _ => {}
            }
        } else {
            st.state.store(FILLING, Ordering::Relaxed);
        }
        st.dead.store(0, Ordering::Relaxed);
        st.cond.notify_all();
        self.leave();
    }

    /// Breaks the barrier: waiting and arriving parties get [`ErrorKind::BrokenBarrier`]:
    /// Python's `abort()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(2)?;
    /// b.abort();
    /// assert_eq!(b.wait().unwrap_err().kind(), mp::ErrorKind::BrokenBarrier);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn abort(&self) {
        self.enter();
        let st = self.st();
        st.state.store(BROKEN, Ordering::Relaxed);
        st.cond.notify_all();
        self.leave();
    }

    /// The number of parties: Python's `parties`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Barrier::new(5)?.parties(), 5);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn parties(&self) -> usize {
        self.parties as usize
    }

    /// The number of parties currently waiting: Python's `n_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Barrier::new(5)?.n_waiting(), 0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.enter();
        let st = self.st();
        let n = if st.state.load(Ordering::Relaxed) == FILLING {
            st.count.load(Ordering::Relaxed) as usize
        } else {
            0
        };
        self.leave();
        n
    }

    /// Whether the barrier is broken: Python's `broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::Barrier::new(5)?.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn broken(&self) -> bool {
        self.st().state.load(Ordering::Relaxed) == BROKEN
    }

    /// The default timeout given to the builder.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Barrier::new(2)?.timeout(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

impl<Sp: Space> fmt::Debug for BarrierIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.broken() {
            return write!(f, "<Barrier at {:#x}: broken>", self.shared.addr());
        }
        write!(
            f,
            "<Barrier at {:#x}: waiters={}/{}>",
            self.shared.addr(),
            self.n_waiting(),
            self.parties
        )
    }
}

impl<Sp: Space> Handle for BarrierIn<Sp> {
    fn dup(&self) -> Self {
        self.clone()
    }
}

/// A process barrier travels as its block, action and timeout; a thread barrier (whose action
/// may be a closure) as a whole, through an in-process transport.
impl<Sp: Space> Serialize for BarrierIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if Sp::THREADS {
            return handle::serialize(self, s);
        }
        let action = match &self.action {
            None => None,
            Some(Action::Task(t)) => Some(*t),
            Some(Action::Fn(_)) => {
                return Err(serde::ser::Error::custom(
                    "a barrier whose action is a closure stays in its process",
                ));
            }
        };
        (&self.shared, action, self.timeout).serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for BarrierIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        if Sp::THREADS {
            return handle::deserialize(d);
        }
        let (shared, action, timeout) = <(
            Shared<BarrierState, Sp>,
            Option<TaskRef<(), ()>>,
            Option<Duration>,
        )>::deserialize(d)?;
        let parties = shared.get().parties.load(Ordering::Acquire);
        if parties == 0
            || parties > BARRIER_MAX_PARTIES
            || shared.region.data_len() < BARRIER_TABLE + parties as usize * 4
        {
            return Err(D::Error::custom(
                "cannot attach shared memory: the barrier's party table is inconsistent",
            ));
        }
        Ok(BarrierIn {
            shared,
            parties,
            action: action.map(Action::Task),
            timeout,
        })
    }
}
