//! The manager's server: a table of objects and the threads that serve clients.
//!
//! One thread accepts connections; each connection gets its own serving thread (as in
//! CPython), which authenticates the client and then answers its requests one by one. A
//! request names an object by id and a method by name; both are looked up in tables the
//! server built, so nothing received is ever executed. A malformed request gets a
//! `Traceback` reply; a panic in a method is caught and reported the same way; a client that
//! disappears only ends its own thread.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::protocol::{Reply, Request};
use super::proxy::Token;
use super::value::{ProxyRef, Value};
use crate::connection::{Address, Connection, auth};
use crate::error::{Error, ErrorKind, Result};
use crate::registry::TaskEntry;
use crate::sys;

/// An object held by a server, whatever its type: what `Shared<T>` erases to.
pub(crate) trait Obj: Send + Sync + 'static {
    /// The referent's type name (`"dict"`, `"MathsClass"`).
    fn type_name(&self) -> &'static str;
    /// The name of its default proxy type.
    fn proxytype(&self) -> &'static str;
    /// The methods its default proxy exposes.
    fn default_exposed(&self) -> &'static [&'static str];
    /// Calls a method by name.
    fn dispatch(&self, method: &str, args: Value) -> Result<Value>;
    /// Python's `repr` of the referent.
    fn repr(&self) -> Result<String>;
    /// A copy of the referent as a value (`#GETVALUE`).
    fn get_value(&self) -> Result<Value>;
    /// For downcasting back to `Shared<T>`.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// For reaching the referent of a local proxy directly.
    fn as_any(&self) -> &dyn Any;
}

/// The methods a proxy of an object may call.
#[derive(Clone, Debug)]
pub(crate) enum Exposed {
    Static(&'static [&'static str]),
    Owned(Arc<[String]>),
}

impl Exposed {
    fn contains(&self, m: &str) -> bool {
        match self {
            Exposed::Static(s) => s.contains(&m),
            Exposed::Owned(s) => s.iter().any(|x| x == m),
        }
    }

    pub(crate) fn to_vec(&self) -> Vec<String> {
        match self {
            Exposed::Static(s) => s.iter().map(|x| x.to_string()).collect(),
            Exposed::Owned(s) => s.to_vec(),
        }
    }
}

/// A closure making an object from its encoded arguments.
pub(crate) type MakeObj = Arc<dyn Fn(&[u8]) -> Result<Arc<dyn Obj>> + Send + Sync>;

