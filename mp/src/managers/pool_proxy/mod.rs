//! `SyncManager::pool`: a process pool living in a manager's server (Python's
//! `manager.Pool(processes)`), its proxy, and the proxies of its results.
//!
//! The server does not know the tasks' types: a proxy encodes the argument tuples with mp's
//! codec (exactly as [`Pool`] does for its workers), the server hands those bytes to its pool
//! under the task's registry name, and the workers' encoded results travel back unopened to
//! the proxy, which decodes them. So every method is typed through [`Task`] like
//! [`mp::Pool`](crate::Pool)'s, and the server never decodes user data.
//!
//! The server side lives in `cells`, the result proxies in `results`.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::proxy::{BaseProxy, Proxy};
use super::{SyncManager, Value};
use crate::context::{Context, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::reduction;
use crate::task::Task;

// Names the docs link to.
#[cfg(doc)]
use crate::pool::Pool;

mod cells;
mod results;

pub use cells::{AsyncResultCell, IMapCell, PoolCell};
pub(crate) use cells::{POOL_METHODS, new_pool};
pub use results::{AsyncResultProxy, IMapProxy, MapResultProxy};

use cells::PoolSpec;

/// Builds a pool in a [`SyncManager`]'s server: Python's `manager.Pool(processes,
/// initializer, initargs, maxtasksperchild)`, from [`SyncManager::pool_builder`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn double(x: i32) -> i32 { 2 * x }
///
/// let manager = mp::Manager()?;
/// let pool = manager
///     .pool_builder()
///     .processes(2)
///     .maxtasksperchild(10)
///     .start_method(mp::StartMethod::Spawn)
///     .build()?;
/// assert_eq!(pool.map(double, [1, 2, 3])?, [2, 4, 6]);
/// # Ok(()) }
/// ```
#[must_use = "call `.build()`"]
pub struct ManagerPoolBuilder<'a> {
    manager: &'a SyncManager,
    spec: PoolSpec,
    error: Option<Error>,
}

impl fmt::Debug for ManagerPoolBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerPoolBuilder")
            .field("processes", &self.spec.processes)
            .field("maxtasksperchild", &self.spec.maxtasksperchild)
            .field("start_method", &self.spec.start_method)
            .field(
                "initializer",
                &self.spec.initializer.as_ref().map(|i| i.0.as_str()),
            )
            .finish()
    }
}

impl ManagerPoolBuilder<'_> {
    /// The number of workers (default: the server machine's
    /// [`cpu_count()`](crate::cpu_count)). Zero is a [`ErrorKind::Value`] error at `build`.
    ///
    /// # Examples
    ///
    /// See [`ManagerPoolBuilder`].
    pub fn processes(mut self, n: usize) -> Self {
        self.spec.processes = Some(n);
        self
    }

    /// Runs `f(args...)` in each worker when it starts: Python's `initializer=f,
    /// initargs=args`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    /// #[mp::task]
    /// fn init(text: String) { let _ = TAG.set(text); }
    /// #[mp::task]
    /// fn tag() -> String { TAG.get().cloned().unwrap_or_default() }
    ///
    /// let manager = mp::Manager()?;
    /// let pool = manager.pool_builder().processes(1).initializer(init, ("ready".into(),)).build()?;
    /// assert_eq!(pool.apply(tag, ())?, "ready");
    /// # Ok(()) }
    /// ```
    pub fn initializer<T>(mut self, f: T, args: T::Args) -> Self
    where
        T: Task,
        T::Args: Serialize,
    {
        let _ = f;
        match reduction::encode_plain(&args) {
            Ok(bytes) => self.spec.initializer = Some((T::NAME.to_owned(), bytes)),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// How many tasks a worker runs before it is replaced: Python's `maxtasksperchild`.
    ///
    /// # Examples
    ///
    /// See [`ManagerPoolBuilder`].
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.spec.maxtasksperchild = Some(n);
        self
    }

    /// Starts the workers with `method` (default: the manager process's default start
    /// method).
    ///
    /// # Examples
    ///
    /// See [`ManagerPoolBuilder`].
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.spec.start_method = Some(method.as_str().to_owned());
        self
    }

    /// Starts the workers with this context's start method: Python's `context=`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn name() -> String { mp::current_process().name() }
    /// let manager = mp::Manager()?;
    /// let pool = manager.pool_builder().processes(1).context(mp::get_context("fork")?).build()?;
    /// assert!(pool.apply(name, ())?.starts_with("ForkPoolWorker-"));
    /// # Ok(()) }
    /// ```
    pub fn context(self, ctx: Context) -> Self {
        self.start_method(ctx.get_start_method())
    }

    /// Starts the pool in the manager's server and returns its proxy.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for zero processes or a zero `maxtasksperchild` (CPython's
    /// `RemoteError` wrapping a `ValueError`); the initializer's arguments failing to
    /// serialize; a worker failing to start; the manager not started or unreachable.
    ///
    /// # Examples
    ///
    /// See [`ManagerPoolBuilder`].
    pub fn build(self) -> Result<PoolProxy> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.manager.create("Pool", (self.spec,))
    }
}

