//! Managers and proxies: Python's `multiprocessing.managers`.
//!
//! A manager is a server (normally a process of its own) holding objects that other
//! processes use through *proxies*: every method call on a proxy is a request to the server,
//! which runs the method on the real object (the *referent*) and sends the result back. The
//! server listens on a socket (a Unix socket by default, TCP when given an address), so
//! processes of any start method, and programs on other machines, can share its objects;
//! every connection is authenticated with the manager's key.
//!
//! # Python → Rust
//!
//! | Python | mp |
//! |---|---|
//! | `with Manager() as m:` | [`let m = mp::Manager()?;`](crate::Manager) (shut down on drop) |
//! | `m.dict()`, `m.list(range(10))` | [`m.dict()?`](SyncManager::dict), [`m.list_from(0..10)?`](SyncManager::list_from) |
//! | `m.Namespace()`, `m.Queue()`, `m.Lock()`, `m.Value('d', 0.0)`... | [`m.namespace()?`](SyncManager::namespace), [`m.queue::<T>(0)?`](SyncManager::queue), [`m.lock()?`](SyncManager::lock), [`m.value("d", 0.0)?`](SyncManager::value)... |
//! | `d[k] = v`, `d[k]`, `del d[k]`, `k in d` | [`d.set(k, v)?`](DictProxy::set), [`d.get_item(&k)?`](DictProxy::get_item), [`d.remove(&k)?`](DictProxy::remove), [`d.contains(&k)?`](DictProxy::contains) |
//! | `l[i]`, `l[2:5]`, `l.append(x)` | [`l.get(i)?`](ListProxy::get), [`l.slice(2..5)?`](ListProxy::slice), [`l.append(x)?`](ListProxy::append) |
//! | `print(d)` / `repr(d)` | `println!("{d}")` / `println!("{d:?}")` |
//! | `proxy._callmethod(name, args)`, `proxy._getvalue()` | [`proxy.base().call_method(name, args)?`](BaseProxy::call_method), [`proxy.base().get_value()?`](BaseProxy::get_value) |
//! | `class MathsClass: ...` + `MyManager.register('Maths', MathsClass)` | `#[mp::proxy] impl MathsClass {..}` + a `#[mp::task] fn maths() -> Shared<MathsClass>` + [`.register::<MathsClassProxy, _>("Maths", maths)`](ManagerBuilder::register) |
//! | `register('Foo2', Foo, exposed=('g', '_h'))` | `#[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))] impl Foo {..}` |
//! | `register('get_queue', callable=lambda: queue)` | [`.register_with::<QueueProxy, _, _>("get_queue", move \|()\| queue.clone())`](ManagerBuilder::register_with) (fork or `serve_forever` only) |
//! | client side `register('get_queue')` | [`.register_remote::<QueueProxy>("get_queue")`](ManagerBuilder::register_remote) |
//! | `m = MyManager(address=('127.0.0.1', 5000), authkey=b'abc')` | [`BaseManager::builder().address(("127.0.0.1", 5000)).authkey(b"abc")`](BaseManager::builder) |
//! | `m.start()`, `m.connect()`, `m.shutdown()` | [`m.start()?`](BaseManager::start), [`m.connect()?`](BaseManager::connect), [`m.shutdown()?`](BaseManager::shutdown) |
//! | `m.get_server().serve_forever()` | [`m.get_server()?.serve_forever()?`](Server::serve_forever) |
//! | `m.Maths()` | [`m.create::<MathsClassProxy, _>("Maths", ())?`](BaseManager::create) |
//! | `p = m.Pool(4)`, `p.map(f, xs)`, `p.apply_async(f, args).get()` | [`let p = m.pool(4)?;`](SyncManager::pool), [`p.map(f, xs)?`](PoolProxy::map), [`p.apply_async(f, args)?.get()?`](PoolProxy::apply_async) |
//! | `for k in d:` (`iter(d)`) | [`for k in d.iter()? { let k = k?; }`](DictProxy::iter) |
//! | `with SharedMemoryManager() as smm: smm.SharedMemory(n)` | [`let smm = SharedMemoryManager::builder().start()?; smm.shared_memory(n)?`](SharedMemoryManager) |
//!
//! # How a registered type reaches the server process
//!
//! The server must be able to make the objects its clients ask for. A typeid's callable is
//! either a `#[mp::task]` fn returning [`Shared<T>`] (found by name in the server's
//! registry, so it works under every start method and in a server started by another
//! program), or a closure, which only a server sharing this process's memory can run: one
//! started with the fork start method, or [`Server::serve_forever`] in this process. Starting
//! a spawn or forkserver server with a closure registered is a clear error.
//!
//! # Dynamic values
//!
//! Managed containers hold [`Value`]s: Python's heterogeneous data (`None`, `bool`, `int`,
//! `float`, `str`, `bytes`, `list`, `tuple`, `dict`, proxies). The proxies' type parameters
//! say what to convert them to and from ([`to_value`], [`from_value`]): `DictProxy<String,
//! i64>` is typed, `DictProxy` alone (`DictProxy<Value, Value>`) is Python's.
//!
//! # Security
//!
//! Requests are plain data ([`protocol`]): no code runs because of what arrives on the wire,
//! unlike CPython's pickles. Sizes are capped ([`ManagerBuilder::max_message_size`]), values
//! may nest at most [`MAX_DEPTH`] levels, and a malformed request gets an error reply and
//! never stops the server.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::{Address, Connection, Listener, ToAddress};
use crate::context::{Context, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::process::Process;
use crate::registry::{self, TaskEntry};
use crate::task::Task;

mod pool_proxy;
pub mod protocol;
mod proxy;
pub(crate) use proxy::into_value;
pub(crate) use types::list_values;
mod refs;
mod server;
mod shm_manager;
mod sock;
mod types;
mod value;

pub use pool_proxy::{
    AsyncResultCell, AsyncResultProxy, IMapCell, IMapProxy, ManagerPoolBuilder, MapResultProxy,
    PoolCell, PoolProxy, PoolProxyChunked,
};
pub use proxy::{BaseProxy, Proxy, Referent, Shared, Token};
pub use shm_manager::SharedMemoryManager;
pub use types::{
    ArrayCell, ArrayProxy, Barrier, BarrierProxy, BoundedSemaphore, BoundedSemaphoreProxy,
    Condition, ConditionProxy, DictProxy, Event, EventProxy, Generator, IteratorProxy,
    JoinableQueueProxy, ListProxy, Lock, LockProxy, Namespace, NamespaceProxy, Queue, QueueProxy,
    RLock, RLockProxy, Semaphore, SemaphoreProxy, ValueCell, ValueProxy,
};
pub use value::{Dict, MAX_DEPTH, ProxyRef, Slice, Value, from_value, to_value};

use server::{Callable, Exposed, ServerSocket, State, TypeEntry};

/// The default cap on one request or reply (64 MiB).
pub const DEFAULT_MAX_MESSAGE: u64 = 64 << 20;

/// How long `shutdown` waits for the server to exit before terminating it (CPython's
/// `shutdown_timeout`).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Registrations
// ---------------------------------------------------------------------------------------------

/// Builds a manager: Python's `BaseManager(address, authkey, ...)` plus the class-level
/// `register` calls of a `BaseManager` subclass.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{BaseManager, Shared};
///
/// #[derive(Default)]
/// struct MathsClass;
///
/// #[mp::proxy]
/// impl MathsClass {
///     fn add(&self, x: i64, y: i64) -> i64 { x + y }
///     fn mul(&self, x: i64, y: i64) -> i64 { x * y }
/// }
///
/// #[mp::task]
/// fn maths() -> Shared<MathsClass> {
///     Shared::new(MathsClass)
/// }
///
/// let manager = BaseManager::builder()
///     .register::<MathsClassProxy, _>("Maths", maths)
///     .start()?;
/// let m: MathsClassProxy = manager.create("Maths", ())?;
/// assert_eq!(m.add(4, 3)?, 7);
/// assert_eq!(m.mul(7, 8)?, 56);
/// # Ok(()) }
/// ```
#[must_use = "call `.build()`, `.start()` or `.connect()`"]
pub struct ManagerBuilder<M = BaseManager> {
    kind: String,
    address: Option<Result<Address>>,
    authkey: Option<Vec<u8>>,
    method: Option<StartMethod>,
    types: Vec<TypeEntry>,
    max_message: u64,
    initializer: Option<Initializer>,
    /// A SharedMemoryManager: its server tracks segments.
    segments: bool,
    _m: PhantomData<fn() -> M>,
}

#[derive(Clone)]
enum Initializer {
    /// A task and its encoded arguments (or why they could not be encoded).
    Task(&'static str, std::result::Result<Vec<u8>, String>),
}

/// The manager types a [`ManagerBuilder`] can build: [`BaseManager`] and [`SyncManager`].
pub trait ManagerKind: From<BaseManager> {
    /// The manager underneath.
    fn base_manager(&self) -> &BaseManager;
}

impl ManagerKind for BaseManager {
    fn base_manager(&self) -> &BaseManager {
        self
    }
}

impl ManagerKind for SyncManager {
    fn base_manager(&self) -> &BaseManager {
        &self.base
    }
}

impl<M> fmt::Debug for ManagerBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("kind", &self.kind)
            .field(
                "typeids",
                &self
                    .types
                    .iter()
                    .map(|t| t.typeid.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<M: ManagerKind> ManagerBuilder<M> {
    fn new(kind: &str) -> ManagerBuilder<M> {
        ManagerBuilder {
            kind: kind.to_owned(),
            address: None,
            authkey: None,
            method: None,
            types: Vec::new(),
            max_message: DEFAULT_MAX_MESSAGE,
            initializer: None,
            segments: false,
            _m: PhantomData,
        }
    }

    /// The server's address: Python's `address=`. Default: a fresh Linux abstract socket
    /// name (nothing on the file system, nothing left behind if the server is killed). A
    /// TCP address (`("127.0.0.1", 50000)`) makes the manager reachable from other
    /// programs.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::managers::BaseManager::builder().address(("127.0.0.1", 0));
    /// # drop(b);
    /// ```
    pub fn address(mut self, address: impl ToAddress) -> Self {
        self.address = Some(address.to_address());
        self
    }

    /// The authentication key: Python's `authkey=`. Default:
    /// [`current_process().authkey()`](crate::CurrentProcess::authkey), which child
    /// processes inherit.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::managers::BaseManager::builder().authkey(b"abracadabra");
    /// # drop(b);
    /// ```
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = Some(key.as_ref().to_vec());
        self
    }

    /// The start method of the server process (default: the current default context's).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::managers::BaseManager::builder().start_method(mp::StartMethod::Spawn);
    /// # drop(b);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// The context whose start method the server process uses: Python's `ctx=`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = mp::get_context("fork").unwrap();
    /// let b = mp::managers::SyncManager::builder().context(ctx);
    /// # drop(b);
    /// ```
    pub fn context(mut self, ctx: Context) -> Self {
        self.method = Some(ctx.get_start_method());
        self
    }

    /// The manager's class name, used to name its process (`QueueManager-1`) and in
    /// messages. Default: `BaseManager` or `SyncManager`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::managers::BaseManager::builder().name("QueueManager");
    /// # drop(b);
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.kind = name.to_owned();
        self
    }

    /// The largest request or reply (default [`DEFAULT_MAX_MESSAGE`]); a client sending a
    /// larger one is disconnected.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::managers::BaseManager::builder().max_message_size(1 << 20);
    /// # drop(b);
    /// ```
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message = bytes;
        self
    }

    /// Runs `init(args)` in the server process before it serves: Python's
    /// `start(initializer, initargs)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn init(tag: String) {
    ///     assert_eq!(tag, "ready");
    /// }
    /// let m = mp::managers::SyncManager::builder().initializer(init, ("ready".to_string(),)).start()?;
    /// # drop(m);
    /// # Ok(()) }
    /// ```
    pub fn initializer<T: Task>(mut self, init: T, args: T::Args) -> Self
    where
        T::Args: Serialize,
    {
        let _ = init;
        let args = crate::reduction::encode_plain(&args).map_err(|e| e.to_string());
        self.initializer = Some(Initializer::Task(T::NAME, args));
        self
    }

    fn push(
        mut self,
        typeid: &str,
        callable: Callable,
        exposed: Exposed,
        proxytype: &str,
        referent: &str,
    ) -> Self {
        self.types.retain(|t| t.typeid != typeid);
        self.types.push(TypeEntry {
            typeid: typeid.to_owned(),
            callable,
            exposed,
            proxytype: proxytype.to_owned(),
            referent: referent.to_owned(),
        });
        self
    }

    /// Registers `typeid`, made by the `#[mp::task]` fn `callable` (which returns a
    /// [`Shared`] object), used through proxies of type `P`: Python's
    /// `register(typeid, callable)`. The server finds the task by name, so this works under
    /// every start method. `P`'s exposed methods are the only ones clients may call.
    ///
    /// # Examples
    ///
    /// See [`ManagerBuilder`].
    pub fn register<P, T>(self, typeid: &str, callable: T) -> Self
    where
        P: Proxy,
        T: Task<Value = Shared<P::Referent>>,
    {
        let _ = callable;
        match registry::lookup(T::NAME) {
            Some(entry) => self.push(
                typeid,
                Callable::Task(entry),
                Exposed::Static(P::EXPOSED),
                P::NAME,
                <P::Referent as Referent>::TYPE_NAME,
            ),
            None => self.push(
                typeid,
                Callable::Remote,
                Exposed::Static(P::EXPOSED),
                P::NAME,
                <P::Referent as Referent>::TYPE_NAME,
            ),
        }
    }

    /// Registers `typeid` made by a closure: Python's `register(typeid, callable=lambda: x)`.
    /// Only a server that shares this process's memory can run it: one started with the
    /// fork start method, or [`Server::serve_forever`] here.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::managers::{BaseManager, Queue, QueueProxy, Shared};
    /// let queue = Shared::new(Queue::new(0));
    /// let q2 = queue.clone();
    /// let manager = BaseManager::builder()
    ///     .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| q2.clone())
    ///     .start_method(mp::StartMethod::Fork)
    ///     .start()?;
    /// let q: QueueProxy<String> = manager.create("get_queue", ())?;
    /// q.put("hello".into())?;
    /// assert_eq!(q.get()?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn register_with<P, A, F>(self, typeid: &str, callable: F) -> Self
    where
        P: Proxy,
        A: DeserializeOwned + 'static,
        F: Fn(A) -> Shared<P::Referent> + Send + Sync + 'static,
    {
        let name = typeid.to_owned();
        let f = move |bytes: &[u8]| -> Result<Arc<dyn server::Obj>> {
            let args: A = crate::reduction::decode_plain(bytes).map_err(|e| {
                Error::new(
                    ErrorKind::Type,
                    format!("bad arguments for typeid '{name}': {e}"),
                )
            })?;
            Ok(callable(args).erase())
        };
        self.push(
            typeid,
            Callable::Closure(Arc::new(f)),
            Exposed::Static(P::EXPOSED),
            P::NAME,
            <P::Referent as Referent>::TYPE_NAME,
        )
    }

    /// Registers a typeid that only the server knows how to make: Python's client-side
    /// `register('get_queue')` before `connect()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::managers::BaseManager::builder()
    ///     .register_remote::<mp::managers::QueueProxy<String>>("get_queue");
    /// # drop(b);
    /// ```
    pub fn register_remote<P: Proxy>(self, typeid: &str) -> Self {
        self.push(
            typeid,
            Callable::Remote,
            Exposed::Static(P::EXPOSED),
            P::NAME,
            <P::Referent as Referent>::TYPE_NAME,
        )
    }

    /// The manager, not started.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::managers::BaseManager::builder().build();
    /// assert!(m.address().is_none());
    /// ```
    pub fn build(self) -> M {
        M::from(BaseManager {
            inner: Arc::new(Inner {
                creator: proxy::my_pid(),
                kind: self.kind,
                address: self.address,
                authkey: self
                    .authkey
                    .unwrap_or_else(|| crate::current_process().authkey()),
                method: self.method,
                types: self.types,
                max_message: self.max_message,
                initializer: self.initializer,
                segments: self.segments,
                state: Mutex::new(MState::Initial),
            }),
        })
    }

    /// Builds the manager and starts its server process: Python's `m = MyManager();
    /// m.start()`.
    ///
    /// # Errors
    ///
    /// As [`BaseManager::start`].
    ///
    /// # Examples
    ///
    /// See [`ManagerBuilder`].
    pub fn start(self) -> Result<M> {
        let m = self.build();
        m.base_manager().start()?;
        Ok(m)
    }

    /// Builds the manager and connects to a running server: Python's `m = MyManager(address,
    /// authkey); m.connect()`.
    ///
    /// # Errors
    ///
    /// As [`BaseManager::connect`].
    ///
    /// # Examples
    ///
    /// See [`BaseManager::connect`].
    pub fn connect(self) -> Result<M> {
        let m = self.build();
        m.base_manager().connect()?;
        Ok(m)
    }
}

// ---------------------------------------------------------------------------------------------
// BaseManager
// ---------------------------------------------------------------------------------------------

enum MState {
    Initial,
    Started { process: Process, address: Address },
    Serving { address: Address },
    Connected { address: Address },
    Shutdown { exitcode: Option<i32> },
}

struct Inner {
    /// The process that built the manager: only it shuts the server down on drop (a
    /// forked child's copy of the manager does not).
    creator: i32,
    kind: String,
    address: Option<Result<Address>>,
    authkey: Vec<u8>,
    method: Option<StartMethod>,
    types: Vec<TypeEntry>,
    max_message: u64,
    initializer: Option<Initializer>,
    /// A SharedMemoryManager: its server tracks segments.
    segments: bool,
    state: Mutex<MState>,
}

/// A manager: Python's `multiprocessing.managers.BaseManager`.
///
/// Build one with [`BaseManager::builder`] (address, key, registered typeids), then either
/// [`start`](BaseManager::start) a server process, [`connect`](BaseManager::connect) to a
/// running server, or serve in this process with
/// [`get_server`](BaseManager::get_server)`.serve_forever()`. Dropping a started manager
/// shuts its server down.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{BaseManager, Queue, QueueProxy, Shared};
///
/// #[mp::task]
/// fn get_task_queue() -> Shared<Queue> {
///     static Q: std::sync::OnceLock<Shared<Queue>> = std::sync::OnceLock::new();
///     Q.get_or_init(|| Shared::new(Queue::new(0))).clone()
/// }
///
/// let master = BaseManager::builder()
///     .address(("127.0.0.1", 0))
///     .authkey(b"abc")
///     .register::<QueueProxy<i64>, _>("get_task_queue", get_task_queue)
///     .start()?;
/// let address = master.address().unwrap();
///
/// // Another program would do this with the same address and key:
/// let worker = BaseManager::builder()
///     .address(&address)
///     .authkey(b"abc")
///     .register_remote::<QueueProxy<i64>>("get_task_queue")
///     .connect()?;
/// let tasks: QueueProxy<i64> = master.create("get_task_queue", ())?;
/// tasks.put(42)?;
/// let same: QueueProxy<i64> = worker.create("get_task_queue", ())?;
/// assert_eq!(same.get()?, 42);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BaseManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for BaseManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.state() {
            MState::Initial => "initial".to_string(),
            MState::Started { address, .. } => format!("started at {address}"),
            MState::Serving { address } => format!("serving at {address}"),
            MState::Connected { address } => format!("connected to {address}"),
            MState::Shutdown { .. } => "shut down".to_string(),
        };
        write!(f, "<{} {}>", self.inner.kind, state)
    }
}