/// How a typeid makes its objects.
#[derive(Clone)]
pub(crate) enum Callable {
    /// Known only to the server (a client that registered the name for `connect()`).
    Remote,
    /// One of the SyncManager's types.
    Builtin(fn(&[u8]) -> Result<Arc<dyn Obj>>),
    /// A `#[mp::task]` fn returning `Shared<T>`: found by name in any process.
    Task(&'static TaskEntry),
    /// A closure: only in the process that registered it (fork, `serve_forever`).
    Closure(MakeObj),
}

/// A registered typeid, as the server sees it.
#[derive(Clone)]
pub(crate) struct TypeEntry {
    pub(crate) typeid: String,
    pub(crate) callable: Callable,
    pub(crate) exposed: Exposed,
    pub(crate) proxytype: String,
    pub(crate) referent: String,
}

struct Entry {
    strong: Option<Arc<dyn Obj>>,
    weak: Weak<dyn Obj>,
    refcount: usize,
    typeid: Arc<str>,
    exposed: Exposed,
    proxytype: Arc<str>,
}

/// The shared state of one server.
pub(crate) struct State {
    pub(crate) address: Address,
    pub(crate) authkey: Vec<u8>,
    pub(crate) kind: String,
    types: HashMap<String, TypeEntry>,
    objects: Mutex<Objects>,
    stop: AtomicBool,
    stop_fd: OwnedFd,
    conns: Mutex<Vec<RawFd>>,
    max_message: u64,
    /// A SharedMemoryManager's server: the named segments to unlink at shutdown.
    segments: Option<Mutex<Vec<String>>>,
}

struct Objects {
    map: HashMap<u64, Entry>,
    next_sweep: usize,
}

fn id_of(obj: &Arc<dyn Obj>) -> u64 {
    Arc::as_ptr(obj) as *const () as usize as u64
}

thread_local! {
    /// Set on a serving thread: the server it serves.
    static SERVER: RefCell<Option<Arc<State>>> = const { RefCell::new(None) };
    /// The address a client of this thread used to reach the server (it may differ from the
    /// bound one, e.g. `127.0.0.1` for `0.0.0.0`).
    static ALIAS: RefCell<Option<Address>> = const { RefCell::new(None) };
    /// Objects returned to the client by the last reply, kept alive until its next request
    /// is done (so that it can take a reference on them).
    static PINS: RefCell<Vec<Arc<dyn Obj>>> = const { RefCell::new(Vec::new()) };
    /// While a `Create` runs a task: where `Shared::serialize` leaves the new object.
    static CAPTURE: RefCell<Option<Option<Arc<dyn Obj>>>> = const { RefCell::new(None) };
    /// The descriptor of the connection being served (to notice a vanished client).
    static CLIENT_FD: std::cell::Cell<RawFd> = const { std::cell::Cell::new(-1) };
    /// The object whose method this thread is running (for a method that hands out an
    /// object keeping its referent alive, such as a dict's iterator).
    static CALLING: RefCell<Option<Arc<dyn Obj>>> = const { RefCell::new(None) };
}

/// In a referent's method: the object it was called on.
pub(crate) fn current_object() -> Option<Arc<dyn Obj>> {
    CALLING.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// What `Shared<T>::serialize` does inside a server: capture (during `Create`) or register
/// and pin the object, returning its token.
pub(crate) fn share(obj: Arc<dyn Obj>) -> Option<(Token, &'static str)> {
    let captured = CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(slot) => {
                *slot = Some(obj.clone());
                true
            }
            None => false,
        }
    });
    SERVER.with(|s| {
        let s = s.borrow();
        let st = s.as_ref()?;
        let proxytype = obj.proxytype();
        let id = if captured {
            id_of(&obj)
        } else {
            let id = st.register(
                obj.clone(),
                0,
                obj.type_name(),
                Exposed::Static(obj.default_exposed()),
                proxytype,
            );
            PINS.with(|p| p.borrow_mut().push(obj.clone()));
            id
        };
        Some((
            Token {
                typeid: obj.type_name().to_owned(),
                address: st.address.clone(),
                id,
            },
            proxytype,
        ))
    })
}

/// In a server: the object a token names, if it is one of ours.
pub(crate) fn resolve_keep(token: &Token) -> Option<Arc<dyn Obj>> {
    SERVER
        .try_with(|s| {
            let s = s.borrow();
            let st = s.as_ref()?;
            if !st.is_own(&token.address) {
                return None;
            }
            st.lookup(token.id).ok().map(|(o, _)| o)
        })
        .ok()
        .flatten()
}

