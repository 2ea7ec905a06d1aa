//! Proxies (the client side) and shared objects (the server side).

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::protocol::{Reply, Request};
use super::refs;
use super::server::{Obj, Slot};
use super::value::{PROXY_TOKEN, ProxyRef, ProxyWire, Value, from_value, to_value};
use crate::atfork::ForkLock;
use crate::connection::{Address, Client, Connection};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

// ---------------------------------------------------------------------------------------------
// Token
// ---------------------------------------------------------------------------------------------

/// What identifies a managed object: Python's `multiprocessing.managers.Token`, the
/// `(typeid, address, id)` triple.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let manager = mp::Manager()?;
/// let d: mp::managers::DictProxy = manager.dict()?;
/// let t = d.base().token();
/// assert_eq!(t.typeid(), "dict");
/// assert_eq!(Some(t.address().clone()), manager.address());
/// assert_ne!(t.id(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    pub(crate) typeid: String,
    pub(crate) address: Address,
    pub(crate) id: u64,
}

impl Token {
    /// The registered type name (`"dict"`, `"Maths"`).
    ///
    /// # Examples
    ///
    /// See [`Token`].
    pub fn typeid(&self) -> &str {
        &self.typeid
    }

    /// The manager's address.
    ///
    /// # Examples
    ///
    /// See [`Token`].
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The object's id in its manager.
    ///
    /// # Examples
    ///
    /// See [`Token`].
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Token(typeid='{}', address={}, id={:#x})",
            self.typeid, self.address, self.id
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Process-wide knowledge about managers
// ---------------------------------------------------------------------------------------------

/// A hasher that `const` code can build (the table is a static; its keys are local addresses).
type Fixed = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

pub(crate) struct Known {
    /// The key to use for a manager address (managers this process started or connected to).
    keys: HashMap<Address, Arc<[u8]>, Fixed>,
    /// How a server names itself → how this process reaches it.
    aliases: HashMap<Address, Address, Fixed>,
    /// Managers this process shut down: proxies dropped later send nothing.
    dead: HashSet<Address, Fixed>,
}

/// What this process knows about managers, under a lock held across `fork()` (the innermost
/// of mp's, see [`crate::atfork`]).
fn known() -> crate::atfork::ForkGuard<Known> {
    KNOWN.lock()
}

crate::fork_lock! {
    static KNOWN: ForkLock<Known> = ForkLock::new(
        70,
        Known {
            keys: HashMap::with_hasher(Fixed::new()),
            aliases: HashMap::with_hasher(Fixed::new()),
            dead: HashSet::with_hasher(Fixed::new()),
        },
    );
}

pub(crate) fn remember_manager(address: &Address, authkey: &[u8]) {
    let mut k = known();
    k.keys.insert(address.clone(), authkey.into());
    k.dead.remove(address);
}

pub(crate) fn forget_manager(address: &Address) {
    known().dead.insert(address.clone());
    let _ = CONNS.try_with(|c| c.borrow_mut().retain(|e| e.address != *address));
}

/// Closes this thread's channel to a manager.
pub(crate) fn drop_conns(address: &Address) {
    let _ = CONNS.try_with(|c| c.borrow_mut().retain(|e| e.address != *address));
}

pub(crate) fn is_dead(address: &Address) -> bool {
    known().dead.contains(address)
}

fn key_for(address: &Address) -> Arc<[u8]> {
    known()
        .keys
        .get(address)
        .cloned()
        .unwrap_or_else(|| crate::current_process().authkey().into())
}

/// Replaces a server's own name for itself by the address this process reaches it at.
pub(crate) fn remap_token(t: &mut Token) {
    let k = known();
    if k.aliases.is_empty() {
        return;
    }
    if let Some(a) = k.aliases.get(&t.address) {
        t.address = a.clone();
    }
}

// ---------------------------------------------------------------------------------------------
// Connections: one per thread per manager
// ---------------------------------------------------------------------------------------------

struct Cached {
    address: Address,
    pid: i32,
    conn: Connection,
}

type KeepAlive = Option<(Address, Arc<dyn Any + Send + Sync>)>;

thread_local! {
    /// While a proxy converts a result: its manager, for the proxies found inside.
    static KEEPALIVE: RefCell<KeepAlive> = const { RefCell::new(None) };
    static CONNS: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
    static SEND_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Opens an authenticated method-call channel to a manager.
pub(crate) fn open(address: &Address, authkey: &[u8]) -> Result<Connection> {
    open_within(address, authkey, OPEN_TIMEOUT)
}

/// How long opening a channel (connect, handshake, `Hello`) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// [`open`], all of it within `timeout`.
fn open_within(address: &Address, authkey: &[u8], timeout: Duration) -> Result<Connection> {
    let deadline = Instant::now() + timeout;
    let conn = match address {
        Address::Tcp(_) => Client::builder(address)
            .authkey(authkey)
            .timeout(Some(timeout))
            .connect()?,
        _ => {
            let c = super::sock::connect(address)?;
            crate::connection::auth::answer(&c, authkey, Some(deadline))?;
            crate::connection::auth::deliver(&c, authkey, Some(deadline))?;
            c.set_max_message_size(Some(crate::Listener::DEFAULT_MAX_MESSAGE));
            c
        }
    };
    let mut buf = Vec::new();
    Request::Hello {
        address: address.clone(),
    }
    .encode(&mut buf)?;
    conn.send_bytes(&buf)?;
    let left = deadline.saturating_duration_since(Instant::now());
    if !conn.poll_timeout(left)? {
        return Err(Error::new(
            ErrorKind::Timeout,
            format!("no welcome from the manager within {timeout:?}"),
        ));
    }
    let bytes = conn.recv_bytes()?;
    if super::python::is_pickle(&bytes) {
        // A CPython server (it answered our request with a pickled traceback): from now on
        // this address is spoken to in CPython's protocol.
        super::python::mark_python(address);
        return Err(Error::new(
            ErrorKind::Remote,
            "the manager is a CPython one: its protocol is used from now on",
        ));
    }
    match Reply::decode(&bytes)? {
        Reply::Welcome { address: own } => {
            if own != *address {
                known().aliases.insert(own, address.clone());
            }
            Ok(conn)
        }
        other => Err(unexpected_reply(&other)),
    }
}

fn unexpected_reply(r: &Reply) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("unexpected reply from the manager: {r:?}"),
    )
}

/// Whether this thread may run on more than one CPU (see [`sys::spinning_pays`]).
pub(crate) fn spin_allowed() -> bool {
    sys::spinning_pays()
}

static PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

/// `getpid()`, cached (a fork child forgets the cached value: async-signal-safe store).
pub(crate) fn my_pid() -> i32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    static ATFORK: std::sync::Once = std::sync::Once::new();
    ATFORK.call_once(|| {
        // SAFETY: registering a plain extern "C" fn that only does an atomic store.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    });
    let p = sys::getpid();
    PID.store(p, Ordering::Relaxed);
    p
}

/// How long a client polls for a reply before it sleeps in the kernel (only when it may run
/// on several CPUs: on one, polling would keep the server from running).
const SPIN: Duration = Duration::from_micros(20);

fn recv_reply(conn: &Connection) -> Result<Reply> {
    let fd = conn.fileno()?;
    if spin_allowed() {
        let start = Instant::now();
        while start.elapsed() < SPIN {
            if sys::poll_readable(fd, Some(Duration::ZERO)).unwrap_or(true) {
                break;
            }
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }
    Reply::decode(&conn.recv_bytes()?)
}

/// Sends an encoded request on this thread's channel to `address` and (if `want`) returns
/// the reply. A channel that fails is dropped; the next call opens a new one.
pub(crate) fn exchange(
    address: &Address,
    authkey: &[u8],
    req: &[u8],
    want: bool,
) -> Result<Option<Reply>> {
    exchange_bounded(address, authkey, req, want, None)
}

/// [`exchange`], waiting at most `timeout` for the reply (if any): on timeout the channel
/// is dropped (its late reply must not be read as the answer to the next request).
fn exchange_bounded(
    address: &Address,
    authkey: &[u8],
    req: &[u8],
    want: bool,
    timeout: Option<Duration>,
) -> Result<Option<Reply>> {
    if super::python::is_python(address) {
        return super::python::exchange(address, authkey, req, want, timeout);
    }
    let pid = my_pid();
    let cached = CONNS
        .try_with(|c| {
            let mut v = c.borrow_mut();
            v.retain(|e| e.pid == pid);
            v.iter()
                .position(|e| e.address == *address)
                .map(|i| v.swap_remove(i).conn)
        })
        .ok()
        .flatten();
    let conn = match cached {
        Some(c) => c,
        None => match open_within(address, authkey, timeout.unwrap_or(OPEN_TIMEOUT)) {
            Ok(c) => c,
            Err(_) if super::python::is_python(address) => {
                return super::python::exchange(address, authkey, req, want, timeout);
            }
            Err(e) => return Err(unreachable(address, e)),
        },
    };
    let res = conn.send_bytes(req).and_then(|_| {
        if want {
            if let Some(t) = timeout
                && !conn.poll_timeout(t)?
            {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no reply within {t:?}"),
                ));
            }
            recv_reply(&conn).map(Some)
        } else {
            Ok(None)
        }
    });
    if res.is_ok() {
        let _ = CONNS.try_with(|c| {
            c.borrow_mut().push(Cached {
                address: address.clone(),
                pid,
                conn,
            })
        });
    }
    res.map_err(|e| unreachable(address, e))
}

fn unreachable(address: &Address, e: Error) -> Error {
    if e.kind() == ErrorKind::Authentication {
        return e;
    }
    Error::new(
        e.kind(),
        format!("manager at {address} is not reachable: {e}"),
    )
}

/// Encodes and sends a request, returning the reply.
pub(crate) fn request(address: &Address, authkey: &[u8], req: &Request) -> Result<Reply> {
    let mut buf = SEND_BUF
        .try_with(|b| std::mem::take(&mut *b.borrow_mut()))
        .unwrap_or_default();
    buf.clear();
    req.encode(&mut buf)?;
    let r = exchange(address, authkey, &buf, true);
    if buf.capacity() <= 1 << 20 {
        let _ = SEND_BUF.try_with(|b| *b.borrow_mut() = buf);
    }
    r?.ok_or_else(|| Error::new(ErrorKind::Remote, "no reply"))
}

pub(crate) fn reply_value(r: Reply) -> Result<Value> {
    match r {
        Reply::Return(v) => Ok(v),
        Reply::Error { kind, message } => Err(Error::new(kind, message)),
        Reply::Traceback(t) => Err(Error::new(
            ErrorKind::Remote,
            format!("\n{}\n{t}\n{}", "-".repeat(75), "-".repeat(75)),
        )),
        other => Err(unexpected_reply(&other)),
    }
}

// ---------------------------------------------------------------------------------------------
// BaseProxy
// ---------------------------------------------------------------------------------------------

/// What every proxy is made of: Python's `BaseProxy`.
///
/// A proxy holds one reference on its object in the manager: making one (or cloning one)
/// takes a reference, dropping it gives the reference back, and the manager frees the
/// object when its last reference is gone. Calls go over one connection per thread per
/// manager. A proxy can be sent to another process (as a task argument under every start
/// method, through a [`Connection`] or a [`Queue`](crate::Queue), inside a managed
/// container). Sent by an mp transport, it carries a reference taken for the receiver, so
/// the sender may drop its proxy right away (moving it into `Process::new(f, (proxy,))` is
/// fine). A fork child inherits its parent's proxies with references taken for it before
/// the fork, and gives back at exit those it did not drop.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{ListProxy, Value};
/// let manager = mp::Manager()?;
/// let l: ListProxy = manager.list_from(0..10)?;
/// // Python's `l._callmethod('__len__')` and `l._callmethod('__getitem__', (slice(2, 7),))`:
/// assert_eq!(l.base().call_method("__len__", ())?, Value::from(10));
/// let part: Vec<i32> = l.base().call_method_as("__getitem__", (Value::slice(2, 7),))?;
/// assert_eq!(part, [2, 3, 4, 5, 6]);
/// let err = l.base().call_method("__getitem__", (20,)).unwrap_err();
/// assert_eq!(err.kind(), mp::ErrorKind::Index);
/// assert_eq!(err.message(), "list index out of range");
/// # Ok(()) }
/// ```
pub struct BaseProxy {
    link: Link,
}

/// Where the referent lives.
enum Link {
    /// In a manager's server: each call is a request over the thread's connection to it.
    /// (Boxed: a local proxy, made in nanoseconds, should not carry its size.)
    Remote(Box<Remote>),
    /// In this process (`mp::dummy::Manager()`): each call runs the referent's method in the
    /// calling thread, the code the server would run for a request.
    Local(Local),
}

struct Remote {
    token: Token,
    /// Keeps the manager that made the proxy running (as CPython's proxies do).
    manager: Option<Arc<dyn Any + Send + Sync>>,
    authkey: Arc<[u8]>,
    proxytype: Arc<str>,
    exposed: Option<Arc<[String]>>,
    /// The epoch of the process that holds this proxy's reference (0: none; see `refs`).
    owner: AtomicU64,
}

#[derive(Clone)]
pub(crate) struct Local {
    obj: Arc<dyn Obj>,
    /// The type behind `obj`, read from it once: the fast paths' check costs a comparison.
    type_id: std::any::TypeId,
    typeid: &'static str,
    proxytype: &'static str,
    exposed: &'static [&'static str],
    /// Built on first use: making a local object allocates nothing else.
    token: OnceLock<Box<Token>>,
}

/// The address in the tokens of local objects (no manager listens there).
pub(crate) fn local_address() -> Address {
    Address::Abstract(LOCAL_NAME.to_vec())
}

const LOCAL_NAME: &[u8] = b"mp-dummy-manager";

/// Whether `a` is the address of local objects (compared without building one: every proxy
/// read from the wire asks).
fn is_local(a: &Address) -> bool {
    matches!(a, Address::Abstract(name) if name == LOCAL_NAME)
}

impl Local {
    fn token(&self) -> &Token {
        self.token.get_or_init(|| {
            Box::new(Token {
                typeid: self.typeid.to_owned(),
                address: local_address(),
                id: Arc::as_ptr(&self.obj) as *const () as usize as u64,
            })
        })
    }

