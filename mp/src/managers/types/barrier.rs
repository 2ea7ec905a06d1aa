//! The manager's `Barrier` and [`BarrierProxy`].

use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{args_of, read, secs, timeout_arg, unknown};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent};
use crate::managers::value::Value;
use crate::space::Threads;

/// The object behind a manager's `Barrier(parties)`: mp's thread `Barrier`.
pub type Barrier = crate::synchronize::BarrierIn<Threads>;

pub(super) const BARRIER_METHODS: &[&str] = &["__getattribute__", "wait", "abort", "reset"];

impl Referent for Barrier {
    type Proxy = BarrierProxy;
    const TYPE_NAME: &'static str = "Barrier";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let b = read(this);
        match method {
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                b.wait_deadline(timeout_arg(a.first())?).map(Value::from)
            }
            "abort" => {
                b.abort();
                Ok(Value::None)
            }
            "reset" => {
                b.reset();
                Ok(Value::None)
            }
            "__getattribute__" => {
                let a = args_of(args, method, 1, 1)?;
                match a[0].as_str() {
                    Some("parties") => Ok(Value::from(b.parties())),
                    Some("n_waiting") => Ok(Value::from(b.n_waiting())),
                    Some("broken") => Ok(Value::Bool(b.broken())),
                    _ => Err(Error::new(
                        ErrorKind::Key,
                        format!("'Barrier' object has no attribute {}", a[0]),
                    )),
                }
            }
            _ => Err(unknown("Barrier", method)),
        }
    }
}

/// A proxy for a manager's `Barrier`: Python's `BarrierProxy`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let b = mp::Manager()?.barrier(1)?;
/// assert_eq!(b.parties()?, 1);
/// assert_eq!(b.wait()?, 0);
/// b.abort()?;
/// assert!(b.broken()?);
/// assert_eq!(b.wait().unwrap_err().kind(), mp::ErrorKind::BrokenBarrier);
/// b.reset()?;
/// assert_eq!(b.wait_timeout(Duration::from_secs(1))?, 0);
/// # Ok(()) }
/// ```
pub struct BarrierProxy {
    base: BaseProxy,
}

proxy_common_plain!(BarrierProxy, "BarrierProxy", Barrier, BARRIER_METHODS);

impl BarrierProxy {
    /// `wait()`: the arrival index (`0..parties`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] if the barrier is or becomes broken.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn wait(&self) -> Result<usize> {
        self.base.call("wait", vec![])
    }

    /// `wait(timeout)`: a timeout breaks the barrier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`].
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.base.call("wait", vec![secs(timeout)])
    }

    /// `abort()`: breaks the barrier.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn abort(&self) -> Result<()> {
        self.base.call("abort", vec![])
    }

    /// `reset()`: back to the empty, unbroken state.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn reset(&self) -> Result<()> {
        self.base.call("reset", vec![])
    }

    /// `parties`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn parties(&self) -> Result<usize> {
        self.base
            .call("__getattribute__", vec![Value::from("parties")])
    }

    /// `n_waiting`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// assert_eq!(mp::Manager()?.barrier(3)?.n_waiting()?, 0);
    /// # Ok(()) }
    /// ```
    pub fn n_waiting(&self) -> Result<usize> {
        self.base
            .call("__getattribute__", vec![Value::from("n_waiting")])
    }

    /// `broken`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn broken(&self) -> Result<bool> {
        self.base
            .call("__getattribute__", vec![Value::from("broken")])
    }
}
