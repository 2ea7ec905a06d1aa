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

#[cfg(not(loom))]
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
#[cfg(not(loom))]
const SPINS: u32 = 100;
/// Under the model checker a spin only multiplies the interleavings to explore.
#[cfg(loom)]
const SPINS: u32 = 0;

/// The atomics of a [`RawMutex`]: loom's under the model checker (`--cfg loom`, see the
/// `loom_tests` below and `docs/reliability.md`), which then explores every interleaving of
/// its operations.
#[cfg(not(loom))]
pub(crate) type Word = AtomicU32;
#[cfg(loom)]
pub(crate) type Word = loom::sync::atomic::AtomicU32;

/// A primitive's futex sleep while `word` is `expected`, at most `timeout`: the kernel's, or
/// under the model checker its blocking queue, where a timeout never fires (so that a lost
/// wake-up shows as a deadlock). Returns false when the timeout ran out.
pub(crate) fn sleep_word(word: &Word, expected: u32, timeout: Option<Duration>) -> bool {
    #[cfg(not(loom))]
    return wait(word, expected, timeout);
    #[cfg(loom)]
    {
        let _ = timeout;
        loom_futex::wait(word, expected);
        true
    }
}

/// Marks where the code relies on `SeqCst` accesses to order a store before a later load of
/// another word (a waiter count against the word it sleeps on, Dekker-style). A no-op: those
/// accesses already order it (and the kernel's futex wait has a full barrier before it reads
/// the word). Under the model checker, which treats `SeqCst` accesses as `AcqRel`, it is the
/// `SeqCst` fence that lets loom see what the hardware guarantees.
#[inline(always)]
pub(crate) fn sc_point() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Wakes up to `n` sleepers of [`sleep_word`] on `word`.
pub(crate) fn wake_sleepers(word: &Word, n: i32) {
    #[cfg(not(loom))]
    wake(word, n);
    #[cfg(loom)]
    loom_futex::wake(word, n.max(0) as usize);
}

/// The mutex's futex sleep: at most `slice`; false when it ran out. Under the model a sleep
/// is a yield that may always "time out", so that every check of a dead holder is explored.
#[cfg(not(loom))]
pub(crate) fn sleep_on(word: &Word, expected: u32, slice: Duration) -> bool {
    wait(word, expected, Some(slice))
}

#[cfg(loom)]
pub(crate) fn sleep_on(word: &Word, expected: u32, _slice: Duration) -> bool {
    if word.load(Ordering::Relaxed) == expected {
        loom::thread::yield_now();
    }
    false
}

#[cfg(not(loom))]
pub(crate) fn wake_word(word: &Word, n: i32) {
    wake(word, n);
}

#[cfg(loom)]
pub(crate) fn wake_word(_word: &Word, _n: i32) {}

/// Whether `pid` is alive: the model's own table under the model checker.
#[cfg(not(loom))]
fn holder_alive(pid: i32) -> bool {
    pid_alive(pid)
}

#[cfg(loom)]
fn holder_alive(pid: i32) -> bool {
    loom_model::alive(pid)
}

/// The state word of a [`RawMutex`]: 0 when unlocked, else the holder's pid (Linux pids are
/// below 2^22) with two flags.
const UNLOCKED: u32 = 0;
const PID_MASK: u32 = (1 << 30) - 1;
/// Somebody sleeps (or may sleep) on the lock: `unlock` must wake one.
const CONTENDED: u32 = 1 << 30;
/// The holder died holding the lock: nobody gets it until [`RawMutex::take_over`] or
/// [`RawMutex::recover`].
const DIED: u32 = 1 << 31;

/// A process-shared mutex without an owner requirement on unlock (Python's `Lock` may be
/// released by any thread or process).
///
/// The holder's pid lives in the state word itself, not beside it, so that "the holder is
/// dead" is one compare-and-swap on the value that was seen: a waiter that read a dead pid
/// can never mark a mutex abandoned after somebody else took it over and locked it again
/// (with the pid in a word of its own, that stale read made two holders).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawMutex {
    state: Word,
    owner_tid: Word,
    _reserved: [AtomicU32; 2],
}