impl SyncManager {
    /// `manager.Pool(processes)`: a process pool living in the manager's server, used through
    /// a [`PoolProxy`] (which can be sent to other processes). Its workers are children of
    /// the manager's process.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for zero processes, the error [`Pool::new`](crate::Pool::new)
    /// gives; the manager not started or unreachable.
    ///
    /// # Examples
    ///
    /// See [`PoolProxy`].
    pub fn pool(&self, processes: usize) -> Result<PoolProxy> {
        self.pool_builder().processes(processes).build()
    }

    /// A builder for `manager.Pool(...)`'s keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`ManagerPoolBuilder`].
    pub fn pool_builder(&self) -> ManagerPoolBuilder<'_> {
        ManagerPoolBuilder {
            manager: self,
            spec: PoolSpec::default(),
            error: None,
        }
    }
}

fn not_bytes(v: &Value) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!(
            "the managed pool answered with a '{}' where encoded results were expected",
            v.type_name()
        ),
    )
}

/// Decodes the chunks a managed pool sends back (each an encoded `Vec<V>`), in order.
fn decode_chunks<V: DeserializeOwned>(v: Value) -> Result<Vec<V>> {
    let chunks = match v {
        Value::List(c) => c,
        other => return Err(not_bytes(&other)),
    };
    let mut out = Vec::new();
    for c in chunks {
        match c {
            Value::Bytes(b) => out.extend(reduction::decode_plain::<Vec<V>>(&b)?),
            other => return Err(not_bytes(&other)),
        }
    }
    Ok(out)
}

fn decode_one<V: DeserializeOwned>(v: Value) -> Result<V> {
    decode_chunks::<V>(v)?
        .pop()
        .ok_or_else(|| Error::new(ErrorKind::Serialization, "a pool result arrived empty"))
}

fn encode_args<A: Serialize>(args: &A) -> Result<Value> {
    reduction::encode_plain(std::slice::from_ref(args)).map(Value::Bytes)
}

fn collect_input<A>(iterable: impl IntoIterator<Item = A>) -> Result<Vec<A>> {
    let mut v = Vec::new();
    let it = iterable.into_iter();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        v.reserve(it.size_hint().0);
        for x in it {
            v.push(x);
        }
    }));
    match r {
        Ok(()) => Ok(v),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".into());
            Err(Error::new(
                ErrorKind::Runtime,
                format!("the input iterator panicked at item {}: {msg}", v.len()),
            ))
        }
    }
}

fn secs(d: Duration) -> Value {
    Value::Float(d.as_secs_f64())
}