/// Whether the client of the current serving thread has gone away (so that a blocking
/// method can give up instead of taking an item nobody will receive).
pub(crate) fn client_gone() -> bool {
    let fd = CLIENT_FD.with(|c| c.get());
    if fd < 0 {
        return false;
    }
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

impl State {
    pub(crate) fn new(
        address: Address,
        authkey: Vec<u8>,
        kind: String,
        types: Vec<TypeEntry>,
        max_message: u64,
        track_segments: bool,
    ) -> Result<State> {
        // SAFETY: eventfd with valid flags; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::errno("eventfd"));
        }
        // SAFETY: a fresh descriptor that we own.
        let stop_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(State {
            address,
            authkey,
            kind,
            types: types.into_iter().map(|t| (t.typeid.clone(), t)).collect(),
            objects: Mutex::new(Objects {
                map: HashMap::new(),
                next_sweep: 64,
            }),
            stop: AtomicBool::new(false),
            stop_fd,
            conns: Mutex::new(Vec::new()),
            max_message,
            segments: track_segments.then(|| Mutex::new(Vec::new())),
        })
    }

    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_own(&self, a: &Address) -> bool {
        *a == self.address || ALIAS.with(|x| x.borrow().as_ref() == Some(a))
    }

    /// Adds `refs` references on `obj` (registering it if new) and returns its id.
    fn register(
        &self,
        obj: Arc<dyn Obj>,
        refs: usize,
        typeid: &str,
        exposed: Exposed,
        proxytype: &str,
    ) -> u64 {
        let id = id_of(&obj);
        let mut objs = self.objects();
        match objs.map.get_mut(&id) {
            Some(e) if e.weak.upgrade().is_some_and(|o| Arc::ptr_eq(&o, &obj)) => {
                e.refcount += refs;
                if e.refcount > 0 && e.strong.is_none() {
                    e.strong = Some(obj);
                }
            }
            _ => {
                let weak = Arc::downgrade(&obj);
                objs.map.insert(
                    id,
                    Entry {
                        strong: (refs > 0).then_some(obj),
                        weak,
                        refcount: refs,
                        typeid: typeid.into(),
                        exposed,
                        proxytype: proxytype.into(),
                    },
                );
            }
        }
        if objs.map.len() >= objs.next_sweep {
            objs.map
                .retain(|_, e| e.strong.is_some() || e.weak.strong_count() > 0);
            objs.next_sweep = (objs.map.len() * 2).max(64);
        }
        id
    }

    fn lookup(&self, id: u64) -> Result<(Arc<dyn Obj>, Exposed)> {
        let mut objs = self.objects();
        let found = objs.map.get(&id).map(|e| {
            (
                e.strong.clone().or_else(|| e.weak.upgrade()),
                e.exposed.clone(),
            )
        });
        match found {
            Some((Some(o), ex)) => Ok((o, ex)),
            Some((None, _)) => {
                objs.map.remove(&id);
                Err(no_object(id))
            }
            None => Err(no_object(id)),
        }
    }

    fn incref(&self, id: u64) -> Result<()> {
        let mut objs = self.objects();
        let e = objs.map.get_mut(&id).ok_or_else(|| no_object(id))?;
        if e.strong.is_none() {
            e.strong = Some(e.weak.upgrade().ok_or_else(|| no_object(id))?);
        }
        e.refcount += 1;
        Ok(())
    }

    /// Takes `n` references on each `(id, n)`, all or none.
    fn incref_many(&self, refs: &[(u64, u64)]) -> Result<()> {
        let mut objs = self.objects();
        // First make sure every object is there (a strong reference for each that has none),
        // then count: a missing object changes nothing.
        let mut revived: Vec<(u64, Arc<dyn Obj>)> = Vec::new();
        for &(id, _) in refs {
            let e = objs.map.get(&id).ok_or_else(|| no_object(id))?;
            if e.strong.is_none() && !revived.iter().any(|(r, _)| *r == id) {
                revived.push((id, e.weak.upgrade().ok_or_else(|| no_object(id))?));
            }
        }
        for (id, o) in revived {
            if let Some(e) = objs.map.get_mut(&id) {
                e.strong = Some(o);
            }
        }
        for &(id, n) in refs {
            if let Some(e) = objs.map.get_mut(&id) {
                e.refcount = e
                    .refcount
                    .saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            }
        }
        Ok(())
    }

    fn decref(&self, id: u64) {
        self.decref_many(&[(id, 1)]);
    }

    /// Drops `n` references on each `(id, n)`; an object whose count reaches zero is freed.
    fn decref_many(&self, refs: &[(u64, u64)]) {
        let mut dropped = Vec::new();
        {
            let mut objs = self.objects();
            for &(id, n) in refs {
                let Some(e) = objs.map.get_mut(&id) else {
                    continue;
                };
                e.refcount = e
                    .refcount
                    .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
                if e.refcount == 0 {
                    let o = e.strong.take();
                    if e.weak.strong_count() <= 1 {
                        objs.map.remove(&id);
                    }
                    dropped.extend(o);
                }
            }
        }
        // The referents' destructors run outside the table's lock.
        drop(dropped);
    }

    fn number_of_objects(&self) -> usize {
        let mut objs = self.objects();
        objs.map
            .retain(|_, e| e.strong.is_some() || e.weak.strong_count() > 0);
        objs.map.len()
    }

    fn debug_info(&self) -> String {
        let objs = self.objects();
        let mut lines: Vec<String> = objs
            .map
            .iter()
            .filter_map(|(id, e)| {
                let o = e.strong.clone().or_else(|| e.weak.upgrade())?;
                let repr = o.repr().unwrap_or_default();
                let short: String = repr.chars().take(75).collect();
                Some(format!(
                    "  {id:#x}:       refcount={}\n    {short}",
                    e.refcount
                ))
            })
            .collect();
        lines.sort();
        lines.join("\n")
    }

    pub(crate) fn stop(&self) {
        if self.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe { libc::write(self.stop_fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        // Wake the serving threads blocked on their clients.
        for &fd in self.conns.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // SAFETY: the descriptor is open: it is removed from the list before it closes.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn type_entry(&self, typeid: &str) -> Result<&TypeEntry> {
        self.types.get(typeid).ok_or_else(|| {
            let mut known: Vec<&str> = self.types.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::new(
                ErrorKind::Key,
                format!(
                    "typeid '{typeid}' is not registered with this {}; registered: {}",
                    self.kind,
                    known.join(", ")
                ),
            )
        })
    }

    fn create(&self, typeid: &str, args: &[u8], referent: &str) -> Result<Reply> {
        let t = self.type_entry(typeid)?;
        let obj = make(t, typeid, args)?;
        self.created(t, obj, referent)
    }

    /// A CPython client's `create(typeid, *args, **kwds)`.
    fn create_python(
        &self,
        typeid: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Reply> {
        let t = self.type_entry(typeid)?;
        let obj = match &t.callable {
            Callable::Builtin(_) => super::types::create_python(&t.referent, args, kwds)?,
            _ if args.is_empty() && kwds.is_empty() => {
                make(t, typeid, &crate::reduction::encode_plain(&())?)?
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Type,
                    format!(
                        "typeid '{typeid}' takes its arguments as Rust types: a CPython client \
                         can call it without arguments only"
                    ),
                ));
            }
        };
        self.created(t, obj, "")
    }

    /// Registers a new object of typeid `t` (one reference, the proxy's) and says so.
    fn created(&self, t: &TypeEntry, obj: Arc<dyn Obj>, referent: &str) -> Result<Reply> {
        let typeid = t.typeid.as_str();
        if !referent.is_empty() && obj.type_name() != referent {
            return Err(Error::new(
                ErrorKind::Type,
                format!(
                    "typeid '{typeid}' makes `{}` objects, not the `{referent}` the proxy \
                     expects",
                    obj.type_name()
                ),
            ));
        }
        let exposed = t.exposed.clone();
        let id = self.register(obj, 1, typeid, exposed.clone(), &t.proxytype);
        // A typeid may re-register a shared object under its own name and exposed set.
        if let Some(e) = self.objects().map.get_mut(&id) {
            e.typeid = typeid.into();
            e.exposed = exposed.clone();
            e.proxytype = t.proxytype.as_str().into();
        }
        Ok(Reply::Created {
            id,
            typeid: typeid.to_owned(),
            exposed: exposed.to_vec(),
            proxytype: t.proxytype.clone(),
        })
    }

    fn call(&self, id: u64, method: &str, args: Value) -> Result<Value> {
        let (obj, exposed) = self.lookup(id)?;
        match method {
            "__str__" | "__repr__" => return obj.repr().map(Value::Str),
            "#GETVALUE" => return obj.get_value(),
            _ => {}
        }
        if !exposed.contains(method) {
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "method '{method}' of {} object is not in the exposed list {:?}",
                    obj.type_name(),
                    exposed.to_vec()
                ),
            ));
        }
        struct Calling(Option<Arc<dyn Obj>>);
        impl Drop for Calling {
            fn drop(&mut self) {
                let prev = self.0.take();
                let _ = CALLING.try_with(|c| *c.borrow_mut() = prev);
            }
        }
        let _calling = Calling(CALLING.with(|c| c.replace(Some(obj.clone()))));
        obj.dispatch(method, args)
    }

    /// Answers one request of a CPython client (see [`super::python`]).
    fn handle_python(&self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        use super::python::{self, PyRequest};
        let mut shutdown = false;
        let mut namespace: Option<String> = None;
        let reply = match python::decode_request(bytes) {
            Err(e) => {
                python::encode_traceback(&format!("bad request: {e}"), out);
                return false;
            }
            Ok(PyRequest::Accept) => Reply::Return(Value::None),
            Ok(PyRequest::Plain(r)) => {
                shutdown = matches!(r, Request::Shutdown);
                if let Request::Call { id, method, .. } = &r
                    && self
                        .lookup(*id)
                        .is_ok_and(|(o, _)| o.type_name() == "Namespace")
                {
                    namespace = Some(method.clone());
                }
                self.handle(r).unwrap_or(Reply::Return(Value::None))
            }
            Ok(PyRequest::Create { typeid, args, kwds }) => self
                .create_python(&typeid, args, kwds)
                .unwrap_or_else(|e| e.into()),
            Ok(PyRequest::Call {
                id,
                method,
                args,
                kwds,
            }) => self
                .lookup(id)
                .and_then(|(o, _)| python::fold_kwds(o.type_name(), &method, args, kwds))
                .and_then(|args| self.call(id, &method, Value::Tuple(args)))
                .map_or_else(Reply::from, Reply::Return),
        };
        if let Reply::Return(v) = &reply {
            PINS.with(|p| pin_proxies(v, &mut p.borrow_mut()));
        }
        let exposed = |t: &Token| {
            if self.is_own(&t.address) {
                self.lookup(t.id).ok().map(|(_, ex)| ex.to_vec())
            } else {
                None
            }
        };
        let encoded = python::encode_reply(
            reply,
            &exposed,
            &|id| self.incref(id),
            namespace.as_deref(),
            out,
        );
        if let Err(e) = encoded {
            out.clear();
            python::encode_traceback(&format!("cannot encode the reply: {e}"), out);
        }
        shutdown
    }

    fn handle(&self, req: Request) -> Option<Reply> {
        let r = match req {
            Request::Hello { address } => {
                if address != self.address {
                    ALIAS.with(|a| *a.borrow_mut() = Some(address));
                }
                Ok(Reply::Welcome {
                    address: self.address.clone(),
                })
            }
            Request::Dummy => Ok(Reply::Return(Value::None)),
            Request::Call { id, method, args } => self.call(id, &method, args).map(Reply::Return),
            Request::Create {
                typeid,
                args,
                referent,
            } => self.create(&typeid, &args, &referent),
            Request::Incref { id } => self.incref(id).map(|_| Reply::Return(Value::None)),
            Request::Decref { id } => {
                self.decref(id);
                Ok(Reply::Return(Value::None))
            }
            Request::IncrefMany { refs } => {
                self.incref_many(&refs).map(|_| Reply::Return(Value::None))
            }
            Request::DecrefMany { refs } => {
                self.decref_many(&refs);
                return None;
            }
            Request::GetMethods { id } => self.lookup(id).map(|(_, ex)| {
                Reply::Return(Value::Tuple(
                    ex.to_vec().into_iter().map(Value::Str).collect(),
                ))
            }),
            Request::NumberOfObjects => {
                Ok(Reply::Return(Value::Int(self.number_of_objects() as i128)))
            }
            Request::DebugInfo => Ok(Reply::Return(Value::Str(self.debug_info()))),
            Request::Shutdown => {
                // A SharedMemoryManager's segments are gone when the client's shutdown
                // returns (CPython's `SharedMemoryServer.shutdown`).
                self.release_all_segments();
                Ok(Reply::Return(Value::None))
            }
            Request::TrackSegment { name } => {
                let Some(segs) = &self.segments else {
                    return Some(self.not_shared_memory("track_segment"));
                };
                lock(segs).push(name);
                Ok(Reply::Return(Value::None))
            }
            Request::ReleaseSegment { name } => {
                let Some(segs) = &self.segments else {
                    return Some(self.not_shared_memory("release_segment"));
                };
                self.release_segment(segs, &name)
                    .map(|_| Reply::Return(Value::None))
            }
            Request::ListSegments => {
                let Some(segs) = &self.segments else {
                    return Some(self.not_shared_memory("list_segments"));
                };
                Ok(Reply::Return(Value::List(
                    lock(segs).iter().cloned().map(Value::Str).collect(),
                )))
            }
        };
        Some(match r {
            Ok(rep) => rep,
            Err(e) => Reply::Error {
                kind: e.kind(),
                message: e.message().to_owned(),
            },
        })
    }
}