impl BaseManager {
    /// A builder: Python's `BaseManager(...)` and `register(...)`.
    ///
    /// # Examples
    ///
    /// See [`ManagerBuilder`].
    pub fn builder() -> ManagerBuilder<BaseManager> {
        ManagerBuilder::new("BaseManager")
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server's address, once started or connected: Python's `address`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// assert!(m.address().is_some());
    /// # Ok(()) }
    /// ```
    pub fn address(&self) -> Option<Address> {
        match &*self.state() {
            MState::Started { address, .. }
            | MState::Serving { address }
            | MState::Connected { address } => Some(address.clone()),
            _ => None,
        }
    }

    /// The key clients authenticate with.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::managers::BaseManager::builder().authkey(b"k").build();
    /// assert_eq!(m.authkey(), b"k");
    /// ```
    pub fn authkey(&self) -> &[u8] {
        &self.inner.authkey
    }

    /// The pid of the server process, if this manager started one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// assert!(m.pid().is_some());
    /// # Ok(()) }
    /// ```
    pub fn pid(&self) -> Option<i32> {
        match &*self.state() {
            MState::Started { process, .. } => process.pid(),
            _ => None,
        }
    }

    fn check_initial(&self) -> Result<()> {
        match &*self.state() {
            MState::Initial => Ok(()),
            MState::Shutdown { .. } => Err(Error::new(ErrorKind::Process, "Manager has shut down")),
            _ => Err(Error::new(ErrorKind::Process, "Already started server")),
        }
    }

    fn requested_address(&self) -> Result<Option<Address>> {
        match &self.inner.address {
            None => Ok(None),
            Some(Ok(a)) => Ok(Some(a.clone())),
            Some(Err(e)) => Err(Error::new(e.kind(), e.message().to_owned())),
        }
    }

    /// Starts the server process: Python's `start()`. The process is named after the
    /// manager (`SyncManager-1`), ignores SIGINT, and exits when this process dies.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Process`] if already started ("Already started server") or shut down
    /// ("Manager has shut down"); [`ErrorKind::ProcessStart`] if the server could not start
    /// (the address is in use, the initializer failed, a closure is registered but the
    /// start method is not fork).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::managers::SyncManager::new();
    /// m.start()?;
    /// assert_eq!(m.start().unwrap_err().kind(), mp::ErrorKind::Process);
    /// m.shutdown()?;
    /// assert_eq!(m.start().unwrap_err().message(), "Manager has shut down");
    /// # Ok(()) }
    /// ```
    pub fn start(&self) -> Result<()> {
        self.check_initial()?;
        let method = self.inner.method.unwrap_or_else(crate::get_start_method);
        let address = self.requested_address()?;
        let (reader, writer) = crate::Pipe(false)?;
        let inner = &self.inner;
        let process = if method == StartMethod::Fork {
            let types = inner.types.clone();
            let init = inner.initializer.clone();
            let (kind, key, max) = (inner.kind.clone(), inner.authkey.clone(), inner.max_message);
            let segments = inner.segments;
            Process::builder(
                move || -> std::result::Result<(), String> {
                    let init = init.map(
                        |i| -> Box<dyn FnOnce() -> std::result::Result<(), String>> {
                            Box::new(move || run_initializer(&i))
                        },
                    );
                    server_main(kind, address, key, types, init, (max, segments), writer)
                },
                (),
            )
            .start_method(StartMethod::Fork)
            .daemon(true)
            .build()
        } else {
            let spec = ServerSpec::from_inner(inner, address, method)?;
            Process::builder(ServeTask, (spec, writer))
                .start_method(method)
                .daemon(true)
                .build()
        };
        let name = process.name();
        let ident = name.split_once('-').map_or("1", |(_, i)| i).to_owned();
        process.set_name(format!("{}-{}", inner.kind, ident));
        process.start()?;
        let bound = match reader.poll_timeout(Duration::from_secs(60)) {
            Ok(true) => reader.recv::<std::result::Result<Address, String>>(),
            Ok(false) => Err(Error::new(
                ErrorKind::Timeout,
                "the server did not start in 60 s",
            )),
            Err(e) => Err(e),
        };
        let address = match bound {
            Ok(Ok(a)) => a,
            Ok(Err(msg)) => {
                let _ = process.join_timeout(Duration::from_secs(5));
                return Err(Error::new(
                    ErrorKind::ProcessStart,
                    format!("the {} server failed to start: {msg}", inner.kind),
                ));
            }
            Err(e) => {
                let _ = process.kill();
                let _ = process.join_timeout(Duration::from_secs(5));
                return Err(Error::new(
                    ErrorKind::ProcessStart,
                    format!(
                        "the {} server process died before serving (exit code {:?}): {e}",
                        inner.kind,
                        process.exitcode()
                    ),
                ));
            }
        };
        proxy::remember_manager(&address, &inner.authkey);
        *self.state() = MState::Started { process, address };
        Ok(())
    }

    /// Connects to a running server at the builder's address: Python's `connect()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if no address was given; [`ErrorKind::Os`] if nothing listens
    /// there; [`ErrorKind::Authentication`] if the key is wrong; [`ErrorKind::Process`] if
    /// already started or connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::managers::BaseManager;
    /// let server = BaseManager::builder().address(("127.0.0.1", 0)).authkey(b"abc").start()?;
    /// let address = server.address().unwrap();
    /// let client = BaseManager::builder().address(&address).authkey(b"abc").connect()?;
    /// assert_eq!(client.address(), Some(address.clone()));
    /// let err = BaseManager::builder().address(&address).authkey(b"wrong").connect().unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Authentication);
    /// # Ok(()) }
    /// ```
    pub fn connect(&self) -> Result<()> {
        self.check_initial()?;
        let address = self
            .requested_address()?
            .ok_or_else(|| Error::value("connect() needs the server's address"))?;
        let conn = proxy::open(&address, &self.inner.authkey)?;
        let mut buf = Vec::new();
        protocol::Request::Dummy.encode(&mut buf)?;
        conn.send_bytes(&buf)?;
        proxy::reply_value(protocol::Reply::decode(&conn.recv_bytes()?)?)?;
        proxy::remember_manager(&address, &self.inner.authkey);
        *self.state() = MState::Connected { address };
        Ok(())
    }

    /// A server for this manager's registrations, bound now, to run in this process:
    /// Python's `get_server()`. Closures registered with
    /// [`register_with`](ManagerBuilder::register_with) work here.
    ///
    /// # Errors
    ///
    /// The address is in use or malformed; [`ErrorKind::Process`] if the manager was
    /// started or connected.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn get_server(&self) -> Result<Server> {
        self.check_initial()?;
        let (listener, state) = bind_server(
            self.inner.kind.clone(),
            self.requested_address()?,
            self.inner.authkey.clone(),
            self.inner.types.clone(),
            (self.inner.max_message, self.inner.segments),
        )?;
        proxy::remember_manager(&state.address, &self.inner.authkey);
        *self.state() = MState::Serving {
            address: state.address.clone(),
        };
        Ok(Server { listener, state })
    }

