//! [`Condition`]: a condition variable over a `Lock` or an `RLock` (its [`AnyLockIn`]).

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    AnyLockGuard, AnyLockIn, RLockIn, Shared, SharedState, deadline_after, layout_hash, misuse,
};
use crate::error::{Error, ErrorKind, Result};
use crate::futex;
use crate::shm::{self, pid_alive};
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use super::{Lock, RLock};
#[cfg(doc)]
use crate::space::Threads;

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