    fn to_ref(&self) -> ProxyRef {
        ProxyRef {
            token: self.token().clone(),
            proxytype: self.proxytype.to_owned(),
            keep: Some(self.obj.clone()),
        }
    }

    /// The local object a reference read from a container (`from_value`) points to.
    pub(crate) fn from_ref(r: &ProxyRef) -> std::result::Result<Local, String> {
        match &r.keep {
            Some(obj) if is_local(&r.token.address) => {
                // The names of a local object are static: its builtin entry's, or its types'
                // (mp made it).
                let (typeid, proxytype, exposed) = match super::types::builtin(&r.token.typeid) {
                    Some(b) => (b.0, b.2, b.3),
                    None => (obj.type_name(), obj.proxytype(), obj.default_exposed()),
                };
                Ok(Local {
                    type_id: obj.as_any().type_id(),
                    obj: obj.clone(),
                    typeid,
                    proxytype,
                    exposed,
                    token: OnceLock::new(),
                })
            }
            _ => Err(format!(
                "{r} is a reference to an object of `mp::dummy::Manager()` that was encoded \
                 inside a `Value`, which keeps only its id: send the proxy itself"
            )),
        }
    }
}

impl BaseProxy {
    /// A proxy for a reference the caller already holds.
    pub(crate) fn adopt(
        token: Token,
        authkey: Arc<[u8]>,
        proxytype: &str,
        exposed: Option<Arc<[String]>>,
    ) -> BaseProxy {
        refs::install();
        let r = Remote {
            token,
            manager: None,
            authkey,
            proxytype: proxytype.into(),
            exposed,
            owner: AtomicU64::new(0),
        };
        refs::own(&r.token, &r.authkey, &r.owner);
        BaseProxy {
            link: Link::Remote(Box::new(r)),
        }
    }