    fn endpoint(&self) -> Result<Address> {
        match &*self.state() {
            MState::Started { address, .. }
            | MState::Serving { address }
            | MState::Connected { address } => Ok(address.clone()),
            MState::Initial => Err(Error::new(
                ErrorKind::Process,
                "the manager is not started: call start() or connect() first",
            )),
            MState::Shutdown { .. } => Err(Error::new(ErrorKind::Process, "Manager has shut down")),
        }
    }

    /// Makes a new object of `typeid` and returns a proxy for it: Python's
    /// `manager.<typeid>(*args)`. `args` is the callable's argument tuple.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if the server does not know `typeid`; [`ErrorKind::Type`] if its
    /// objects are not `P`'s referents, or the arguments do not fit the callable;
    /// [`ErrorKind::Process`] before `start`/`connect`.
    ///
    /// # Examples
    ///
    /// See [`ManagerBuilder`].
    pub fn create<P: Proxy, A: Serialize>(&self, typeid: &str, args: A) -> Result<P> {
        let address = self.endpoint()?;
        let args = crate::reduction::encode_plain(&args)?;
        let reply = proxy::request(
            &address,
            &self.inner.authkey,
            &protocol::Request::Create {
                typeid: typeid.to_owned(),
                args,
                referent: <P::Referent as Referent>::TYPE_NAME.to_owned(),
            },
        )?;
        match reply {
            protocol::Reply::Created {
                id,
                typeid,
                exposed,
                proxytype: _,
            } => {
                let base = BaseProxy::adopt(
                    Token {
                        typeid,
                        address,
                        id,
                    },
                    self.inner.authkey.as_slice().into(),
                    P::NAME,
                    Some(exposed.into()),
                );
                let keep: Arc<dyn std::any::Any + Send + Sync> = self.inner.clone();
                Ok(P::from_base(base.with_manager(keep)))
            }
            other => Err(proxy::reply_value(other)
                .err()
                .unwrap_or_else(|| Error::new(ErrorKind::Remote, "unexpected reply to create"))),
        }
    }

