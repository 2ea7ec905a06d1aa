//! Thread synchronization primitives with the API of [`mp::synchronize`](crate::synchronize):
//! Python's `threading` objects that `multiprocessing.dummy` re-exports.
//!
//! Same names, same methods, same return values as mp's process-shared primitives, with
//! `threading`'s semantics where they differ (CPython's `WithThreads` tests assert them):
//!
//! | operation | `mp` (processes) | `mp::dummy` (threads) |
//! |---|---|---|
//! | `Lock::release` of an unlocked lock | [`ErrorKind::Value`] | [`ErrorKind::Runtime`] |
//! | `RLock::release` by a thread that does not hold it | [`ErrorKind::Assertion`] | [`ErrorKind::Runtime`] |
//! | `Condition::wait`/`notify` without the lock | [`ErrorKind::Assertion`] | [`ErrorKind::Runtime`] |
//! | a holder that dies | [`ErrorKind::OwnerDied`] | cannot happen (a thread that panics releases its guards) |
//!
//! They are built on `std::sync` and atomics: no descriptor, no shared memory. Handles are
//! cheap to [`Clone`] (another handle on the same object), `Send + Sync`, and serialize only
//! through `mp::dummy` transports (see [`mp::dummy`](crate::dummy)).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::handle::{Handle, handle_serde, thread_token};
use crate::error::{Error, ErrorKind, Result};
use crate::task::{Task, TaskRef};

pub use crate::synchronize::{BARRIER_MAX_PARTIES, SEM_VALUE_MAX};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Brief spinning before sleeping: a lock is often released within a microsecond.
const SPINS: u32 = 64;

// ---------------------------------------------------------------------------------------------
// RawLock: the engine of Lock and RLock
// ---------------------------------------------------------------------------------------------

/// A lock word holding the owner's thread token (0: unlocked), with a mutex and condvar for
/// the waiters. Uncontended acquire and release are one atomic operation each.
struct RawLock {
    owner: AtomicU64,
    waiters: AtomicUsize,
    m: Mutex<()>,
    cv: Condvar,
}

impl RawLock {
    fn new() -> RawLock {
        RawLock {
            owner: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            m: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    #[inline]
    fn try_lock(&self, me: u64) -> bool {
        self.owner
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// Acquires as `me`; false if `deadline` passed first.
    fn lock(&self, me: u64, deadline: Option<Instant>) -> bool {
        if self.try_lock(me) {
            return true;
        }
        for _ in 0..SPINS {
            std::hint::spin_loop();
            if self.owner.load(Ordering::Relaxed) == 0 && self.try_lock(me) {
                return true;
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut g = lock(&self.m);
        let got = loop {
            if self.try_lock(me) {
                break true;
            }
            match deadline {
                None => g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    g = self
                        .cv
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(g);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        got
    }

    /// Unlocks; false if it was not locked.
    #[inline]
    fn unlock(&self) -> bool {
        if self.owner.swap(0, Ordering::SeqCst) == 0 {
            return false;
        }
        if self.waiters.load(Ordering::SeqCst) > 0 {
            drop(lock(&self.m));
            self.cv.notify_one();
        }
        true
    }

    fn is_locked(&self) -> bool {
        self.owner.load(Ordering::Relaxed) != 0
    }

    fn held_by(&self, me: u64) -> bool {
        self.owner.load(Ordering::Relaxed) == me
    }
}

/// How a lock's holder appears in its repr: the thread's name, or `SomeOtherThread`.
fn owner_for_repr(raw: &RawLock) -> String {
    match raw.owner.load(Ordering::Relaxed) {
        0 => "None".into(),
        o if o == thread_token() => super::process::current_process().name(),
        _ => "SomeOtherThread".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Lock
// ---------------------------------------------------------------------------------------------

/// A non-recursive lock: Python's `threading.Lock` (`multiprocessing.dummy.Lock`), with the
/// API of [`mp::Lock`](crate::Lock).
///
/// Any thread may release it, as in Python. Clones are handles to the same lock.
///
/// # Examples
///
/// ```
/// use mp::dummy::{Lock, Process};
///
/// #[mp::task]
/// fn f(l: Lock, i: i32) -> mp::Result<()> {
///     let _g = l.lock()?;
///     println!("hello world {i}");
///     Ok(())
/// }
///
/// # fn main() -> mp::Result<()> {
/// let lock = Lock::new()?;
/// let ps: Vec<_> = (0..10).map(|i| Process::new(f, (lock.clone(), i))).collect();
/// for p in &ps { p.start()?; }
/// for p in &ps { p.join()?; assert_eq!(p.exitcode(), Some(0)); }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lock {
    raw: Arc<RawLock>,
}

impl Lock {
    /// A new, unlocked lock. Never fails; the `Result` is [`mp::Lock::new`](crate::Lock::new)'s.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Lock> {
        Ok(Lock {
            raw: Arc::new(RawLock::new()),
        })
    }

    /// Blocks until the lock is acquired: Python's `acquire()`.
    ///
    /// # Errors
    ///
    /// None (a thread lock has no dead holders); the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// l.acquire()?;
    /// assert!(l.locked());
    /// l.release()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<()> {
        self.raw.lock(thread_token(), None);
        Ok(())
    }

    /// Acquires the lock if it is free, without blocking: Python's `acquire(False)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// assert!(l.try_acquire()?);
    /// assert!(!l.try_acquire()?); // not recursive
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<bool> {
        Ok(self.raw.try_lock(thread_token()))
    }

    /// Waits at most `timeout` for the lock: Python's `acquire(timeout=t)`. Returns whether
    /// it was acquired.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = mp::dummy::Lock::new()?;
    /// l.acquire()?;
    /// assert!(!l.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        let me = thread_token();
        if self.raw.try_lock(me) {
            return Ok(true);
        }
        if timeout.is_zero() {
            return Ok(false);
        }
        Ok(self.raw.lock(me, deadline_after(timeout)))
    }

    /// Releases the lock, from any thread: Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the lock is not locked (`threading`'s `RuntimeError`; mp's
    /// process lock gives [`ErrorKind::Value`], as CPython's does).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn release(&self) -> Result<()> {
        if self.raw.unlock() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Runtime, "release unlocked lock"))
        }
    }

    /// Whether the lock is held (by anyone): Python's `locked()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// let g = l.lock()?;
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Acquires the lock and returns a guard that releases it when dropped: Python's
    /// `with lock:`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// {
    ///     let _g = l.lock()?;
    ///     assert!(l.locked());
    /// }
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        self.acquire()?;
        Ok(LockGuard { lock: self })
    }

