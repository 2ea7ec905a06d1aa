//! [`Barrier`]: a fixed number of parties waiting for each other, and its builder.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Shared, SharedState, deadline_after, layout_hash};
use crate::error::{Error, ErrorKind, Result};
use crate::futex::{self, RawCondvar, RawMutex};
use crate::shm::{self, pid_alive};
use crate::space::handle::{self, Handle};
use crate::space::{Processes, Space, Threads};
use crate::task::{Task, TaskRef};

/// The largest number of parties of a [`Barrier`].
pub const BARRIER_MAX_PARTIES: u32 = 65_535;

const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;

#[repr(C)]
struct BarrierState {
    mutex: RawMutex,
    cond: RawCondvar,
    parties: AtomicU32,
    count: AtomicU32,
    state: AtomicU32,
    /// The pid of a party that died while waiting (reported until `reset`).
    dead: AtomicU32,
    _pad: [AtomicU32; 6],
}

const BARRIER_TABLE: usize = 64;
#[cfg(not(loom))] // loom's atomics are larger
const _: () = assert!(std::mem::size_of::<BarrierState>() == BARRIER_TABLE);

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for BarrierState {
    const KIND: u32 = shm::kind::BARRIER;
    const LAYOUT: u64 = layout_hash("mp::Barrier v1", std::mem::size_of::<BarrierState>());
}

/// What a [`Barrier`]'s `action` can be: a `#[mp::task]` fn taking nothing and returning
/// nothing, or a [`TaskRef<(), ()>`](TaskRef). Either works in every process, because it is
/// found by name.
pub trait BarrierAction {
    /// The reference to run.
    fn into_task_ref(self) -> TaskRef<(), ()>;
}

impl BarrierAction for TaskRef<(), ()> {
    fn into_task_ref(self) -> TaskRef<(), ()> {
        self
    }
}

impl<T: Task<Args = (), Output = ()>> BarrierAction for T {
    fn into_task_ref(self) -> TaskRef<(), ()> {
        TaskRef::new(self)
    }
}

/// Builder of a [`Barrier`]: Python's `Barrier(parties, action=None, timeout=None)`.
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn all_here() {}
///
/// let b = mp::Barrier::builder(3)
///     .action(all_here)
///     .timeout(std::time::Duration::from_secs(30))
///     .build()?;
/// assert_eq!(b.parties(), 3);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use]
pub struct BarrierBuilder<Sp: Space = Processes> {
    parties: u32,
    action: Option<Action>,
    timeout: Option<Duration>,
    space: PhantomData<fn() -> Sp>,
}

/// A barrier's action: a task (found by name in every process), or, between threads, any
/// closure.
#[derive(Clone)]
enum Action {
    Task(TaskRef<(), ()>),
    Fn(Arc<dyn Fn() + Send + Sync>),
}

impl Action {
    fn run(&self) -> Result<()> {
        match self {
            Action::Task(t) => t.call(()),
            Action::Fn(f) => {
                f();
                Ok(())
            }
        }
    }
}

impl<Sp: Space> fmt::Debug for BarrierBuilder<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuilder")
            .field("parties", &self.parties)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl BarrierBuilder<Threads> {
    /// Like [`action`](BarrierBuilder::action) with any closure (threads share memory, so
    /// the action need not be a registered task; a process barrier has no such method).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let r = rounds.clone();
    /// let b = mp::dummy::Barrier::builder(1)
    ///     .action_fn(move || { r.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// b.wait()?;
    /// b.wait()?;
    /// assert_eq!(rounds.load(Ordering::SeqCst), 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn action_fn(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Action::Fn(Arc::new(action)));
        self
    }
}

impl<Sp: Space> BarrierBuilder<Sp> {
    /// Runs `action` once per round, in the last party to arrive, before any is released.
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn action(mut self, action: impl BarrierAction) -> Self {
        self.action = Some(Action::Task(action.into_task_ref()));
        self
    }

    /// The default timeout of [`Barrier::wait`].
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Creates the barrier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] unless `1 <= parties <= 65535`; [`ErrorKind::Os`] if the shared
    /// memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::Barrier::builder(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<BarrierIn<Sp>> {
        if self.parties == 0 || self.parties > BARRIER_MAX_PARTIES {
            return Err(Error::value(format!(
                "parties must be between 1 and {BARRIER_MAX_PARTIES}, not {}",
                self.parties
            )));
        }
        let shared: Shared<BarrierState, Sp> = Shared::new(self.parties as usize * 4)?;
        shared.get().parties.store(self.parties, Ordering::Release);
        Ok(BarrierIn {
            shared,
            parties: self.parties,
            action: self.action,
            timeout: self.timeout,
        })
    }
}