    /// How many objects the server holds (Python's `_number_of_objects()`, for tests).
    ///
    /// # Errors
    ///
    /// The server cannot be reached.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let before = m.number_of_objects()?;
    /// let d: mp::managers::DictProxy = m.dict()?;
    /// assert_eq!(m.number_of_objects()?, before + 1);
    /// drop(d);
    /// assert_eq!(m.number_of_objects()?, before);
    /// # Ok(()) }
    /// ```
    pub fn number_of_objects(&self) -> Result<usize> {
        let address = self.endpoint()?;
        let v = proxy::reply_value(proxy::request(
            &address,
            &self.inner.authkey,
            &protocol::Request::NumberOfObjects,
        )?)?;
        from_value(v)
    }

    /// A description of the objects the server holds (Python's `_debug_info()`).
    ///
    /// # Errors
    ///
    /// The server cannot be reached.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let _l: mp::managers::ListProxy = m.list_from([1])?;
    /// assert!(m.debug_info()?.contains("refcount=1"));
    /// # Ok(()) }
    /// ```
    pub fn debug_info(&self) -> Result<String> {
        let address = self.endpoint()?;
        let v = proxy::reply_value(proxy::request(
            &address,
            &self.inner.authkey,
            &protocol::Request::DebugInfo,
        )?)?;
        from_value(v)
    }

