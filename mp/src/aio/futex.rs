//! Futures over futex words: how an async task waits on mp's shared-memory objects (a queue's
//! conditions, a lock, an event), which have no descriptor to hand to a reactor.
//!
//! One thread per process (the *bridge*, started at the first such wait) sleeps in
//! `futex_waitv(2)` on every word that some future waits on, plus a word of its own that a
//! new registration bumps. When a word no longer holds the value its future saw, the bridge
//! wakes that future's task. So a thousand pending `get`s cost one thread, not a thousand.
//!
//! `futex_waitv` takes at most 128 words: past 127 registrations, the bridge sleeps on the
//! first 127 and looks at the others every [`CROWDED_POLL`]. It also looks at every word at
//! least every [`SAFETY_NET`] (a notifier that died between changing a word and its wake-up
//! call).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The most words one `futex_waitv` call takes.
const WAITV_MAX: usize = 128;
/// How often words beyond [`WAITV_MAX`] are looked at.
const CROWDED_POLL: Duration = Duration::from_millis(1);
/// The longest the bridge sleeps without looking at every word.
const SAFETY_NET: Duration = Duration::from_millis(200);

/// `FUTEX_32`: the words are 32 bits (and shared: no `FUTEX_PRIVATE_FLAG`).
const FUTEX2_SIZE_U32: u32 = 2;

#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

struct Entry {
    id: u64,
    word: *const AtomicU32,
    seen: u32,
    /// Wake the task then even if the word did not change.
    until: Option<Instant>,
    waker: Waker,
}

// SAFETY: `word` points into memory that the registering future keeps mapped until it
// deregisters (its Drop), and it is only read as an atomic; the bridge reads it under the
// table's lock, which deregistration takes.
unsafe impl Send for Entry {}

struct Table {
    entries: Vec<Entry>,
    next_id: u64,
    started: bool,
}

struct Bridge {
    table: Mutex<Table>,
    /// Bumped (and woken) when the table changes, so that the sleeping bridge looks again.
    bell: AtomicU32,
}

fn bridge() -> &'static Bridge {
    static BRIDGE: OnceLock<Bridge> = OnceLock::new();
    BRIDGE.get_or_init(|| Bridge {
        table: Mutex::new(Table {
            entries: Vec::new(),
            next_id: 1,
            started: false,
        }),
        bell: AtomicU32::new(0),
    })
}

fn lock(m: &Mutex<Table>) -> MutexGuard<'_, Table> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    fn ring(&self) {
        self.bell.fetch_add(1, Ordering::Release);
        crate::futex::wake(&self.bell, 1);
    }

    fn run(&'static self) {
        let mut waitv: Vec<FutexWaitv> = Vec::with_capacity(WAITV_MAX);
        loop {
            let bell = self.bell.load(Ordering::Acquire);
            let (woken, crowded, next_deadline) = {
                let mut t = lock(&self.table);
                let mut woken = Vec::new();
                let now = Instant::now();
                let mut next_deadline: Option<Instant> = None;
                t.entries.retain(|e| {
                    // SAFETY: see `Entry`: the word is mapped while its entry is listed.
                    let value = unsafe { &*e.word }.load(Ordering::Acquire);
                    if value != e.seen || e.until.is_some_and(|u| u <= now) {
                        woken.push(e.waker.clone());
                        false
                    } else {
                        if let Some(u) = e.until {
                            next_deadline = Some(next_deadline.map_or(u, |n| n.min(u)));
                        }
                        true
                    }
                });
                waitv.clear();
                waitv.push(FutexWaitv {
                    val: bell as u64,
                    uaddr: self.bell.as_ptr() as u64,
                    flags: FUTEX2_SIZE_U32,
                    reserved: 0,
                });
                for e in t.entries.iter().take(WAITV_MAX - 1) {
                    waitv.push(FutexWaitv {
                        val: e.seen as u64,
                        uaddr: e.word as u64,
                        flags: FUTEX2_SIZE_U32,
                        reserved: 0,
                    });
                }
                (woken, t.entries.len() > WAITV_MAX - 1, next_deadline)
            };
            for w in woken {
                w.wake();
            }
            let mut slice = if crowded { CROWDED_POLL } else { SAFETY_NET };
            if let Some(d) = next_deadline {
                slice = slice.min(d.saturating_duration_since(Instant::now()));
            }
            waitv_sleep(&waitv, slice);
        }
    }
}