/// A barrier for a fixed number of parties: Python's `multiprocessing.Barrier`.
///
/// Each of `parties` threads or processes calls [`wait`](Barrier::wait); all are released
/// together once the last arrives, and the barrier is ready for the next round.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::Barrier;
///
/// #[mp::task]
/// fn party(b: Barrier) -> mp::Result<usize> {
///     b.wait()
/// }
///
/// let b = Barrier::new(3)?;
/// let ps: Vec<_> = (0..2).map(|_| mp::Process::new(party, (b.clone(),))).collect();
/// for p in &ps { p.start()?; }
/// let index = b.wait()?;
/// assert!(index < 3);
/// for p in &ps { p.join()?; assert_eq!(p.exitcode(), Some(0)); }
/// # Ok(()) }
/// ```
pub type Barrier = BarrierIn<Processes>;

/// A [`Barrier`] in the memory space `Sp`: [`Processes`] for `mp::Barrier`, [`Threads`] for
/// `mp::dummy::Barrier` (see [`crate::space`]).
#[derive(Clone)]
pub struct BarrierIn<Sp: Space = Processes> {
    shared: Shared<BarrierState, Sp>,
    parties: u32,
    action: Option<Action>,
    timeout: Option<Duration>,
}

/// Where a party's wait stands (see `BarrierIn::step`).
struct Party {
    /// Its arrival index, once counted in the round.
    index: Option<u32>,
    me: u32,
    deadline: Option<Instant>,
    /// How long the next sleep lasts before looking for dead parties.
    interval: Duration,
}

impl Party {
    fn new(deadline: Option<Instant>) -> Party {
        Party {
            index: None,
            me: futex::ids().0 as u32,
            deadline,
            interval: futex::FIRST_CHECK,
        }
    }
}

/// An async party's wait; dropped before it ends (cancelled), it leaves the round.
#[cfg(feature = "async")]
struct AsyncParty<'a, Sp: Space> {
    barrier: &'a BarrierIn<Sp>,
    party: Party,
    /// It holds the barrier's mutex.
    locked: bool,
    /// It is counted as a waiter of the barrier's condition.
    cond_waiting: bool,
}

#[cfg(feature = "async")]
impl<Sp: Space> Drop for AsyncParty<'_, Sp> {
    fn drop(&mut self) {
        let b = self.barrier;
        if self.cond_waiting {
            b.st().cond.end_async_wait();
        }
        if self.party.index.is_none() && !self.locked {
            return;
        }
        if !self.locked {
            // A short critical section: the blocking lock is what the other parties use.
            b.enter();
        }
        // Python's `finally: count -= 1; _exit()`: the party leaves the round.
        let _ = b.finish(&mut self.party, Ok(()));
        b.leave();
    }
}

/// What a party does next.
enum Step {
    Done(Result<usize>),
    /// Sleep on the condition until then (or a notification).
    Sleep(Instant),
}