    /// A proxy for an object of this process.
    #[inline]
    pub(crate) fn local<R: Referent>(
        obj: Arc<Slot<R>>,
        typeid: &'static str,
        proxytype: &'static str,
        exposed: &'static [&'static str],
    ) -> BaseProxy {
        BaseProxy {
            link: Link::Local(Local {
                type_id: std::any::TypeId::of::<Slot<R>>(),
                obj,
                typeid,
                proxytype,
                exposed,
                token: OnceLock::new(),
            }),
        }
    }

    /// The referent, if it is an object of this process and a `T` (the proxies' fast paths:
    /// what the referent's `dispatch` would do, without building an argument tuple).
    pub(crate) fn local_ref<T: Referent>(&self) -> Option<&RwLock<T>> {
        match &self.link {
            Link::Local(l) if l.type_id == std::any::TypeId::of::<Slot<T>>() => {
                // SAFETY: `type_id` is the type of the object behind `obj`, read from it when
                // the link was made (`obj` never changes), so the pointee is a `Slot<T>`.
                let slot = unsafe { &*Arc::as_ptr(&l.obj).cast::<Slot<T>>() };
                Some(&slot.cell)
            }
            _ => None,
        }
    }

    /// Reads a proxy for a `P`: a local object of another type is an error here (a remote
    /// one is checked by its server when called).
    pub(crate) fn deserialize_for<'de, P: Proxy, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<BaseProxy, D::Error> {
        let base = BaseProxy::deserialize(d)?;
        if let Link::Local(l) = &base.link
            && !l.obj.as_any().is::<Slot<P::Referent>>()
        {
            return Err(serde::de::Error::custom(format!(
                "{} is not a `{}` object",
                base.repr(),
                <P::Referent as Referent>::TYPE_NAME
            )));
        }
        Ok(base)
    }

    fn remote(&self) -> Option<&Remote> {
        match &self.link {
            Link::Remote(r) => Some(r),
            Link::Local(_) => None,
        }
    }

    /// Keeps `manager` alive as long as this proxy.
    pub(crate) fn with_manager(mut self, manager: Arc<dyn Any + Send + Sync>) -> BaseProxy {
        if let Link::Remote(r) = &mut self.link {
            r.manager = Some(manager);
        }
        self
    }

    /// A proxy taking a new reference.
    pub(crate) fn new_ref(
        token: Token,
        authkey: Arc<[u8]>,
        proxytype: &str,
        exposed: Option<Arc<[String]>>,
    ) -> Result<BaseProxy> {
        refs::install();
        let r = Remote {
            manager: keepalive_for(&token),
            token,
            authkey,
            proxytype: proxytype.into(),
            exposed,
            owner: AtomicU64::new(0),
        };
        r.incref()?;
        Ok(BaseProxy {
            link: Link::Remote(Box::new(r)),
        })
    }

    /// The object's token.
    ///
    /// # Examples
    ///
    /// See [`Token`].
    pub fn token(&self) -> &Token {
        match &self.link {
            Link::Remote(r) => &r.token,
            Link::Local(l) => l.token(),
        }
    }

    /// The name of the proxy type (`"DictProxy"`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy = m.dict()?;
    /// assert_eq!(d.base().proxytype(), "DictProxy");
    /// # Ok(()) }
    /// ```
    pub fn proxytype(&self) -> &str {
        match &self.link {
            Link::Remote(r) => &r.proxytype,
            Link::Local(l) => l.proxytype,
        }
    }

    /// The methods this proxy may call on its referent: Python's `_exposed_`.
    ///
    /// # Errors
    ///
    /// When the list has to be asked for and the manager cannot be reached.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let e: mp::managers::EventProxy = m.event()?;
    /// assert_eq!(e.base().exposed()?, ["is_set", "set", "clear", "wait"]);
    /// # Ok(()) }
    /// ```
    pub fn exposed(&self) -> Result<Vec<String>> {
        let r = match &self.link {
            Link::Local(l) => return Ok(l.exposed.iter().map(|m| m.to_string()).collect()),
            Link::Remote(r) => r,
        };
        if let Some(e) = &r.exposed {
            return Ok(e.to_vec());
        }
        let v = reply_value(request(
            &r.token.address,
            &r.authkey,
            &Request::GetMethods { id: r.token.id },
        )?)?;
        from_value(v)
    }

    /// Calls a method of the referent by name: Python's `_callmethod(name, args)`. `args`
    /// is a tuple (`()` for none, `(x,)` for one), converted with [`to_value`].
    ///
    /// # Errors
    ///
    /// The referent's error with its kind ([`ErrorKind::Key`], [`ErrorKind::Index`],
    /// [`ErrorKind::Empty`]...); [`ErrorKind::Remote`] for a method that is not exposed or a
    /// failure of the server; [`ErrorKind::Os`] if the manager cannot be reached.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn call_method(&self, name: &str, args: impl Serialize) -> Result<Value> {
        let args = match to_value(&args)? {
            t @ (Value::Tuple(_) | Value::List(_)) => t,
            Value::None => Value::Tuple(Vec::new()),
            one => Value::Tuple(vec![one]),
        };
        if let Link::Local(l) = &self.link
            && !l.exposed.contains(&name)
            && !matches!(name, "__str__" | "__repr__" | "#GETVALUE")
        {
            // What the server answers a request for a method that is not exposed.
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "method '{name}' of {} object is not in the exposed list {:?}",
                    l.obj.type_name(),
                    l.exposed
                ),
            ));
        }
        self.call_value(name, args)
    }

    /// [`call_method`](BaseProxy::call_method), converting the result with [`from_value`].
    ///
    /// # Errors
    ///
    /// As `call_method`, plus [`ErrorKind::Type`] if the result is not an `R`.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn call_method_as<R: DeserializeOwned + 'static>(
        &self,
        name: &str,
        args: impl Serialize,
    ) -> Result<R> {
        let v = self.call_method(name, args)?;
        self.convert(v)
    }

    /// A copy of the referent: Python's `_getvalue()`.
    ///
    /// # Errors
    ///
    /// As [`call_method`](BaseProxy::call_method); [`ErrorKind::NotImplemented`] for
    /// referents that cannot be copied (locks, queues).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy = m.list_from([1, 2, 3])?;
    /// assert_eq!(l.base().get_value()?, mp::managers::Value::from(vec![1, 2, 3]));
    /// # Ok(()) }
    /// ```
    pub fn get_value(&self) -> Result<Value> {
        self.call_value("#GETVALUE", Value::Tuple(Vec::new()))
    }

    /// Python's `str(proxy)`: the referent's `repr`, computed by the manager.
    ///
    /// # Errors
    ///
    /// As [`call_method`](BaseProxy::call_method).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy = m.list_from([1, 2])?;
    /// assert_eq!(l.base().str()?, "[1, 2]");
    /// # Ok(()) }
    /// ```
    pub fn str(&self) -> Result<String> {
        match self.call_value("__str__", Value::Tuple(Vec::new()))? {
            Value::Str(s) => Ok(s),
            other => Ok(other.to_string()),
        }
    }

    /// Python's `repr(proxy)`: `<DictProxy object, typeid 'dict' at 0x7f..>`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy = m.dict()?;
    /// assert!(d.base().repr().starts_with("<DictProxy object, typeid 'dict' at 0x"));
    /// # Ok(()) }
    /// ```
    pub fn repr(&self) -> String {
        self.to_ref().to_string()
    }

    /// The reference this proxy would store inside a managed container.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy = m.dict()?;
    /// assert_eq!(d.base().to_ref().typeid(), "dict");
    /// # Ok(()) }
    /// ```
    pub fn to_ref(&self) -> ProxyRef {
        match &self.link {
            Link::Remote(r) => ProxyRef {
                token: r.token.clone(),
                proxytype: r.proxytype.to_string(),
                keep: None,
            },
            Link::Local(l) => l.to_ref(),
        }
    }

    /// Calls `method` with a ready-made argument tuple.
    pub(crate) fn call_value(&self, method: &str, args: Value) -> Result<Value> {
        let r = match &self.link {
            Link::Local(l) => {
                return match method {
                    "__str__" | "__repr__" => l.obj.repr().map(Value::Str),
                    "#GETVALUE" => l.obj.get_value(),
                    _ => l.obj.dispatch(method, args),
                };
            }
            Link::Remote(r) => r,
        };
        r.ensure_owned()?;
        let mut buf = SEND_BUF
            .try_with(|b| std::mem::take(&mut *b.borrow_mut()))
            .unwrap_or_default();
        buf.clear();
        super::protocol::encode_call(&mut buf, r.token.id, method, &args)?;
        let r = exchange(&r.token.address, &r.authkey, &buf, true);
        if buf.capacity() <= 1 << 20 {
            let _ = SEND_BUF.try_with(|b| *b.borrow_mut() = buf);
        }
        let reply = r?.ok_or_else(|| Error::new(ErrorKind::Remote, "no reply"))?;
        reply_value(reply)
    }

    /// Typed call: arguments already converted, result converted to `R`.
    pub(crate) fn call<R: DeserializeOwned + 'static>(
        &self,
        method: &str,
        args: Vec<Value>,
    ) -> Result<R> {
        let v = self.call_value(method, Value::Tuple(args))?;
        self.convert(v)
    }

    /// Converts a result; proxies inside it keep this proxy's manager alive too.
    fn convert<R: DeserializeOwned + 'static>(&self, v: Value) -> Result<R> {
        let Some((r, m)) = self.remote().and_then(|r| Some((r, r.manager.as_ref()?))) else {
            return value_into(v);
        };
        let prev = KEEPALIVE
            .try_with(|k| k.replace(Some((r.token.address.clone(), m.clone()))))
            .ok()
            .flatten();
        let r = value_into(v);
        let _ = KEEPALIVE.try_with(|k| k.replace(prev));
        r
    }

    pub(crate) fn from_wire(w: ProxyWire) -> Result<BaseProxy> {
        if is_local(&w.address) {
            // A local proxy that crossed an in-process transport: the object travelled in
            // the message's side table.
            return match crate::space::handle::kept(w.id).map(|k| k.downcast::<Local>()) {
                Some(Ok(l)) => Ok(BaseProxy {
                    link: Link::Local((*l).clone()),
                }),
                _ => Err(Error::new(
                    ErrorKind::Value,
                    format!(
                        "<{} object, typeid '{}'> is a reference to an object of \
                         `mp::dummy::Manager()` that was encoded inside a `Value`, which keeps \
                         only its id: send the proxy itself",
                        w.proxytype, w.typeid
                    ),
                )),
            };
        }
        let mut token = Token {
            typeid: w.typeid,
            address: w.address,
            id: w.id,
        };
        remap_token(&mut token);
        let authkey: Arc<[u8]> = match w.authkey {
            Some(k) => {
                let k: Arc<[u8]> = k.into();
                known()
                    .keys
                    .entry(token.address.clone())
                    .or_insert(k.clone());
                k
            }
            None => key_for(&token.address),
        };
        let exposed = w.exposed.map(Into::into);
        if w.owned {
            // The sender took this reference for us (see `refs`).
            let manager = keepalive_for(&token);
            let p = BaseProxy::adopt(token, authkey, &w.proxytype, exposed);
            return Ok(match manager {
                Some(m) => p.with_manager(m),
                None => p,
            });
        }
        BaseProxy::new_ref(token, authkey, &w.proxytype, exposed)
    }
}

