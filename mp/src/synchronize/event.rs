//! [`Event`]: a flag that threads and processes wait for.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Shared, SharedState, deadline_after, layout_hash};
use crate::error::Result;
use crate::futex::{self, Word};
use crate::shm;
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use crate::error::ErrorKind;
#[cfg(doc)]
use crate::space::Threads;

#[repr(C)]
struct EventState {
    flag: Word,
    waiters: Word,
}

/// The event's algorithm, on its words (in shared memory, or loom's in the models).
///
/// `flag` holds the state in bit 0 and, above it, how many times the event was set. A waiter
/// sleeps on the whole word it saw, so a `set()` followed at once by a `clear()` still moves
/// the word and ends its sleep, and the count tells the waiter a set happened: Python's
/// guarantee that a waiter waiting when `set()` runs returns `True` (the model
/// `loom_event_a_set_then_clear_still_wakes_a_waiter` deadlocked on a single flag bit).
impl EventState {
    const SET: u32 = 1;

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire) & Self::SET != 0
    }

    /// Whether the event is set, or was set since the word was `seen`.
    fn set_since(seen: u32, now: u32) -> bool {
        now & Self::SET != 0 || now >> 1 != seen >> 1
    }

    fn set(&self) {
        let mut cur = self.flag.load(Ordering::Relaxed);
        loop {
            if cur & Self::SET != 0 {
                return;
            }
            let next = ((cur >> 1).wrapping_add(1) << 1) | Self::SET;
            match self
                .flag
                .compare_exchange_weak(cur, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        futex::sc_point();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake_sleepers(&self.flag, i32::MAX);
        }
    }

    fn clear(&self) {
        self.flag.fetch_and(!Self::SET, Ordering::SeqCst);
    }

    fn wait(&self, deadline: Option<Instant>) -> bool {
        let seen = self.flag.load(Ordering::Acquire);
        if seen & Self::SET != 0 {
            return true;
        }
        loop {
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Self::set_since(seen, self.flag.load(Ordering::Acquire));
                    }
                    Some(d - now)
                }
            };
            // Counted before sleeping on `seen`: a set after the count wakes the sleeper,
            // and a set before it changed the word, so the sleep does not start.
            self.waiters.fetch_add(1, Ordering::SeqCst);
            futex::sleep_word(&self.flag, seen, timeout);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if Self::set_since(seen, self.flag.load(Ordering::Acquire)) {
                return true;
            }
        }
    }
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for EventState {
    const KIND: u32 = shm::kind::EVENT;
    const LAYOUT: u64 = layout_hash("mp::Event v2", std::mem::size_of::<EventState>());
}

/// A flag that processes can wait for: Python's `multiprocessing.Event`.
///
/// # Examples
///
/// A stop flag: a producer runs until the main program sets the event.
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::Event;
///
/// #[mp::task]
/// fn producer(stop: Event, started: Event) {
///     started.set();
///     while !stop.is_set() {
///         std::thread::yield_now();
///     }
/// }
///
/// let (stop, started) = (Event::new()?, Event::new()?);
/// let p = mp::Process::new(producer, (stop.clone(), started.clone()));
/// p.start()?;
/// assert!(started.wait_timeout(std::time::Duration::from_secs(60)));
/// stop.set();
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(()) }
/// ```
pub type Event = EventIn<Processes>;

/// A [`Event`] in the memory space `Sp`: [`Processes`] for `mp::Event`, [`Threads`] for
/// `mp::dummy::Event` (see [`crate::space`]).
#[derive(Clone)]
pub struct EventIn<Sp: Space = Processes> {
    shared: Shared<EventState, Sp>,
}

impl<Sp: Space> EventIn<Sp> {
    /// A new, unset event.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::Event::new()?.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Ok(EventIn {
            shared: Shared::new(0)?,
        })
    }

    fn st(&self) -> &EventState {
        self.shared.get()
    }

    /// Whether the flag is set: Python's `is_set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// assert!(e.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.st().is_set()
    }

    /// Sets the flag and wakes every waiter: Python's `set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// assert!(e.wait_timeout(std::time::Duration::ZERO));
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn set(&self) {
        self.st().set();
    }

    /// Resets the flag: Python's `clear()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// # Ok::<(), mp::Error>(())
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.st().clear();
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        self.st().wait(deadline)
    }

    /// Blocks until the flag is set: Python's `wait()` (which then returns `True`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// e.set();
    /// e.wait();
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Waits at most `timeout` for the flag: Python's `wait(t)`. Returns whether it is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Event::new()?;
    /// assert!(!e.wait_timeout(std::time::Duration::from_millis(5)));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(deadline_after(timeout))
    }
}

/// async/await (feature `async`): see [`mp::aio`](crate::aio).
#[cfg(feature = "async")]
impl<Sp: Space> EventIn<Sp> {
    /// Waits until the flag is set without blocking the executor: `wait()` for async code.
    /// The task sleeps on the flag's futex word through mp's bridge thread. Cancel-safe.
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
    /// let e = mp::Event::new()?;
    /// let setter = e.clone();
    /// std::thread::spawn(move || setter.set());
    /// e.wait_async().await?;
    /// assert!(e.is_set());
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    pub async fn wait_async(&self) -> Result<()> {
        let st = self.st();
        let seen = st.flag.load(Ordering::Acquire);
        loop {
            let mut sleeper = crate::aio::futex::Sleeper::counted(&st.waiters, &st.flag);
            // `set` wakes every waiter: nothing to pass on.
            sleeper.pass_on = false;
            if EventState::set_since(seen, st.flag.load(Ordering::Acquire)) {
                return Ok(());
            }
            crate::aio::futex::changed(&st.flag, seen).await?;
        }
    }
}

impl<Sp: Space> fmt::Debug for EventIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(f, "<Event at {:#x} {state}>", self.shared.addr())
    }
}

impl<Sp: Space> Serialize for EventIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shared.serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for EventIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(EventIn {
            shared: Shared::deserialize(d)?,
        })
    }
}

/// Model checking of the event's algorithm (`docs/reliability.md`): futex sleeps never time
/// out there, so a waiter that misses its wake-up is a deadlock loom reports.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    fn event() -> Arc<EventState> {
        Arc::new(EventState {
            flag: Word::new(0),
            waiters: Word::new(0),
        })
    }

    /// Two waiters, one `set`: both return.
    #[test]
    fn loom_event_set_wakes_every_waiter() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let e = event();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let e = e.clone();
                    loom::thread::spawn(move || assert!(e.wait(None)))
                })
                .collect();
            e.set();
            for w in waiters {
                w.join().unwrap();
            }
        });
    }

    /// Python's guarantee: a waiter that found the event unset and waits when `set()` runs
    /// returns, even if `clear()` follows at once (CPython's waiter holds the condition's
    /// lock from its check to its sleep). Here: once the waiter counted itself.
    #[test]
    fn loom_event_a_set_then_clear_still_wakes_a_waiter() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let e = event();
            let w = {
                let e = e.clone();
                loom::thread::spawn(move || assert!(e.wait(None)))
            };
            while e.waiters.load(Ordering::SeqCst) == 0 {
                loom::thread::yield_now();
            }
            e.set();
            e.clear();
            w.join().unwrap();
        });
    }
}
