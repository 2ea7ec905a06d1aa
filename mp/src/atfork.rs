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
//! The owners of those locks register them here ([`hold_across_fork`]) before their first
//! use, each with a rank: the prepare handler takes them in rank order, outer first. This
//! module knows none of them.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

thread_local! {
    /// The guards the prepare handler took, released by the parent and child handlers (which
    /// run in the same thread as the prepare handler: the forking one, and its copy).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A registered lock: how to take it for a fork (`None`: not now).
type Hold = Box<dyn Fn() -> Option<Box<dyn Any>> + Send + Sync>;

/// The registered locks, by rank. The prepare handler holds this lock too, across `fork()`:
/// a lock registered meanwhile is registered (and first taken) after the fork.
static LOCKS: Mutex<Vec<(u8, Hold)>> = Mutex::new(Vec::new());

fn locks() -> MutexGuard<'static, Vec<(u8, Hold)>> {
    LOCKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `lock` to be held across every `fork()` of this process from now on, after the
/// locks of lower rank (locks that nest must have ranks in their nesting order, outer first).
/// `skip` says when the forking thread holds it already (then it is not taken again). Call it
/// once per lock, before the lock's first use.
pub(crate) fn hold_across_fork<T: Send + 'static>(
    rank: u8,
    lock: &'static Mutex<T>,
    skip: fn() -> bool,
) {
    register();
    let hold: Hold = Box::new(move || {
        if skip() {
            return None;
        }
        let guard: MutexGuard<'static, T> = lock.lock().unwrap_or_else(|e| e.into_inner());
        Some(Box::new(guard))
    });
    let mut l = locks();
    let at = l.partition_point(|(r, _)| *r <= rank);
    l.insert(at, (rank, hold));
}

/// A `skip` for [`hold_across_fork`]: the lock is always taken.
pub(crate) fn never() -> bool {
    false
}

/// A process-wide lock that is held across `fork()` ([`hold_across_fork`] on first use): a
/// fork child always finds it free and its data consistent.
pub(crate) struct ForkLock<T: 'static> {
    rank: u8,
    skip: fn() -> bool,
    once: Once,
    lock: Mutex<T>,
}

impl<T: Send + 'static> ForkLock<T> {
    /// A lock of `rank` (see [`hold_across_fork`]).
    pub(crate) const fn new(rank: u8, value: T) -> ForkLock<T> {
        ForkLock::with_skip(rank, value, never)
    }

    /// A lock of `rank` that the prepare handler does not take when `skip` says the forking
    /// thread holds it already.
    pub(crate) const fn with_skip(rank: u8, value: T, skip: fn() -> bool) -> ForkLock<T> {
        ForkLock {
            rank,
            skip,
            once: Once::new(),
            lock: Mutex::new(value),
        }
    }

    /// Locks it (a poisoned lock is taken as it is: mp's data stays consistent under panics).
    pub(crate) fn lock(&'static self) -> MutexGuard<'static, T> {
        self.once
            .call_once(|| hold_across_fork(self.rank, &self.lock, self.skip));
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An ownership epoch: the number under which a process owns the references its handles hold
/// elsewhere (manager proxies, arena blocks). Chosen at random on first use; every fork child
/// starts without one (this module's child handler forgets it), so its copies of the parent's
/// handles own nothing, unless the parent lent it its references, in which case the child
/// [`set`](Epoch::set)s the parent's epoch back right after `fork()`.
pub(crate) struct Epoch {
    value: AtomicU64,
    registered: Once,
}

/// The epochs to forget in a fork child (slots, so that the child handler takes no lock).
static EPOCHS: [AtomicPtr<Epoch>; 4] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 4];

impl Epoch {
    pub(crate) const fn new() -> Epoch {
        Epoch {
            value: AtomicU64::new(0),
            registered: Once::new(),
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

    /// Registers it to be forgotten in fork children (once). [`choose`](Epoch::choose) does
    /// it too; call it first where `choose` runs under a lock that is held across `fork()`:
    /// registering takes glibc's atfork lock, which a concurrent `fork()` holds while its
    /// prepare handler waits for that lock.
    pub(crate) fn register(&'static self) {
        self.registered.call_once(|| {
            register();
            let me = self as *const Epoch as *mut Epoch;
            for slot in &EPOCHS {
                if slot
                    .compare_exchange(
                        std::ptr::null_mut(),
                        me,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    break;
                }
            }
        });
    }

    /// The current epoch, choosing a fresh one if there is none; `true` when this call chose it.
    pub(crate) fn choose(&'static self) -> (u64, bool) {
        let e = self.get();
        if e != 0 {
            return (e, false);
        }
        self.register();
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

extern "C" fn prepare() {
    let l = locks();
    let mut guards: Vec<Box<dyn Any>> = Vec::with_capacity(l.len() + 1);
    for (_, hold) in l.iter() {
        if let Some(g) = hold() {
            guards.push(g);
        }
    }
    // Released last (the guards are popped in reverse).
    guards.insert(0, Box::new(l));
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
    for slot in &EPOCHS {
        let p = slot.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: only `&'static Epoch`s are registered.
            unsafe { &*p }.set(0);
        }
    }
    release();
}

/// Registers the handlers (once per process; a fork child inherits the registration).
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

    static OUTER: Mutex<u32> = Mutex::new(0);
    static INNER: Mutex<u32> = Mutex::new(0);

    #[test]
    fn registered_locks_are_held_across_fork_in_rank_order_and_usable_in_the_child() {
        // Registered inner first: the rank, not the registration order, decides.
        hold_across_fork(201, &INNER, never);
        hold_across_fork(200, &OUTER, never);
        {
            let l = locks();
            let ranks: Vec<u8> = l.iter().map(|(r, _)| *r).collect();
            assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
        }
        // SAFETY: the child only tries two locks (the parent's handlers held them across the
        // fork, so the child's copies are free) and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = OUTER.try_lock().is_ok() && INNER.try_lock().is_ok();
            // SAFETY: leaving the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        assert!(pid > 0);
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        // And the parent's handler released them.
        assert!(OUTER.try_lock().is_ok() && INNER.try_lock().is_ok());
    }
}