impl Default for RawMutex {
    fn default() -> RawMutex {
        RawMutex {
            state: Word::new(UNLOCKED),
            owner_tid: Word::new(0),
            _reserved: Default::default(),
        }
    }
}

impl RawMutex {
    #[inline]
    fn me() -> (u32, u32) {
        #[cfg(loom)]
        let (pid, tid) = loom_model::me();
        #[cfg(not(loom))]
        let (pid, tid) = ids();
        (pid as u32 & PID_MASK, tid as u32)
    }

    #[inline]
    fn died(s: u32) -> Result<(), OwnerDied> {
        if s & DIED != 0 {
            Err(OwnerDied {
                pid: (s & PID_MASK) as i32,
            })
        } else {
            Ok(())
        }
    }

    /// Takes the lock if it is free. `Ok(false)` if it is held.
    #[inline]
    pub(crate) fn try_lock(&self) -> Result<bool, OwnerDied> {
        let (pid, tid) = Self::me();
        match self
            .state
            .compare_exchange(UNLOCKED, pid, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                self.owner_tid.store(tid, Ordering::Relaxed);
                Ok(true)
            }
            Err(s) => Self::died(s).map(|()| false),
        }
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
            let Some(s) = self.take_or_contend()? else {
                return Ok(true);
            };
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => return Ok(false),
                Some(d) => (d - now).min(interval),
                None => interval,
            };
            if !sleep_on(&self.state, s, slice) {
                // Slept a whole slice: is the holder still there?
                self.check_holder();
                interval = (interval * 2).min(MAX_CHECK);
            }
        }
    }

    /// The slow path's step before a sleep: takes the lock if it is free (marked contended:
    /// others may be asleep, so its unlock must wake one), or marks it contended and returns
    /// the state word's value to sleep on (`Some`).
    pub(crate) fn take_or_contend(&self) -> Result<Option<u32>, OwnerDied> {
        let (pid, tid) = Self::me();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            Self::died(s)?;
            if s == UNLOCKED {
                match self.state.compare_exchange(
                    UNLOCKED,
                    pid | CONTENDED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        self.owner_tid.store(tid, Ordering::Relaxed);
                        return Ok(None);
                    }
                    Err(now) => s = now,
                }
                continue;
            }
            if s & CONTENDED != 0 {
                return Ok(Some(s));
            }
            match self.state.compare_exchange(
                s,
                s | CONTENDED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Some(s | CONTENDED)),
                Err(now) => s = now,
            }
        }
    }

    /// After a sleep that saw no change: marks the mutex abandoned if its holder died (and
    /// wakes everybody waiting, who then get [`OwnerDied`]). Marking is a CAS on the very
    /// value whose pid was found dead, so it cannot hit a later holder.
    pub(crate) fn check_holder(&self) {
        let held = self.state.load(Ordering::Relaxed);
        let holder = (held & PID_MASK) as i32;
        if held != UNLOCKED
            && held & DIED == 0
            && holder != 0
            && !holder_alive(holder)
            && self
                .state
                .compare_exchange(held, held | DIED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            wake_word(&self.state, i32::MAX);
        }
    }

    /// The word waiters sleep on (async waiters watch it through `aio::futex`).
    #[cfg(all(feature = "async", not(loom)))]
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.state
    }

    /// Releases the lock (by anyone). Returns false if it was not held, or if its holder
    /// died (only [`RawMutex::take_over`] and [`RawMutex::recover`] end that).
    #[inline]
    pub(crate) fn unlock(&self) -> bool {
        self.release().unwrap_or(false)
    }

    /// [`RawMutex::unlock`] that tells a dead holder's mutex (left as it is) from an unlocked
    /// one (`Ok(false)`).
    #[inline]
    pub(crate) fn release(&self) -> Result<bool, OwnerDied> {
        self.owner_tid.store(0, Ordering::Relaxed);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s == UNLOCKED {
                return Ok(false);
            }
            Self::died(s)?;
            match self.state.compare_exchange_weak(
                s,
                UNLOCKED,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s & CONTENDED != 0 {
            wake_word(&self.state, 1);
        }
        Ok(true)
    }

    /// Whether the lock is held.
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNLOCKED
    }

    /// The (pid, tid) of the holder, if held.
    pub(crate) fn owner(&self) -> Option<(i32, i32)> {
        let s = self.state.load(Ordering::Relaxed);
        let pid = (s & PID_MASK) as i32;
        (pid != 0).then(|| (pid, self.owner_tid.load(Ordering::Relaxed) as i32))
    }

    /// Whether the calling thread holds the lock.
    pub(crate) fn held_by_me(&self) -> bool {
        let (pid, tid) = Self::me();
        self.owner() == Some((pid as i32, tid as i32))
    }

    /// The pid of a holder that died holding the lock.
    pub(crate) fn abandoned_by(&self) -> Option<i32> {
        Self::died(self.state.load(Ordering::Acquire))
            .err()
            .map(|e| e.pid)
    }

    /// Pretends that `pid` holds the (locked) mutex, for tests of dead holders.
    #[cfg(test)]
    pub(crate) fn set_owner_pid_for_tests(&self, pid: u32) {
        let s = self.state.load(Ordering::Relaxed);
        assert!(s != UNLOCKED, "the mutex must be locked");
        self.state
            .store((s & !PID_MASK) | (pid & PID_MASK), Ordering::Relaxed);
    }

    /// Takes over a mutex whose holder died: if it is marked abandoned, the caller becomes
    /// its holder (it stays locked, now by the caller) and the mark is cleared, so that the
    /// caller can repair what the lock protects before anybody else gets in. Of several
    /// concurrent callers exactly one succeeds. Returns whether the caller now holds the lock.
    pub(crate) fn take_over(&self) -> bool {
        let s = self.state.load(Ordering::Acquire);
        if s & DIED == 0 {
            return false;
        }
        let (pid, tid) = Self::me();
        // CONTENDED makes the caller's `unlock` wake the waiters that went to sleep meanwhile.
        if self
            .state
            .compare_exchange(s, pid | CONTENDED, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.owner_tid.store(tid, Ordering::Relaxed);
        true
    }

    /// Makes an abandoned mutex usable again: it becomes unlocked. Returns whether it was
    /// abandoned (of several concurrent callers, one gets true).
    pub(crate) fn recover(&self) -> bool {
        let s = self.state.load(Ordering::Acquire);
        if s & DIED == 0
            || self
                .state
                .compare_exchange(s, UNLOCKED, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        self.owner_tid.store(0, Ordering::Relaxed);
        wake_word(&self.state, i32::MAX);
        true
    }
}

/// A condition whose bookkeeping the caller's [`RawMutex`] protects (a queue's `not_empty`,
/// `not_full` and `all_done`).
///
/// `waiters` counts the processes asleep (or about to sleep) on it, `signals` how many of them
/// were already told to wake up and have not run yet. A notifier wakes a sleeper only if one is
/// left unsignalled, so a producer that puts many items while a consumer is being woken (a
/// cross-CPU wake-up takes ~30 us) makes one `futex_wake` call, not one per item.
///
/// A sleeper: [`begin_sleep`](Cond::begin_sleep) under the mutex, release it,
/// [`sleep`](Cond::sleep), take the mutex again, [`end_sleep`](Cond::end_sleep), look at its
/// predicate. A notifier: change the state and [`signal_one`](Cond::signal_one) or
/// [`signal_all`](Cond::signal_all) under the mutex, release it, [`wake`](Cond::wake) if told
/// to. Model-checked (`loom_tests`) for lost wake-ups without any sleep timing out.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Cond {
    seq: Word,
    waiters: Word,
    signals: Word,
    _pad: Word,
}