impl Remote {
    fn incref(&self) -> Result<()> {
        let r = request(
            &self.token.address,
            &self.authkey,
            &Request::Incref { id: self.token.id },
        )?;
        reply_value(r)?;
        if !refs::own(&self.token, &self.authkey, &self.owner) {
            // Another thread of this process took the proxy's reference first.
            send_decref(&self.token, &self.authkey);
        }
        Ok(())
    }

    /// A proxy that owns no reference in this process (a copy in a fork child that was not
    /// lent one, a clone whose manager could not be reached) takes one before its first use.
    fn ensure_owned(&self) -> Result<()> {
        if !refs::owns(&self.owner) {
            self.incref()?;
        }
        Ok(())
    }

    fn wire(&self) -> ProxyWire {
        ProxyWire {
            owned: false,
            typeid: self.token.typeid.clone(),
            address: self.token.address.clone(),
            id: self.token.id,
            proxytype: self.proxytype.to_string(),
            exposed: self.exposed.as_ref().map(|e| e.to_vec()),
            authkey: crate::reduction::spawning().then(|| self.authkey.to_vec()),
        }
    }
}

impl Clone for BaseProxy {
    /// A second proxy for the same object, with its own reference (if the manager cannot be
    /// reached, the clone takes its reference on first use, or fails then).
    fn clone(&self) -> BaseProxy {
        let r = match &self.link {
            Link::Local(l) => {
                return BaseProxy {
                    link: Link::Local(l.clone()),
                };
            }
            Link::Remote(r) => r,
        };
        refs::install();
        let r = Remote {
            token: r.token.clone(),
            manager: r.manager.clone(),
            authkey: r.authkey.clone(),
            proxytype: r.proxytype.clone(),
            exposed: r.exposed.clone(),
            owner: AtomicU64::new(0),
        };
        let _ = r.incref();
        BaseProxy {
            link: Link::Remote(Box::new(r)),
        }
    }
}