/// Sleeps until a word of `waitv` changes or is woken, or `slice` passes. Errors (a word no
/// longer mapped, a value that already changed) only end the sleep early.
fn waitv_sleep(waitv: &[FutexWaitv], slice: Duration) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime into a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let nanos = ts.tv_nsec as u64 + slice.subsec_nanos() as u64;
    ts.tv_sec += slice.as_secs() as libc::time_t + (nanos / 1_000_000_000) as libc::time_t;
    ts.tv_nsec = (nanos % 1_000_000_000) as libc::c_long;
    // SAFETY: futex_waitv(2) with a valid array of `len` entries and an absolute monotonic
    // timeout; every address was a live, aligned u32 when read under the table lock (the
    // kernel reads each one with fault handling, so one unmapped since fails with EFAULT).
    unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waitv.as_ptr(),
            waitv.len() as libc::c_uint,
            0 as libc::c_uint,
            &ts as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        );
    }
}

/// A future that is ready once `word` no longer holds `seen` (or spuriously: callers look
/// at their condition again and wait again).
///
/// The word must stay mapped while the future lives (the future borrows the object it
/// belongs to).
pub(crate) struct Changed<'a> {
    word: &'a AtomicU32,
    seen: u32,
    until: Option<Instant>,
    id: Option<u64>,
}

/// Waits until `word` is no longer `seen`.
pub(crate) async fn changed(word: &AtomicU32, seen: u32) -> Result<()> {
    Changed {
        word,
        seen,
        until: None,
        id: None,
    }
    .await
    .map(drop)
}

/// Waits until `word` is no longer `seen`, at most `limit`: false if the time ran out.
pub(crate) fn changed_within(word: &AtomicU32, seen: u32, limit: Duration) -> Changed<'_> {
    Changed {
        word,
        seen,
        until: Instant::now().checked_add(limit),
        id: None,
    }
}

impl Future for Changed<'_> {
    /// False if the wait ran out of time with the word unchanged.
    type Output = Result<bool>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<bool>> {
        if self.word.load(Ordering::Acquire) != self.seen {
            self.deregister();
            return Poll::Ready(Ok(true));
        }
        if self.until.is_some_and(|u| u <= Instant::now()) {
            self.deregister();
            return Poll::Ready(Ok(false));
        }
        let b = bridge();
        let mut t = lock(&b.table);
        if let Some(id) = self.id {
            if let Some(e) = t.entries.iter_mut().find(|e| e.id == id) {
                if !e.waker.will_wake(cx.waker()) {
                    e.waker = cx.waker().clone();
                }
                return Poll::Pending;
            }
            // The bridge saw a change (or the deadline) and dropped the entry: the word
            // changed, or changed back; either way the caller looks again.
            self.id = None;
            return Poll::Ready(Ok(true));
        }
        if !t.started {
            std::thread::Builder::new()
                .name("mp-async-futex".into())
                .spawn(move || b.run())
                .map_err(|e| Error::os("cannot start mp's futex bridge thread", e))?;
            t.started = true;
        }
        let id = t.next_id;
        t.next_id += 1;
        t.entries.push(Entry {
            id,
            word: self.word as *const AtomicU32,
            seen: self.seen,
            until: self.until,
            waker: cx.waker().clone(),
        });
        drop(t);
        self.id = Some(id);
        b.ring();
        // A change between the check above and the registration was missed by the bridge's
        // snapshot only if it happened before it read the word; look once more.
        if self.word.load(Ordering::Acquire) != self.seen {
            self.deregister();
            return Poll::Ready(Ok(true));
        }
        Poll::Pending
    }
}

impl Changed<'_> {
    fn deregister(&mut self) {
        if let Some(id) = self.id.take() {
            lock(&bridge().table).entries.retain(|e| e.id != id);
        }
    }
}

impl Drop for Changed<'_> {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl std::fmt::Debug for Changed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changed")
            .field("seen", &self.seen)
            .field("registered", &self.id.is_some())
            .finish()
    }
}

/// Takes `m` without blocking the executor: the async form of [`RawMutex::lock`]
/// (`crate::futex`), with the same detection of a holder that died (`Ok(Err(OwnerDied))`).
/// Cancel-safe: a dropped future holds nothing and hands a wake-up it may have taken to the
/// next waiter.
pub(crate) async fn lock_mutex(
    m: &crate::futex::RawMutex,
) -> Result<std::result::Result<(), crate::futex::OwnerDied>> {
    match m.try_lock() {
        Ok(true) => return Ok(Ok(())),
        Ok(false) => {}
        Err(e) => return Ok(Err(e)),
    }
    let mut interval = crate::futex::FIRST_CHECK;
    loop {
        let seen = match m.take_or_contend() {
            Ok(None) => return Ok(Ok(())),
            Ok(Some(seen)) => seen,
            Err(e) => return Ok(Err(e)),
        };
        let mut sleeper = Sleeper::uncounted(m.word());
        let changed = changed_within(m.word(), seen, interval).await?;
        sleeper.pass_on = false;
        if !changed {
            m.check_holder();
            interval = (interval * 2).min(crate::futex::MAX_CHECK);
        }
    }
}

