//! The manager's `Lock`, `RLock`, `Semaphore` and `BoundedSemaphore`, their proxies, and the
//! server-side `acquire` helpers the other waiting referents share.

use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{args_of, bool_arg, int_arg, read, secs, timeout_arg, unknown};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent};
use crate::managers::server::client_gone;
use crate::managers::value::Value;
use crate::space::Threads;

/// The object behind a manager's `Lock()`: Python's `threading.Lock`, which is mp's own thread
/// lock (`mp::dummy::Lock`); any client may release it.
pub type Lock = crate::synchronize::LockIn<Threads>;

/// The object behind a manager's `RLock()`: re-entrant, owned by the serving thread of the
/// client that acquired it (mp's thread `RLock`).
pub type RLock = crate::synchronize::RLockIn<Threads>;

/// The object behind a manager's `Semaphore(n)` (mp's thread `Semaphore`).
pub type Semaphore = crate::synchronize::SemaphoreIn<Threads>;

/// The object behind a manager's `BoundedSemaphore(n)`: releasing it above `n` is an error.
pub type BoundedSemaphore = crate::synchronize::BoundedSemaphoreIn<Threads>;

pub(super) const ACQUIRER_METHODS: &[&str] = &["acquire", "release", "locked"];

pub(super) fn acquire_args(args: Value) -> Result<(bool, Option<Instant>)> {
    let a = args_of(args, "acquire", 0, 2)?;
    let blocking = bool_arg(a.first(), true);
    let deadline = timeout_arg(a.get(1))?;
    if !blocking && deadline.is_some() {
        return Err(Error::new(
            ErrorKind::Value,
            "can't specify a timeout for a non-blocking call",
        ));
    }
    Ok((blocking, deadline))
}

/// Waits for `attempt` (given how long it may block) until `deadline`, in slices of 100 ms
/// at most, so that a serving thread whose client went away stops waiting.
pub(super) fn in_slices(
    deadline: Option<Instant>,
    mut attempt: impl FnMut(Duration) -> Result<bool>,
) -> Result<bool> {
    loop {
        if client_gone() {
            return Err(Error::new(ErrorKind::Eof, "the client went away"));
        }
        let mut slice = Duration::from_millis(100);
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return attempt(Duration::ZERO);
            }
            slice = slice.min(d - now);
        }
        if attempt(slice)? {
            return Ok(true);
        }
    }
}

/// Python's `acquire(blocking, timeout)` over a lock's `acquire_timeout`. What a waiter
/// acquired for a client that went away meanwhile is given back (`undo`), not kept by a
/// serving thread nobody will ask to release it.
pub(super) fn acquire_with(
    (blocking, deadline): (bool, Option<Instant>),
    mut timed: impl FnMut(Duration) -> Result<bool>,
    undo: impl FnOnce() -> Result<()>,
) -> Result<bool> {
    let now = timed(Duration::ZERO)?;
    if now || !blocking {
        return Ok(now);
    }
    let got = in_slices(deadline, timed)?;
    if got && client_gone() {
        undo()?;
        return Err(Error::new(ErrorKind::Eof, "the client went away"));
    }
    Ok(got)
}

impl Referent for Lock {
    type Proxy = LockProxy;
    const TYPE_NAME: &'static str = "Lock";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let l = read(this);
        match method {
            "acquire" => acquire_with(
                acquire_args(args)?,
                |t| l.acquire_timeout(t),
                || l.release(),
            )
            .map(Value::Bool),
            "release" => l.release().map(|_| Value::None),
            "locked" => Ok(Value::Bool(l.locked())),
            _ => Err(unknown("Lock", method)),
        }
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let state = if read(this).locked() {
            "locked"
        } else {
            "unlocked"
        };
        Ok(format!("<{state} _thread.lock object>"))
    }
}

impl Referent for RLock {
    type Proxy = RLockProxy;
    const TYPE_NAME: &'static str = "RLock";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let l = read(this);
        match method {
            "acquire" => acquire_with(
                acquire_args(args)?,
                |t| l.acquire_timeout(t),
                || l.release(),
            )
            .map(Value::Bool),
            "release" => l.release().map(|_| Value::None),
            "locked" => Ok(Value::Bool(l.locked())),
            _ => Err(unknown("RLock", method)),
        }
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let l = read(this);
        let state = if l.locked() { "locked" } else { "unlocked" };
        Ok(format!(
            "<{state} _thread.RLock object count={}>",
            l.depth()
        ))
    }
}

/// What a manager's semaphores answer (both kinds).
fn dispatch_sem(
    name: &str,
    method: &str,
    args: Value,
    timed: impl FnMut(Duration) -> Result<bool>,
    release_n: impl Fn(u32) -> Result<()>,
    value: u32,
) -> Result<Value> {
    match method {
        "acquire" => acquire_with(acquire_args(args)?, timed, || release_n(1)).map(Value::Bool),
        "release" => {
            let a = args_of(args, method, 0, 1)?;
            let n = match a.first() {
                Some(v) => int_arg(v, "n")?,
                None => 1,
            };
            if n < 1 {
                return Err(Error::new(ErrorKind::Value, "n must be one or more"));
            }
            let n = u32::try_from(n)
                .map_err(|_| Error::new(ErrorKind::Value, "semaphore value would overflow"))?;
            release_n(n).map(|_| Value::None)
        }
        "locked" => Ok(Value::Bool(value == 0)),
        "get_value" => Ok(Value::from(value)),
        _ => Err(unknown(name, method)),
    }
}

