//! [`Event`]: a flag that threads and processes wait for.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Shared, SharedState, deadline_after, layout_hash};
use crate::error::Result;
use crate::futex;
use crate::shm;
use crate::space::{Processes, Space};

// Names the docs link to.
#[cfg(doc)]
use crate::error::ErrorKind;
#[cfg(doc)]
use crate::space::Threads;

#[repr(C)]
struct EventState {
    flag: AtomicU32,
    waiters: AtomicU32,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for EventState {
    const KIND: u32 = shm::kind::EVENT;
    const LAYOUT: u64 = layout_hash("mp::Event v1", std::mem::size_of::<EventState>());
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
        self.st().flag.load(Ordering::Acquire) != 0
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
        let st = self.st();
        st.flag.swap(1, Ordering::SeqCst);
        if st.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake_all(&st.flag);
        }
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
        self.st().flag.store(0, Ordering::SeqCst);
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let st = self.st();
        loop {
            if self.is_set() {
                return true;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return false;
                    }
                    Some(d - now)
                }
            };
            st.waiters.fetch_add(1, Ordering::SeqCst);
            futex::wait(&st.flag, 0, timeout);
            st.waiters.fetch_sub(1, Ordering::SeqCst);
        }
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
        loop {
            let mut sleeper = crate::aio::futex::Sleeper::counted(&st.waiters, &st.flag);
            // `set` wakes every waiter: nothing to pass on.
            sleeper.pass_on = false;
            if self.is_set() {
                return Ok(());
            }
            crate::aio::futex::changed(&st.flag, 0).await?;
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
