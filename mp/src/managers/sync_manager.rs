//! SyncManager, the manager `mp::Manager()` starts, and its object-creating methods.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::server::{Callable, Exposed};
use super::{
    ArrayProxy, BarrierProxy, BaseManager, BoundedSemaphoreProxy, ConditionProxy, DictProxy,
    EventProxy, JoinableQueueProxy, ListProxy, LockProxy, ManagerBuilder, ManagerKind,
    NamespaceProxy, Proxy, QueueProxy, RLockProxy, SemaphoreProxy, Value, ValueProxy, proxy, types,
};
use super::{BaseProxy, Shared};
use crate::error::Result;
use types::Create;

// Names the docs link to.
#[cfg(doc)]
use crate::error::ErrorKind;

// ---------------------------------------------------------------------------------------------
// SyncManager
// ---------------------------------------------------------------------------------------------

/// The manager `mp::Manager()` starts: Python's `SyncManager`, with the typeids `list`,
/// `dict`, `Namespace`, `Queue`, `JoinableQueue`, `Lock`, `RLock`, `Semaphore`,
/// `BoundedSemaphore`, `Condition`, `Event`, `Barrier`, `Value`, `Array` and `Pool`
/// ([`pool`](SyncManager::pool)).
///
/// It dereferences to [`BaseManager`] (`shutdown`, `address`, `create`...).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{DictProxy, ListProxy, Value};
///
/// #[mp::task]
/// fn f(d: DictProxy, l: ListProxy) -> mp::Result<()> {
///     d.set(1, "1")?;
///     d.set("2", 2)?;
///     d.set(0.25, Value::None)?;
///     l.reverse()
/// }
///
/// let manager = mp::Manager()?;
/// let d: DictProxy = manager.dict()?;
/// let l: ListProxy = manager.list_from(0..10)?;
/// let p = mp::Process::new(f, (d.clone(), l.clone()));
/// p.start()?;
/// p.join()?;
/// assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
/// assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
/// # Ok(()) }
/// ```
pub type SyncManager = SyncManagerIn<BaseManager>;

/// Python's `SyncManager` over where its objects live: [`SyncManager`] keeps them in a server
/// process ([`BaseManager`]); [`mp::dummy::SyncManager`](crate::dummy::SyncManager) keeps them in
/// this process ([`InProcess`]), as Python's `multiprocessing.dummy.Manager()` does. The
/// typed constructors below are written once for both; the proxies they return are the same
/// types, with a remote or an in-process link.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let m = mp::dummy::Manager()?;
/// let d: mp::managers::DictProxy<String, i32> = m.dict()?;
/// d.set("a".to_string(), 1)?;
/// assert_eq!(d.get(&"a".to_string())?, Some(1));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct SyncManagerIn<H> {
    host: H,
}

/// Where a [`SyncManagerIn`] keeps its objects: [`BaseManager`] or [`InProcess`]. Sealed.
pub trait Host: sealed::HostImpl {}

impl<H: sealed::HostImpl> Host for H {}

pub(crate) mod sealed {
    use super::*;

    pub trait HostImpl {
        /// Makes an object of typeid `typeid` from its arguments and returns its proxy.
        fn make<P: Proxy>(
            &self,
            typeid: &'static str,
            args: <P::Referent as Create>::Args,
        ) -> Result<P>
        where
            P::Referent: Create;
    }
}

impl sealed::HostImpl for BaseManager {
    fn make<P: Proxy>(&self, typeid: &'static str, args: <P::Referent as Create>::Args) -> Result<P>
    where
        P::Referent: Create,
    {
        self.create(typeid, args)
    }
}

#[derive(Default)]
struct Objects {
    live: Vec<Weak<dyn Any + Send + Sync>>,
    prune_at: usize,
}

impl Objects {
    fn prune(&mut self) {
        self.live.retain(|w| w.strong_count() > 0);
        self.prune_at = (self.live.len() * 2).max(64);
    }
}

/// The in-process host of [`mp::dummy::SyncManager`](crate::dummy::SyncManager): objects live
/// in this process, their proxies call them directly (no server, no connection), and the
/// manager counts the ones still alive.
#[derive(Clone, Default)]
pub struct InProcess {
    objects: Arc<Mutex<Objects>>,
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many of the objects made are still alive.
    pub(crate) fn live(&self) -> usize {
        let mut o = self.objects();
        o.prune();
        o.live.len()
    }
}

impl sealed::HostImpl for InProcess {
    fn make<P: Proxy>(&self, typeid: &'static str, args: <P::Referent as Create>::Args) -> Result<P>
    where
        P::Referent: Create,
    {
        let obj = Shared::new(P::Referent::create(args)?).0;
        {
            let mut o = self.objects();
            if o.live.len() >= o.prune_at {
                o.prune();
            }
            o.live
                .push(Arc::downgrade(&obj) as Weak<dyn Any + Send + Sync>);
        }
        Ok(P::from_base(BaseProxy::local(
            obj,
            typeid,
            P::NAME,
            P::EXPOSED,
        )))
    }
}

impl<H> SyncManagerIn<H> {
    /// The host.
    pub(crate) fn host(&self) -> &H {
        &self.host
    }
}

impl fmt::Debug for SyncManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.host, f)
    }
}

impl fmt::Debug for SyncManagerIn<InProcess> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<SyncManager on threads (mp::dummy)>")
    }
}

impl From<BaseManager> for SyncManager {
    fn from(host: BaseManager) -> SyncManager {
        SyncManagerIn { host }
    }
}

impl ManagerKind for SyncManager {
    fn base_manager(&self) -> &BaseManager {
        &self.host
    }
}

impl Deref for SyncManager {
    type Target = BaseManager;
    fn deref(&self) -> &BaseManager {
        &self.host
    }
}

