//! The manager's `Event` and [`EventProxy`].

use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::lock::in_slices;
use super::{args_of, read, secs, timeout_arg, unknown};
use crate::error::Result;
use crate::managers::proxy::{BaseProxy, Proxy, Referent};
use crate::managers::value::Value;
use crate::space::Threads;

/// The object behind a manager's `Event()`.
/// The object behind a manager's `Event()` (mp's thread `Event`).
pub type Event = crate::synchronize::EventIn<Threads>;

pub(super) const EVENT_METHODS: &[&str] = &["is_set", "set", "clear", "wait"];

impl Referent for Event {
    type Proxy = EventProxy;
    const TYPE_NAME: &'static str = "Event";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let e = read(this);
        match method {
            "is_set" => Ok(Value::Bool(e.is_set())),
            "set" => {
                e.set();
                Ok(Value::None)
            }
            "clear" => {
                e.clear();
                Ok(Value::None)
            }
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                let deadline = timeout_arg(a.first())?;
                in_slices(deadline, |t| Ok(e.wait_timeout(t))).map(Value::Bool)
            }
            _ => Err(unknown("Event", method)),
        }
    }
}

/// A proxy for a manager's `Event`: Python's `EventProxy`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let e = mp::Manager()?.event()?;
/// assert!(!e.is_set()?);
/// assert!(!e.wait_timeout(Duration::from_millis(10))?);
/// e.set()?;
/// e.wait()?;
/// e.clear()?;
/// assert!(!e.is_set()?);
/// # Ok(()) }
/// ```
pub struct EventProxy {
    base: BaseProxy,
}

proxy_common_plain!(EventProxy, "EventProxy", Event, EVENT_METHODS);

impl EventProxy {
    /// `is_set()`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn is_set(&self) -> Result<bool> {
        self.base.call("is_set", vec![])
    }

    /// `set()`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn set(&self) -> Result<()> {
        self.base.call("set", vec![])
    }

    /// `clear()`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn clear(&self) -> Result<()> {
        self.base.call("clear", vec![])
    }

    /// `wait()`: until the flag is set.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn wait(&self) -> Result<()> {
        self.base.call::<bool>("wait", vec![]).map(drop)
    }

    /// `wait(timeout)`: whether the flag is set.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.base.call("wait", vec![secs(timeout)])
    }
}