impl Drop for BaseProxy {
    #[inline]
    fn drop(&mut self) {
        if let Link::Remote(r) = &self.link
            && refs::disown(&r.token, &r.owner)
        {
            send_decref(&r.token, &r.authkey);
        }
    }
}

/// How long dropping a proxy waits for the server to confirm its decref.
const DECREF_TIMEOUT: Duration = Duration::from_secs(10);

/// Gives one reference back, unless this process shut the manager down.
fn send_decref(token: &Token, authkey: &[u8]) {
    if is_dead(&token.address) {
        return;
    }
    let mut buf = Vec::with_capacity(12);
    if (Request::Decref { id: token.id }).encode(&mut buf).is_ok() {
        // Waits for the reply, as CPython does: once a proxy is dropped, every later request
        // of any thread or process sees the object's count without it. Bounded: a drop must
        // not hang on a wedged (say, stopped) server.
        if let Err(e) = exchange_bounded(&token.address, authkey, &buf, true, Some(DECREF_TIMEOUT))
        {
            crate::logging::debug!("decref of {} not confirmed: {e}", token.id);
        }
    }
}

/// The manager a proxy found inside a result keeps alive (that of the proxy converting it).
fn keepalive_for(token: &Token) -> Option<Arc<dyn Any + Send + Sync>> {
    KEEPALIVE
        .try_with(|k| {
            k.borrow()
                .as_ref()
                .filter(|(a, _)| *a == token.address)
                .map(|(_, m)| m.clone())
        })
        .ok()
        .flatten()
}