    /// Always `None`: a thread cannot die holding a lock without the process dying too
    /// ([`mp::Lock::owner_died`](crate::Lock::owner_died)'s counterpart).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::Lock::new()?.owner_died(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn owner_died(&self) -> Option<i32> {
        None
    }

    /// Always false: there is never a dead holder to recover from.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::dummy::Lock::new()?.recover());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn recover(&self) -> bool {
        false
    }

    pub(crate) fn is_mine(&self) -> bool {
        self.raw.held_by(thread_token())
    }
}

impl Handle for Lock {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Lock);

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Lock(owner={})>", owner_for_repr(&self.raw))
    }
}

/// Releases a [`Lock`] when dropped. Made by [`Lock::lock`].
///
/// # Examples
///
/// ```
/// let l = mp::dummy::Lock::new()?;
/// let g: mp::dummy::synchronize::LockGuard<'_> = l.lock()?;
/// drop(g);
/// assert!(!l.locked());
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LockGuard").field(self.lock).finish()
    }
}

// ---------------------------------------------------------------------------------------------
// RLock
// ---------------------------------------------------------------------------------------------

struct RLockInner {
    raw: RawLock,
    /// The recursion level; only the owner touches it.
    count: AtomicU32,
}

/// A recursive lock: Python's `threading.RLock`, with the API of [`mp::RLock`](crate::RLock).
///
/// The thread that holds it may acquire it again; it must release it as many times. Only the
/// owner may release it.
///
/// # Examples
///
/// ```
/// let l = mp::dummy::RLock::new()?;
/// l.acquire()?;
/// l.acquire()?;
/// assert_eq!(l.count(), 2);
/// l.release()?;
/// l.release()?;
/// assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Clone)]
pub struct RLock {
    inner: Arc<RLockInner>,
}

