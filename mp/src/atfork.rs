//! Keeps mp's process-wide locks usable in a fork child.
//!
//! A fork child of a multi-threaded process inherits every lock in the state it had at the
//! moment of `fork()`: a lock another thread held then stays held forever in the child, which
//! deadlocks on its first use (the classic fork-with-threads hazard; CPython re-initialises
//! its own locks after fork for the same reason). mp's process-wide locks are leaf locks
//! (nothing is locked while one is held, except in the order of their ranks), so a
//! `pthread_atfork` *prepare* handler takes all of them before `fork()` — no other thread is
//! then inside one of them, so the protected data is consistent — and the parent and child
//! handlers release them right after.
//!
//! Each lock is declared with [`fork_lock!`](crate::fork_lock), which puts it in a link-time
//! table ([`FORK_LOCKS`]) with its rank: the prepare handler takes them in rank order, outer
//! first. The table is complete before `main`: nothing is registered at run time, so no
//! first use of a lock can wait for the registry while a concurrent fork holds the registry
//! and waits for a lock the first user holds (a deadlock that registering on first use had,
//! `tests/tests/process_fork_registration.rs`). This module knows none of the locks.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

thread_local! {
    /// The guards the prepare handler took, released by the parent and child handlers (which
    /// run in the same thread as the prepare handler: the forking one, and its copy).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A lock the prepare handler takes: its rank, and how to take it (`None`: not now).
pub(crate) trait Held: Sync {
    /// Locks of lower rank are taken first.
    fn rank(&self) -> u8;
    /// Takes the lock for a fork, unless the forking thread holds it already.
    fn hold(&'static self) -> Option<Box<dyn Any>>;
}

/// Every lock held across `fork()`, gathered by the linker from [`fork_lock!`](crate::fork_lock)s.
#[linkme::distributed_slice]
pub(crate) static FORK_LOCKS: [&'static dyn Held];

/// Every [`Epoch`], forgotten in fork children.
#[linkme::distributed_slice]
pub(crate) static EPOCHS: [&'static Epoch];

/// Declares a process-wide [`ForkLock`](crate::atfork::ForkLock) static and enters it in
/// [`FORK_LOCKS`](crate::atfork::FORK_LOCKS).
#[macro_export]
#[doc(hidden)]
macro_rules! fork_lock {
    ($(#[$m:meta])* $vis:vis static $name:ident: $ty:ty = $init:expr;) => {
        $(#[$m])* $vis static $name: $ty = $init;
        const _: () = {
            #[linkme::distributed_slice($crate::atfork::FORK_LOCKS)]
            static ENTRY: &'static dyn $crate::atfork::Held = &$name;
        };
    };
}

/// A `skip` for [`ForkLock::with_skip`]: the lock is always taken.
pub(crate) fn never() -> bool {
    false
}

/// A process-wide lock that is held across `fork()`: a fork child always finds it free and
/// its data consistent. Declare it with [`fork_lock!`](crate::fork_lock).
pub(crate) struct ForkLock<T: 'static> {
    rank: u8,
    skip: fn() -> bool,
    lock: Mutex<T>,
}

impl<T: Send + 'static> ForkLock<T> {
    /// A lock of `rank`: locks that nest must have ranks in their nesting order, outer first.
    pub(crate) const fn new(rank: u8, value: T) -> ForkLock<T> {
        ForkLock::with_skip(rank, value, never)
    }

    /// A lock of `rank` that the prepare handler does not take when `skip` says the forking
    /// thread holds it already.
    pub(crate) const fn with_skip(rank: u8, value: T, skip: fn() -> bool) -> ForkLock<T> {
        ForkLock {
            rank,
            skip,
            lock: Mutex::new(value),
        }
    }

    /// Its rank.
    pub(crate) const fn rank(&self) -> u8 {
        self.rank
    }

    /// Locks it (a poisoned lock is taken as it is: mp's data stays consistent under panics).
    /// In a debug build, taking it while this thread holds a lock of the same or a higher
    /// rank panics: the prepare handler takes them in rank order, so such a nesting could
    /// deadlock with a concurrent fork.
    pub(crate) fn lock(&'static self) -> ForkGuard<T> {
        // Before any lock is held: a first registration waits for a concurrent fork only.
        register();
        #[cfg(debug_assertions)]
        ranks::enter(self.rank);
        ForkGuard {
            guard: self.lock.lock().unwrap_or_else(|e| e.into_inner()),
            #[cfg(debug_assertions)]
            rank: self.rank,
        }
    }
}

/// A held [`ForkLock`].
pub(crate) struct ForkGuard<T: 'static> {
    guard: MutexGuard<'static, T>,
    #[cfg(debug_assertions)]
    rank: u8,
}

impl<T> std::ops::Deref for ForkGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for ForkGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(debug_assertions)]
impl<T> Drop for ForkGuard<T> {
    fn drop(&mut self) {
        ranks::leave(self.rank);
    }
}

/// The ranks of the [`ForkLock`]s this thread holds (debug builds: the order check).
#[cfg(debug_assertions)]
mod ranks {
    use std::cell::RefCell;

    thread_local! {
        static HELD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn enter(rank: u8) {
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(&top) = h.iter().max() {
                assert!(
                    top < rank,
                    "mp lock order: a lock of rank {rank} taken while holding one of rank {top}"
                );
            }
            h.push(rank);
        });
    }

    pub(super) fn leave(rank: u8) {
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|&r| r == rank) {
                h.remove(i);
            }
        });
    }
}