impl fmt::Debug for BaseProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr())
    }
}

impl fmt::Display for BaseProxy {
    /// The referent's `repr` (Python's `str(proxy)`), or the proxy's own `repr` with
    /// `; '__str__()' failed` if the manager cannot be reached.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.str() {
            Ok(s) => f.write_str(&s),
            Err(_) => {
                let r = self.repr();
                write!(f, "{}; '__str__()' failed>", &r[..r.len() - 1])
            }
        }
    }
}

impl Serialize for BaseProxy {
    /// Inside a message an mp transport encodes, the wire form carries a reference taken for
    /// the receiver (see `refs`); elsewhere (`to_value`, a manager's arguments) it does not.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.link {
            Link::Remote(r) => {
                let mut w = r.wire();
                w.owned = !s.is_human_readable() && refs::carry(&r.token, &r.authkey);
                s.serialize_newtype_struct(PROXY_TOKEN, &w)
            }
            // `to_value`: the reference itself, which keeps the object.
            Link::Local(l) if s.is_human_readable() => Value::Proxy(l.to_ref()).serialize(s),
            // An in-process transport: the object goes into the message's side table, the
            // bytes say where (anywhere else, that is an error: it cannot leave the process).
            Link::Local(l) => {
                let id = crate::space::handle::keep(Arc::new(l.clone()), l.proxytype)
                    .map_err(serde::ser::Error::custom)?;
                let w = ProxyWire {
                    owned: false,
                    typeid: l.typeid.to_string(),
                    address: local_address(),
                    id,
                    proxytype: l.proxytype.to_string(),
                    exposed: None,
                    authkey: None,
                };
                s.serialize_newtype_struct(PROXY_TOKEN, &w)
            }
        }
    }
}