impl RLock {
    /// A new, unlocked recursive lock.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<RLock> {
        Ok(RLock {
            inner: Arc::new(RLockInner {
                raw: RawLock::new(),
                count: AtomicU32::new(0),
            }),
        })
    }

    #[inline]
    fn reenter(&self, me: u64) -> Result<bool> {
        if self.inner.raw.held_by(me) {
            let c = self.inner.count.load(Ordering::Relaxed);
            if c == u32::MAX {
                return Err(Error::new(
                    ErrorKind::Runtime,
                    "RLock acquired too many times (recursion count overflow)",
                ));
            }
            self.inner.count.store(c + 1, Ordering::Relaxed);
            return Ok(true);
        }
        Ok(false)
    }

    fn took(&self, got: bool) -> bool {
        if got {
            self.inner.count.store(1, Ordering::Relaxed);
        }
        got
    }

    /// Blocks until the lock is acquired (at once if this thread holds it): Python's
    /// `acquire()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the recursion count would overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// l.acquire()?;
    /// l.acquire()?;
    /// assert_eq!(l.count(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<()> {
        let me = thread_token();
        if self.reenter(me)? {
            return Ok(());
        }
        let got = self.inner.raw.lock(me, None);
        self.took(got);
        Ok(())
    }

    /// Acquires the lock if it is free or held by this thread: Python's `acquire(False)`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](RLock::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// assert!(l.try_acquire()?);
    /// assert!(l.try_acquire()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        let me = thread_token();
        if self.reenter(me)? {
            return Ok(true);
        }
        Ok(self.took(self.inner.raw.try_lock(me)))
    }

    /// Waits at most `timeout` for the lock: Python's `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](RLock::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
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
        let got = self.inner.raw.lock(thread_token(), deadline_after(timeout));
        Ok(self.took(got))
    }

    /// Releases one level of recursion: Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the calling thread does not hold it ("cannot release
    /// un-acquired lock", `threading`'s `RuntimeError`; mp's process RLock gives
    /// [`ErrorKind::Assertion`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn release(&self) -> Result<()> {
        if !self.inner.raw.held_by(thread_token()) {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot release un-acquired lock",
            ));
        }
        let c = self.inner.count.load(Ordering::Relaxed);
        if c > 1 {
            self.inner.count.store(c - 1, Ordering::Relaxed);
        } else {
            self.inner.count.store(0, Ordering::Relaxed);
            self.inner.raw.unlock();
        }
        Ok(())
    }

    /// Whether the lock is held by anyone.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.raw.is_locked()
    }

    /// The recursion level held by the calling thread (0 if it does not hold the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// let _a = l.lock()?;
    /// let _b = l.lock()?;
    /// assert_eq!(l.count(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn count(&self) -> u32 {
        if self.is_mine() {
            self.inner.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Whether the calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::RLock::new()?;
    /// let _g = l.lock()?;
    /// assert!(l.is_mine());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn is_mine(&self) -> bool {
        self.inner.raw.held_by(thread_token())
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
    /// let l = mp::dummy::RLock::new()?;
    /// let g = l.lock()?;
    /// assert!(l.locked());
    /// drop(g);
    /// assert!(!l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<RLockGuard<'_>> {
        self.acquire()?;
        Ok(RLockGuard { lock: self })
    }

    /// Always `None` (see [`Lock::owner_died`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::RLock::new()?.owner_died(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn owner_died(&self) -> Option<i32> {
        None
    }

    /// Always false (see [`Lock::recover`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::dummy::RLock::new()?.recover());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn recover(&self) -> bool {
        false
    }

    /// Releases every level held by this thread; returns the count (Condition::wait).
    fn release_save(&self) -> u32 {
        let c = self.inner.count.swap(0, Ordering::Relaxed);
        self.inner.raw.unlock();
        c
    }

    fn acquire_restore(&self, count: u32) {
        self.inner.raw.lock(thread_token(), None);
        self.inner.count.store(count.max(1), Ordering::Relaxed);
    }
}

impl Handle for RLock {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(RLock);

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (owner, count) = if self.is_mine() {
            (
                super::process::current_process().name(),
                self.inner.count.load(Ordering::Relaxed).to_string(),
            )
        } else if !self.locked() {
            ("None".to_string(), "0".to_string())
        } else {
            (owner_for_repr(&self.inner.raw), "nonzero".to_string())
        };
        write!(f, "<RLock({owner}, {count})>")
    }
}

/// Releases one level of an [`RLock`] when dropped. Made by [`RLock::lock`].
///
/// # Examples
///
/// ```
/// let l = mp::dummy::RLock::new()?;
/// let g: mp::dummy::synchronize::RLockGuard<'_> = l.lock()?;
/// drop(g);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl Drop for RLockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RLockGuard").field(self.lock).finish()
    }
}

// ---------------------------------------------------------------------------------------------
// AnyLock
// ---------------------------------------------------------------------------------------------

crate::synchronize::any_lock! {
    path: "mp::dummy::synchronize",
    lock: "mp::dummy::Lock",
    /// Either kind of lock, where Python accepts "a `Lock` or `RLock` object": the lock of a
    /// [`Condition`], a [`Value`](super::Value) or an [`Array`](super::Array). The counterpart of
    /// [`mp::synchronize::AnyLock`](crate::synchronize::AnyLock).
    #[derive(Clone, Debug)]
    enum;
    new_rlock_errors: "None.",
    acquire_errors: "As [`RLock::acquire`].",
    extra: {
        /// Always false (see [`Lock::recover`]).
        ///
        /// # Examples
        ///
        /// ```
        /// assert!(!mp::dummy::synchronize::AnyLock::new_rlock()?.recover());
        /// # Ok::<(), mp::Error>(())
        /// ```
        pub fn recover(&self) -> bool {
            false
        }

        /// Whether both handles are the same lock.
        fn same_as(&self, other: &AnyLock) -> bool {
            match (self, other) {
                (AnyLock::Lock(a), AnyLock::Lock(b)) => Arc::ptr_eq(&a.raw, &b.raw),
                (AnyLock::RLock(a), AnyLock::RLock(b)) => Arc::ptr_eq(&a.inner, &b.inner),
                _ => false,
            }
        }

        fn release_save(&self) -> u32 {
            match self {
                AnyLock::Lock(l) => {
                    l.raw.unlock();
                    1
                }
                AnyLock::RLock(l) => l.release_save(),
            }
        }

        fn acquire_restore(&self, count: u32) {
            match self {
                AnyLock::Lock(l) => {
                    l.raw.lock(thread_token(), None);
                }
                AnyLock::RLock(l) => l.acquire_restore(count),
            }
        }
    }
}

