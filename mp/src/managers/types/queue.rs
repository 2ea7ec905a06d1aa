//! The manager's `Queue` and `JoinableQueue`: the [`Queue`] referent, [`QueueProxy`] and
//! [`JoinableQueueProxy`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{args_of, bool_arg, read, secs, timeout_arg, unknown};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent, into_value};
use crate::managers::value::Value;
use crate::queues::local::{Core, Wait};
use crate::queues::{TryGetError, TryPutError};

/// The object behind a [`QueueProxy`] and a [`JoinableQueueProxy`]: Python's
/// `queue.Queue`, living in the manager's process. Its engine is the local flavour of mp's
/// queues (`mp::dummy::Queue`'s); a serving thread's wait for it ends when its client goes
/// away.
///
/// # Examples
///
/// ```
/// let q = mp::managers::Queue::new(2);
/// q.put_local(1.into()).unwrap();
/// assert_eq!(q.qsize(), 1);
/// ```
pub struct Queue {
    core: Arc<Core<Value>>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Queue(maxsize={}, qsize={})",
            self.core.maxsize,
            self.qsize()
        )
    }
}

impl Queue {
    /// A queue holding at most `maxsize` items (`0`: no limit).
    ///
    /// # Examples
    ///
    /// See [`Queue`].
    pub fn new(maxsize: usize) -> Queue {
        Queue {
            core: Arc::new(Core::new(maxsize, usize::MAX)),
        }
    }

    /// The number of items.
    ///
    /// # Examples
    ///
    /// See [`Queue`].
    pub fn qsize(&self) -> usize {
        self.core.qsize()
    }

    /// Puts an item from the manager's own process (without blocking).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] if the queue is full.
    ///
    /// # Examples
    ///
    /// See [`Queue`].
    pub fn put_local(&self, item: Value) -> Result<()> {
        self.put(item, Wait::Never)
    }

    /// Takes an item from the manager's own process, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] if none came in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = mp::managers::Queue::new(0);
    /// q.put_local("x".into())?;
    /// assert_eq!(q.get_local(Duration::ZERO)?, "x".into());
    /// assert!(q.get_local(Duration::from_millis(1)).is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_local(&self, timeout: Duration) -> Result<Value> {
        self.get(Wait::Until(crate::sys::deadline_after(timeout)))
    }

    fn put(&self, item: Value, wait: Wait) -> Result<()> {
        self.core.put(item, wait).map_err(|e| match e {
            TryPutError::Failed(_, e) => e,
            _ => Error::new(ErrorKind::Full, "queue is full"),
        })
    }

    fn get(&self, wait: Wait) -> Result<Value> {
        self.core.get(wait).map_err(|e| match e {
            TryGetError::Failed(e) => e,
            _ => Error::new(ErrorKind::Empty, "queue is empty"),
        })
    }
}

/// A request's `block` and `timeout` as a local queue's wait.
fn queue_wait(block: bool, deadline: Option<Instant>) -> Wait {
    if block {
        Wait::Until(deadline)
    } else {
        Wait::Never
    }
}

pub(super) const QUEUE_METHODS: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "put",
    "put_nowait",
    "qsize",
];

pub(super) const JOINABLE_QUEUE_METHODS: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "join",
    "put",
    "put_nowait",
    "qsize",
    "task_done",
];

impl Referent for Queue {
    type Proxy = QueueProxy;
    const TYPE_NAME: &'static str = "Queue";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let q = read(this);
        match method {
            "put" | "put_nowait" => {
                let mut a = args_of(args, method, 1, 3)?;
                let (block, deadline) = if method == "put_nowait" {
                    (false, None)
                } else {
                    (bool_arg(a.get(1), true), timeout_arg(a.get(2))?)
                };
                a.truncate(1);
                q.put(a.pop().unwrap_or_default(), queue_wait(block, deadline))?;
                Ok(Value::None)
            }
            "get" | "get_nowait" => {
                let a = args_of(args, method, 0, 2)?;
                let (block, deadline) = if method == "get_nowait" {
                    (false, None)
                } else {
                    (bool_arg(a.first(), true), timeout_arg(a.get(1))?)
                };
                q.get(queue_wait(block, deadline))
            }
            "qsize" => Ok(Value::from(q.qsize())),
            "empty" => Ok(Value::Bool(q.qsize() == 0)),
            "full" => Ok(Value::Bool(
                q.core.maxsize > 0 && q.qsize() >= q.core.maxsize,
            )),
            "task_done" => q.core.task_done().map(|()| Value::None),
            "join" => {
                if q.core.join(Wait::Until(None)) {
                    Ok(Value::None)
                } else {
                    Err(crate::futex::cancelled_error())
                }
            }
            _ => Err(unknown("Queue", method)),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(format!(
            "<queue.Queue object (qsize={})>",
            read(this).qsize()
        ))
    }
}