    /// Stops the server process: Python's `shutdown()`. Sends the shutdown request, waits
    /// up to a second for the process to exit, then terminates it, then kills it. Calling it
    /// again, or on a manager that was not started, does nothing. For a manager that
    /// [`connect`](BaseManager::connect)ed, it only forgets the connection (the server
    /// belongs to someone else).
    ///
    /// # Errors
    ///
    /// Only if the process cannot be signalled or waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// m.shutdown()?;
    /// m.shutdown()?; // idempotent
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self) -> Result<()> {
        let old = std::mem::replace(&mut *self.state(), MState::Shutdown { exitcode: None });
        match old {
            MState::Started { process, address } => {
                crate::logging::info!("sending shutdown message to manager");
                let _ = send_shutdown(&address, &self.inner.authkey);
                proxy::forget_manager(&address);
                process.join_timeout(SHUTDOWN_TIMEOUT)?;
                if process.is_alive() {
                    crate::logging::info!("manager still alive");
                    process.terminate()?;
                    process.join_timeout(Duration::from_millis(100))?;
                    if process.is_alive() {
                        crate::logging::info!("manager still alive after terminate");
                        process.kill()?;
                        process.join()?;
                    }
                }
                *self.state() = MState::Shutdown {
                    exitcode: process.exitcode(),
                };
                Ok(())
            }
            MState::Connected { address } | MState::Serving { address } => {
                proxy::drop_conns(&address);
                Ok(())
            }
            MState::Initial => {
                *self.state() = MState::Initial;
                Ok(())
            }
            s @ MState::Shutdown { .. } => {
                *self.state() = s;
                Ok(())
            }
        }
    }

    /// The exit code of the server process this manager started: `None` while it runs (or
    /// if it started none); `Some(0)` after a clean [`shutdown`](BaseManager::shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// assert_eq!(m.exitcode(), None);
    /// m.shutdown()?;
    /// assert_eq!(m.exitcode(), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        match &*self.state() {
            MState::Started { process, .. } => process.exitcode(),
            MState::Shutdown { exitcode } => *exitcode,
            _ => None,
        }
    }

    /// Waits for the server process to exit (Python's `join(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`Process::join_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// m.join_timeout(std::time::Duration::from_millis(10))?; // still running
    /// assert!(m.pid().is_some());
    /// # Ok(()) }
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        match &*self.state() {
            MState::Started { process, .. } => process.join_timeout(timeout),
            _ => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let st = std::mem::replace(
            self.state.get_mut().unwrap_or_else(|e| e.into_inner()),
            MState::Shutdown { exitcode: None },
        );
        if let MState::Started { process, address } = st {
            if self.creator != proxy::my_pid() {
                // A forked child's copy: the server belongs to the parent.
                std::mem::forget(process);
                return;
            }
            let st = MState::Started { process, address };
            let m = BaseManager {
                inner: Arc::new(Inner {
                    creator: self.creator,
                    kind: self.kind.clone(),
                    address: None,
                    authkey: self.authkey.clone(),
                    method: None,
                    types: Vec::new(),
                    max_message: self.max_message,
                    initializer: None,
                    segments: self.segments,
                    state: Mutex::new(st),
                }),
            };
            let _ = m.shutdown();
        }
    }
}