// Written out rather than generated: a wrong argument to `Value::with_lock` and friends is then
// reported against these impls, not against the inside of a macro.
impl From<Lock> for AnyLock {
    fn from(l: Lock) -> AnyLock {
        AnyLock::Lock(l)
    }
}

impl From<RLock> for AnyLock {
    fn from(l: RLock) -> AnyLock {
        AnyLock::RLock(l)
    }
}

impl Handle for AnyLock {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(AnyLock);

// ---------------------------------------------------------------------------------------------
// Semaphore and BoundedSemaphore
// ---------------------------------------------------------------------------------------------

struct Sem {
    value: AtomicU32,
    max: u32,
    bounded: bool,
    waiters: AtomicUsize,
    m: Mutex<()>,
    cv: Condvar,
}

impl Sem {
    fn new(value: u32, max: u32, bounded: bool) -> Result<Arc<Sem>> {
        if value > max {
            return Err(Error::value(format!(
                "semaphore initial value {value} is above its maximum {max}"
            )));
        }
        Ok(Arc::new(Sem {
            value: AtomicU32::new(value),
            max,
            bounded,
            waiters: AtomicUsize::new(0),
            m: Mutex::new(()),
            cv: Condvar::new(),
        }))
    }

    #[inline]
    fn try_dec(&self) -> bool {
        let mut cur = self.value.load(Ordering::Relaxed);
        while cur > 0 {
            match self.value.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
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
        for _ in 0..SPINS {
            std::hint::spin_loop();
            if self.value.load(Ordering::Relaxed) > 0 && self.try_dec() {
                return true;
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut g = lock(&self.m);
        let got = loop {
            if self.try_dec() {
                break true;
            }
            match deadline {
                None => g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    g = self
                        .cv
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(g);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        got
    }

    fn release(&self, n: u32) -> Result<()> {
        let mut cur = self.value.load(Ordering::Relaxed);
        loop {
            let new = match cur.checked_add(n) {
                Some(v) if v <= self.max => v,
                _ => {
                    return Err(if self.bounded {
                        Error::value("Semaphore released too many times")
                    } else {
                        Error::value("semaphore value would overflow SEM_VALUE_MAX")
                    });
                }
            };
            match self
                .value
                .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if self.waiters.load(Ordering::SeqCst) > 0 {
            drop(lock(&self.m));
            if n == 1 {
                self.cv.notify_one();
            } else {
                self.cv.notify_all();
            }
        }
        Ok(())
    }
}

macro_rules! semaphore_common {
    ($ty:ident, $guard:ident, $name:literal) => {
        impl $ty {
            /// Blocks until the value is above zero, then decrements it: Python's
            /// `acquire()`.
            ///
            /// # Errors
            ///
            /// None; the `Result` is mp's.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::dummy::", $name, "::new(1)?;")]
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
            /// None.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::dummy::", $name, "::new(1)?;")]
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
            /// None.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::dummy::", $name, "::new(0)?;")]
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

            /// The current value: Python's `_value`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = mp::dummy::", $name, "::new(2)?;")]
            /// assert_eq!(s.get_value(), 2);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn get_value(&self) -> u32 {
                self.sem.value.load(Ordering::Relaxed)
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
            #[doc = concat!("let s = mp::dummy::", $name, "::new(1)?;")]
            /// {
            ///     let _g = s.lock()?;
            ///     assert_eq!(s.get_value(), 0);
            /// }
            /// assert_eq!(s.get_value(), 1);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn lock(&self) -> Result<$guard<'_>> {
                self.acquire()?;
                Ok($guard { sem: self })
            }
        }

        impl Handle for $ty {
            fn dup(&self) -> Self {
                self.clone()
            }
        }
        handle_serde!($ty);

        /// Releases the semaphore when dropped.
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("let s = mp::dummy::", $name, "::new(1)?;")]
        /// let g = s.lock()?;
        /// drop(g);
        /// assert_eq!(s.get_value(), 1);
        /// # Ok::<(), mp::Error>(())
        /// ```
        #[must_use = "the semaphore is released as soon as the guard is dropped"]
        pub struct $guard<'a> {
            sem: &'a $ty,
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                let _ = self.sem.release();
            }
        }

        impl fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($guard)).field(self.sem).finish()
            }
        }
    };
}

/// A counting semaphore: Python's `threading.Semaphore`, with the API of
/// [`mp::Semaphore`](crate::Semaphore).
///
/// # Examples
///
/// ```
/// use mp::dummy::{Process, Semaphore};
///
/// #[mp::task]
/// fn worker(s: Semaphore) -> mp::Result<()> {
///     let _slot = s.lock()?; // at most two workers inside at once
///     Ok(())
/// }
///
/// # fn main() -> mp::Result<()> {
/// let s = Semaphore::new(2)?;
/// let ps: Vec<_> = (0..4).map(|_| Process::new(worker, (s.clone(),))).collect();
/// for p in &ps { p.start()?; }
/// for p in &ps { p.join()?; }
/// assert_eq!(s.get_value(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    sem: Arc<Sem>,
}

