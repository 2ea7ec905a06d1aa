//! [`RLock`]: a re-entrant lock shared between processes and threads, and its guard.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    Shared, SharedState, deadline_after, layout_hash, me_for_repr, misuse, owner_died,
    owner_for_repr,
};
use crate::error::{Error, ErrorKind, Result};
use crate::futex::RawMutex;
use crate::shm;
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use crate::space::Threads;

#[repr(C)]
pub(super) struct RLockState {
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
    pub(super) shared: Shared<RLockState, Sp>,
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
    pub(super) fn release_save(&self) -> u32 {
        let st = self.st();
        let c = st.count.swap(0, Ordering::Relaxed);
        st.mutex.unlock();
        c
    }

    pub(super) fn acquire_restore(&self, count: u32) -> Result<()> {
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