impl Default for Cond {
    fn default() -> Cond {
        Cond {
            seq: Word::new(0),
            waiters: Word::new(0),
            signals: Word::new(0),
            _pad: Word::new(0),
        }
    }
}

impl Cond {
    /// Under the mutex: marks one sleeper as signalled. Returns whether a futex wake-up is
    /// due (call [`Cond::wake`] after releasing the mutex).
    #[inline]
    pub(crate) fn signal_one(&self) -> bool {
        let w = self.waiters.load(Ordering::Relaxed);
        let s = self.signals.load(Ordering::Relaxed);
        if w <= s {
            return false;
        }
        self.signals.store(s + 1, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
        true
    }

    /// Under the mutex: marks every sleeper as signalled. Returns whether a wake-up is due.
    #[inline]
    pub(crate) fn signal_all(&self) -> bool {
        let w = self.waiters.load(Ordering::Relaxed);
        if w == 0 {
            return false;
        }
        self.signals.store(w, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
        true
    }

    /// After releasing the mutex: wakes one sleeper (or all).
    pub(crate) fn wake(&self, all: bool) {
        #[cfg(not(loom))]
        wake_word(&self.seq, if all { i32::MAX } else { 1 });
        #[cfg(loom)]
        loom_futex::wake(&self.seq, if all { usize::MAX } else { 1 });
    }

    /// Under the mutex: counts the caller as a sleeper; returns the value to sleep on.
    #[inline]
    pub(crate) fn begin_sleep(&self) -> u32 {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        self.seq.load(Ordering::Acquire)
    }

    /// With the mutex released: sleeps while nobody signalled since `seen`, at most `slice`
    /// (the safety net for a notifier that died between its signal and its wake-up; the model
    /// checker's sleeps have none, so a lost wake-up shows as a hang there).
    pub(crate) fn sleep(&self, seen: u32, slice: Duration) {
        #[cfg(not(loom))]
        wait(&self.seq, seen, Some(slice));
        #[cfg(loom)]
        {
            let _ = slice;
            loom_futex::wait(&self.seq, seen);
        }
    }

    /// Under the mutex again: uncounts the caller. With `pass_on`, a caller that leaves
    /// without acting on a notification it may have taken (the word moved past `seen`) marks
    /// another sleeper signalled; returns whether a wake-up is then due.
    #[inline]
    pub(crate) fn end_sleep(&self, seen: u32, pass_on: bool) -> bool {
        let w = self.waiters.load(Ordering::Relaxed).saturating_sub(1);
        self.waiters.store(w, Ordering::Relaxed);
        let s = self
            .signals
            .load(Ordering::Relaxed)
            .saturating_sub(1)
            .min(w);
        self.signals.store(s, Ordering::Relaxed);
        pass_on && self.seq.load(Ordering::Relaxed) != seen && self.signal_one()
    }

    /// The word sleepers wait on (async waiters watch it through `aio::futex`).
    #[cfg(all(feature = "async", not(loom)))]
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.seq
    }
}

/// A process-shared condition variable for use with a [`RawMutex`]. Wakeups may be spurious.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RawCondvar {
    seq: Word,
    waiters: Word,
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
            if sleep_word(&self.seq, seq, Some(slice)) || self.seq.load(Ordering::Acquire) != seq {
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

    /// An async waiter's start (`aio::futex`), with the mutex held: counts it and returns
    /// the word to watch and its value now. The waiter then releases the mutex, waits for
    /// the word to change, and calls [`RawCondvar::end_async_wait`].
    #[cfg(feature = "async")]
    pub(crate) fn begin_async_wait(&self) -> (&AtomicU32, u32) {
        let seq = self.seq.load(Ordering::Acquire);
        self.waiters.fetch_add(1, Ordering::AcqRel);
        (&self.seq, seq)
    }

    /// Uncounts an async waiter (see [`RawCondvar::begin_async_wait`]).
    #[cfg(feature = "async")]
    pub(crate) fn end_async_wait(&self) {
        self.waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        self.seq.fetch_add(1, Ordering::Release);
        if self.waiters.load(Ordering::Acquire) > 0 {
            wake_sleepers(&self.seq, i32::MAX);
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
        m.set_owner_pid_for_tests(0x3fff_fff0);
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
        m.set_owner_pid_for_tests(0x3fff_fff0);
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

    /// Holders that "die" (leave the mutex locked under a pid that does not exist) while
    /// others wait, again and again: every death is taken over by exactly one waiter, and
    /// no two threads are ever inside at once. A waiter that read a dead holder's pid just
    /// before somebody else took the mutex over must not mark the new holder dead.
    #[test]
    fn deaths_never_make_two_holders() {
        use std::sync::atomic::AtomicBool;
        let shared = Arc::new((
            RawMutex::default(),
            AtomicBool::new(false),
            AtomicU32::new(0),
        ));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let (m, inside, deaths) = &*shared;
                    for i in 0..400u32 {
                        loop {
                            match m.lock(Some(Instant::now() + Duration::from_secs(20))) {
                                Ok(true) => break,
                                Ok(false) => panic!("lock timed out"),
                                Err(_) if m.take_over() => break,
                                Err(_) => {}
                            }
                        }
                        assert!(!inside.swap(true, Ordering::AcqRel), "two holders");
                        std::hint::spin_loop();
                        inside.store(false, Ordering::Release);
                        if (i + t) % 100 == 99 {
                            deaths.fetch_add(1, Ordering::Relaxed);
                            m.set_owner_pid_for_tests(0x3fff_fff0 + t);
                        } else {
                            assert!(m.unlock());
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(shared.2.load(Ordering::Relaxed), 16);
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

/// A futex as the kernel gives it, for the model checker: `wait` checks the word and
/// queues the caller atomically (one lock, as the kernel's hash bucket), and sleeps until a
/// `wake` takes it off the queue; no timeouts, no spurious returns.
#[cfg(loom)]
pub(crate) mod loom_futex {
    use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};

    /// The sleepers: (word address, ticket), in the order they went to sleep.
    struct Sleepers {
        queue: Vec<(usize, u64)>,
        next: u64,
    }

    loom::lazy_static! {
        static ref SLEEPERS: Mutex<Sleepers> = Mutex::new(Sleepers { queue: Vec::new(), next: 0 });
        static ref WOKEN: Condvar = Condvar::new();
    }

    /// Blocks (a loom block, not a spin: loom explores spin loops badly) until a `wake` of
    /// `word` takes this sleeper off the queue; returns at once if `word` is not `expected`.
    pub(crate) fn wait(word: &AtomicU32, expected: u32) {
        // The kernel's full barrier before it reads the word.
        loom::sync::atomic::fence(Ordering::SeqCst);
        let mut q = SLEEPERS.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return;
        }
        let ticket = q.next;
        q.next += 1;
        q.queue.push((word as *const AtomicU32 as usize, ticket));
        while q.queue.iter().any(|&(_, t)| t == ticket) {
            q = WOKEN.wait(q).unwrap();
        }
    }

    /// [`wait`], also ended (the sleeper leaves the queue) by [`drop_sleeper`] on `dropped`:
    /// the bridge of an async waiter whose future is dropped stops sleeping on the word.
    pub(crate) fn wait_or_drop(word: &AtomicU32, expected: u32, dropped: &AtomicBool) {
        let mut q = SLEEPERS.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected || dropped.load(Ordering::SeqCst) {
            return;
        }
        let ticket = q.next;
        q.next += 1;
        q.queue.push((word as *const AtomicU32 as usize, ticket));
        while q.queue.iter().any(|&(_, t)| t == ticket) && !dropped.load(Ordering::SeqCst) {
            q = WOKEN.wait(q).unwrap();
        }
        q.queue.retain(|&(_, t)| t != ticket);
    }

    /// Drops the future of a [`wait_or_drop`] sleeper.
    pub(crate) fn drop_sleeper(dropped: &AtomicBool) {
        let q = SLEEPERS.lock().unwrap();
        dropped.store(true, Ordering::SeqCst);
        drop(q);
        WOKEN.notify_all();
    }

    /// Takes up to `n` sleepers of `word` off the queue, oldest first.
    pub(crate) fn wake(word: &AtomicU32, n: usize) {
        let at = word as *const AtomicU32 as usize;
        let mut q = SLEEPERS.lock().unwrap();
        let mut left = n;
        q.queue.retain(|&(a, _)| {
            if a == at && left > 0 {
                left -= 1;
                false
            } else {
                true
            }
        });
        drop(q);
        WOKEN.notify_all();
    }
}

/// The world of the model checker: each model thread says which "process" it is, and a
/// process can die (a killed lock holder).
#[cfg(loom)]
pub(crate) mod loom_model {
    use loom::sync::atomic::{AtomicU32, Ordering};

    loom::thread_local! {
        static ME: std::cell::Cell<(i32, i32)> = std::cell::Cell::new((0, 0));
    }

    loom::lazy_static! {
        static ref DEAD: AtomicU32 = AtomicU32::new(0);
    }

    /// This model thread is process `pid` (1..32).
    pub(crate) fn become_process(pid: i32) {
        ME.with(|c| c.set((pid, pid)));
    }

    pub(crate) fn me() -> (i32, i32) {
        ME.with(|c| c.get())
    }

    /// Process `pid` dies (its model thread must not touch anything afterwards).
    pub(crate) fn die(pid: i32) {
        DEAD.fetch_or(1 << pid, Ordering::SeqCst);
    }

    pub(crate) fn alive(pid: i32) -> bool {
        (0..32).contains(&pid) && DEAD.load(Ordering::SeqCst) & (1 << pid) == 0
    }
}

/// Model checking of the mutex (`RUSTFLAGS="--cfg loom" cargo test -p multiprocess --lib
/// --release loom_`): every interleaving of its atomic operations, with sleeps that may
/// always time out, within loom's preemption bound.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::loom_model::{become_process, die};
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32 as LoomU32;

    /// Explores every interleaving with at most `PREEMPTIONS` forced thread switches (loom's
    /// bound; the bugs of this kind of code need two or three).
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(PREEMPTIONS);
        // Sleeps are yields in a loop here: each one is a branch.
        b.max_branches = 20_000;
        b.check(f);
    }

    const PREEMPTIONS: usize = 2;

    /// Takes the mutex as the queue's `recover` does: a dead holder is taken over by exactly
    /// one of the callers that see it.
    fn take(m: &RawMutex) {
        loop {
            match m.lock(None) {
                Ok(true) => return,
                Ok(false) => unreachable!("no deadline"),
                Err(_) if m.take_over() => return,
                Err(_) => {}
            }
        }
    }

    /// The regression model of the two-holders bug: a holder dies; two processes take the
    /// mutex over and take it again. A waiter that read the dead pid before the take-over
    /// must not mark the next live holder dead.
    #[test]
    fn loom_a_dead_holder_never_makes_two_holders() {
        model(|| {
            let m = Arc::new(RawMutex::default());
            let inside = Arc::new(LoomU32::new(0));
            become_process(1);
            assert!(m.lock(None).unwrap());
            die(1);
            let others: Vec<_> = [2, 3]
                .into_iter()
                .map(|pid| {
                    let (m, inside) = (m.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        become_process(pid);
                        for _ in 0..2 {
                            take(&m);
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                            inside.fetch_sub(1, Ordering::SeqCst);
                            assert!(m.unlock());
                        }
                    })
                })
                .collect();
            for t in others {
                t.join().unwrap();
            }
            assert!(!m.is_locked());
        });
    }

    /// The miniature queue: a mutex (loom's, which blocks without spinning: the mutex has
    /// models of its own, and this one is about the condition), an item count and the
    /// `not_empty` condition.
    type Mini = (loom::sync::Mutex<()>, LoomU32, Cond);

    fn mini() -> Arc<Mini> {
        Arc::new((loom::sync::Mutex::new(()), LoomU32::new(0), Cond::default()))
    }

    /// A consumer of the miniature queue: takes one item, sleeping on `not_empty` while
    /// there is none.
    fn consume(q: &Mini) {
        let (m, items, cv) = q;
        let mut g = m.lock().unwrap();
        while items.load(Ordering::SeqCst) == 0 {
            let seen = cv.begin_sleep();
            drop(g);
            cv.sleep(seen, Duration::MAX);
            g = m.lock().unwrap();
            cv.end_sleep(seen, false);
        }
        items.fetch_sub(1, Ordering::SeqCst);
        drop(g);
    }

    /// Puts one item: one signal, one `futex_wake(1)` if due.
    fn produce(q: &Mini) {
        let (m, items, cv) = q;
        let g = m.lock().unwrap();
        items.fetch_add(1, Ordering::SeqCst);
        let wake = cv.signal_one();
        drop(g);
        if wake {
            cv.wake(false);
        }
    }

    /// A queue in miniature on the real [`Cond`] protocol: two consumers, a producer of two
    /// items. Sleeps never time out here, so a lost wake-up is a consumer that never returns
    /// (loom reports it).
    #[test]
    fn loom_cond_wakes_every_needed_sleeper() {
        model(|| {
            let q = mini();
            let consumers: Vec<_> = [1, 2]
                .into_iter()
                .map(|pid| {
                    let q = q.clone();
                    loom::thread::spawn(move || {
                        become_process(pid);
                        consume(&q);
                    })
                })
                .collect();
            become_process(3);
            produce(&q);
            produce(&q);
            for t in consumers {
                t.join().unwrap();
            }
            assert_eq!(q.1.load(Ordering::SeqCst), 0);
        });
    }

    /// An async getter (its bridge asleep on the word on its behalf) and a blocking one wait;
    /// one item comes, and its `futex_wake(1)` may reach either. The async getter is then
    /// dropped: if the wake-up was its, it must hand it on (`end_sleep` with `pass_on`), or
    /// the blocking getter sleeps forever beside an item.
    #[test]
    fn loom_cond_a_cancelled_sleeper_passes_its_wakeup_on() {
        model(|| {
            let q = mini();
            let dropped = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let async_getter = {
                let (q, dropped) = (q.clone(), dropped.clone());
                loom::thread::spawn(move || {
                    become_process(1);
                    let (m, _, cv) = &*q;
                    let g = m.lock().unwrap();
                    let seen = cv.begin_sleep();
                    drop(g);
                    // The bridge sleeps on the word on the task's behalf, until a wake-up
                    // reaches it or the model drops the future (below).
                    super::loom_futex::wait_or_drop(&cv.seq, seen, &dropped);
                    // Dropped: leave, handing on what it may have been woken for.
                    let g = m.lock().unwrap();
                    let wake = cv.end_sleep(seen, true);
                    drop(g);
                    if wake {
                        cv.wake(false);
                    }
                })
            };
            let blocking_getter = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    become_process(2);
                    consume(&q);
                })
            };
            become_process(3);
            produce(&q);
            blocking_getter.join().unwrap();
            super::loom_futex::drop_sleeper(&dropped);
            async_getter.join().unwrap();
            assert_eq!(q.1.load(Ordering::SeqCst), 0);
        });
    }

    /// Live holders only: mutual exclusion, and every waiter gets in.
    #[test]
    fn loom_live_holders_exclude_each_other() {
        model(|| {
            let m = Arc::new(RawMutex::default());
            let inside = Arc::new(LoomU32::new(0));
            let ts: Vec<_> = [1, 2]
                .into_iter()
                .map(|pid| {
                    let (m, inside) = (m.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        become_process(pid);
                        assert!(m.lock(None).unwrap());
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        assert!(m.unlock());
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
            assert!(!m.is_locked());
        });
    }
}

/// Model checking of [`RawCondvar`] with [`RawMutex`] (the barrier's wait): futex sleeps
/// that never time out, so a lost wake-up is a deadlock loom reports.
#[cfg(all(test, loom))]
mod loom_condvar_tests {
    use super::loom_model::become_process;
    use super::*;
    use loom::sync::Arc;

    /// A waiter waits under the mutex for a flag; a notifier sets it under the mutex and
    /// notifies: the waiter returns, whatever the interleaving (two waiters exceed loom's
    /// branch budget with the mutex's yielding sleeps).
    #[test]
    fn loom_condvar_notify_all_wakes_the_waiter() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.max_branches = 20_000;
        b.check(|| {
            let st = Arc::new((RawMutex::default(), RawCondvar::default(), Word::new(0)));
            let waiters: Vec<_> = [2]
                .into_iter()
                .map(|pid| {
                    let st = st.clone();
                    loom::thread::spawn(move || {
                        become_process(pid);
                        let (m, cv, flag) = &*st;
                        assert!(m.lock(None).unwrap());
                        while flag.load(Ordering::Relaxed) == 0 {
                            cv.wait(m, None).unwrap();
                        }
                        assert!(m.unlock());
                    })
                })
                .collect();
            become_process(1);
            let (m, cv, flag) = &*st;
            assert!(m.lock(None).unwrap());
            flag.store(1, Ordering::Relaxed);
            cv.notify_all();
            assert!(m.unlock());
            for w in waiters {
                w.join().unwrap();
            }
        });
    }
}