impl Semaphore {
    /// A semaphore with an initial value (Python's default is 1).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] above [`SEM_VALUE_MAX`] (kept for parity with mp).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::dummy::Semaphore::new(3)?;
    /// assert_eq!(s.get_value(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: u32) -> Result<Semaphore> {
        Ok(Semaphore {
            sem: Sem::new(value, SEM_VALUE_MAX, false)?,
        })
    }

    /// Increments the value, waking a waiter: Python's `release()`. A plain semaphore may go
    /// above its initial value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] at [`SEM_VALUE_MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::dummy::Semaphore::new(2)?;
    /// s.release()?;
    /// assert_eq!(s.get_value(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.sem.release(1)
    }

    /// Increments the value by `n` at once: Python's `release(n)`.
    ///
    /// # Errors
    ///
    /// As [`release`](Semaphore::release).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::dummy::Semaphore::new(0)?;
    /// s.release_n(3)?;
    /// assert_eq!(s.get_value(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release_n(&self, n: u32) -> Result<()> {
        self.sem.release(n)
    }
}

semaphore_common!(Semaphore, SemaphoreGuard, "Semaphore");

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Semaphore(value={})>", self.get_value())
    }
}

/// A semaphore that cannot be released above its initial value: Python's
/// `threading.BoundedSemaphore`, with the API of [`mp::BoundedSemaphore`](crate::BoundedSemaphore).
///
/// # Examples
///
/// ```
/// let s = mp::dummy::BoundedSemaphore::new(1)?;
/// s.acquire()?;
/// s.release()?;
/// assert_eq!(s.release().unwrap_err().kind(), mp::ErrorKind::Value);
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    sem: Arc<Sem>,
}

impl BoundedSemaphore {
    /// A semaphore whose value starts at, and never exceeds, `value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] above [`SEM_VALUE_MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::dummy::BoundedSemaphore::new(2)?;
    /// assert_eq!(s.get_value(), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        if value > SEM_VALUE_MAX {
            return Err(Error::value("semaphore value above SEM_VALUE_MAX"));
        }
        Ok(BoundedSemaphore {
            sem: Sem::new(value, value, true)?,
        })
    }

    /// Increments the value: Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if that would go above the initial value ("Semaphore released
    /// too many times").
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::dummy::BoundedSemaphore::new(1)?;
    /// assert!(s.release().is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.sem.release(1)
    }

    /// The bound (the initial value).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::BoundedSemaphore::new(4)?.max_value(), 4);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn max_value(&self) -> u32 {
        self.sem.max
    }
}

semaphore_common!(BoundedSemaphore, BoundedSemaphoreGuard, "BoundedSemaphore");

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<BoundedSemaphore(value={}, maxvalue={})>",
            self.get_value(),
            self.max_value()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Condition
// ---------------------------------------------------------------------------------------------

/// One waiting thread: set by a notifier, which then unparks it.
struct Waiter {
    notified: AtomicBool,
    thread: Thread,
}

struct CondInner {
    /// The current waiters, oldest first (Python's `_waiters` deque).
    waiters: Mutex<std::collections::VecDeque<Arc<Waiter>>>,
}

/// A condition variable: Python's `threading.Condition`, with the API of
/// [`mp::Condition`](crate::Condition).
///
/// Each waiter has its own wakeup, so [`notify(n)`](Condition::notify) wakes exactly `n` of
/// the threads waiting at that moment (or all of them if fewer); waiters that timed out are
/// not counted, and no wakeup is left pending for a later waiter.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mp::dummy::{Condition, Process, Value};
///
/// #[mp::task]
/// fn producer(c: Condition, ready: Value<u32>) -> mp::Result<()> {
///     let _g = c.lock()?;
///     ready.set(1)?;
///     c.notify_all()
/// }
///
/// # fn main() -> mp::Result<()> {
/// let c = Condition::new()?;
/// let ready = Value::new(0u32)?;
/// let p = Process::new(producer, (c.clone(), ready.clone()));
/// {
///     let _g = c.lock()?;
///     p.start()?;
///     let ok = c.wait_for_timeout(|| ready.get().unwrap_or(0) == 1, Duration::from_secs(60))?;
///     assert!(ok);
/// }
/// p.join()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: AnyLock,
    inner: Arc<CondInner>,
}

