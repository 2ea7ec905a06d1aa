//! Process-shared futex primitives: the building blocks of every lock, condition and queue.
//!
//! Everything here lives in shared memory ([`crate::shm::Region`]) and is made only of atomics,
//! so an all-zero region is a valid, unlocked state. Futex calls use the shared (not
//! `FUTEX_PRIVATE`) operations so that waiters in different processes meet.
//!
//! [`RawMutex`] records its holder's pid. A waiter that has slept for a while checks whether
//! the holder is still alive; if it died holding the lock (killed, crashed), the mutex is
//! marked *abandoned*: every waiter and every later `lock` gets [`OwnerDied`] until somebody
//! calls [`RawMutex::recover`]. CPython hangs forever in that case.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::shm::pid_alive;
use crate::sys;

/// Bumped in a fork child (by a `pthread_atfork` handler) so that the cached ids below are
/// recomputed there.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// (generation, pid, tid) of the calling thread, as of `generation`.
    static IDS: Cell<(u32, i32, i32)> = const { Cell::new((0, 0, 0)) };
}

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic add.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The calling thread's `(pid, tid)`, without a system call on the fast path: `getpid` and
/// `gettid` are real system calls in glibc, too slow for a lock that aims at a few
/// nanoseconds. Cached per thread and invalidated in fork children.
#[inline]
pub(crate) fn ids() -> (i32, i32) {
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    // `try_with`: after the thread's locals are destroyed (an `atexit` handler) the slow path
    // asks the kernel every time.
    if let Ok((g, pid, tid)) = IDS.try_with(Cell::get) {
        if g == generation {
            return (pid, tid);
        }
    }
    ids_slow()
}

#[cold]
fn ids_slow() -> (i32, i32) {
    static ATFORK: Once = Once::new();
    ATFORK.call_once(|| {
        // SAFETY: registers a plain extern "C" fn taking no arguments as the child handler.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    // Read the generation after registering, so that a fork after this point is seen.
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    let ids = (sys::getpid(), sys::gettid() as i32);
    let _ = IDS.try_with(|c| c.set((generation, ids.0, ids.1)));
    ids
}

/// Sleeps while `*word == expected`, at most `timeout`. Returns false on timeout.
/// Spurious returns are possible; callers loop.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts;
    let tsp = match timeout {
        Some(t) => {
            ts = libc::timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => std::ptr::null(),
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call; a shared futex
    // wait on it with a valid (or null) relative timeout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
            0usize,
            0u32,
        )
    };
    !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
}

/// Wakes at most `n` waiters of `word`.
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: as in `wait`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            0usize,
            0usize,
            0u32,
        );
    }
}

/// Wakes every waiter of `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    wake(word, i32::MAX);
}

/// The holder of a [`RawMutex`] died while holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnerDied {
    /// The pid of the dead holder.
    pub(crate) pid: i32,
}

/// How long a waiter sleeps before it first checks that the holder is alive; the interval
/// doubles up to [`MAX_CHECK`].
pub(crate) const FIRST_CHECK: Duration = Duration::from_millis(20);
pub(crate) const MAX_CHECK: Duration = Duration::from_millis(500);

thread_local! {
    /// Whether the current waiter of this thread is still wanted (see [`set_cancel`]).
    static CANCEL: Cell<Option<fn() -> bool>> = const { Cell::new(None) };
}

/// How often a cancellable wait asks whether it is still wanted.
pub(crate) const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// Makes the long waits of this thread (a `Condition`'s, a `Barrier`'s) ask `cancel` at
/// least every [`CANCEL_CHECK`] and end early when it says so: a manager's serving thread
/// whose client went away. `None` removes it.
pub(crate) fn set_cancel(cancel: Option<fn() -> bool>) {
    let _ = CANCEL.try_with(|c| c.set(cancel));
}

/// The longest sleep a wait of this thread may take before asking [`cancelled`].
pub(crate) fn cancel_slice(slice: Option<Duration>) -> Option<Duration> {
    match CANCEL.try_with(Cell::get).ok().flatten() {
        Some(_) => Some(slice.map_or(CANCEL_CHECK, |s| s.min(CANCEL_CHECK))),
        None => slice,
    }
}

/// Whether this thread's current wait is no longer wanted.
pub(crate) fn cancelled() -> bool {
    CANCEL
        .try_with(Cell::get)
        .ok()
        .flatten()
        .is_some_and(|gone| gone())
}

/// The error of a wait that [`cancelled`] ended.
pub(crate) fn cancelled_error() -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::Eof,
        "the wait was cancelled: its client went away",
    )
}
/// Spins before sleeping: a holder on another CPU usually releases within this.
const SPINS: u32 = 100;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// A process-shared mutex without an owner requirement on unlock (Python's `Lock` may be
/// released by any thread or process).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RawMutex {
    state: AtomicU32,
    owner_pid: AtomicU32,
    owner_tid: AtomicU32,
    /// Non-zero: the pid of a holder that died holding the lock.
    abandoned: AtomicU32,
}

