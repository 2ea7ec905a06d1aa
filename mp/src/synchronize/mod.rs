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

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::futex::{self, OwnerDied, RawMutex};
use crate::shm::{self, BlockWire};
use crate::space::handle::{self, Handle};
use crate::space::{Mem, Space};

// One module per primitive; the plumbing they share (a state in an arena block, the error and
// repr helpers) stays here.
mod any_lock;
mod barrier;
mod condition;
mod event;
mod lock;
mod rlock;
mod semaphore;

pub use any_lock::{AnyLock, AnyLockGuard, AnyLockIn};
pub use barrier::{BARRIER_MAX_PARTIES, Barrier, BarrierAction, BarrierBuilder, BarrierIn};
pub use condition::{CONDITION_MAX_WAITERS, Condition, ConditionIn};
pub use event::{Event, EventIn};
pub use lock::{Lock, LockGuard, LockIn};
pub use rlock::{RLock, RLockGuard, RLockIn};
pub use semaphore::{
    BoundedSemaphore, BoundedSemaphoreGuard, BoundedSemaphoreIn, SEM_VALUE_MAX, Semaphore,
    SemaphoreGuard, SemaphoreIn,
};

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