fn send_shutdown(address: &Address, authkey: &[u8]) -> Result<()> {
    let conn = proxy::open(address, authkey)?;
    let mut buf = Vec::new();
    protocol::Request::Shutdown.encode(&mut buf)?;
    conn.send_bytes(&buf)?;
    if conn.poll_timeout(SHUTDOWN_TIMEOUT)? {
        let _ = conn.recv_bytes();
    }
    Ok(())
}

/// A server running in this process: Python's `Server`, from
/// [`BaseManager::get_server`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{BaseManager, Queue, QueueProxy, Shared};
/// let queue = Shared::new(Queue::new(0));
/// let q = queue.clone();
/// let m = BaseManager::builder()
///     .address(("127.0.0.1", 0))
///     .authkey(b"abracadabra")
///     .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| q.clone())
///     .build();
/// let server = m.get_server()?;
/// let address = server.address().clone();
/// let t = std::thread::spawn(move || server.serve_forever());
/// let client = BaseManager::builder()
///     .address(&address)
///     .authkey(b"abracadabra")
///     .register_remote::<QueueProxy<String>>("get_queue")
///     .connect()?;
/// let remote: QueueProxy<String> = client.create("get_queue", ())?;
/// remote.put("hello".into())?;
/// assert_eq!(queue.read().get_local(std::time::Duration::ZERO)?, "hello".into());
/// client.stop_server()?;
/// t.join().unwrap()?;
/// # Ok(()) }
/// ```
pub struct Server {
    listener: ServerSocket,
    state: Arc<State>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} server at {}>", self.state.kind, self.state.address)
    }
}