/// A proxy for a queue living in a manager: what `manager.Queue()` returns in Python, and
/// what the remote-manager programs register (`register('get_queue', ...)`).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let manager = mp::Manager()?;
/// let q = manager.queue::<String>(2)?;
/// q.put("a".into())?;
/// q.put("b".into())?;
/// assert!(q.full()?);
/// assert_eq!(q.put_nowait("c".into()).unwrap_err().kind(), mp::ErrorKind::Full);
/// assert_eq!(q.get()?, "a");
/// assert_eq!(q.get_timeout(Duration::from_secs(5))?, "b");
/// assert_eq!(q.get_nowait().unwrap_err().kind(), mp::ErrorKind::Empty);
/// # Ok(()) }
/// ```
pub struct QueueProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(QueueProxy<T>, "AutoProxy[Queue]", Queue, QUEUE_METHODS);

/// A proxy for a managed `JoinableQueue`: a [`QueueProxy`] plus `task_done` and `join`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let manager = mp::Manager()?;
/// let q = manager.joinable_queue::<i32>(0)?;
/// q.put(1)?;
/// assert_eq!(q.get()?, 1);
/// q.task_done()?;
/// q.join()?;
/// assert_eq!(q.task_done().unwrap_err().kind(), mp::ErrorKind::Value);
/// # Ok(()) }
/// ```
pub struct JoinableQueueProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    JoinableQueueProxy<T>,
    "AutoProxy[JoinableQueue]",
    Queue,
    JOINABLE_QUEUE_METHODS
);

macro_rules! queue_methods {
    ($name:ident) => {
        impl<T: Serialize + DeserializeOwned + 'static> $name<T> {
            /// `q.put(item)`: waits while the queue is full.
            ///
            /// # Errors
            ///
            /// The manager cannot be reached (for every method; not repeated below).
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put(&self, item: T) -> Result<()> {
                self.base.call("put", vec![into_value(item)?])
            }

            /// `q.put_nowait(item)`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Full`] if the queue is full.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put_nowait(&self, item: T) -> Result<()> {
                self.base.call("put_nowait", vec![into_value(item)?])
            }

            /// `q.put(item, timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Full`] if the queue stayed full for `timeout`.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
                self.base.call(
                    "put",
                    vec![into_value(item)?, Value::Bool(true), secs(timeout)],
                )
            }

            /// `q.get()`: waits for an item.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get(&self) -> Result<T> {
                self.base.call("get", vec![])
            }

            /// `q.get_nowait()`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Empty`] if the queue is empty.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get_nowait(&self) -> Result<T> {
                self.base.call("get_nowait", vec![])
            }

            /// `q.get(timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Empty`] if nothing came within `timeout`.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
                self.base
                    .call("get", vec![Value::Bool(true), secs(timeout)])
            }

            /// `q.qsize()`.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn qsize(&self) -> Result<usize> {
                self.base.call("qsize", vec![])
            }

            /// `q.empty()`.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn empty(&self) -> Result<bool> {
                self.base.call("empty", vec![])
            }

            /// `q.full()`.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn full(&self) -> Result<bool> {
                self.base.call("full", vec![])
            }
        }
    };
}
queue_methods!(QueueProxy);
queue_methods!(JoinableQueueProxy);

impl<T: Serialize + DeserializeOwned + 'static> JoinableQueueProxy<T> {
    /// `q.task_done()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if called more times than items were put.
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn task_done(&self) -> Result<()> {
        self.base.call("task_done", vec![])
    }

    /// `q.join()`: waits until every item put has been marked done.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn join(&self) -> Result<()> {
        self.base.call("join", vec![])
    }
}