/// A proxy for a pool living in a manager's server: Python's `PoolProxy`, from
/// [`SyncManager::pool`].
///
/// The methods are those of [`mp::Pool`](crate::Pool), typed the same way through
/// [`Task`]: the argument tuples are encoded here, the results decoded here, so the task
/// must be a `#[mp::task]` of this program (the manager's process runs the same binary). The
/// proxy can be sent to other processes (a task argument under every start method, a
/// `Connection`...), which then submit to the same pool. The pool lives until
/// [`terminate`](PoolProxy::terminate) (what leaving Python's `with manager.Pool() as p:`
/// does) or until its last proxy is dropped, or the manager shuts down.
///
/// Arguments and results cross the manager as bytes, so they cannot hold OS handles (a
/// `Connection`, a `Queue`): that is an [`ErrorKind::Serialization`] error. A task's failure
/// keeps its kind ([`ErrorKind::Remote`] for a panic or an `Err`, [`ErrorKind::WorkerLost`]...)
/// and its message; the worker-side [`RemoteTraceback`](crate::pool::RemoteTraceback) stays in
/// the manager.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// #[mp::task]
/// fn add(a: u64, b: u64) -> u64 { a + b }
///
/// let manager = mp::Manager()?;
/// let pool = manager.pool(2)?;
/// assert_eq!(pool.apply(add, (2, 3))?, 5);
/// assert_eq!(pool.map(square, 0..5)?, [0, 1, 4, 9, 16]);
/// assert_eq!(pool.starmap(add, [(1, 1), (2, 2)])?, [2, 4]);
/// let r = pool.apply_async(square, (12,))?;
/// assert_eq!(r.get_timeout(Duration::from_secs(60))?, 144);
/// assert!(r.ready()? && r.successful()?);
/// assert_eq!(manager.pool(0).unwrap_err().kind(), mp::ErrorKind::Value);
/// pool.close()?;
/// pool.join()?;
/// # Ok(()) }
/// ```
pub struct PoolProxy {
    base: BaseProxy,
    processes: OnceLock<usize>,
}

impl Proxy for PoolProxy {
    type Referent = PoolCell;
    const NAME: &'static str = "PoolProxy";
    const EXPOSED: &'static [&'static str] = POOL_METHODS;
    fn from_base(base: BaseProxy) -> Self {
        PoolProxy {
            base,
            processes: OnceLock::new(),
        }
    }
    fn base(&self) -> &BaseProxy {
        &self.base
    }
}

impl Clone for PoolProxy {
    fn clone(&self) -> Self {
        PoolProxy {
            base: self.base.clone(),
            processes: self.processes.clone(),
        }
    }
}

impl fmt::Debug for PoolProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.base, f)
    }
}

impl fmt::Display for PoolProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.base, f)
    }
}

impl Serialize for PoolProxy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.base.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PoolProxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        BaseProxy::deserialize(d).map(PoolProxy::from_base)
    }
}

impl From<&PoolProxy> for Value {
    fn from(p: &PoolProxy) -> Value {
        Value::Proxy(p.base.to_ref())
    }
}

impl PoolProxy {
    /// The base proxy: Python's `_callmethod`, `_getvalue`, `_exposed_` and the token.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let p = m.pool(1)?;
    /// assert_eq!(p.base().token().typeid(), "Pool");
    /// assert!(p.to_string().starts_with("<Pool state=RUN pool_size=1"));
    /// # Ok(()) }
    /// ```
    pub fn base(&self) -> &BaseProxy {
        &self.base
    }

    /// The number of workers the pool keeps running (asked once, then remembered).
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// assert_eq!(m.pool(3)?.processes()?, 3);
    /// # Ok(()) }
    /// ```
    pub fn processes(&self) -> Result<usize> {
        if let Some(n) = self.processes.get() {
            return Ok(*n);
        }
        let n: usize = self.base.call("processes", vec![])?;
        Ok(*self.processes.get_or_init(|| n))
    }