impl Condition {
    /// A condition with a new [`RLock`]: Python's `Condition()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
    /// let _g = c.lock()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Condition> {
        Condition::with_lock(RLock::new()?)
    }

    /// A condition using `lock` (a [`Lock`] or an [`RLock`]): Python's `Condition(lock)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// let c = mp::dummy::Condition::with_lock(l.clone())?;
    /// let _g = c.lock()?;
    /// assert!(l.locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn with_lock(lock: impl Into<AnyLock>) -> Result<Condition> {
        Ok(Condition {
            lock: lock.into(),
            inner: Arc::new(CondInner {
                waiters: Mutex::new(std::collections::VecDeque::new()),
            }),
        })
    }

    /// The underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
    /// assert!(matches!(c.get_lock(), mp::dummy::synchronize::AnyLock::RLock(_)));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_lock(&self) -> &AnyLock {
        &self.lock
    }

    /// Acquires the underlying lock: Python's `acquire()`.
    ///
    /// # Errors
    ///
    /// As the lock's `acquire`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
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
    /// As the lock's `acquire`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
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
    /// As the lock's `acquire`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
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
    /// let c = mp::dummy::Condition::new()?;
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
    /// let c = mp::dummy::Condition::new()?;
    /// let _g = c.lock()?;
    /// assert!(!c.wait_timeout(std::time::Duration::from_millis(1))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn lock(&self) -> Result<AnyLockGuard<'_>> {
        self.lock.lock()
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<bool> {
        if !self.lock.is_mine() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot wait on un-acquired lock",
            ));
        }
        let me = Arc::new(Waiter {
            notified: AtomicBool::new(false),
            thread: std::thread::current(),
        });
        lock(&self.inner.waiters).push_back(me.clone());
        let saved = self.lock.release_save();
        let notified = loop {
            if me.notified.load(Ordering::Acquire) {
                break true;
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        let mut ws = lock(&self.inner.waiters);
                        if let Some(i) = ws.iter().position(|w| Arc::ptr_eq(w, &me)) {
                            ws.remove(i);
                            break false;
                        }
                        // A notifier took us off the list: its wakeup is ours.
                        drop(ws);
                        continue;
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        };
        self.lock.acquire_restore(saved);
        Ok(notified)
    }

    /// Releases the lock, waits until notified, and re-acquires the lock: Python's `wait()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the calling thread does not hold the lock ("cannot wait on
    /// un-acquired lock"; mp's process Condition gives [`ErrorKind::Assertion`]).
    ///
    /// # Examples
    ///
    /// See [`Condition`].
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(None).map(drop)
    }

    /// As [`wait`](Condition::wait), for at most `timeout`: Python's `wait(t)`. Returns false
    /// if it timed out.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
    /// let _g = c.lock()?;
    /// assert!(!c.wait_timeout(std::time::Duration::ZERO)?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_deadline(deadline_after(timeout))
    }

    /// Waits until `predicate()` is true: Python's `wait_for(predicate)`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
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
    /// let c = mp::dummy::Condition::new()?;
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

    /// Wakes `n` of the current waiters (fewer if fewer wait): Python's `notify(n)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the calling thread does not hold the lock ("cannot notify on
    /// un-acquired lock").
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mp::dummy::Condition::new()?;
    /// assert_eq!(c.notify(1).unwrap_err().kind(), mp::ErrorKind::Runtime);
    /// let _g = c.lock()?;
    /// c.notify(1)?; // nobody waits: nothing happens, nothing is left pending
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        if !self.lock.is_mine() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot notify on un-acquired lock",
            ));
        }
        let mut ws = lock(&self.inner.waiters);
        for _ in 0..n {
            let Some(w) = ws.pop_front() else { break };
            w.notified.store(true, Ordering::Release);
            w.thread.unpark();
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
    /// let c = mp::dummy::Condition::new()?;
    /// let _g = c.lock()?;
    /// c.notify_all()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

impl Handle for Condition {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Condition);

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = lock(&self.inner.waiters).len();
        write!(f, "<Condition({:?}, {waiting})>", self.lock)
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

struct EventInner {
    flag: AtomicBool,
    m: Mutex<()>,
    cv: Condvar,
    waiters: AtomicUsize,
}

/// A flag that threads can wait for: Python's `threading.Event`, with the API of
/// [`mp::Event`](crate::Event).
///
/// # Examples
///
/// ```
/// use mp::dummy::{Event, Process};
///
/// #[mp::task]
/// fn producer(stop: Event, started: Event) {
///     started.set();
///     stop.wait();
/// }
///
/// # fn main() -> mp::Result<()> {
/// let (stop, started) = (Event::new()?, Event::new()?);
/// let p = Process::new(producer, (stop.clone(), started.clone()));
/// p.start()?;
/// assert!(started.wait_timeout(std::time::Duration::from_secs(60)));
/// stop.set();
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Event {
    inner: Arc<EventInner>,
}

impl Event {
    /// A new, unset event.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::dummy::Event::new()?.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Event> {
        Ok(Event {
            inner: Arc::new(EventInner {
                flag: AtomicBool::new(false),
                m: Mutex::new(()),
                cv: Condvar::new(),
                waiters: AtomicUsize::new(0),
            }),
        })
    }

    /// Whether the flag is set: Python's `is_set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::dummy::Event::new()?;
    /// e.set();
    /// assert!(e.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }

    /// Sets the flag and wakes every waiter: Python's `set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::dummy::Event::new()?;
    /// e.set();
    /// assert!(e.wait_timeout(std::time::Duration::ZERO));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        if self.inner.waiters.load(Ordering::SeqCst) > 0 {
            drop(lock(&self.inner.m));
            self.inner.cv.notify_all();
        }
    }

    /// Resets the flag: Python's `clear()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::dummy::Event::new()?;
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn clear(&self) {
        self.inner.flag.store(false, Ordering::SeqCst);
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.is_set() {
            return true;
        }
        let inner = &self.inner;
        inner.waiters.fetch_add(1, Ordering::SeqCst);
        let mut g = lock(&inner.m);
        let set = loop {
            if inner.flag.load(Ordering::SeqCst) {
                break true;
            }
            match deadline {
                None => g = inner.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    g = inner
                        .cv
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(g);
        inner.waiters.fetch_sub(1, Ordering::SeqCst);
        set
    }

    /// Blocks until the flag is set: Python's `wait()` (which then returns `True`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::dummy::Event::new()?;
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
    /// let e = mp::dummy::Event::new()?;
    /// assert!(!e.wait_timeout(std::time::Duration::from_millis(5)));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(deadline_after(timeout))
    }
}

