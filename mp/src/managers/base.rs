//! BaseManager and its builder: registrations, start, connect, create and shutdown.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::serve::{ServeTask, Server, ServerSpec, bind_server, run_initializer, server_main};
use super::server::{self, Callable, Exposed, TypeEntry};
use super::{
    BaseProxy, DEFAULT_MAX_MESSAGE, Proxy, Referent, Shared, Token, from_value, protocol, proxy,
};
use crate::connection::{Address, ToAddress};
use crate::context::{Context, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::process::Process;
use crate::registry;
use crate::task::Task;

// Names the docs link to.
#[cfg(doc)]
use super::SyncManager;

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
    pub(super) segments: bool,
    _m: PhantomData<fn() -> M>,
}

#[derive(Clone)]
pub(super) enum Initializer {
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
    pub(super) fn new(kind: &str) -> ManagerBuilder<M> {
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

    pub(super) fn push(
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

pub(super) enum MState {
    Initial,
    Started { process: Process, address: Address },
    Serving { address: Address },
    Connected { address: Address },
    Shutdown { exitcode: Option<i32> },
}

pub(super) struct Inner {
    /// The process that built the manager: only it shuts the server down on drop (a
    /// forked child's copy of the manager does not).
    creator: i32,
    pub(super) kind: String,
    address: Option<Result<Address>>,
    pub(super) authkey: Vec<u8>,
    method: Option<StartMethod>,
    pub(super) types: Vec<TypeEntry>,
    pub(super) max_message: u64,
    pub(super) initializer: Option<Initializer>,
    /// A SharedMemoryManager: its server tracks segments.
    pub(super) segments: bool,
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
    pub(super) inner: Arc<Inner>,
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

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, MState> {
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
        // A channel of its own, authenticated with this manager's key (not a cached one),
        // which also finds out whether the server is a CPython one.
        let mut buf = Vec::new();
        protocol::Request::Dummy.encode(&mut buf)?;
        let reply = match proxy::open(&address, &self.inner.authkey) {
            Ok(conn) => {
                conn.send_bytes(&buf)?;
                protocol::Reply::decode(&conn.recv_bytes()?)?
            }
            Err(_) if super::python::is_python(&address) => {
                super::python::exchange(&address, &self.inner.authkey, &buf, true, None)?
                    .ok_or_else(|| Error::new(ErrorKind::Remote, "no reply"))?
            }
            Err(e) => return Err(e),
        };
        proxy::reply_value(reply)?;
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

    pub(super) fn endpoint(&self) -> Result<Address> {
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
        let referent = <P::Referent as Referent>::TYPE_NAME;
        let reply = if super::python::is_python(&address) {
            let args = super::to_value(&args)?;
            super::python::create(&address, &self.inner.authkey, typeid, args, referent)?
        } else {
            let args = crate::reduction::encode_plain(&args)?;
            proxy::request(
                &address,
                &self.inner.authkey,
                &protocol::Request::Create {
                    typeid: typeid.to_owned(),
                    args,
                    referent: referent.to_owned(),
                },
            )?
        };
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

pub(super) fn send_shutdown(address: &Address, authkey: &[u8]) -> Result<()> {
    let conn = proxy::open(address, authkey)?;
    let mut buf = Vec::new();
    protocol::Request::Shutdown.encode(&mut buf)?;
    conn.send_bytes(&buf)?;
    if conn.poll_timeout(SHUTDOWN_TIMEOUT)? {
        let _ = conn.recv_bytes();
    }
    Ok(())
}