impl RawMutex {
    #[inline]
    fn set_owner(&self) {
        let (pid, tid) = ids();
        self.owner_pid.store(pid as u32, Ordering::Relaxed);
        self.owner_tid.store(tid as u32, Ordering::Relaxed);
    }

    #[inline]
    fn check_abandoned(&self) -> Result<(), OwnerDied> {
        match self.abandoned.load(Ordering::Acquire) {
            0 => Ok(()),
            pid => Err(OwnerDied { pid: pid as i32 }),
        }
    }

    /// Takes the lock if it is free. `Ok(false)` if it is held.
    #[inline]
    pub(crate) fn try_lock(&self) -> Result<bool, OwnerDied> {
        self.check_abandoned()?;
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.set_owner();
            return Ok(true);
        }
        Ok(false)
    }

    /// Takes the lock, waiting at most until `deadline` (`None`: forever). `Ok(false)` on
    /// timeout.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<bool, OwnerDied> {
        if self.try_lock()? {
            return Ok(true);
        }
        for _ in 0..SPINS {
            std::hint::spin_loop();
            if self.state.load(Ordering::Relaxed) == UNLOCKED && self.try_lock()? {
                return Ok(true);
            }
        }
        let mut interval = FIRST_CHECK;
        loop {
            self.check_abandoned()?;
            if self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                self.set_owner();
                return Ok(true);
            }
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => return Ok(false),
                Some(d) => (d - now).min(interval),
                None => interval,
            };
            if !wait(&self.state, CONTENDED, Some(slice)) {
                // Slept a whole slice: is the holder still there?
                let pid = self.owner_pid.load(Ordering::Relaxed) as i32;
                if self.state.load(Ordering::Relaxed) != UNLOCKED && pid != 0 && !pid_alive(pid) {
                    // Mark it once; everybody waiting gets the error.
                    let _ = self.abandoned.compare_exchange(
                        0,
                        pid as u32,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    wake_all(&self.state);
                    self.check_abandoned()?;
                }
                interval = (interval * 2).min(MAX_CHECK);
            }
        }
    }

    /// Releases the lock (by anyone). Returns false if it was not held.
    #[inline]
    pub(crate) fn unlock(&self) -> bool {
        self.owner_pid.store(0, Ordering::Relaxed);
        self.owner_tid.store(0, Ordering::Relaxed);
        match self.state.swap(UNLOCKED, Ordering::Release) {
            UNLOCKED => false,
            CONTENDED => {
                wake(&self.state, 1);
                true
            }
            _ => true,
        }
    }

    /// Whether the lock is held.
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNLOCKED
    }

    /// The (pid, tid) of the holder, if held.
    pub(crate) fn owner(&self) -> Option<(i32, i32)> {
        let pid = self.owner_pid.load(Ordering::Relaxed) as i32;
        (self.is_locked() && pid != 0).then(|| (pid, self.owner_tid.load(Ordering::Relaxed) as i32))
    }

    /// Whether the calling thread holds the lock.
    pub(crate) fn held_by_me(&self) -> bool {
        self.owner() == Some(ids())
    }

    /// The pid of a holder that died holding the lock.
    pub(crate) fn abandoned_by(&self) -> Option<i32> {
        self.check_abandoned().err().map(|e| e.pid)
    }

    /// Pretends that `pid` holds the (locked) mutex, for tests of dead holders.
    #[cfg(test)]
    pub(crate) fn set_owner_pid_for_tests(&self, pid: u32) {
        self.owner_pid.store(pid, Ordering::Relaxed);
    }

    /// Takes over a mutex whose holder died: if it is marked abandoned, the caller becomes
    /// its holder (it stays locked, now by the caller) and the mark is cleared, so that the
    /// caller can repair what the lock protects before anybody else gets in. Of several
    /// concurrent callers exactly one succeeds. Returns whether the caller now holds the lock.
    pub(crate) fn take_over(&self) -> bool {
        let pid = self.abandoned.load(Ordering::Acquire);
        if pid == 0
            || self
                .abandoned
                .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        // Still not UNLOCKED, so nobody else could take it in between. CONTENDED makes the
        // caller's `unlock` wake the waiters that went to sleep meanwhile.
        self.state.store(CONTENDED, Ordering::Release);
        self.set_owner();
        true
    }

    /// Makes an abandoned mutex usable again: it becomes unlocked. Returns whether it was
    /// abandoned.
    pub(crate) fn recover(&self) -> bool {
        if self.abandoned.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.owner_pid.store(0, Ordering::Relaxed);
        self.owner_tid.store(0, Ordering::Relaxed);
        self.state.store(UNLOCKED, Ordering::Release);
        self.abandoned.store(0, Ordering::Release);
        wake_all(&self.state);
        true
    }
}

