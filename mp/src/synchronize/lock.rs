//! [`Lock`]: a non-recursive lock shared between processes and threads, and its guard.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Shared, SharedState, deadline_after, layout_hash, misuse, owner_died, owner_for_repr};
use crate::error::{Error, ErrorKind, Result};
use crate::futex::RawMutex;
use crate::shm;
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use crate::space::Threads;

#[repr(C)]
pub(super) struct LockState {
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
    pub(super) shared: Shared<LockState, Sp>,
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
    pub(super) fn mutex(&self) -> &RawMutex {
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
    pub(super) fn acquire_slow(&self, deadline: Option<Instant>) -> Result<bool> {
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
        if self.mutex().release().map_err(|e| owner_died("lock", e))? {
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

/// async/await (feature `async`): see [`mp::aio`](crate::aio).
#[cfg(feature = "async")]
impl<Sp: Space> LockIn<Sp> {
    /// Acquires the lock without blocking the executor: `acquire()` for async code. The
    /// task sleeps on the lock's futex word through mp's bridge thread (no thread per waiting
    /// task); a holder that dies is detected as [`acquire`](LockIn::acquire) detects it.
    /// Cancel-safe: a dropped future holds nothing (and hands a wake-up it may have taken to
    /// another waiter).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if a holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let l = mp::Lock::new()?;
    /// {
    ///     let _held = l.lock_async().await?;
    ///     assert!(l.locked());
    /// }
    /// l.acquire_async().await?;
    /// l.release()?;
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn acquire_async(&self) -> Result<()> {
        crate::aio::futex::lock_mutex(self.mutex())
            .await?
            .map_err(|e| owner_died("lock", e))
    }

    /// [`acquire_async`](LockIn::acquire_async) with a guard that releases the lock when
    /// dropped: `async with lock` in spirit.
    ///
    /// # Errors
    ///
    /// As [`acquire_async`](LockIn::acquire_async).
    ///
    /// # Examples
    ///
    /// See [`acquire_async`](LockIn::acquire_async).
    pub async fn lock_async(&self) -> Result<LockGuard<'_, Sp>> {
        self.acquire_async().await?;
        Ok(LockGuard { lock: self })
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