impl<'de> Deserialize<'de> for BaseProxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<BaseProxy, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BaseProxy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a proxy")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<BaseProxy, D::Error> {
                // Resolved inside the visit: a local object's side table lives as long.
                let w = ProxyWire::deserialize(d)?;
                BaseProxy::from_wire(w).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_newtype_struct(PROXY_TOKEN, V)
    }
}

impl From<&BaseProxy> for Value {
    fn from(p: &BaseProxy) -> Value {
        Value::Proxy(p.to_ref())
    }
}

/// Moves `t` out as a `U` if it is one. The type check folds away at compile time.
fn cast<T: 'static, U: 'static>(t: T) -> std::result::Result<U, T> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<U>() {
        return Err(t);
    }
    let mut slot = Some(t);
    match (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<U>>()
        .and_then(Option::take)
    {
        Some(u) => Ok(u),
        None => Err(slot.expect("not taken: the cast failed")),
    }
}

/// Converts an argument. `Value`, strings, integers, floats and booleans go straight to their
/// `Value` (what serde would make of them, without its round trip nor, for a `String`, a
/// copy); anything else goes through serde.
pub(crate) fn into_value<T: Serialize + 'static>(t: T) -> Result<Value> {
    macro_rules! direct {
        ($t:ident; $($ty:ty => $make:expr),* $(,)?) => {
            $(let $t = match cast::<_, $ty>($t) {
                Ok(x) => return Ok($make(x)),
                Err(t) => t,
            };)*
        };
    }
    direct!(t;
        Value => |v| v,
        String => Value::Str,
        &'static str => |s: &str| Value::Str(s.to_owned()),
        i64 => |i| Value::Int(i128::from(i)),
        i32 => |i| Value::Int(i128::from(i)),
        u32 => |i| Value::Int(i128::from(i)),
        u64 => |i| Value::Int(i128::from(i)),
        usize => |i: usize| Value::Int(i as i128),
        isize => |i: isize| Value::Int(i as i128),
        f64 => Value::Float,
        bool => Value::Bool,
    );
    to_value(&t)
}

/// Converts a result. `Value` is moved out as it is; a `String`, an integer, a float or a
/// boolean held by the variant serde would read it from is taken directly; anything else
/// (and every mismatch, for serde's error) goes through serde.
pub(crate) fn value_into<R: DeserializeOwned + 'static>(v: Value) -> Result<R> {
    let v = match cast::<Value, R>(v) {
        Ok(r) => return Ok(r),
        Err(v) => v,
    };
    let v = match v {
        Value::Str(s) => match cast::<String, R>(s) {
            Ok(r) => return Ok(r),
            Err(s) => Value::Str(s),
        },
        Value::Int(i) => {
            // An integer type `R` whose range holds `i` (out of range: serde's error below).
            macro_rules! int_as {
                ($($t:ty),*) => {$(
                    if let Ok(x) = <$t>::try_from(i)
                        && let Ok(r) = cast::<$t, R>(x)
                    {
                        return Ok(r);
                    }
                )*};
            }
            int_as!(i64, i32, u64, usize);
            Value::Int(i)
        }
        Value::Float(f) => match cast::<f64, R>(f) {
            Ok(r) => return Ok(r),
            Err(f) => Value::Float(f),
        },
        Value::Bool(b) => match cast::<bool, R>(b) {
            Ok(r) => return Ok(r),
            Err(b) => Value::Bool(b),
        },
        v => v,
    };
    from_value(v)
}

// ---------------------------------------------------------------------------------------------
// The traits that tie a referent type to its proxy type
// ---------------------------------------------------------------------------------------------

/// A typed proxy: implemented by `#[mp::proxy]` for the proxies it generates, and by mp for
/// [`DictProxy`](super::DictProxy), [`ListProxy`](super::ListProxy) and the others.
///
/// # Examples
///
/// ```
/// use mp::managers::{DictProxy, Proxy};
/// assert_eq!(<DictProxy as Proxy>::NAME, "DictProxy");
/// assert!(<DictProxy as Proxy>::EXPOSED.contains(&"__getitem__"));
/// ```
pub trait Proxy: Sized + Send + Sync + 'static {
    /// The type of the object the proxy stands for.
    type Referent: Referent;
    /// The proxy type's name, as `repr` prints it (`"DictProxy"`).
    const NAME: &'static str;
    /// The methods it may call: Python's `exposed`.
    const EXPOSED: &'static [&'static str];
    /// Wraps a base proxy.
    fn from_base(base: BaseProxy) -> Self;
    /// The base proxy.
    fn base(&self) -> &BaseProxy;
}