impl Referent for Semaphore {
    type Proxy = SemaphoreProxy;
    const TYPE_NAME: &'static str = "Semaphore";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let s = read(this);
        let value = s.get_value();
        let timed = |t| s.acquire_timeout(t);
        dispatch_sem("Semaphore", method, args, timed, |n| s.release_n(n), value)
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(format!(
            "<threading.Semaphore object: value={}>",
            read(this).get_value()
        ))
    }
}

impl Referent for BoundedSemaphore {
    type Proxy = BoundedSemaphoreProxy;
    const TYPE_NAME: &'static str = "BoundedSemaphore";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let s = read(this);
        let value = s.get_value();
        let timed = |t| s.acquire_timeout(t);
        dispatch_sem(
            "BoundedSemaphore",
            method,
            args,
            timed,
            |n| s.release_n(n),
            value,
        )
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let s = read(this);
        Ok(format!(
            "<threading.BoundedSemaphore object: value={}/{}>",
            s.get_value(),
            s.max_value()
        ))
    }
}

fn fast_lock(base: &BaseProxy) -> Option<Lock> {
    base.local_ref::<Lock>().map(|l| read(l).clone())
}

macro_rules! acquirer_proxy {
    ($name:ident, $str:literal, $referent:ty, $doc:literal, $example:literal) => {
        #[doc = $doc]
        ///
        /// # Examples
        ///
        #[doc = $example]
        pub struct $name {
            base: BaseProxy,
            /// A `Lock` of this process, reached without its `RwLock` cell.
            fast: Option<Lock>,
        }

        proxy_common_plain!($name, $str, $referent, ACQUIRER_METHODS, fast = fast_lock);

        impl $name {
            /// `acquire()`: waits until acquired.
            ///
            /// # Errors
            ///
            /// The manager cannot be reached (for every method; not repeated below).
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn acquire(&self) -> Result<()> {
                if let Some(l) = &self.fast {
                    return l.acquire();
                }
                self.base.call::<bool>("acquire", vec![]).map(drop)
            }

            /// `acquire(blocking=False)`: whether it was acquired.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn try_acquire(&self) -> Result<bool> {
                if let Some(l) = &self.fast {
                    return l.try_acquire();
                }
                self.base.call("acquire", vec![Value::Bool(false)])
            }

            /// `acquire(timeout=t)`: whether it was acquired in time.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                if let Some(l) = &self.fast {
                    return l.acquire_timeout(timeout);
                }
                self.base
                    .call("acquire", vec![Value::Bool(true), secs(timeout)])
            }

            /// `release()`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Runtime`] for a lock that is not held (by this client thread,
            /// for an `RLock`); [`ErrorKind::Value`] for a bounded semaphore released above
            /// its bound.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn release(&self) -> Result<()> {
                if let Some(l) = &self.fast {
                    return l.release();
                }
                self.base.call("release", vec![])
            }

            /// Whether it is held (Python 3.14's `locked()`).
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn locked(&self) -> Result<bool> {
                if let Some(l) = &self.fast {
                    return Ok(l.locked());
                }
                self.base.call("locked", vec![])
            }
        }
    };
}

acquirer_proxy!(
    LockProxy,
    "AcquirerProxy",
    Lock,
    "A proxy for a manager's `Lock`: Python's `AcquirerProxy`.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let l = manager.lock()?;
l.acquire()?;
assert!(!l.try_acquire()?);
l.release()?;
assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
# Ok(()) }
```"
);
acquirer_proxy!(
    RLockProxy,
    "AcquirerProxy",
    RLock,
    "A proxy for a manager's `RLock`: re-entrant, owned by the thread that acquired it.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let l = manager.rlock()?;
l.acquire()?;
l.acquire()?;
l.release()?;
l.release()?;
assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
# Ok(()) }
```"
);
acquirer_proxy!(
    SemaphoreProxy,
    "AcquirerProxy",
    Semaphore,
    "A proxy for a manager's `Semaphore`.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let s = manager.semaphore(1)?;
s.acquire()?;
assert!(!s.try_acquire()?);
s.release()?;
s.release()?; // an unbounded semaphore may go above its start
# Ok(()) }
```"
);
acquirer_proxy!(
    BoundedSemaphoreProxy,
    "AcquirerProxy",
    BoundedSemaphore,
    "A proxy for a manager's `BoundedSemaphore`.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let s = manager.bounded_semaphore(1)?;
s.acquire()?;
s.release()?;
assert_eq!(s.release().unwrap_err().kind(), mp::ErrorKind::Value);
# Ok(()) }
```"
);