impl<T: Send + 'static> Held for ForkLock<T> {
    fn rank(&self) -> u8 {
        self.rank
    }

    fn hold(&'static self) -> Option<Box<dyn Any>> {
        if (self.skip)() {
            return None;
        }
        let guard: MutexGuard<'static, T> = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Some(Box::new(guard))
    }
}

/// An ownership epoch: the number under which a process owns the references its handles hold
/// elsewhere (manager proxies, arena blocks). Chosen at random on first use; every fork child
/// starts without one (this module's child handler forgets every epoch in [`EPOCHS`]), so its
/// copies of the parent's handles own nothing, unless the parent lent it its references, in
/// which case the child [`set`](Epoch::set)s the parent's epoch back right after `fork()`.
pub(crate) struct Epoch {
    value: AtomicU64,
}

impl Epoch {
    /// An epoch; enter it in [`EPOCHS`] too.
    pub(crate) const fn new() -> Epoch {
        Epoch {
            value: AtomicU64::new(0),
        }
    }

    /// The current epoch (0: none yet).
    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// Sets it: a lent fork child restores its parent's, a process that gave everything back
    /// forgets it (0). Async-signal-safe (an atomic store).
    pub(crate) fn set(&self, e: u64) {
        self.value.store(e, Ordering::Release);
    }

    /// The current epoch, choosing a fresh one if there is none; `true` when this call chose it.
    pub(crate) fn choose(&'static self) -> (u64, bool) {
        let e = self.get();
        if e != 0 {
            return (e, false);
        }
        register();
        let mut fresh = 0;
        while fresh == 0 {
            let mut b = [0u8; 8];
            crate::sys::random_bytes(&mut b);
            fresh = u64::from_ne_bytes(b);
        }
        match self
            .value
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => (fresh, true),
            Err(now) => (now, false),
        }
    }
}

/// The locks, outer first.
fn ordered() -> Vec<&'static dyn Held> {
    let mut locks: Vec<&'static dyn Held> = FORK_LOCKS.iter().copied().collect();
    locks.sort_by_key(|l| l.rank());
    locks
}

extern "C" fn prepare() {
    let guards: Vec<Box<dyn Any>> = ordered().iter().filter_map(|l| l.hold()).collect();
    let _ = HELD.try_with(|h| h.borrow_mut().extend(guards));
}

extern "C" fn release() {
    let _ = HELD.try_with(|h| {
        let mut h = h.borrow_mut();
        while let Some(guard) = h.pop() {
            drop(guard);
        }
    });
}

extern "C" fn release_in_child() {
    crate::thread::note_forked();
    // Async-signal-safe: atomic loads and stores.
    for epoch in EPOCHS {
        epoch.set(0);
    }
    release();
}

/// Registers the handlers (once per process, before `main` in a binary that starts processes;
/// a fork child inherits the registration).
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain extern "C" fns taking no arguments, as pthread_atfork expects.
        unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release_in_child)) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    crate::fork_lock! {
        static INNER: ForkLock<u32> = ForkLock::new(201, 0);
    }
    crate::fork_lock! {
        static OUTER: ForkLock<u32> = ForkLock::new(200, 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a lock of rank 200 taken while holding one of rank 201")]
    fn taking_locks_against_their_rank_order_panics_in_debug_builds() {
        let _inner = INNER.lock();
        let _outer = OUTER.lock();
    }

    #[test]
    fn locks_taken_in_rank_order_nest() {
        let mut outer = OUTER.lock();
        let inner = INNER.lock();
        *outer += *inner % 2;
    }

    #[test]
    fn the_table_lists_every_lock_in_rank_order() {
        let locks = ordered();
        let ranks: Vec<u8> = locks.iter().map(|l| l.rank()).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
        let at = |l: &'static ForkLock<u32>| {
            locks
                .iter()
                .position(|e| std::ptr::addr_eq(*e as *const dyn Held, l as *const _))
        };
        let (outer, inner) = (at(&OUTER).unwrap(), at(&INNER).unwrap());
        // Declared inner first: the rank, not the order of declaration, decides.
        assert!(outer < inner);
    }

    #[test]
    fn a_fork_child_finds_the_locks_free_and_their_data_consistent() {
        // Another thread holds INNER with its data odd (mid-update) until it sees this thread
        // about to fork; the prepare handler waits for it, so the child sees the data even.
        let forking = std::sync::Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let f2 = forking.clone();
        let t = std::thread::spawn(move || {
            let mut g = INNER.lock();
            *g += 1;
            tx.send(()).unwrap();
            while !f2.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            *g += 1;
        });
        rx.recv().unwrap();
        forking.store(true, Ordering::Release);
        // SAFETY: the child only tries two locks and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // Free (a lock another test poisoned is free too) and even.
            let free = |l: &'static ForkLock<u32>| match l.lock.try_lock() {
                Ok(g) => Some(*g),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(*p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            let ok = free(&OUTER).is_some() && free(&INNER).is_some_and(|v| v % 2 == 0);
            // SAFETY: leaving the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        assert!(pid > 0);
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        t.join().unwrap();
        // And the parent's handler released them: this thread can take them.
        drop((OUTER.lock(), INNER.lock()));
    }
}
