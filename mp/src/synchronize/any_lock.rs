//! [`AnyLock`]: the `lock` argument of a Condition, a Value and an Array, and its guard.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LockIn, RLockIn};
use crate::error::Result;
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use super::{Condition, Lock, RLock};
#[cfg(doc)]
use crate::error::ErrorKind;

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

    pub(super) fn release_save(&self) -> u32 {
        match self {
            AnyLockIn::Lock(l) => {
                l.mutex().unlock();
                1
            }
            AnyLockIn::RLock(l) => l.release_save(),
        }
    }

    pub(super) fn acquire_restore(&self, count: u32) -> Result<()> {
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