impl<Sp: Space> BarrierIn<Sp> {
    /// A barrier for `parties` parties, without action or default timeout.
    ///
    /// # Errors
    ///
    /// As [`BarrierBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(1)?;
    /// assert_eq!(b.wait()?, 0);
    /// assert_eq!(b.wait()?, 0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(parties: u32) -> Result<Self> {
        BarrierIn::builder(parties).build()
    }

    /// A builder for the `action` and `timeout` keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`BarrierBuilder`].
    pub fn builder(parties: u32) -> BarrierBuilder<Sp> {
        BarrierBuilder {
            parties,
            action: None,
            timeout: None,
            space: PhantomData,
        }
    }

    fn st(&self) -> &BarrierState {
        self.shared.get()
    }

    fn slot(&self, i: u32) -> Option<&AtomicU32> {
        self.shared.word(BARRIER_TABLE, i as usize)
    }

    /// Takes the internal mutex. A process that died inside the (short) critical section
    /// leaves the state unknown: the barrier is broken and the death reported.
    fn enter(&self) {
        if let Err(e) = self.st().mutex.lock(None) {
            self.take_over_broken(e);
        }
    }

    /// The mutex's holder died: recover it, take it, and break the barrier.
    fn take_over_broken(&self, e: futex::OwnerDied) {
        let st = self.st();
        st.mutex.recover();
        // Somebody else may have recovered it first; `lock` then simply waits its turn.
        while st.mutex.lock(None).is_err() {
            st.mutex.recover();
        }
        st.state.store(BROKEN, Ordering::Relaxed);
        st.dead.store(e.pid as u32, Ordering::Relaxed);
        st.cond.notify_all();
    }

    fn leave(&self) {
        self.st().mutex.unlock();
    }

    fn cond_wait(&self, until: Instant) -> bool {
        let st = self.st();
        match st.cond.wait(&st.mutex, Some(until)) {
            Ok(notified) => notified,
            Err(e) => {
                self.take_over_broken(e);
                true
            }
        }
    }

    /// Removes parties that died while counted. Called with the mutex held.
    fn purge_dead(&self) {
        let st = self.st();
        let (me, _) = futex::ids();
        for i in 0..self.parties {
            let Some(slot) = self.slot(i) else { break };
            let pid = slot.load(Ordering::Relaxed) as i32;
            if pid == 0 || pid == me || pid_alive(pid) {
                continue;
            }
            slot.store(0, Ordering::Relaxed);
            let count = st.count.load(Ordering::Relaxed).saturating_sub(1);
            st.count.store(count, Ordering::Relaxed);
            match st.state.load(Ordering::Relaxed) {
                FILLING => {
                    st.state.store(BROKEN, Ordering::Relaxed);
                    st.dead.store(pid as u32, Ordering::Relaxed);
                    st.cond.notify_all();
                }
                DRAINING | RESETTING if count == 0 => {
                    st.state.store(FILLING, Ordering::Relaxed);
                    st.cond.notify_all();
                }
                _ => {}
            }
        }
    }

    fn broken_error(&self) -> Error {
        match self.st().dead.load(Ordering::Relaxed) {
            0 => Error::new(ErrorKind::BrokenBarrier, "the barrier is broken"),
            pid => Error::new(
                ErrorKind::BrokenBarrier,
                format!(
                    "the barrier is broken: a party (pid {pid}) died while waiting; call reset()"
                ),
            ),
        }
    }

    /// `wait` until `deadline`; a wait that [`futex::cancelled`] ends breaks the barrier and
    /// returns [`futex::cancelled_error`].
    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> Result<usize> {
        self.enter();
        let mut party = Party::new(deadline);
        let r = loop {
            match self.step(&mut party) {
                Step::Done(r) => break r,
                Step::Sleep(until) => {
                    let until =
                        futex::cancel_slice(Some(until.saturating_duration_since(Instant::now())))
                            .map_or(until, |s| Instant::now() + s);
                    let notified = self.cond_wait(until);
                    if !notified && futex::cancelled() {
                        break self.cancel(&mut party);
                    }
                    self.slept(&mut party, notified);
                }
            }
        };
        self.leave();
        r
    }

    /// One step of a party's wait, with the mutex held: an answer, or how long to sleep on
    /// the condition before the next step.
    fn step(&self, party: &mut Party) -> Step {
        let st = self.st();
        loop {
            if party.index.is_none() {
                // Python's `_enter`: wait while the previous round drains or resets.
                match st.state.load(Ordering::Relaxed) {
                    DRAINING | RESETTING => return Step::Sleep(Instant::now() + party.interval),
                    BROKEN => return Step::Done(Err(self.broken_error())),
                    _ => {}
                }
                let index = st.count.load(Ordering::Relaxed);
                if let Some(s) = self.slot(index) {
                    s.store(party.me, Ordering::Relaxed);
                }
                st.count.store(index + 1, Ordering::Relaxed);
                party.index = Some(index);
                party.interval = futex::FIRST_CHECK;
                if index + 1 == self.parties {
                    let r = self.release_round();
                    return Step::Done(self.finish(party, r));
                }
                continue;
            }
            match st.state.load(Ordering::Relaxed) {
                FILLING => {}
                DRAINING => return Step::Done(self.finish(party, Ok(()))),
                _ => {
                    let e = match st.dead.load(Ordering::Relaxed) {
                        0 => self.broken_error(),
                        pid => Error::new(
                            ErrorKind::OwnerDied,
                            format!(
                                "a barrier party (pid {pid}) died while waiting; the barrier is \
                                 broken until reset()"
                            ),
                        ),
                    };
                    return Step::Done(self.finish(party, Err(e)));
                }
            }
            let now = Instant::now();
            return match party.deadline {
                Some(d) if d <= now => {
                    // Timed out: break the barrier for everybody (Python's `_break`).
                    st.state.store(BROKEN, Ordering::Relaxed);
                    st.cond.notify_all();
                    Step::Done(self.finish(party, Err(self.broken_error())))
                }
                Some(d) => Step::Sleep(d.min(now + party.interval)),
                None => Step::Sleep(now + party.interval),
            };
        }
    }

    /// After a sleep (mutex held again): a sleep that ran out looks for dead parties.
    fn slept(&self, party: &mut Party, notified: bool) {
        if !notified {
            self.purge_dead();
            party.interval = (party.interval * 2).min(futex::MAX_CHECK);
        }
    }

    /// A counted party's wait is abandoned ([`futex::cancelled`]): as a timeout, the barrier
    /// breaks for everybody. Mutex held.
    fn cancel(&self, party: &mut Party) -> Result<usize> {
        if party.index.is_none() {
            return Err(futex::cancelled_error());
        }
        let st = self.st();
        st.state.store(BROKEN, Ordering::Relaxed);
        st.cond.notify_all();
        self.finish(party, Err(futex::cancelled_error()))
    }

    /// Python's `finally: count -= 1; _exit()` for a counted party. Mutex held.
    fn finish(&self, party: &mut Party, result: Result<()>) -> Result<usize> {
        let st = self.st();
        let Some(index) = party.index.take() else {
            return result.map(|()| 0);
        };
        if let Some(s) = self.slot(index) {
            if s.load(Ordering::Relaxed) == party.me {
                s.store(0, Ordering::Relaxed);
            }
        }
        let count = st.count.load(Ordering::Relaxed).saturating_sub(1);
        st.count.store(count, Ordering::Relaxed);
        if count == 0 && matches!(st.state.load(Ordering::Relaxed), DRAINING | RESETTING) {
            st.state.store(FILLING, Ordering::Relaxed);
            st.cond.notify_all();
        }
        result.map(|()| index as usize)
    }

    fn release_round(&self) -> Result<()> {
        let st = self.st();
        if let Some(action) = &self.action {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| action.run()));
            let failure = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(p) => Some(
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into()),
                ),
            };
            if let Some(msg) = failure {
                st.state.store(BROKEN, Ordering::Relaxed);
                st.cond.notify_all();
                return Err(Error::new(
                    ErrorKind::BrokenBarrier,
                    format!("the barrier action failed, the barrier is broken: {msg}"),
                ));
            }
        }
        st.state.store(DRAINING, Ordering::Relaxed);
        st.cond.notify_all();
        Ok(())
    }

    /// [`wait`](BarrierIn::wait) without blocking the executor (feature `async`): the party
    /// sleeps on the barrier's condition word through mp's futex bridge. Uses the default
    /// timeout if one was given (or wrap it in the executor's timeout).
    ///
    /// Cancel-safe as `asyncio.Barrier` is: a party whose future is dropped while it waits
    /// leaves the round (the others keep waiting for a party to take its place); the barrier
    /// is not broken.
    ///
    /// # Errors
    ///
    /// As [`wait`](BarrierIn::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let b = mp::Barrier::new(2)?;
    /// let other = b.clone();
    /// let t = std::thread::spawn(move || other.wait());
    /// let mine = b.wait_async().await?;
    /// let theirs = t.join().unwrap()?;
    /// assert_eq!(mine + theirs, 1); // arrival indices 0 and 1
    /// # Ok::<(), mp::Error>(()) }).unwrap();
    /// # }
    /// ```
    #[cfg(feature = "async")]
    pub async fn wait_async(&self) -> Result<usize> {
        let mut me = AsyncParty {
            barrier: self,
            party: Party::new(self.timeout.and_then(deadline_after)),
            locked: false,
            cond_waiting: false,
        };
        self.lock_async(&mut me).await?;
        loop {
            match self.step(&mut me.party) {
                Step::Done(r) => {
                    me.locked = false;
                    self.leave();
                    return r;
                }
                Step::Sleep(until) => {
                    let st = self.st();
                    let (word, seen) = st.cond.begin_async_wait();
                    me.cond_waiting = true;
                    me.locked = false;
                    self.leave();
                    let left = until.saturating_duration_since(Instant::now());
                    let notified = crate::aio::futex::changed_within(word, seen, left).await;
                    st.cond.end_async_wait();
                    me.cond_waiting = false;
                    self.lock_async(&mut me).await?;
                    self.slept(&mut me.party, notified?);
                }
            }
        }
    }

    /// Takes the internal mutex from async code (see [`enter`](Self::enter)).
    #[cfg(feature = "async")]
    async fn lock_async(&self, me: &mut AsyncParty<'_, Sp>) -> Result<()> {
        if let Err(e) = crate::aio::futex::lock_mutex(&self.st().mutex).await? {
            self.take_over_broken(e);
        }
        me.locked = true;
        Ok(())
    }

    /// Waits for every party: Python's `wait()`. Returns this party's arrival index, in
    /// `0..parties` (all distinct within a round). Uses the default timeout if one was given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] if the barrier is or becomes broken (aborted, reset while
    /// waiting, timed out, action failed); [`ErrorKind::OwnerDied`] if a party died while
    /// waiting (the barrier is then broken until [`reset`](Barrier::reset)).
    ///
    /// # Examples
    ///
    /// See [`Barrier`].
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(self.timeout.and_then(deadline_after))
    }

    /// As [`wait`](Barrier::wait) with a timeout: Python's `wait(t)`. On timeout the barrier
    /// breaks for every party.
    ///
    /// # Errors
    ///
    /// As [`wait`](Barrier::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(2)?;
    /// let e = b.wait_timeout(std::time::Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(e.kind(), mp::ErrorKind::BrokenBarrier);
    /// assert!(b.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(deadline_after(timeout))
    }

    /// Puts the barrier back in its initial state; parties waiting get
    /// [`ErrorKind::BrokenBarrier`]: Python's `reset()`. Also recovers a barrier broken by a
    /// dead party.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(2)?;
    /// b.abort();
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn reset(&self) {
        self.enter();
        let st = self.st();
        self.purge_dead();
        if st.count.load(Ordering::Relaxed) > 0 {
            match st.state.load(Ordering::Relaxed) {
                FILLING | BROKEN => st.state.store(RESETTING, Ordering::Relaxed),
                _ => {}
            }
        } else {
            st.state.store(FILLING, Ordering::Relaxed);
        }
        st.dead.store(0, Ordering::Relaxed);
        st.cond.notify_all();
        self.leave();
    }

    /// Breaks the barrier: waiting and arriving parties get [`ErrorKind::BrokenBarrier`]:
    /// Python's `abort()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::Barrier::new(2)?;
    /// b.abort();
    /// assert_eq!(b.wait().unwrap_err().kind(), mp::ErrorKind::BrokenBarrier);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn abort(&self) {
        self.enter();
        let st = self.st();
        st.state.store(BROKEN, Ordering::Relaxed);
        st.cond.notify_all();
        self.leave();
    }

    /// The number of parties: Python's `parties`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Barrier::new(5)?.parties(), 5);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn parties(&self) -> usize {
        self.parties as usize
    }

    /// The number of parties currently waiting: Python's `n_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Barrier::new(5)?.n_waiting(), 0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.enter();
        let st = self.st();
        let n = if st.state.load(Ordering::Relaxed) == FILLING {
            st.count.load(Ordering::Relaxed) as usize
        } else {
            0
        };
        self.leave();
        n
    }

    /// Whether the barrier is broken: Python's `broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::Barrier::new(5)?.broken());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn broken(&self) -> bool {
        self.st().state.load(Ordering::Relaxed) == BROKEN
    }

    /// The default timeout given to the builder.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Barrier::new(2)?.timeout(), None);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

