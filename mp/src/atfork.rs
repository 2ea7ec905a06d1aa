//! Keeps mp's process-wide locks usable in a fork child.
//!
//! A fork child of a multi-threaded process inherits every lock in the state it had at the
//! moment of `fork()`: a lock another thread held then stays held forever in the child, which
//! deadlocks on its first use (the classic fork-with-threads hazard; CPython re-initialises
//! its own locks after fork for the same reason). mp's process-wide locks are leaf locks
//! (nothing is locked while one is held, except in the fixed order below), so a
//! `pthread_atfork` *prepare* handler takes all of them before `fork()` — no other thread is
//! then inside one of them, so the protected data is consistent — and the parent and child
//! handlers release them right after.

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard, Once};

thread_local! {
    /// The guards the prepare handler took, released by the parent and child handlers (which
    /// run in the same thread as the prepare handler: the forking one, and its copy).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

fn hold<T: 'static>(m: &'static Mutex<T>) {
    let guard: MutexGuard<'static, T> = m.lock().unwrap_or_else(|e| e.into_inner());
    let _ = HELD.try_with(|h| h.borrow_mut().push(Box::new(guard)));
}

extern "C" fn prepare() {
    // The order is the nesting order of these locks in mp (outer first).
    if let Some(m) = crate::managers::refs_lock_for_fork() {
        hold(m);
    }
    hold(crate::popen::launcher_lock());
    hold(crate::forkserver::client_lock());
    hold(crate::forkserver::inherited_lock());
    hold(crate::context::chosen_lock());
    hold(crate::context::executable_lock());
    hold(crate::managers::known_lock());
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