impl Handle for Event {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Event);

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(f, "<Event at {:p} {state}>", Arc::as_ptr(&self.inner))
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier
// ---------------------------------------------------------------------------------------------

/// What a [`Barrier`]'s action runs: `Err(message)` breaks the barrier.
type Action = Arc<dyn Fn() -> std::result::Result<(), String> + Send + Sync>;

/// What a [`Barrier`]'s `action` can be: a `#[mp::task]` fn taking nothing and returning
/// nothing, or a [`TaskRef<(), ()>`](TaskRef), as for
/// [`mp::Barrier`](crate::synchronize::BarrierAction); any closure goes through
/// [`BarrierBuilder::action_fn`].
pub trait BarrierAction {
    /// The action as a callable.
    #[doc(hidden)]
    fn into_action(self) -> Arc<dyn Fn() -> std::result::Result<(), String> + Send + Sync>;
}

impl BarrierAction for TaskRef<(), ()> {
    fn into_action(self) -> Action {
        Arc::new(move || self.call(()).map_err(|e| e.to_string()))
    }
}

impl<T: Task<Args = (), Output = ()>> BarrierAction for T {
    fn into_action(self) -> Action {
        Arc::new(|| {
            T::run(());
            Ok(())
        })
    }
}

fn run_action(action: &Action) -> std::result::Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| action())) {
        Ok(r) => r,
        Err(p) => Err(p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())),
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
/// let b = mp::dummy::Barrier::builder(3)
///     .action(all_here)
///     .timeout(std::time::Duration::from_secs(30))
///     .build()?;
/// assert_eq!(b.parties(), 3);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use]
pub struct BarrierBuilder {
    parties: u32,
    action: Option<Action>,
    timeout: Option<Duration>,
}