impl<Sp: Space> fmt::Debug for BarrierIn<Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.broken() {
            return write!(f, "<Barrier at {:#x}: broken>", self.shared.addr());
        }
        write!(
            f,
            "<Barrier at {:#x}: waiters={}/{}>",
            self.shared.addr(),
            self.n_waiting(),
            self.parties
        )
    }
}

impl<Sp: Space> Handle for BarrierIn<Sp> {
    fn dup(&self) -> Self {
        self.clone()
    }
}

/// A process barrier travels as its block, action and timeout; a thread barrier (whose action
/// may be a closure) as a whole, through an in-process transport.
impl<Sp: Space> Serialize for BarrierIn<Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if Sp::THREADS {
            return handle::serialize(self, s);
        }
        let action = match &self.action {
            None => None,
            Some(Action::Task(t)) => Some(*t),
            Some(Action::Fn(_)) => {
                return Err(serde::ser::Error::custom(
                    "a barrier whose action is a closure stays in its process",
                ));
            }
        };
        (&self.shared, action, self.timeout).serialize(s)
    }
}

impl<'de, Sp: Space> Deserialize<'de> for BarrierIn<Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        if Sp::THREADS {
            return handle::deserialize(d);
        }
        let (shared, action, timeout) = <(
            Shared<BarrierState, Sp>,
            Option<TaskRef<(), ()>>,
            Option<Duration>,
        )>::deserialize(d)?;
        let parties = shared.get().parties.load(Ordering::Acquire);
        if parties == 0
            || parties > BARRIER_MAX_PARTIES
            || shared.region.data_len() < BARRIER_TABLE + parties as usize * 4
        {
            return Err(D::Error::custom(
                "cannot attach shared memory: the barrier's party table is inconsistent",
            ));
        }
        Ok(BarrierIn {
            shared,
            parties,
            action: action.map(Action::Task),
            timeout,
        })
    }
}