impl Server {
    /// The address it listens at.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn address(&self) -> &Address {
        &self.state.address
    }

    /// Serves clients until one of them sends the shutdown request
    /// ([`BaseManager::stop_server`]): Python's `serve_forever()` (which then exits the
    /// process; this returns instead).
    ///
    /// # Errors
    ///
    /// The listening socket fails.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn serve_forever(self) -> Result<()> {
        crate::logging::info!("manager serving at '{}'", self.state.address);
        let r = self.state.serve(&self.listener, None);
        self.state.stop();
        self.state.release_all_segments();
        r
    }
}

impl BaseManager {
    /// Asks the server this manager is connected to to stop (the shutdown request, from a
    /// client: how a `serve_forever` server is stopped).
    ///
    /// # Errors
    ///
    /// The server cannot be reached.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn stop_server(&self) -> Result<()> {
        let address = self.endpoint()?;
        send_shutdown(&address, &self.inner.authkey)?;
        proxy::forget_manager(&address);
        *self.state() = MState::Shutdown { exitcode: None };
        Ok(())
    }
}

fn default_address() -> Address {
    let mut r = [0u8; 8];
    crate::sys::random_bytes(&mut r);
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    Address::Abstract(format!("mp-manager-{}-{tag}", crate::sys::getpid()).into_bytes())
}

fn bind_server(
    kind: String,
    address: Option<Address>,
    authkey: Vec<u8>,
    types: Vec<TypeEntry>,
    (max_message, segments): (u64, bool),
) -> Result<(ServerSocket, Arc<State>)> {
    let address = address.unwrap_or_else(default_address);
    let (listener, bound) = match &address {
        Address::Tcp(_) => {
            let l = Listener::builder()
                .address(address)
                .authenticate(false)
                .backlog(128)
                .max_message_size(Some(max_message))
                .bind()?;
            let bound = l.address().clone();
            (ServerSocket::Stream(l), bound)
        }
        _ => (
            ServerSocket::Packet(sock::PacketListener::bind(&address, 128)?),
            address,
        ),
    };
    let state = Arc::new(State::new(
        bound,
        authkey,
        kind,
        types,
        max_message,
        segments,
    )?);
    Ok((listener, state))
}

fn run_initializer(init: &Initializer) -> std::result::Result<(), String> {
    let Initializer::Task(name, args) = init;
    let args = args
        .as_ref()
        .map_err(|e| format!("cannot encode the initializer's arguments: {e}"))?;
    let entry = registry::lookup(name)
        .ok_or_else(|| format!("the initializer `{name}` is not registered"))?;
    crate::bootstrap::invoke(entry, args, Vec::new())
}

/// The body of a server process.
fn server_main(
    kind: String,
    address: Option<Address>,
    authkey: Vec<u8>,
    types: Vec<TypeEntry>,
    init: Option<Box<dyn FnOnce() -> std::result::Result<(), String>>>,
    limits: (u64, bool),
    writer: Connection,
) -> std::result::Result<(), String> {
    // A server forked from a process with proxies was lent references on their objects, as
    // every fork child is: it never uses them.
    refs::release_all();
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // Not daemonic from the inside (as CPython's manager processes), so that what it serves
    // may start processes (`manager.Pool()`); it still dies with the process that started it.
    crate::process::clear_daemon_flag();
    if let Some(init) = init
        && let Err(e) = init()
    {
        let _ = writer.send(&std::result::Result::<Address, String>::Err(format!(
            "the initializer failed: {e}"
        )));
        return Err(e);
    }
    let (listener, state) = match bind_server(kind, address, authkey, types, limits) {
        Ok(x) => x,
        Err(e) => {
            let msg = e.to_string();
            let _ = writer.send(&std::result::Result::<Address, String>::Err(msg.clone()));
            return Err(msg);
        }
    };
    crate::logging::info!("manager serving at '{}'", state.address);
    writer
        .send(&std::result::Result::<Address, String>::Ok(
            state.address.clone(),
        ))
        .map_err(|e| e.to_string())?;
    drop(writer);
    let r = state.serve(&listener, None).map_err(|e| e.to_string());
    state.release_all_segments();
    state.clear_objects();
    crate::logging::info!("manager exiting with exitcode 0");
    r
}

// ---------------------------------------------------------------------------------------------
// The server process under spawn and forkserver: a built-in task
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
enum CallableWire {
    Remote,
    Builtin,
    Task(String),
}

#[derive(Serialize, Deserialize)]
struct TypeWire {
    typeid: String,
    callable: CallableWire,
    exposed: Vec<String>,
    proxytype: String,
    referent: String,
}

/// What a spawn or forkserver server process receives.
#[derive(Serialize, Deserialize)]
struct ServerSpec {
    kind: String,
    address: Option<Address>,
    authkey: Vec<u8>,
    types: Vec<TypeWire>,
    initializer: Option<(String, Vec<u8>)>,
    max_message: u64,
    segments: bool,
}

impl ServerSpec {
    fn from_inner(
        inner: &Inner,
        address: Option<Address>,
        method: StartMethod,
    ) -> Result<ServerSpec> {
        let closure_error = |what: &str| {
            Error::new(
                ErrorKind::ProcessStart,
                format!(
                    "{what} is a closure, which a {method} server process cannot run: register \
                     a `#[mp::task]` fn instead, or use the fork start method, or serve in \
                     this process with get_server().serve_forever()"
                ),
            )
        };
        let mut types = Vec::new();
        for t in &inner.types {
            let callable = match &t.callable {
                Callable::Remote => CallableWire::Remote,
                Callable::Builtin(_) => CallableWire::Builtin,
                Callable::Task(e) => CallableWire::Task(e.name.to_owned()),
                Callable::Closure(_) => {
                    return Err(closure_error(&format!(
                        "the callable of typeid '{}'",
                        t.typeid
                    )));
                }
            };
            types.push(TypeWire {
                typeid: t.typeid.clone(),
                callable,
                exposed: t.exposed.to_vec(),
                proxytype: t.proxytype.clone(),
                referent: t.referent.clone(),
            });
        }
        let initializer = match &inner.initializer {
            None => None,
            Some(Initializer::Task(name, Ok(args))) => Some((name.to_string(), args.clone())),
            Some(Initializer::Task(_, Err(e))) => {
                return Err(Error::new(
                    ErrorKind::Serialization,
                    format!("cannot encode the initializer's arguments: {e}"),
                ));
            }
        };
        Ok(ServerSpec {
            kind: inner.kind.clone(),
            address,
            authkey: inner.authkey.clone(),
            types,
            initializer,
            max_message: inner.max_message,
            segments: inner.segments,
        })
    }