    /// Calls `f(args...)` in a worker and waits for the value: Python's `apply(f, args)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`; the arguments
    /// failing to serialize; the task's panic or `Err` ([`ErrorKind::Remote`]); the worker
    /// dying ([`ErrorKind::WorkerLost`]).
    ///
    /// # Examples
    ///
    /// See [`PoolProxy`].
    pub fn apply<T>(&self, f: T, args: T::Args) -> Result<T::Value>
    where
        T: Task,
        T::Args: Serialize,
        T::Value: DeserializeOwned,
    {
        let _ = f;
        let v: Value = self.base.call(
            "apply",
            vec![Value::Str(T::NAME.to_owned()), encode_args(&args)?],
        )?;
        decode_one(v)
    }

    /// Submits `f(args...)` and returns at once: Python's `apply_async(f, args)`. The result
    /// is a proxy too: another process may wait for it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] after `close`/`terminate`; the arguments failing to serialize.
    ///
    /// # Examples
    ///
    /// See [`AsyncResultProxy`].
    pub fn apply_async<T>(&self, f: T, args: T::Args) -> Result<AsyncResultProxy<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        T::Value: DeserializeOwned + 'static,
    {
        let _ = f;
        self.base.call(
            "apply_async",
            vec![Value::Str(T::NAME.to_owned()), encode_args(&args)?],
        )
    }

    /// The chunks of a `map`: `chunksize` items each (default: CPython's
    /// `ceil(len / (4 * processes))`), each encoded by `enc`.
    fn chunks<A>(
        &self,
        items: &[A],
        chunksize: Option<usize>,
        enc: impl Fn(&[A]) -> Result<Vec<u8>>,
    ) -> Result<Value> {
        let cs = match chunksize {
            Some(0) => return Err(Error::value("Chunksize must be 1+, not 0")),
            Some(c) => c,
            None if items.is_empty() => 1,
            None => items.len().div_ceil(self.processes()? * 4).max(1),
        };
        let chunks = items
            .chunks(cs)
            .map(|c| enc(c).map(Value::Bytes))
            .collect::<Result<Vec<_>>>()?;
        Ok(Value::List(chunks))
    }

    fn singles<A: Serialize>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Value> {
        let items = collect_input(items)?;
        self.chunks(&items, chunksize, |c| {
            reduction::encode_plain(&c.iter().map(|a| (a,)).collect::<Vec<_>>())
        })
    }

    fn tuples<A: Serialize>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Value> {
        let items = collect_input(items)?;
        self.chunks(&items, chunksize, reduction::encode_plain::<[A]>)
    }