/// A process-shared condition variable for use with a [`RawMutex`]. Wakeups may be spurious.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RawCondvar {
    seq: AtomicU32,
    waiters: AtomicU32,
}

impl RawCondvar {
    /// Releases `mutex`, sleeps until notified or `deadline`, and takes `mutex` again.
    /// Returns false if the deadline passed. The caller must hold `mutex`.
    pub(crate) fn wait(
        &self,
        mutex: &RawMutex,
        deadline: Option<Instant>,
    ) -> Result<bool, OwnerDied> {
        let seq = self.seq.load(Ordering::Acquire);
        self.waiters.fetch_add(1, Ordering::AcqRel);
        mutex.unlock();
        let mut notified = true;
        let mut interval = FIRST_CHECK;
        loop {
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => {
                    notified = false;
                    break;
                }
                Some(d) => (d - now).min(interval),
                None => interval,
            };
            if wait(&self.seq, seq, Some(slice)) || self.seq.load(Ordering::Acquire) != seq {
                break;
            }
            // Periodic wake-ups make a notifier that died mid-protocol harmless: the waiter
            // re-checks its predicate after re-taking the mutex.
            interval = (interval * 2).min(MAX_CHECK);
            if deadline.is_none() && interval == MAX_CHECK {
                break;
            }
        }
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        // Re-take the mutex even after a timeout: the caller expects to hold it.
        mutex.lock(None)?;
        Ok(notified)
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        self.seq.fetch_add(1, Ordering::Release);
        if self.waiters.load(Ordering::Acquire) > 0 {
            wake_all(&self.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn mutex_between_threads() {
        let m = Arc::new((RawMutex::default(), AtomicU32::new(0)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        assert!(m.0.lock(None).unwrap());
                        let v = m.1.load(Ordering::Relaxed);
                        m.1.store(v + 1, Ordering::Relaxed);
                        assert!(m.0.unlock());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(m.1.load(Ordering::Relaxed), 40_000);
        assert!(!m.0.unlock(), "unlocking an unlocked mutex reports it");
    }

    #[test]
    fn lock_timeout() {
        let m = RawMutex::default();
        assert!(m.lock(None).unwrap());
        let t = Instant::now();
        assert!(
            !m.lock(Some(Instant::now() + Duration::from_millis(50)))
                .unwrap()
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(m.unlock());
    }

    #[test]
    fn dead_owner_is_reported() {
        let m = RawMutex::default();
        assert!(m.lock(None).unwrap());
        // Pretend a process that does not exist holds it.
        m.owner_pid.store(0x3fff_fff0, Ordering::Relaxed);
        let err = m
            .lock(Some(Instant::now() + Duration::from_secs(5)))
            .unwrap_err();
        assert_eq!(err.pid, 0x3fff_fff0);
        assert!(m.try_lock().is_err());
        assert!(m.recover());
        assert!(m.try_lock().unwrap());
    }

    #[test]
    fn take_over_dead_owner() {
        let m = RawMutex::default();
        assert!(!m.take_over(), "nothing to take over");
        assert!(m.lock(None).unwrap());
        m.owner_pid.store(0x3fff_fff0, Ordering::Relaxed);
        assert!(
            m.lock(Some(Instant::now() + Duration::from_secs(5)))
                .is_err()
        );
        assert!(m.take_over());
        assert!(!m.take_over(), "only one caller takes over");
        assert!(m.held_by_me());
        assert!(!m.try_lock().unwrap(), "still locked, by the caller");
        assert!(m.unlock());
        assert!(m.try_lock().unwrap());
        assert!(m.unlock());
    }

    #[test]
    fn condvar_notify() {
        let s = Arc::new((
            RawMutex::default(),
            RawCondvar::default(),
            AtomicU32::new(0),
        ));
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            s2.0.lock(None).unwrap();
            while s2.2.load(Ordering::Relaxed) == 0 {
                s2.1.wait(&s2.0, None).unwrap();
            }
            s2.0.unlock();
        });
        s.0.lock(None).unwrap();
        s.2.store(1, Ordering::Relaxed);
        s.1.notify_all();
        s.0.unlock();
        t.join().unwrap();
    }

    #[test]
    fn condvar_timeout() {
        let m = RawMutex::default();
        let c = RawCondvar::default();
        m.lock(None).unwrap();
        let t = Instant::now();
        assert!(
            !c.wait(&m, Some(Instant::now() + Duration::from_millis(30)))
                .unwrap()
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert!(m.held_by_me());
        m.unlock();
    }
}
