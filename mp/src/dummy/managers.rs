//! `Manager()` on threads: Python's `multiprocessing.dummy.Manager()`, with the API of
//! [`mp::managers`](crate::managers).
//!
//! In CPython, `multiprocessing.dummy.Manager()` returns the `dummy` module itself: its
//! `dict()` is a plain dict, its `Queue()` a thread queue, and "proxies" are the objects. Here
//! [`Manager()`] returns a [`SyncManager`] whose methods have the names and signatures of
//! [`mp::SyncManager`](crate::SyncManager)'s, and return in-process objects with the methods
//! and return types of mp's proxies: [`DictProxy`], [`ListProxy`], [`NamespaceProxy`],
//! [`QueueProxy`], [`LockProxy`]... Code written against `mp::Manager()` compiles against
//! `mp::dummy::Manager()` by changing its `use` lines:
//!
//! ```
//! // use mp::{Manager, Process};
//! // use mp::managers::{DictProxy, ListProxy, Value};
//! use mp::dummy::{Manager, Process};
//! use mp::dummy::managers::{DictProxy, ListProxy, Value};
//!
//! #[mp::task]
//! fn f(d: DictProxy, l: ListProxy) -> mp::Result<()> {
//!     d.set(1, "1")?;
//!     d.set("2", 2)?;
//!     d.set(0.25, Value::None)?;
//!     l.reverse()
//! }
//!
//! # fn main() -> mp::Result<()> {
//! let manager = Manager()?;
//! let d: DictProxy = manager.dict()?;
//! let l: ListProxy = manager.list_from(0..10)?;
//! let p = Process::new(f, (d.clone(), l.clone()));
//! p.start()?;
//! p.join()?;
//! assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
//! assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! The proxies *are* mp's proxies ([`mp::managers::DictProxy`](crate::managers::DictProxy)
//! and the others, re-exported here); only where their object lives differs. Each object is
//! the referent mp's manager server would hold — a `list` of [`Value`]s, a [`Dict`], a
//! [`managers::Queue`](crate::managers::Queue), a [`managers::Lock`](crate::managers::Lock)...
//! — kept in this process behind an `Arc`, and a proxy on it calls the server's own code for
//! each method, in the calling thread, with no socket and no encoding in between (the hot
//! methods reach the object directly). So the results, the Python `repr`s, the errors and
//! their messages are those of mp's managers, by construction; cloning a proxy gives another
//! handle on the same object, as with mp (where a clone is another reference to the server's
//! object).
//!
//! Values are mp's dynamic [`Value`]s, converted from and to the proxies' type parameters
//! with [`to_value`] and [`from_value`] as mp's proxies do: `DictProxy<String, i64>` is typed,
//! `DictProxy` alone (`DictProxy<Value, Value>`) holds anything, `1 == 1.0 == True` as keys,
//! and sorting follows Python's order. A proxy can be stored in another container
//! (`outer.append(&inner)`): the container then holds the object itself, and reading it back
//! (`outer.get_as::<DictProxy>(0)`) gives a proxy on the same object, as CPython's nested
//! proxies do.
//!
//! # Python → Rust
//!
//! | Python | `mp::dummy` |
//! |---|---|
//! | `from multiprocessing.dummy import Manager`; `m = Manager()` | [`let m = mp::dummy::Manager()?;`](Manager) |
//! | `m.dict()`, `m.list(range(10))`, `m.Namespace()` | [`m.dict()?`](SyncManager::dict), [`m.list_from(0..10)?`](SyncManager::list_from), [`m.namespace()?`](SyncManager::namespace) |
//! | `m.Queue()`, `m.JoinableQueue()` | [`m.queue::<T>(0)?`](SyncManager::queue), [`m.joinable_queue::<T>(0)?`](SyncManager::joinable_queue) |
//! | `m.Lock()`, `m.RLock()`, `m.Semaphore(n)`, `m.BoundedSemaphore(n)`, `m.Condition()`, `m.Event()`, `m.Barrier(n)` | [`m.lock()?`](SyncManager::lock), [`m.rlock()?`](SyncManager::rlock), [`m.semaphore(n)?`](SyncManager::semaphore), [`m.bounded_semaphore(n)?`](SyncManager::bounded_semaphore), [`m.condition()?`](SyncManager::condition), [`m.event()?`](SyncManager::event), [`m.barrier(n)?`](SyncManager::barrier) |
//! | `m.Value('d', 0.0)`, `m.Array('i', [1, 2])` | [`m.value("d", 0.0)?`](SyncManager::value), [`m.array("i", [1, 2])?`](SyncManager::array) |
//! | `d[k] = v`, `d[k]`, `l.append(x)`, `ns.x = 1` | [`d.set(k, v)?`](DictProxy::set), [`d.get_item(&k)?`](DictProxy::get_item), [`l.append(x)?`](ListProxy::append), [`ns.set("x", 1)?`](NamespaceProxy::set) |
//! | `m.shutdown()` | [`m.shutdown()?`](SyncManager::shutdown): nothing to stop |
//!
//! # Differences from mp's managers
//!
//! * There is no server: [`start`](SyncManager::start), [`connect`](SyncManager::connect) and
//!   [`shutdown`](SyncManager::shutdown) succeed and do nothing (the objects work before
//!   `start` and after `shutdown`, as the objects of CPython's dummy module do), and
//!   [`address`](SyncManager::address) is `None`.
//! * No `BaseManager`, `register` or `#[mp::proxy]` types: CPython's dummy module has no
//!   `BaseManager` either. A proxy holds its object in memory, so it cannot cross to another
//!   process: it travels through `mp::dummy` connections and is a task argument of
//!   `mp::dummy` processes and pools (see [`mp::dummy`](super#handles)).
//! * Blocking methods (a queue's `get`, a lock's `acquire`, `Condition::wait`,
//!   `Barrier::wait`) block the calling thread, as the server's threads do for their clients;
//!   an `RLock` or a `Condition` belongs to the thread that acquired it.
//! * A container that holds a proxy on itself (`l.append(&l)`) is a reference cycle: it stays
//!   in memory until the item is removed (mp's server keeps such cycles until shutdown).
//! * A proxy inside a [`Value`] that goes through mp's binary codec (a `Value` sent whole
//!   through a connection) keeps only its token: reading it back is a clear error. Send the
//!   proxy itself (or put the `Value` in a managed container or queue, which keeps it whole).