    fn send<R: DeserializeOwned + 'static>(
        &self,
        method: &str,
        task: &str,
        chunks: Value,
    ) -> Result<R> {
        self.base
            .call(method, vec![Value::Str(task.to_owned()), chunks])
    }

    /// Applies `f` to every item in the pool and returns the values in order: Python's
    /// `map(f, iterable)`. The input is collected here and sent in chunks
    /// ([`chunksize`](PoolProxy::chunksize) sets their size).
    ///
    /// # Errors
    ///
    /// The first chunk that failed (after every chunk has finished, as in CPython); the input
    /// iterator panicking ([`ErrorKind::Runtime`], nothing is submitted); an item failing to
    /// serialize; [`ErrorKind::Value`] after `close`/`terminate`.
    ///
    /// # Examples
    ///
    /// See [`PoolProxy`].
    pub fn map<T, A, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned,
    {
        self.chunksize_opt(None).map(f, iterable)
    }

    /// [`map`](PoolProxy::map) without waiting: Python's `map_async`.
    ///
    /// # Errors
    ///
    /// As [`map`](PoolProxy::map), except the tasks' failures, which
    /// [`MapResultProxy::get`] returns.
    ///
    /// # Examples
    ///
    /// See [`MapResultProxy`].
    pub fn map_async<T, A, I>(&self, f: T, iterable: I) -> Result<MapResultProxy<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + 'static,
    {
        self.chunksize_opt(None).map_async(f, iterable)
    }

    /// Like [`map`](PoolProxy::map) for a task of several arguments, each item being its
    /// argument tuple: Python's `starmap(f, iterable)`.
    ///
    /// # Errors
    ///
    /// As [`map`](PoolProxy::map).
    ///
    /// # Examples
    ///
    /// See [`PoolProxy`].
    pub fn starmap<T, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned,
    {
        self.chunksize_opt(None).starmap(f, iterable)
    }

    /// [`starmap`](PoolProxy::starmap) without waiting: Python's `starmap_async`.
    ///
    /// # Errors
    ///
    /// As [`map_async`](PoolProxy::map_async).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// let m = mp::Manager()?;
    /// let pool = m.pool(2)?;
    /// assert_eq!(pool.starmap_async(mul, vec![(5, 5), (2, 3)])?.get()?, [25, 6]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async<T, I>(&self, f: T, iterable: I) -> Result<MapResultProxy<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned + 'static,
    {
        self.chunksize_opt(None).starmap_async(f, iterable)
    }

    /// A lazy [`map`](PoolProxy::map): Python's `imap(f, iterable)`, yielding the values in
    /// order as they come (chunks of one item by default). Unlike
    /// [`Pool::imap`](crate::Pool::imap), the input is collected first (it has to be sent to
    /// the manager, as CPython does).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] after `close`/`terminate`. Task failures are items of the
    /// iterator.
    ///
    /// # Examples
    ///
    /// See [`IMapProxy`].
    pub fn imap<T, A, I>(&self, f: T, iterable: I) -> Result<IMapProxy<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + 'static,
    {
        self.chunksize(1).imap(f, iterable)
    }

    /// Like [`imap`](PoolProxy::imap), yielding the values in the order they finish: Python's
    /// `imap_unordered`.
    ///
    /// # Errors
    ///
    /// As [`imap`](PoolProxy::imap).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 10 }
    /// let m = mp::Manager()?;
    /// let pool = m.pool(2)?;
    /// let mut got: Vec<u64> = pool.imap_unordered(f, 0..4)?.collect::<mp::Result<_>>()?;
    /// got.sort();
    /// assert_eq!(got, [0, 10, 20, 30]);
    /// # Ok(()) }
    /// ```
    pub fn imap_unordered<T, A, I>(&self, f: T, iterable: I) -> Result<IMapProxy<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + 'static,
    {
        self.chunksize(1).imap_unordered(f, iterable)
    }

    /// The `map`-family methods with a chunk size: Python's `chunksize=` argument.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x + 1 }
    /// let m = mp::Manager()?;
    /// let pool = m.pool(2)?;
    /// assert_eq!(pool.chunksize(3).map(f, 0..7)?, [1, 2, 3, 4, 5, 6, 7]);
    /// assert_eq!(pool.chunksize(0).map(f, [1]).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn chunksize(&self, chunksize: usize) -> PoolProxyChunked<'_> {
        self.chunksize_opt(Some(chunksize))
    }

    fn chunksize_opt(&self, chunksize: Option<usize>) -> PoolProxyChunked<'_> {
        PoolProxyChunked {
            proxy: self,
            chunksize,
        }
    }

    /// Stops accepting work; the workers exit once the submitted work is done: Python's
    /// `close()`.
    ///
    /// # Examples
    ///
    /// See [`PoolProxy`].
    pub fn close(&self) -> Result<()> {
        self.base.call("close", vec![])
    }

    /// Stops the workers at once: Python's `terminate()` (and what leaving `with
    /// manager.Pool() as p:` does). Results not ready yet become [`ErrorKind::ShutDown`]
    /// errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn nap(s: u64) { std::thread::sleep(std::time::Duration::from_secs(s)) }
    /// let m = mp::Manager()?;
    /// let pool = m.pool(1)?;
    /// let r = pool.apply_async(nap, (60,))?;
    /// pool.terminate()?;
    /// pool.join()?;
    /// assert_eq!(r.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// assert_eq!(pool.apply(nap, (0,)).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) -> Result<()> {
        self.base.call("terminate", vec![])
    }

    /// Waits for the workers to exit: Python's `join()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool is still running") before `close` or `terminate`.
    ///
    /// # Examples
    ///
    /// See [`PoolProxy`].
    pub fn join(&self) -> Result<()> {
        self.base.call("join", vec![])
    }
}