/// Makes an object of typeid `t` from its callable's encoded arguments.
fn make(t: &TypeEntry, typeid: &str, args: &[u8]) -> Result<Arc<dyn Obj>> {
    let obj: Arc<dyn Obj> = match &t.callable {
        Callable::Remote => {
            return Err(Error::new(
                ErrorKind::Value,
                format!("typeid '{typeid}' has no callable in this server"),
            ));
        }
        Callable::Builtin(f) => f(args)?,
        Callable::Closure(f) => f(args)?,
        Callable::Task(entry) => {
            CAPTURE.with(|c| *c.borrow_mut() = Some(None));
            let res = (entry.invoke)(args, Vec::new(), true);
            let captured = CAPTURE.with(|c| c.borrow_mut().take()).flatten();
            match res {
                Ok(_) => captured.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Type,
                        format!(
                            "the callable of typeid '{typeid}' (`{}`) did not return a \
                             `Shared` object",
                            entry.name
                        ),
                    )
                })?,
                Err(crate::registry::InvokeError::Decode(m)) => {
                    return Err(Error::new(
                        ErrorKind::Type,
                        format!("bad arguments for typeid '{typeid}': {m}"),
                    ));
                }
                Err(crate::registry::InvokeError::Failed(m)) => {
                    return Err(Error::new(ErrorKind::Remote, m));
                }
                Err(crate::registry::InvokeError::Encode(m)) => {
                    return Err(Error::new(ErrorKind::Remote, m));
                }
            }
        }
    };
    Ok(obj)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn not_shared_memory(&self, what: &str) -> Reply {
        Reply::Traceback(format!(
            "'{what}' is a request of a SharedMemoryManager's server, not of this {}",
            self.kind
        ))
    }

    /// Forgets `name` and unlinks it (CPython's `_SharedMemoryTracker.destroy_segment`).
    fn release_segment(&self, segs: &Mutex<Vec<String>>, name: &str) -> Result<()> {
        {
            let mut v = lock(segs);
            let i = v.iter().position(|n| n == name).ok_or_else(|| {
                Error::new(
                    ErrorKind::Value,
                    format!("'{name}' is not a segment tracked by this manager"),
                )
            })?;
            v.remove(i);
        }
        crate::shared_memory::unlink_name(name)
    }

    /// Drops the server's references on every object (when it stops serving), so that their
    /// destructors run before the process exits: a managed `Pool` terminates its workers.
    pub(crate) fn clear_objects(&self) {
        let map = std::mem::take(&mut self.objects().map);
        drop(map);
    }

    /// Unlinks every tracked segment (at shutdown, or when the server stops serving for
    /// another reason). Does nothing for other managers, or a second time.
    pub(crate) fn release_all_segments(&self) {
        let Some(segs) = &self.segments else {
            return;
        };
        let names = std::mem::take(&mut *lock(segs));
        for name in names {
            if let Err(e) = crate::shared_memory::unlink_name(&name) {
                crate::logging::debug!("SharedMemoryManager: cannot unlink '{name}': {e}");
            }
        }
    }
}

