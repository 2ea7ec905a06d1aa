//! The manager's `Condition` and [`ConditionProxy`].

use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::lock::{acquire_args, acquire_with};
use super::{args_of, int_arg, read, secs, timeout_arg, unknown};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent};
use crate::managers::server::client_gone;
use crate::managers::value::Value;
use crate::space::Threads;

/// The object behind a manager's `Condition()`: mp's thread `Condition` (over an `RLock`).
pub type Condition = crate::synchronize::ConditionIn<Threads>;

pub(super) const CONDITION_METHODS: &[&str] = &[
    "acquire",
    "release",
    "locked",
    "wait",
    "notify",
    "notify_all",
];

/// Gives up whatever a serving thread holds of a condition's lock for a client that went
/// away, and the error to answer with.
fn abandon(c: &Condition) -> Error {
    while c.get_lock().is_mine() {
        if c.release().is_err() {
            break;
        }
    }
    crate::futex::cancelled_error()
}

impl Referent for Condition {
    type Proxy = ConditionProxy;
    const TYPE_NAME: &'static str = "Condition";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let c = read(this);
        match method {
            "acquire" => acquire_with(
                acquire_args(args)?,
                |t| c.acquire_timeout(t),
                || c.release(),
            )
            .map(Value::Bool),
            "release" => c.release().map(|_| Value::None),
            "locked" => Ok(Value::Bool(c.get_lock().locked())),
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                match c.wait_deadline(timeout_arg(a.first())?) {
                    Err(e) if e.kind() == ErrorKind::Eof => Err(abandon(&c)),
                    Err(e) => Err(e),
                    Ok(notified) if client_gone() => {
                        // Pass on a notification nobody will receive here.
                        if notified {
                            let _ = c.notify(1);
                        }
                        Err(abandon(&c))
                    }
                    Ok(notified) => Ok(Value::Bool(notified)),
                }
            }
            "notify" => {
                let a = args_of(args, method, 0, 1)?;
                let n = match a.first() {
                    Some(v) => int_arg(v, "n")?.max(0) as usize,
                    None => 1,
                };
                c.notify(n).map(|_| Value::None)
            }
            "notify_all" => c.notify_all().map(|_| Value::None),
            _ => Err(unknown("Condition", method)),
        }
    }
}

/// A proxy for a manager's `Condition`: Python's `ConditionProxy`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let manager = mp::Manager()?;
/// let c = manager.condition()?;
/// c.acquire()?;
/// assert!(!c.wait_timeout(Duration::from_millis(10))?); // nobody notifies
/// c.notify(1)?;
/// c.release()?;
/// assert_eq!(c.notify(1).unwrap_err().kind(), mp::ErrorKind::Runtime);
/// # Ok(()) }
/// ```
pub struct ConditionProxy {
    base: BaseProxy,
}

proxy_common_plain!(
    ConditionProxy,
    "ConditionProxy",
    Condition,
    CONDITION_METHODS
);

impl ConditionProxy {
    /// `acquire()`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn acquire(&self) -> Result<()> {
        self.base.call::<bool>("acquire", vec![]).map(drop)
    }

    /// `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.base
            .call("acquire", vec![Value::Bool(true), secs(timeout)])
    }

    /// `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this client thread does not hold it.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn release(&self) -> Result<()> {
        self.base.call("release", vec![])
    }

    /// `wait()`: releases the lock, waits for a notification, takes the lock back.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this client thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn wait(&self) -> Result<()> {
        self.base.call::<bool>("wait", vec![]).map(drop)
    }

    /// `wait(timeout)`: whether it was notified in time.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionProxy::wait).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.base.call("wait", vec![secs(timeout)])
    }

    /// `wait_for(predicate, timeout)`: waits until `predicate()` is true (it runs in this
    /// process, as in CPython); returns its last value.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionProxy::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let c = mp::Manager()?.condition()?;
    /// c.acquire()?;
    /// assert!(c.wait_for(|| true, None)?);
    /// assert!(!c.wait_for(|| false, Some(Duration::from_millis(20)))?);
    /// c.release()?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(crate::sys::deadline_after);
        loop {
            if predicate() {
                return Ok(true);
            }
            match deadline {
                None => self.wait()?,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(predicate());
                    }
                    self.wait_timeout(d - now)?;
                }
            }
        }
    }

    /// `notify(n)`: wakes up to `n` waiters (Python's default is 1), as
    /// [`Condition::notify`](crate::Condition::notify).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn notify(&self, n: usize) -> Result<()> {
        self.base.call("notify", vec![Value::from(n)])
    }

    /// `notify_all()`.
    ///
    /// # Errors
    ///
    /// As [`notify`](ConditionProxy::notify).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn notify_all(&self) -> Result<()> {
        self.base.call("notify_all", vec![])
    }
}