/// The `map`-family methods of a [`PoolProxy`] with a `chunksize`, from
/// [`PoolProxy::chunksize`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn mul(a: u32, b: u32) -> u32 { a * b }
/// let m = mp::Manager()?;
/// let pool = m.pool(2)?;
/// assert_eq!(pool.chunksize(2).starmap(mul, [(1, 2), (3, 4), (5, 6)])?, [2, 12, 30]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PoolProxyChunked<'a> {
    proxy: &'a PoolProxy,
    chunksize: Option<usize>,
}

impl PoolProxyChunked<'_> {
    /// [`PoolProxy::map`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`PoolProxy::map`]; a zero chunksize is an [`ErrorKind::Value`] error.
    ///
    /// # Examples
    ///
    /// See [`PoolProxy::chunksize`].
    pub fn map<T, A, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned,
    {
        let _ = f;
        let chunks = self.proxy.singles(iterable, self.chunksize)?;
        decode_chunks(self.proxy.send::<Value>("map", T::NAME, chunks)?)
    }

    /// [`PoolProxy::map_async`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`PoolProxy::map_async`].
    ///
    /// # Examples
    ///
    /// See [`MapResultProxy`].
    pub fn map_async<T, A, I>(&self, f: T, iterable: I) -> Result<MapResultProxy<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + 'static,
    {
        let _ = f;
        let chunks = self.proxy.singles(iterable, self.chunksize)?;
        self.proxy.send("map_async", T::NAME, chunks)
    }

    /// [`PoolProxy::starmap`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`PoolProxy::starmap`].
    ///
    /// # Examples
    ///
    /// See [`PoolProxyChunked`].
    pub fn starmap<T, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned,
    {
        let _ = f;
        let chunks = self.proxy.tuples(iterable, self.chunksize)?;
        decode_chunks(self.proxy.send::<Value>("starmap", T::NAME, chunks)?)
    }

    /// [`PoolProxy::starmap_async`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`PoolProxy::starmap_async`].
    ///
    /// # Examples
    ///
    /// See [`PoolProxy::starmap_async`].
    pub fn starmap_async<T, I>(&self, f: T, iterable: I) -> Result<MapResultProxy<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned + 'static,
    {
        let _ = f;
        let chunks = self.proxy.tuples(iterable, self.chunksize)?;
        self.proxy.send("starmap_async", T::NAME, chunks)
    }

    /// [`PoolProxy::imap`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`PoolProxy::imap`].
    ///
    /// # Examples
    ///
    /// See [`IMapProxy`].
    pub fn imap<T, A, I>(&self, f: T, iterable: I) -> Result<IMapProxy<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + 'static,
    {
        let _ = f;
        let chunks = self
            .proxy
            .singles(iterable, Some(self.chunksize.unwrap_or(1)))?;
        self.proxy.send("imap", T::NAME, chunks)
    }

    /// [`PoolProxy::imap_unordered`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`PoolProxy::imap`].
    ///
    /// # Examples
    ///
    /// See [`PoolProxy::imap_unordered`].
    pub fn imap_unordered<T, A, I>(&self, f: T, iterable: I) -> Result<IMapProxy<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + 'static,
    {
        let _ = f;
        let chunks = self
            .proxy
            .singles(iterable, Some(self.chunksize.unwrap_or(1)))?;
        self.proxy.send("imap_unordered", T::NAME, chunks)
    }
}