fn no_object(id: u64) -> Error {
    Error::new(
        ErrorKind::Key,
        format!("no object with id {id:#x} in this manager (its last proxy is gone)"),
    )
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_owned()
    }
}

fn pin_proxies(v: &Value, pins: &mut Vec<Arc<dyn Obj>>) {
    match v {
        Value::Proxy(ProxyRef { keep: Some(o), .. }) => pins.push(o.clone()),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            items.iter().for_each(|x| pin_proxies(x, pins));
        }
        Value::Dict(d) => d.iter().for_each(|(k, x)| {
            pin_proxies(k, pins);
            pin_proxies(x, pins);
        }),
        _ => {}
    }
}

/// How long a serving thread polls for the client's next request before it sleeps in the
/// kernel: a client that calls again at once is answered without a wake-up.
const SPIN: Duration = Duration::from_micros(20);

fn recv_spinning(conn: &Connection, spin: bool) -> Result<Vec<u8>> {
    if spin {
        let fd = conn.fileno()?;
        let start = Instant::now();
        while start.elapsed() < SPIN {
            if sys::poll_readable(fd, Some(Duration::ZERO)).unwrap_or(true) {
                break;
            }
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }
    conn.recv_bytes()
}

/// Serves one client until it disconnects (or the server stops).
fn serve_client(state: Arc<State>, conn: Connection) {
    let fd = conn.as_raw_fd();
    let deadline = Some(Instant::now() + crate::connection::Listener::DEFAULT_HANDSHAKE_TIMEOUT);
    let authed = auth::deliver(&conn, &state.authkey, deadline)
        .and_then(|_| auth::answer(&conn, &state.authkey, deadline));
    if let Err(e) = authed {
        crate::logging::debug!("manager: a client failed to authenticate: {e}");
        state.forget_conn(fd);
        return;
    }
    conn.set_max_message_size(Some(state.max_message));
    SERVER.with(|s| *s.borrow_mut() = Some(state.clone()));
    CLIENT_FD.with(|c| c.set(fd));
    // A condition's or barrier's wait on this thread ends when the client goes away.
    crate::futex::set_cancel(Some(client_gone));
    let mut buf = Vec::new();
    let spin = super::proxy::spin_allowed();
    loop {
        if state.stopped() {
            break;
        }
        let bytes = match recv_spinning(&conn, spin) {
            Ok(b) => b,
            Err(_) => break,
        };
        let prev_pins = PINS.with(|p| std::mem::take(&mut *p.borrow_mut()));
        if super::python::is_pickle(&bytes) {
            buf.clear();
            let shutdown =
                panic::catch_unwind(AssertUnwindSafe(|| state.handle_python(&bytes, &mut buf)))
                    .unwrap_or_else(|p| {
                        buf.clear();
                        super::python::encode_traceback(&panic_message(&*p), &mut buf);
                        false
                    });
            let sent = conn.send_bytes(&buf);
            drop(prev_pins);
            if sent.is_err() {
                break;
            }
            if shutdown {
                crate::logging::info!("manager received shutdown message");
                state.stop();
                break;
            }
            continue;
        }
        let req = Request::decode(&bytes);
        let shutdown = matches!(req, Ok(Request::Shutdown));
        let reply = match req {
            Ok(r) => panic::catch_unwind(AssertUnwindSafe(|| state.handle(r)))
                .unwrap_or_else(|p| Some(Reply::Traceback(panic_message(&*p)))),
            Err(e) => Some(Reply::Traceback(format!("bad request: {e}"))),
        };
        if let Some(rep) = reply {
            if let Reply::Return(v) = &rep {
                PINS.with(|p| pin_proxies(v, &mut p.borrow_mut()));
            }
            buf.clear();
            let sent = match rep.encode(&mut buf) {
                Ok(()) => conn.send_bytes(&buf),
                Err(e) => {
                    buf.clear();
                    let _ =
                        Reply::Traceback(format!("cannot encode the reply: {e}")).encode(&mut buf);
                    conn.send_bytes(&buf)
                }
            };
            if sent.is_err() {
                drop(prev_pins);
                break;
            }
        }
        drop(prev_pins);
        if shutdown {
            crate::logging::info!("manager received shutdown message");
            state.stop();
            break;
        }
    }
    PINS.with(|p| p.borrow_mut().clear());
    ALIAS.with(|a| *a.borrow_mut() = None);
    SERVER.with(|s| *s.borrow_mut() = None);
    CLIENT_FD.with(|c| c.set(-1));
    crate::futex::set_cancel(None);
    state.forget_conn(fd);
    drop(conn);
}

impl State {
    fn forget_conn(&self, fd: RawFd) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&x| x != fd);
    }

    /// Accepts clients until `stop` (a `Shutdown` request or the parent's death).
    pub(crate) fn serve(
        self: &Arc<Self>,
        listener: &ServerSocket,
        parent: Option<OwnedFd>,
    ) -> Result<()> {
        let mut fds = vec![
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.stop_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Some(p) = &parent {
            fds.push(libc::pollfd {
                fd: p.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        while !self.stopped() {
            for f in fds.iter_mut() {
                f.revents = 0;
            }
            match sys::poll(&mut fds, None) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::os("poll", e)),
            }
            if fds.len() > 2 && fds[2].revents != 0 {
                crate::logging::info!("manager: the process that started it is gone; exiting");
                self.stop();
                break;
            }
            if fds[1].revents != 0 {
                break;
            }
            if fds[0].revents == 0 {
                continue;
            }
            let conn = match listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    if self.stopped() {
                        break;
                    }
                    crate::logging::debug!("manager: accept failed: {e}");
                    continue;
                }
            };
            let fd = conn.as_raw_fd();
            self.conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fd);
            let st = self.clone();
            let spawned = crate::thread::spawn("mp-manager-conn", move || serve_client(st, conn));
            if let Err(e) = spawned {
                self.forget_conn(fd);
                crate::logging::warning!("manager: cannot start a serving thread: {e}");
            }
        }
        listener.close();
        Ok(())
    }
}

