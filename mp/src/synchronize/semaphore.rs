//! [`Semaphore`] and [`BoundedSemaphore`], their guards and the engine they share.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Shared, SharedState, deadline_after, layout_hash};
use crate::error::{Error, Result};
use crate::futex::{self, Word};
use crate::shm;
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use crate::error::ErrorKind;
#[cfg(doc)]
use crate::space::Threads;

/// The largest value of a semaphore (CPython's `SEM_VALUE_MAX` on Linux).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

#[repr(C)]
struct SemState {
    value: Word,
    waiters: Word,
    /// The bound of a BoundedSemaphore, `SEM_VALUE_MAX` otherwise.
    max: Word,
    /// 1 for a BoundedSemaphore.
    bounded: Word,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for SemState {
    const KIND: u32 = shm::kind::SEMAPHORE;
    const LAYOUT: u64 = layout_hash("mp::Semaphore v1", std::mem::size_of::<SemState>());
}

#[cfg(not(loom))]
const SEM_SPINS: u32 = 64;
/// Under the model checker a spin only multiplies the interleavings to explore.
#[cfg(loom)]
const SEM_SPINS: u32 = 0;

/// Why a release was refused.
#[derive(Debug, PartialEq)]
enum Over {
    /// A BoundedSemaphore released above its bound.
    Bound,
    /// Past `SEM_VALUE_MAX`.
    Max,
}

/// The semaphore's algorithm, on its words (in shared memory, or loom's in the models).
impl SemState {
    #[inline]
    fn try_dec(&self) -> bool {
        let v = &self.value;
        let mut cur = v.load(Ordering::Relaxed);
        while cur > 0 {
            match v.compare_exchange_weak(cur, cur - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    /// Takes one unit, waiting until `deadline`; false when it ran out.
    fn acquire(&self, deadline: Option<Instant>) -> bool {
        if self.try_dec() {
            return true;
        }
        for _ in 0..SEM_SPINS {
            std::hint::spin_loop();
            if self.value.load(Ordering::Relaxed) > 0 && self.try_dec() {
                return true;
            }
        }
        loop {
            // Counted before the last check: a release after it sees the sleeper and wakes.
            self.waiters.fetch_add(1, Ordering::SeqCst);
            futex::sc_point();
            if self.try_dec() {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
                return true;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        self.waiters.fetch_sub(1, Ordering::SeqCst);
                        return false;
                    }
                    Some(d - now)
                }
            };
            futex::sleep_word(&self.value, 0, timeout);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if self.try_dec() {
                return true;
            }
        }
    }

    /// Adds `n` units and wakes as many sleepers.
    fn release(&self, n: u32) -> std::result::Result<(), Over> {
        let max = self.max.load(Ordering::Relaxed);
        let mut cur = self.value.load(Ordering::Relaxed);
        loop {
            let new = match cur.checked_add(n) {
                Some(v) if v <= max => v,
                _ if self.bounded.load(Ordering::Relaxed) != 0 => return Err(Over::Bound),
                _ => return Err(Over::Max),
            };
            match self
                .value
                .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        futex::sc_point();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake_sleepers(&self.value, n.min(i32::MAX as u32) as i32);
        }
        Ok(())
    }
}

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
        self.st().try_dec()
    }

    fn acquire(&self, deadline: Option<Instant>) -> bool {
        self.st().acquire(deadline)
    }

    #[cfg(feature = "async")]
    async fn acquire_async(&self) -> Result<()> {
        let st = self.st();
        loop {
            if self.try_dec() {
                return Ok(());
            }
            let mut sleeper = crate::aio::futex::Sleeper::counted(&st.waiters, &st.value);
            if self.try_dec() {
                sleeper.pass_on = false;
                return Ok(());
            }
            crate::aio::futex::changed(&st.value, 0).await?;
            sleeper.pass_on = false;
        }
    }

    fn release(&self, n: u32) -> Result<()> {
        self.st().release(n).map_err(|over| match over {
            Over::Bound if Sp::THREADS => Error::value("Semaphore released too many times"),
            Over::Bound => Error::value("semaphore or lock released too many times"),
            Over::Max => Error::value("semaphore value would overflow SEM_VALUE_MAX"),
        })
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

            /// Decrements the counter, waiting without blocking the executor while it is
            /// zero: `acquire()` for async code (feature `async`). The task sleeps on the
            /// counter's futex word through mp's bridge thread. Cancel-safe: a dropped future
            /// took nothing (and hands a wake-up it may have taken to another waiter).
            ///
            /// # Errors
            ///
            /// Only if the bridge thread cannot be started.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[cfg(feature = "tokio")] {
            /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// # rt.block_on(async {
            #[doc = concat!("let s = mp::", $name, "::new(1)?;")]
            /// s.acquire_async().await?;
            /// assert_eq!(s.get_value(), 0);
            /// s.release()?;
            /// # Ok::<(), mp::Error>(()) }).unwrap();
            /// # }
            /// ```
            #[cfg(feature = "async")]
            pub async fn acquire_async(&self) -> Result<()> {
                self.sem.acquire_async().await
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

/// Model checking of the semaphore's algorithm (`RUSTFLAGS="--cfg loom" cargo test -p
/// multiprocess --lib --release loom_`; `docs/reliability.md`): every interleaving within
/// loom's preemption bound, with futex sleeps that never time out, so that a lost wake-up is
/// a deadlock loom reports.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32 as LoomU32;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(f);
    }

    fn sem(value: u32, max: u32) -> Arc<SemState> {
        Arc::new(SemState {
            value: Word::new(value),
            waiters: Word::new(0),
            max: Word::new(max),
            bounded: Word::new((max != SEM_VALUE_MAX) as u32),
        })
    }

    /// Two sleepers, two releases from two threads: both sleepers wake (none is lost).
    #[test]
    fn loom_semaphore_every_release_wakes_a_sleeper() {
        model(|| {
            let s = sem(0, SEM_VALUE_MAX);
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    loom::thread::spawn(move || assert!(s.acquire(None)))
                })
                .collect();
            let giver = {
                let s = s.clone();
                loom::thread::spawn(move || s.release(1).unwrap())
            };
            s.release(1).unwrap();
            giver.join().unwrap();
            for t in takers {
                t.join().unwrap();
            }
            assert_eq!(s.value.load(Ordering::SeqCst), 0);
            assert_eq!(s.waiters.load(Ordering::SeqCst), 0);
        });
    }

    /// A binary semaphore as a lock: never two inside, and the bound refuses an extra
    /// release whatever the interleaving.
    #[test]
    fn loom_bounded_semaphore_admits_one_and_refuses_overflow() {
        model(|| {
            let s = sem(1, 1);
            let inside = Arc::new(LoomU32::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (s, inside) = (s.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        assert!(s.acquire(None));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two inside");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        s.release(1).unwrap();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(s.release(1), Err(Over::Bound));
            assert_eq!(s.value.load(Ordering::SeqCst), 1);
        });
    }
}
