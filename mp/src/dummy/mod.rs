//! The API of `mp`, backed by threads: Python's `multiprocessing.dummy`.
//!
//! "`multiprocessing.dummy` replicates the API of `multiprocessing` but is no more than a
//! wrapper around the `threading` module." The same holds here: every type has the name, the
//! methods, the return values and the error kinds of its `mp` counterpart, so code written
//! against `mp` compiles against `mp::dummy` by changing the import:
//!
//! ```
//! // use mp::{Pool, Process, Queue};
//! use mp::dummy::{Pool, Process, Queue};
//!
//! #[mp::task]
//! fn square(x: u64) -> u64 { x * x }
//!
//! #[mp::task]
//! fn produce(q: Queue<u64>) -> mp::Result<()> {
//!     for i in 0..3 { q.put(i)?; }
//!     Ok(())
//! }
//!
//! # fn main() -> mp::Result<()> {
//! let pool = Pool::new(4)?;
//! assert_eq!(pool.map(square, 0..5)?, [0, 1, 4, 9, 16]);
//!
//! let q = Queue::new(0)?;
//! let p = Process::new(produce, (q.clone(),));
//! p.start()?;
//! p.join()?;
//! assert_eq!((q.get()?, q.get()?, q.get()?), (0, 1, 2));
//! # Ok(()) }
//! ```
//!
//! Bounds are looser where threads allow it: a [`Process`] runs any `FnOnce + Send` closure
//! with any `Send` arguments, a [`Queue`] carries any `Send` item (moved, never serialized), a
//! [`Value`] holds any `Send` value. The same `#[mp::task]` fns work with both (a [`Pool`]
//! calls [`Task::run`](crate::Task::run) directly), and dummy objects can be task arguments
//! and travel through dummy connections (see [Handles](#handles)).
//!
//! # Python → Rust
//!
//! | Python `multiprocessing.dummy` | `mp::dummy` |
//! |---|---|
//! | `Process(target=f, args=(a,))`, `current_process()`, `active_children()` | [`Process::new(f, (a,))`](Process::new), [`current_process()`], [`active_children()`] |
//! | `Pool(4)` (`ThreadPool`), `p.map(f, xs)`, `p.apply_async(f, args)` | [`Pool::new(4)?`](Pool::new), [`p.map(f, xs)?`](Pool::map), [`p.apply_async(f, args)?`](Pool::apply_async) |
//! | `Queue()`, `JoinableQueue()` (both `queue.Queue`) | [`Queue::new(0)?`](Queue::new), [`JoinableQueue::new(0)?`](JoinableQueue::new), [`SimpleQueue`] |
//! | `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Condition`, `Event`, `Barrier` (`threading`'s) | [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Event`], [`Barrier`] |
//! | `Value('i', 0)`, `Array('i', [1, 2])` | [`Value::new(0)?`](Value::new), [`Array::from_slice(&[1, 2])?`](Array::from_slice) |
//! | `Pipe()`, `connection.Listener()`, `connection.Client(addr)` | [`Pipe(true)?`](Pipe), [`connection::Listener::new()?`](connection::Listener::new), [`connection::Client::connect(addr)?`](connection::Client::connect) |
//! | `cpu_count()`, `freeze_support()` | [`cpu_count()`], [`freeze_support()`] |
//! | `Manager()` (the module itself: `m.dict()` is a dict, `m.Queue()` a queue...) | [`Manager()?`](Manager): a [`SyncManager`] with mp's methods, whose proxies ([`managers::DictProxy`], [`managers::ListProxy`]...) hold their objects in this process |
//!
//! # Where threads differ from processes
//!
//! The semantics are `threading`'s, as in CPython (its `WithThreads` tests assert them):
//! releasing an unlocked [`Lock`] is [`ErrorKind::Runtime`](crate::ErrorKind::Runtime)
//! (a process lock gives `Value`), releasing an [`RLock`] one does not own and waiting on a
//! [`Condition`] without its lock are `Runtime` errors too (`Assertion` for processes). A
//! [`Process`] cannot be terminated, killed or interrupted — CPython's `DummyProcess` has no
//! such methods and neither has this one; only its creating thread may start it. A [`Pool`]'s
//! `terminate` fails the pending results at once but lets running tasks finish.
//!
//! # Handles
//!
//! A dummy object (queue, lock, value, connection...) is `Serialize + Deserialize` like mp's
//! handles, so it can be a `#[mp::task]` argument and be sent through a dummy
//! [`Connection`]: it travels as a reference to the same object. It cannot cross to another
//! process (serializing it for an mp transport is an error).
//! The same goes for a [`Manager()`]'s proxies.

pub mod connection;
pub mod managers;
pub mod pool;
pub mod process;
pub mod queues;
pub mod sharedctypes;
pub mod synchronize;

pub use self::connection::{Connection, Pipe};
pub use self::managers::{Manager, SyncManager};
pub use self::pool::{AsyncResult, IMapIterator, Pool, PoolBuilder};
pub use self::process::{
    CurrentProcess, Process, ProcessBuilder, active_children, current_process,
};
pub use self::queues::{JoinableQueue, Queue, SimpleQueue};
pub use self::sharedctypes::{Array, RawArray, RawValue, Value};
pub use self::synchronize::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
pub use crate::context::{cpu_count, freeze_support};
pub use crate::process::ChildInfo;