/// A type whose values a manager can hold and whose methods proxies call: implemented by
/// `#[mp::proxy]` on an `impl` block, and by mp for the SyncManager's types.
///
/// The server keeps each object in an `RwLock`: methods taking `&self` run concurrently
/// (one per client thread, as in CPython), methods taking `&mut self` one at a time.
///
/// # Examples
///
/// ```
/// #[derive(Default)]
/// struct Counter { n: i64 }
///
/// #[mp::proxy]
/// impl Counter {
///     fn incr(&mut self, by: i64) -> i64 { self.n += by; self.n }
/// }
///
/// use mp::managers::Referent;
/// assert_eq!(<Counter as Referent>::TYPE_NAME, "Counter");
/// ```
pub trait Referent: Send + Sync + Sized + 'static {
    /// The proxy used for objects of this type returned by a method (`Shared<Self>`).
    type Proxy: Proxy<Referent = Self>;
    /// The type's name, checked against what a proxy expects (`"dict"`, `"MathsClass"`).
    const TYPE_NAME: &'static str;
    /// Calls `method` with a tuple of arguments.
    ///
    /// # Errors
    ///
    /// Whatever the method returns; an unknown method is an [`ErrorKind::Remote`] error.
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value>;
    /// Python's `repr` of the object (what `str(proxy)` prints).
    ///
    /// # Errors
    ///
    /// None by default.
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let _ = this;
        Ok(format!("<{} object>", Self::TYPE_NAME))
    }
    /// A copy of the object as a value: Python's `_getvalue()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotImplemented`] by default.
    fn get_value(this: &RwLock<Self>) -> Result<Value> {
        let _ = this;
        Err(Error::new(
            ErrorKind::NotImplemented,
            format!(
                "a `{}` object cannot be copied out of the manager",
                Self::TYPE_NAME
            ),
        ))
    }
}

/// An object living in a manager's server: what a registered callable returns, and what a
/// referent's method returns to hand a proxy back to its caller (CPython's
/// `method_to_typeid`).
///
/// In the server process, [`read`](Shared::read) and [`write`](Shared::write) reach the
/// object directly (the `serve_forever` pattern: the server's own threads use the objects
/// its clients use). Serialized anywhere but in a server's reply, a `Shared` is an error.
///
/// # Examples
///
/// ```
/// use mp::managers::{Queue, Shared};
/// let q = Shared::new(Queue::new(0));
/// q.read().put_local("local hello".into()).unwrap();
/// assert_eq!(q.read().qsize(), 1);
/// ```
pub struct Shared<T: Referent>(pub(crate) Arc<Slot<T>>);

impl<T: Referent> Shared<T> {
    /// Makes `value` shareable.
    ///
    /// # Examples
    ///
    /// See [`Shared`].
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(Slot {
            cell: RwLock::new(value),
        }))
    }

    /// Reads the object (in the server's process).
    ///
    /// # Examples
    ///
    /// See [`Shared`].
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.cell.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the object (in the server's process).
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Default)]
    /// struct C { n: u8 }
    /// #[mp::proxy]
    /// impl C { fn n(&self) -> u8 { self.n } }
    /// let c = mp::managers::Shared::new(C::default());
    /// c.write().n = 3;
    /// assert_eq!(c.read().n(), 3);
    /// ```
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.cell.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn erase(&self) -> Arc<dyn Obj> {
        self.0.clone()
    }
}

impl<T: Referent> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: Referent> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared<{}>", T::TYPE_NAME)
    }
}

impl<T: Referent> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match super::server::share(self.erase()) {
            Some((token, proxytype)) => s.serialize_newtype_struct(
                PROXY_TOKEN,
                &ProxyWire {
                    typeid: token.typeid,
                    address: token.address,
                    id: token.id,
                    proxytype: proxytype.to_owned(),
                    exposed: None,
                    authkey: None,
                    owned: false,
                },
            ),
            // Returned by a method of an object of this process (a local proxy's call): a
            // local proxy on it.
            None if s.is_human_readable() => BaseProxy::local(
                self.0.clone(),
                T::TYPE_NAME,
                T::Proxy::NAME,
                T::Proxy::EXPOSED,
            )
            .serialize(s),
            None => Err(serde::ser::Error::custom(format!(
                "a `Shared<{}>` can only be returned by a manager's server (to its \
                 callers, who get a proxy); send a proxy instead",
                T::TYPE_NAME
            ))),
        }
    }
}

impl<'de, T: Referent> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Shared<T>, D::Error> {
        let w = BaseProxyWire::deserialize(d)?.0;
        let token = Token {
            typeid: w.typeid,
            address: w.address,
            id: w.id,
        };
        let obj = super::server::resolve_keep(&token).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "a `Shared<{}>` can only be received by the manager that holds the object",
                T::TYPE_NAME
            ))
        })?;
        obj.into_any()
            .downcast::<Slot<T>>()
            .map(Shared)
            .map_err(|_| {
                serde::de::Error::custom(format!("the object is not a `{}`", T::TYPE_NAME))
            })
    }
}

struct BaseProxyWire(ProxyWire);

impl<'de> Deserialize<'de> for BaseProxyWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BaseProxyWire;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a proxy")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<BaseProxyWire, D::Error> {
                ProxyWire::deserialize(d).map(BaseProxyWire)
            }
        }
        d.deserialize_newtype_struct(PROXY_TOKEN, V)
    }
}