impl SyncManager {
    /// A builder with the SyncManager's typeids registered (add more with `register`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::managers::SyncManager::builder()
    ///     .start_method(mp::StartMethod::Spawn)
    ///     .start()?;
    /// let l: mp::managers::ListProxy<i32> = m.list()?;
    /// l.append(1)?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ManagerBuilder<SyncManager> {
        let mut b = ManagerBuilder::new("SyncManager");
        for (typeid, f, proxytype, exposed, referent) in types::BUILTINS {
            b = b.push(
                typeid,
                Callable::Builtin(*f),
                Exposed::Static(exposed),
                proxytype,
                referent,
            );
        }
        b
    }

    /// A SyncManager with the defaults, not started (call [`start`](BaseManager::start)).
    ///
    /// # Examples
    ///
    /// See [`BaseManager::start`].
    pub fn new() -> SyncManager {
        SyncManager::builder().build()
    }
}

impl<H: Host> SyncManagerIn<H> {
    fn make<P: Proxy>(&self, typeid: &'static str, args: <P::Referent as Create>::Args) -> Result<P>
    where
        P::Referent: Create,
    {
        self.host.make(typeid, args)
    }

    /// `manager.dict()`: an empty managed dict.
    ///
    /// # Errors
    ///
    /// The manager is not started, or cannot be reached (for every method; not repeated
    /// below).
    ///
    /// # Examples
    ///
    /// See [`DictProxy`].
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static,
    {
        self.make("dict", (Vec::<(Value, Value)>::new(),))
    }

    /// `manager.dict(items)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for an unhashable key.
    ///
    /// # Examples
    ///
    /// See [`DictProxy::keys`].
    pub fn dict_from<K, V, A, B>(
        &self,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<DictProxy<K, V>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static,
        A: Into<K>,
        B: Into<V>,
    {
        let items = items.into_iter().map(|(a, b)| (a.into(), b.into()));
        self.make("dict", (types::pairs_to_values::<K, V>(items)?,))
    }

    /// `manager.list()`: an empty managed list.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`ListProxy::extend`].
    pub fn list<T: Serialize + DeserializeOwned + 'static>(&self) -> Result<ListProxy<T>> {
        self.make("list", (Vec::<Value>::new(),))
    }

    /// `manager.list(items)`: Python's `manager.list(range(10))` is `list_from(0..10)`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn list_from<T, I>(&self, items: I) -> Result<ListProxy<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
        I: IntoIterator,
        I::Item: Into<T>,
    {
        self.make(
            "list",
            (types::list_values::<T>(items.into_iter().map(Into::into))?,),
        )
    }

    /// `manager.Namespace()`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`NamespaceProxy`].
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        self.make("Namespace", (Vec::<(String, Value)>::new(),))
    }

    /// `manager.Queue(maxsize)` (`0`: unbounded).
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`QueueProxy`].
    pub fn queue<T: Serialize + DeserializeOwned + 'static>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>> {
        self.make("Queue", (maxsize,))
    }

    /// `manager.JoinableQueue(maxsize)`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn joinable_queue<T: Serialize + DeserializeOwned + 'static>(
        &self,
        maxsize: usize,
    ) -> Result<JoinableQueueProxy<T>> {
        self.make("JoinableQueue", (maxsize,))
    }

    /// `manager.Lock()`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`LockProxy`].
    pub fn lock(&self) -> Result<LockProxy> {
        self.make("Lock", ())
    }

    /// `manager.RLock()`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`RLockProxy`].
    pub fn rlock(&self) -> Result<RLockProxy> {
        self.make("RLock", ())
    }

    /// `manager.Semaphore(value)`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`SemaphoreProxy`].
    pub fn semaphore(&self, value: u32) -> Result<SemaphoreProxy> {
        self.make("Semaphore", (value as usize,))
    }

    /// `manager.BoundedSemaphore(value)`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`BoundedSemaphoreProxy`].
    pub fn bounded_semaphore(&self, value: u32) -> Result<BoundedSemaphoreProxy> {
        self.make("BoundedSemaphore", (value as usize,))
    }

    /// `manager.Condition()`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn condition(&self) -> Result<ConditionProxy> {
        self.make("Condition", ())
    }

    /// `manager.Event()`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn event(&self) -> Result<EventProxy> {
        self.make("Event", ())
    }

    /// `manager.Barrier(parties)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for zero parties.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn barrier(&self, parties: u32) -> Result<BarrierProxy> {
        self.make("Barrier", (parties as usize,))
    }

    /// `manager.Value(typecode, value)`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`ValueProxy`].
    pub fn value<T: Serialize + DeserializeOwned + 'static>(
        &self,
        typecode: &str,
        value: T,
    ) -> Result<ValueProxy<T>> {
        self.make("Value", (typecode.to_string(), proxy::into_value(value)?))
    }

    /// `manager.Array(typecode, items)`.
    ///
    /// # Errors
    ///
    /// See [`dict`](SyncManager::dict).
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn array<T: Serialize + DeserializeOwned + 'static>(
        &self,
        typecode: &str,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>> {
        self.make("Array", (typecode.to_string(), types::list_values(items)?))
    }
}

/// Starts a [`SyncManager`] in a server process of the default context: Python's
/// `multiprocessing.Manager()`. It shuts down when dropped.
///
/// # Errors
///
/// As [`BaseManager::start`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let manager = mp::Manager()?;
/// let ns = manager.namespace()?;
/// ns.set("x", 10)?;
/// assert_eq!(ns.get::<i32>("x")?, 10);
/// # Ok(()) }
/// ```
#[allow(non_snake_case)]
pub fn Manager() -> Result<SyncManager> {
    SyncManager::builder().start()
}