impl fmt::Debug for BarrierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuilder")
            .field("parties", &self.parties)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl BarrierBuilder {
    /// Runs `action` once per round, in the last party to arrive, before any is released.
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn action(mut self, action: impl BarrierAction) -> Self {
        self.action = Some(action.into_action());
        self
    }

    /// Like [`action`](BarrierBuilder::action) with any closure (threads share memory, so
    /// the action need not be a registered task; mp's process barrier has no such method).
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
        self.action = Some(Arc::new(move || {
            action();
            Ok(())
        }));
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
    /// [`ErrorKind::Value`] unless `1 <= parties <= 65535` (mp's bounds).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::dummy::Barrier::builder(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Barrier> {
        if self.parties == 0 || self.parties > BARRIER_MAX_PARTIES {
            return Err(Error::value(format!(
                "parties must be between 1 and {BARRIER_MAX_PARTIES}, not {}",
                self.parties
            )));
        }
        Ok(Barrier {
            inner: Arc::new(BarrierInner {
                state: Mutex::new(BarrierState {
                    count: 0,
                    phase: Phase::Filling,
                }),
                cv: Condvar::new(),
                parties: self.parties,
                action: self.action,
                timeout: self.timeout,
            }),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct BarrierState {
    count: u32,
    phase: Phase,
}

struct BarrierInner {
    state: Mutex<BarrierState>,
    cv: Condvar,
    parties: u32,
    action: Option<Action>,
    timeout: Option<Duration>,
}

/// A barrier for a fixed number of parties: Python's `threading.Barrier`, with the API of
/// [`mp::Barrier`](crate::Barrier).
///
/// # Examples
///
/// ```
/// use mp::dummy::{Barrier, Process};
///
/// #[mp::task]
/// fn party(b: Barrier) -> mp::Result<usize> {
///     b.wait()
/// }
///
/// # fn main() -> mp::Result<()> {
/// let b = Barrier::new(3)?;
/// let ps: Vec<_> = (0..2).map(|_| Process::new(party, (b.clone(),))).collect();
/// for p in &ps { p.start()?; }
/// let index = b.wait()?;
/// assert!(index < 3);
/// for p in &ps { p.join()?; assert_eq!(p.exitcode(), Some(0)); }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Arc<BarrierInner>,
}

fn broken() -> Error {
    Error::new(ErrorKind::BrokenBarrier, "the barrier is broken")
}

impl Barrier {
    /// A barrier for `parties` parties, without action or default timeout.
    ///
    /// # Errors
    ///
    /// As [`BarrierBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::Barrier::new(1)?;
    /// assert_eq!(b.wait()?, 0);
    /// assert_eq!(b.wait()?, 0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(parties: u32) -> Result<Barrier> {
        Barrier::builder(parties).build()
    }

    /// A builder for the `action` and `timeout` keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn builder(parties: u32) -> BarrierBuilder {
        BarrierBuilder {
            parties,
            action: None,
            timeout: None,
        }
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<usize> {
        let inner = &*self.inner;
        let mut st = lock(&inner.state);
        // Python's `_enter`: wait while the previous round drains or resets.
        while matches!(st.phase, Phase::Draining | Phase::Resetting) {
            st = inner.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.phase == Phase::Broken {
            return Err(broken());
        }
        let index = st.count;
        st.count += 1;
        let result = if st.count == inner.parties {
            // Python's `_release`: the action runs in the last party, under the lock.
            let failed = inner.action.as_ref().and_then(|a| run_action(a).err());
            match failed {
                None => {
                    st.phase = Phase::Draining;
                    inner.cv.notify_all();
                    Ok(())
                }
                Some(msg) => {
                    st.phase = Phase::Broken;
                    inner.cv.notify_all();
                    Err(Error::new(
                        ErrorKind::BrokenBarrier,
                        format!("the barrier action failed, the barrier is broken: {msg}"),
                    ))
                }
            }
        } else {
            // Python's `_wait`.
            loop {
                match st.phase {
                    Phase::Filling => {}
                    Phase::Draining => break Ok(()),
                    Phase::Resetting | Phase::Broken => break Err(broken()),
                }
                match deadline {
                    None => st = inner.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d {
                            st.phase = Phase::Broken;
                            inner.cv.notify_all();
                            break Err(broken());
                        }
                        st = inner
                            .cv
                            .wait_timeout(st, d - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        };
        // Python's `finally: count -= 1; _exit()`.
        st.count -= 1;
        if st.count == 0 && matches!(st.phase, Phase::Draining | Phase::Resetting) {
            st.phase = Phase::Filling;
            inner.cv.notify_all();
        }
        result.map(|()| index as usize)
    }

    /// Waits for every party: Python's `wait()`. Returns this party's arrival index, in
    /// `0..parties` (all distinct within a round). Uses the default timeout if one was given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] if the barrier is or becomes broken (aborted, reset while
    /// waiting, timed out, action failed).
    ///
    /// # Examples
    ///
    /// See [`Barrier`].
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(self.inner.timeout.and_then(deadline_after))
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
    /// let b = mp::dummy::Barrier::new(2)?;
    /// let e = b.wait_timeout(std::time::Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e.kind(), mp::ErrorKind::BrokenBarrier);
    /// assert!(b.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(deadline_after(timeout))
    }

    /// Puts the barrier back in its initial state; parties waiting get
    /// [`ErrorKind::BrokenBarrier`]: Python's `reset()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::Barrier::new(2)?;
    /// b.abort();
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn reset(&self) {
        let mut st = lock(&self.inner.state);
        if st.count > 0 {
            if matches!(st.phase, Phase::Filling | Phase::Broken) {
                st.phase = Phase::Resetting;
            }
        } else {
            st.phase = Phase::Filling;
        }
        self.inner.cv.notify_all();
    }

    /// Breaks the barrier: waiting and arriving parties get [`ErrorKind::BrokenBarrier`]:
    /// Python's `abort()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::Barrier::new(2)?;
    /// b.abort();
    /// assert_eq!(b.wait().unwrap_err().kind(), mp::ErrorKind::BrokenBarrier);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn abort(&self) {
        lock(&self.inner.state).phase = Phase::Broken;
        self.inner.cv.notify_all();
    }

    /// The number of parties: Python's `parties`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::Barrier::new(5)?.parties(), 5);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn parties(&self) -> usize {
        self.inner.parties as usize
    }

    /// The number of parties currently waiting: Python's `n_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::Barrier::new(5)?.n_waiting(), 0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn n_waiting(&self) -> usize {
        let st = lock(&self.inner.state);
        if st.phase == Phase::Filling {
            st.count as usize
        } else {
            0
        }
    }

    /// Whether the barrier is broken: Python's `broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::dummy::Barrier::new(5)?.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn broken(&self) -> bool {
        lock(&self.inner.state).phase == Phase::Broken
    }

    /// The default timeout given to the builder.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::Barrier::new(2)?.timeout(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }
}

impl Handle for Barrier {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Barrier);

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Arc::as_ptr(&self.inner);
        if self.broken() {
            return write!(f, "<Barrier at {at:p}: broken>");
        }
        write!(
            f,
            "<Barrier at {at:p}: waiters={}/{}>",
            self.n_waiting(),
            self.inner.parties
        )
    }
}