    fn into_types(types: Vec<TypeWire>) -> std::result::Result<Vec<TypeEntry>, String> {
        types
            .into_iter()
            .map(|t| {
                let callable = match t.callable {
                    CallableWire::Remote => Callable::Remote,
                    CallableWire::Builtin => Callable::Builtin(
                        types::builtin(&t.typeid)
                            .ok_or_else(|| format!("no built-in typeid '{}'", t.typeid))?
                            .1,
                    ),
                    CallableWire::Task(name) => Callable::Task(
                        registry::lookup(&name)
                            .ok_or_else(|| format!("the callable `{name}` is not registered"))?,
                    ),
                };
                Ok(TypeEntry {
                    typeid: t.typeid,
                    callable,
                    exposed: Exposed::Owned(t.exposed.into()),
                    proxytype: t.proxytype,
                    referent: t.referent,
                })
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct ServeTask;

impl Task for ServeTask {
    type Args = (ServerSpec, Connection);
    type Output = std::result::Result<(), String>;
    type Value = ();
    const NAME: &'static str = "mp::managers::serve";
    fn run((spec, writer): Self::Args) -> Self::Output {
        let types = ServerSpec::into_types(spec.types)?;
        let init = spec.initializer.map(|(name, args)| {
            Box::new(move || run_initializer(&Initializer::Task(leak_name(name), Ok(args))))
                as Box<dyn FnOnce() -> std::result::Result<(), String>>
        });
        server_main(
            spec.kind,
            spec.address,
            spec.authkey,
            types,
            init,
            (spec.max_message, spec.segments),
            writer,
        )
    }
    fn into_value(out: Self::Output) -> std::result::Result<(), String> {
        out
    }
}

fn leak_name(name: String) -> &'static str {
    registry::lookup(&name).map_or("", |e| e.name)
}

impl crate::process::Target<(ServerSpec, Connection)> for ServeTask {
    type Output = std::result::Result<(), String>;
    fn call(self, args: (ServerSpec, Connection)) -> Self::Output {
        <ServeTask as Task>::run(args)
    }
    fn task_name(&self) -> Option<&'static str> {
        Some(<ServeTask as Task>::NAME)
    }
}

#[linkme::distributed_slice(crate::registry::MP_TASK_REGISTRY)]
static SERVE_TASK: TaskEntry = TaskEntry::of::<ServeTask>(file!(), line!());

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
#[derive(Clone)]
pub struct SyncManager {
    base: BaseManager,
}

impl fmt::Debug for SyncManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.base, f)
    }
}

impl From<BaseManager> for SyncManager {
    fn from(base: BaseManager) -> SyncManager {
        SyncManager { base }
    }
}

impl Deref for SyncManager {
    type Target = BaseManager;
    fn deref(&self) -> &BaseManager {
        &self.base
    }
}

impl Default for SyncManager {
    fn default() -> Self {
        SyncManager::new()
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

    fn make<P: Proxy>(&self, typeid: &str, args: impl Serialize) -> Result<P> {
        self.base.create(typeid, args)
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
        self.make("Semaphore", (value,))
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
        self.make("BoundedSemaphore", (value,))
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
        self.make("Barrier", (parties,))
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
        self.make("Value", (typecode, proxy::into_value(value)?))
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
        self.make("Array", (typecode, types::list_values(items)?))
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

/// Items used by the code `#[mp::proxy]` generates. Not a public API.
#[doc(hidden)]
pub mod __macro {
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{BaseProxy, Value};
    use crate::error::{Error, ErrorKind, Result};

    pub use serde;

    /// Decodes a method's argument tuple.
    pub fn args<A: DeserializeOwned>(args: Value, method: &str) -> Result<A> {
        super::from_value(args).map_err(|e| {
            Error::new(
                ErrorKind::Type,
                format!("bad arguments for {method}(): {}", e.message()),
            )
        })
    }

    /// Reads the referent.
    pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        l.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the referent.
    pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
        l.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Converts a method's result.
    pub fn ret<R: Serialize + ?Sized>(r: &R) -> Result<Value> {
        super::to_value(r)
    }

    /// Converts a fallible method's result; an `mp::Error` keeps its kind, any other error
    /// becomes an [`ErrorKind::Remote`] error with its message.
    pub fn ret_result<R>(r: R) -> Result<Value>
    where
        R: crate::__private::ResultParts,
        R::Ok: Serialize,
        R::Err: std::fmt::Display + 'static,
    {
        match r.into_result() {
            Ok(v) => super::to_value(&v),
            Err(e) => {
                let any: &dyn std::any::Any = &e;
                Err(match any.downcast_ref::<Error>() {
                    Some(me) => Error::new(me.kind(), me.message().to_owned()),
                    None => Error::new(ErrorKind::Remote, e.to_string()),
                })
            }
        }
    }

    /// The error for a method name the type does not have.
    pub fn unknown_method(ty: &str, method: &str) -> Error {
        Error::new(
            ErrorKind::Remote,
            format!("'{ty}' object has no method '{method}'"),
        )
    }

    /// Calls a method through a proxy.
    pub fn call<R: DeserializeOwned + 'static>(
        base: &BaseProxy,
        method: &str,
        args: Vec<Value>,
    ) -> Result<R> {
        base.call(method, args)
    }

    /// Converts an argument.
    pub fn arg<T: Serialize + 'static>(t: T) -> Result<Value> {
        super::proxy::into_value(t)
    }
}