use crate::connection::Address;
use crate::error::Result;
use crate::managers::{InProcess, SyncManagerIn};

pub use crate::managers::{
    ArrayProxy, BarrierProxy, BaseProxy, BoundedSemaphoreProxy, ConditionProxy, Dict, DictProxy,
    EventProxy, JoinableQueueProxy, ListProxy, LockProxy, NamespaceProxy, ProxyRef, QueueProxy,
    RLockProxy, SemaphoreProxy, Slice, Token, Value, ValueProxy, from_value, to_value,
};

/// [`mp::SyncManager`](crate::SyncManager) over the in-process host
/// ([`SyncManagerIn<InProcess>`](crate::managers::SyncManagerIn)): the same methods, returning
/// objects that live in this process (see the [module docs](self)).
///
/// Clones are the same manager. There is nothing to start or stop:
/// [`start`](SyncManager::start) and [`shutdown`](SyncManager::shutdown) do nothing and
/// succeed, and the objects work whenever.
///
/// # Examples
///
/// ```
/// use mp::dummy::managers::{ListProxy, SyncManager};
/// let manager = SyncManager::new();
/// manager.start()?; // harmless
/// let l: ListProxy<i32> = manager.list_from([1, 2, 3])?;
/// assert_eq!(manager.number_of_objects()?, 1);
/// manager.shutdown()?; // harmless too
/// assert_eq!(l.pop()?, 3);
/// drop(l);
/// assert_eq!(manager.number_of_objects()?, 0);
/// # Ok::<(), mp::Error>(())
/// ```
pub type SyncManager = SyncManagerIn<InProcess>;

impl SyncManagerIn<InProcess> {
    /// A manager; it works at once (no server to start).
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn new() -> SyncManager {
        SyncManager::default()
    }

    /// Python's `start()`: nothing to start, so it does nothing (even twice).
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn start(&self) -> Result<()> {
        Ok(())
    }

    /// Python's `connect()`: nothing to connect to, so it does nothing.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::dummy::managers::SyncManager::new().connect()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn connect(&self) -> Result<()> {
        Ok(())
    }

    /// A thread pool: CPython's `multiprocessing.dummy.Manager().Pool(n)`, which is the
    /// module's own `Pool` (a `ThreadPool`). The same methods as `mp`'s manager
    /// `PoolProxy` (`apply`, `apply_async`, `map`, `starmap`, `imap`, `close`, `join`...).
    ///
    /// # Errors
    ///
    /// `processes == 0` is an [`ErrorKind::Value`](crate::ErrorKind::Value) error, as for
    /// `mp`'s manager pool.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// # fn main() -> mp::Result<()> {
    /// let m = mp::dummy::Manager()?;
    /// let pool = m.pool(2)?;
    /// assert_eq!(pool.map(square, 0..4)?, [0, 1, 4, 9]);
    /// assert!(m.pool(0).is_err());
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn pool(&self, processes: usize) -> Result<crate::dummy::Pool> {
        crate::dummy::Pool::new(processes)
    }

    /// A builder for the thread pool of [`pool`](SyncManager::pool).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let m = mp::dummy::Manager()?;
    /// let pool = m.pool_builder().processes(3).build()?;
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn pool_builder(&self) -> crate::dummy::PoolBuilder {
        crate::dummy::Pool::builder()
    }

    /// Python's `shutdown()`: nothing to stop, so it does nothing; the objects keep working.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    /// The server's address: `None`, there is no server.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::dummy::Manager()?.address().is_none());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn address(&self) -> Option<Address> {
        None
    }

    /// The server's pid: `None`, there is no server process.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::dummy::Manager()?.pid().is_none());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn pid(&self) -> Option<i32> {
        None
    }

    /// How many objects made by this manager are alive (held by a proxy or a container):
    /// Python's `_number_of_objects()`, for finding leaks.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn number_of_objects(&self) -> Result<usize> {
        Ok(self.host().live())
    }
}

/// Python's `multiprocessing.dummy.Manager()`: a [`SyncManager`] whose objects live in this
/// process, with the API of [`mp::Manager()`](crate::Manager). It never fails (the `Result`
/// is mp's signature).
///
/// # Errors
///
/// None.
///
/// # Examples
///
/// ```
/// let manager = mp::dummy::Manager()?;
/// let ns = manager.namespace()?;
/// ns.set("x", 10)?;
/// assert_eq!(ns.get::<i32>("x")?, 10);
/// # Ok::<(), mp::Error>(())
/// ```
#[allow(non_snake_case)]
pub fn Manager() -> Result<SyncManager> {
    Ok(SyncManager::new())
}