/// What a server listens on: a TCP `Listener` (streams), or a Unix `SOCK_SEQPACKET` socket.
#[derive(Debug)]
pub(crate) enum ServerSocket {
    Stream(crate::connection::Listener),
    Packet(super::sock::PacketListener),
}

impl ServerSocket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            ServerSocket::Stream(l) => l.as_raw_fd(),
            ServerSocket::Packet(l) => l.raw(),
        }
    }

    fn accept(&self) -> Result<Connection> {
        match self {
            ServerSocket::Stream(l) => l.accept(),
            ServerSocket::Packet(l) => l.accept(),
        }
    }

    fn close(&self) {
        match self {
            ServerSocket::Stream(l) => l.close(),
            // SAFETY: shutdown on a descriptor we own.
            ServerSocket::Packet(l) => unsafe {
                libc::shutdown(l.raw(), libc::SHUT_RDWR);
            },
        }
    }
}

/// The type-erased form of `T` held by a server.
pub(crate) struct Slot<T> {
    pub(crate) cell: std::sync::RwLock<T>,
}

impl<T: super::Referent> Obj for Slot<T> {
    fn type_name(&self) -> &'static str {
        T::TYPE_NAME
    }
    fn proxytype(&self) -> &'static str {
        <T::Proxy as super::Proxy>::NAME
    }
    fn default_exposed(&self) -> &'static [&'static str] {
        <T::Proxy as super::Proxy>::EXPOSED
    }
    fn dispatch(&self, method: &str, args: Value) -> Result<Value> {
        T::dispatch(&self.cell, method, args)
    }
    fn repr(&self) -> Result<String> {
        T::repr(&self.cell)
    }
    fn get_value(&self) -> Result<Value> {
        T::get_value(&self.cell)
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
