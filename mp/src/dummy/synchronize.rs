//! Thread synchronization primitives: Python's `threading` objects that
//! `multiprocessing.dummy` re-exports.
//!
//! Each is mp's primitive ([`mp::synchronize`](crate::synchronize)) in the [`Threads`] space:
//! the same engine, the same methods and return values, its state on this process's heap
//! (no descriptor, no shared memory), with `threading`'s semantics where they differ
//! (CPython's `WithThreads` tests assert them):
//!
//! | operation | `mp` (processes) | `mp::dummy` (threads) |
//! |---|---|---|
//! | `Lock::release` of an unlocked lock | [`ErrorKind::Value`] | [`ErrorKind::Runtime`] |
//! | `RLock::release` by a thread that does not hold it | [`ErrorKind::Assertion`] | [`ErrorKind::Runtime`] |
//! | `Condition::wait`/`notify` without the lock | [`ErrorKind::Assertion`] | [`ErrorKind::Runtime`] |
//! | a holder that dies | [`ErrorKind::OwnerDied`] | cannot happen (a thread that panics releases its guards) |
//! | a `Barrier`'s action | a task | a task, or any closure ([`BarrierBuilder::action_fn`]) |
//!
//! Handles are cheap to [`Clone`] (another handle on the same object), `Send + Sync`, and
//! serialize only through `mp::dummy` transports (see [`mp::dummy`](crate::dummy)).
//!
//! ```
//! let l = mp::dummy::Lock::new()?;
//! assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
//! # Ok::<(), mp::Error>(())
//! ```
//!
//! [`ErrorKind::Value`]: crate::ErrorKind::Value
//! [`ErrorKind::Runtime`]: crate::ErrorKind::Runtime
//! [`ErrorKind::Assertion`]: crate::ErrorKind::Assertion
//! [`ErrorKind::OwnerDied`]: crate::ErrorKind::OwnerDied

use crate::space::Threads;
use crate::synchronize as s;

pub use crate::synchronize::{BARRIER_MAX_PARTIES, BarrierAction, SEM_VALUE_MAX};

/// `threading.Lock`: [`mp::Lock`](crate::Lock) between threads.
pub type Lock = s::LockIn<Threads>;
/// `threading.RLock`: [`mp::RLock`](crate::RLock) between threads.
pub type RLock = s::RLockIn<Threads>;
/// `threading.Semaphore`: [`mp::Semaphore`](crate::Semaphore) between threads.
pub type Semaphore = s::SemaphoreIn<Threads>;
/// `threading.BoundedSemaphore`: [`mp::BoundedSemaphore`](crate::BoundedSemaphore) between
/// threads.
pub type BoundedSemaphore = s::BoundedSemaphoreIn<Threads>;
/// `threading.Condition`: [`mp::Condition`](crate::Condition) between threads.
pub type Condition = s::ConditionIn<Threads>;
/// `threading.Event`: [`mp::Event`](crate::Event) between threads.
pub type Event = s::EventIn<Threads>;
/// `threading.Barrier`: [`mp::Barrier`](crate::Barrier) between threads.
pub type Barrier = s::BarrierIn<Threads>;
/// Builder of a [`Barrier`].
pub type BarrierBuilder = s::BarrierBuilder<Threads>;
/// Either kind of thread lock: [`mp::synchronize::AnyLock`](crate::synchronize::AnyLock)
/// between threads.
pub type AnyLock = s::AnyLockIn<Threads>;
/// Releases a [`Lock`] when dropped.
pub type LockGuard<'a> = s::LockGuard<'a, Threads>;
/// Releases an [`RLock`] when dropped.
pub type RLockGuard<'a> = s::RLockGuard<'a, Threads>;
/// Releases an [`AnyLock`] when dropped.
pub type AnyLockGuard<'a> = s::AnyLockGuard<'a, Threads>;
/// Releases a [`Semaphore`] when dropped.
pub type SemaphoreGuard<'a> = s::SemaphoreGuard<'a, Threads>;
/// Releases a [`BoundedSemaphore`] when dropped.
pub type BoundedSemaphoreGuard<'a> = s::BoundedSemaphoreGuard<'a, Threads>;