/// An async waiter asleep on a primitive's futex word, until dropped. Counted (in the
/// primitive's `waiters` word, so that notifiers wake) when the primitive counts its sleepers.
/// A waiter dropped before it acted on a wake-up (`pass_on`, the default) wakes another
/// sleeper of the word in its place: a release that wakes one sleeper may have woken only the
/// bridge, on this waiter's behalf.
pub(crate) struct Sleeper<'a> {
    waiters: Option<&'a AtomicU32>,
    word: &'a AtomicU32,
    pub(crate) pass_on: bool,
}

impl<'a> Sleeper<'a> {
    pub(crate) fn counted(waiters: &'a AtomicU32, word: &'a AtomicU32) -> Sleeper<'a> {
        waiters.fetch_add(1, Ordering::SeqCst);
        Sleeper {
            waiters: Some(waiters),
            word,
            pass_on: true,
        }
    }

    pub(crate) fn uncounted(word: &'a AtomicU32) -> Sleeper<'a> {
        Sleeper {
            waiters: None,
            word,
            pass_on: true,
        }
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.waiters {
            w.fetch_sub(1, Ordering::SeqCst);
        }
        if self.pass_on {
            crate::futex::wake(self.word, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A minimal executor for the unit tests: parks the thread until woken.
    fn block_on<F: Future>(f: F) -> F::Output {
        use std::task::Wake;
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn a_change_wakes_the_waiting_task() {
        let word = Arc::new(AtomicU32::new(7));
        let w2 = word.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.store(8, Ordering::Release);
            crate::futex::wake(&w2, i32::MAX);
        });
        block_on(changed(&word, 7)).unwrap();
        assert_eq!(word.load(Ordering::Acquire), 8);
        t.join().unwrap();
    }

    #[test]
    fn a_change_without_a_wake_up_is_seen_by_the_safety_net() {
        let word = Arc::new(AtomicU32::new(1));
        let w2 = word.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.store(2, Ordering::Release); // and no futex wake: a notifier that died
        });
        let started = std::time::Instant::now();
        block_on(changed(&word, 1)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }

    #[test]
    fn many_waiters_beyond_one_waitv_call() {
        let words: Arc<Vec<AtomicU32>> = Arc::new((0..300).map(|_| AtomicU32::new(0)).collect());
        let ws = words.clone();
        let waiters: Vec<_> = (0..300)
            .map(|i| {
                let ws = ws.clone();
                std::thread::spawn(move || block_on(changed(&ws[i], 0)).unwrap())
            })
            .collect();
        // Wait until every waiter registered, then change every word.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while lock(&bridge().table).entries.len() < 300 {
            assert!(
                std::time::Instant::now() < deadline,
                "waiters did not register"
            );
            std::thread::yield_now();
        }
        for w in words.iter() {
            w.store(1, Ordering::Release);
            crate::futex::wake(w, i32::MAX);
        }
        for w in waiters {
            w.join().unwrap();
        }
    }

    #[test]
    fn a_deadline_ends_the_wait_with_false() {
        let word = AtomicU32::new(3);
        let started = std::time::Instant::now();
        assert!(!block_on(changed_within(&word, 3, Duration::from_millis(30))).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(30));
        word.store(4, Ordering::Release);
        assert!(block_on(changed_within(&word, 3, Duration::from_secs(60))).unwrap());
    }

    #[test]
    fn a_dropped_future_deregisters() {
        let word = AtomicU32::new(0);
        {
            let mut f = Box::pin(changed_within(&word, 0, Duration::from_secs(60)));
            let waker = Waker::noop();
            let mut cx = Context::from_waker(waker);
            assert!(f.as_mut().poll(&mut cx).is_pending());
            let id = f.id.unwrap();
            assert!(lock(&bridge().table).entries.iter().any(|e| e.id == id));
        }
        let me = &word as *const AtomicU32;
        assert!(!lock(&bridge().table).entries.iter().any(|e| e.word == me));
    }
}
