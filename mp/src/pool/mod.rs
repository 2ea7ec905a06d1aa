//! Process pools: Python's `multiprocessing.pool`.
//!
//! A [`Pool`] runs `#[mp::task]` fns in worker processes, typed end to end: `pool.map(square,
//! 0..100)` returns `mp::Result<Vec<u64>>`. The whole API of Python's `Pool` is here —
//! [`apply`](Pool::apply), [`apply_async`](Pool::apply_async), [`map`](Pool::map),
//! [`map_async`](Pool::map_async), [`imap`](Pool::imap),
//! [`imap_unordered`](Pool::imap_unordered), [`starmap`](Pool::starmap),
//! [`starmap_async`](Pool::starmap_async), [`close`](Pool::close),
//! [`terminate`](Pool::terminate), [`join`](Pool::join) — with keyword arguments as builders:
//! [`Pool::builder`] for `processes`, `initializer`, `maxtasksperchild` and `context`;
//! [`Pool::chunksize`] for `chunksize`; [`AsyncResult::callback`] and
//! [`AsyncResult::error_callback`] for the callbacks.
//!
//! Beyond CPython, whose pool hangs forever when a worker dies: a worker killed while it runs
//! a task (SIGKILL, abort, segfault) makes that task's result an [`ErrorKind::WorkerLost`]
//! error, the tasks queued behind it go to other workers, and a replacement starts.
//!
//! | Python | mp |
//! |---|---|
//! | `Pool(4)`, `Pool()` | [`Pool::new(4)?`](Pool::new), [`Pool::builder().build()?`](PoolBuilder::build) |
//! | `Pool(4, initializer=f, initargs=(a,), maxtasksperchild=10)` | [`Pool::builder().processes(4).initializer(f, (a,)).maxtasksperchild(10).build()?`](PoolBuilder) |
//! | `ctx.Pool(2)` | [`ctx.pool(2)?`](crate::Context::pool) |
//! | `pool.apply(f, (x,))` | [`pool.apply(f, (x,))?`](Pool::apply) |
//! | `pool.apply_async(f, (x,), callback=cb)` | [`pool.apply_async(f, (x,))?.callback(cb)`](Pool::apply_async) |
//! | `pool.map(f, xs)`, `pool.map(f, xs, 10)` | [`pool.map(f, xs)?`](Pool::map), [`pool.chunksize(10).map(f, xs)?`](Chunked::map) |
//! | `pool.imap(f, xs)`, `it.next(timeout)` | [`pool.imap(f, xs)?`](Pool::imap), [`it.next_timeout(t)`](IMapIterator::next_timeout) |
//! | `pool.starmap(f, [(1, 2)])` | [`pool.starmap(f, [(1, 2)])?`](Pool::starmap) |
//! | `res.get(timeout)`, `res.ready()`, `res.successful()` | [`res.get_timeout(t)?`](AsyncResult::get_timeout), [`res.ready()`](AsyncResult::ready), [`res.successful()?`](AsyncResult::successful) |
//! | `with Pool() as p:` | a `Pool` value: dropping it terminates it |
//!
//! # Examples
//!
//! ```
//! #[mp::task]
//! fn f(x: u64) -> u64 {
//!     x * x
//! }
//!
//! #[mp::main]
//! fn main() -> mp::Result<()> {
//!     let p = mp::Pool::new(5)?;
//!     assert_eq!(p.map(f, [1, 2, 3])?, [1, 4, 9]);
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::os::fd::OwnedFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use crate::thread::JoinHandle;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeSeq, Serializer};

use crate::context::{Context, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::task::Task;
use crate::{reduction, sys};

mod engine;
mod raw;
mod result;
mod wire;
mod worker;

use engine::{Config, JobSink, Shared, Status};
pub(crate) use raw::{NextChunk, RawJob};
pub(crate) use result::{ApplySink, IMapSink, MapSink, Slot, feed, input_panicked};
pub use result::{AsyncResult, IMapIterator};

/// The remote side of a task's failure: Python's `RemoteTraceback`, which CPython chains to
/// the re-raised exception. An [`ErrorKind::Remote`] error from a pool has one as its
/// [`source`](std::error::Error::source).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::error::Error as _;
/// #[mp::task]
/// fn div(a: i32, b: i32) -> i32 {
///     if b == 0 { panic!("division by zero") }
///     a / b
/// }
/// let pool = mp::Pool::new(1)?;
/// let err = pool.apply(div, (1, 0)).unwrap_err();
/// assert_eq!(err.kind(), mp::ErrorKind::Remote);
/// let tb = err.source().and_then(|s| s.downcast_ref::<mp::pool::RemoteTraceback>()).unwrap();
/// assert_eq!(tb.message(), "division by zero");
/// assert!(tb.panicked());
/// assert!(tb.location().unwrap().contains(".rs:"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RemoteTraceback {
    task: String,
    worker: String,
    panicked: bool,
    message: String,
    location: Option<String>,
    backtrace: Option<String>,
    index: usize,
}

impl RemoteTraceback {
    /// The traceback of a task that failed in a thread of this process (`mp::dummy`'s pool,
    /// whose errors carry one so that the same code inspects both pools' errors).
    pub(crate) fn local(
        task: &str,
        worker: String,
        panicked: bool,
        message: String,
        location: Option<String>,
        index: usize,
    ) -> RemoteTraceback {
        RemoteTraceback {
            task: task.to_string(),
            worker,
            panicked,
            message,
            location,
            backtrace: None,
            index,
        }
    }

    /// The panic message, or the `Display` of the task's `Err`.
    ///
    /// # Examples
    ///
    /// See [`RemoteTraceback`].
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the task panicked (`file:line:column`); `None` for an `Err`.
    ///
    /// # Examples
    ///
    /// See [`RemoteTraceback`].
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The worker's backtrace, when backtraces are enabled (`RUST_BACKTRACE=1`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::error::Error as _;
    /// #[mp::task]
    /// fn boom() { panic!("boom") }
    /// let pool = mp::Pool::new(1)?;
    /// let err = pool.apply(boom, ()).unwrap_err();
    /// let tb = err.source().and_then(|s| s.downcast_ref::<mp::pool::RemoteTraceback>()).unwrap();
    /// let _maybe: Option<&str> = tb.backtrace();
    /// # Ok(()) }
    /// ```
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// Whether the task panicked (rather than returned `Err`).
    ///
    /// # Examples
    ///
    /// See [`RemoteTraceback`].
    pub fn panicked(&self) -> bool {
        self.panicked
    }

    /// The task's registry name.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::error::Error as _;
    /// #[mp::task]
    /// fn fails() -> Result<(), String> { Err("no".into()) }
    /// let pool = mp::Pool::new(1)?;
    /// let err = pool.apply(fails, ()).unwrap_err();
    /// let tb = err.source().and_then(|s| s.downcast_ref::<mp::pool::RemoteTraceback>()).unwrap();
    /// assert!(tb.task().ends_with("::fails"));
    /// assert!(tb.worker().contains("PoolWorker-"));
    /// assert!(!tb.panicked() && tb.location().is_none());
    /// # Ok(()) }
    /// ```
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The name of the worker that ran the task (`ForkServerPoolWorker-3`...).
    ///
    /// # Examples
    ///
    /// See [`RemoteTraceback::task`].
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The index, within its chunk, of the item that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::error::Error as _;
    /// #[mp::task]
    /// fn check(x: u32) -> Result<u32, String> { if x == 7 { Err("seven".into()) } else { Ok(x) } }
    /// let pool = mp::Pool::new(1)?;
    /// let err = pool.chunksize(5).map(check, 0..10).unwrap_err();
    /// let tb = err.source().and_then(|s| s.downcast_ref::<mp::pool::RemoteTraceback>()).unwrap();
    /// assert_eq!(tb.index_in_chunk(), 2);
    /// # Ok(()) }
    /// ```
    pub fn index_in_chunk(&self) -> usize {
        self.index
    }
}

impl fmt::Display for RemoteTraceback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(f, "\"\"\"")?;
        write!(f, "{}: task `{}` ", self.worker, self.task)?;
        match &self.location {
            Some(l) if self.panicked => writeln!(f, "panicked at {l}:")?,
            _ if self.panicked => writeln!(f, "panicked:")?,
            _ => writeln!(f, "returned an error:")?,
        }
        writeln!(f, "{}", self.message)?;
        if let Some(bt) = &self.backtrace {
            writeln!(f, "stack backtrace:\n{bt}")?;
        }
        write!(f, "\"\"\"")
    }
}

impl std::error::Error for RemoteTraceback {}

/// A pool of worker processes: Python's `multiprocessing.pool.Pool`.
///
/// Workers are daemonic processes named `ForkPoolWorker-N`, `SpawnPoolWorker-N` or
/// `ForkServerPoolWorker-N` after the start method. Dropping the pool terminates it, as
/// leaving Python's `with Pool() as p:` block does; call [`close`](Pool::close) and
/// [`join`](Pool::join) to let the submitted work finish first. Only the process that created a
/// pool can use it.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = mp::Pool::new(4)?;
/// assert_eq!(pool.apply(square, (10,))?, 100);
/// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// pool.close()?;
/// pool.join()?;
/// # Ok(()) }
/// ```
///
/// A pool cannot be sent to another process (CPython raises `NotImplementedError` when one is
/// pickled): it is not `Serialize`.
///
/// ```compile_fail
/// fn portable<T: serde::Serialize>() {}
/// portable::<mp::Pool>();
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        let state = match st.status {
            Status::Running => "RUN",
            Status::Closed => "CLOSE",
            Status::Terminated => "TERMINATE",
        };
        write!(
            f,
            "<Pool state={state} pool_size={}>",
            self.shared.cfg.processes
        )
    }
}

/// The initializer's name, encoded arguments and the descriptors inside them.
/// The last part keeps alive the managed objects of proxies inside the arguments (decoded
/// once per worker, each taking its own reference).
type InitSpec = (
    String,
    Vec<u8>,
    Vec<OwnedFd>,
    std::sync::Arc<crate::reduction::Carried>,
);

/// Builder for a [`Pool`]: Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
///
/// #[mp::task]
/// fn init(text: String) { let _ = TAG.set(text); }
/// #[mp::task]
/// fn tag() -> String { TAG.get().cloned().unwrap_or_default() }
///
/// let pool = mp::Pool::builder()
///     .processes(2)
///     .initializer(init, ("ready".to_string(),))
///     .maxtasksperchild(100)
///     .context(mp::get_context("spawn")?)
///     .build()?;
/// assert_eq!(pool.apply(tag, ())?, "ready");
/// # Ok(()) }
/// ```
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Result<InitSpec>>,
    maxtasks: Option<usize>,
    method: Option<StartMethod>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field(
                "initializer",
                &self
                    .init
                    .as_ref()
                    .map(|i| i.as_ref().map(|x| x.0.clone()).ok()),
            )
            .field("maxtasksperchild", &self.maxtasks)
            .field("method", &self.method)
            .finish()
    }
}

impl PoolBuilder {
    /// The number of workers (default: [`cpu_count()`](crate::cpu_count)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let pool = mp::Pool::builder().processes(3).build()?;
    /// assert_eq!(pool.processes(), 3);
    /// assert!(mp::Pool::builder().processes(0).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args...)` in each worker when it starts: Python's `initializer=f,
    /// initargs=args`. If it fails, the pool is broken: outstanding and later tasks fail with
    /// its error (CPython starts new workers forever).
    ///
    /// # Examples
    ///
    /// See [`PoolBuilder`].
    pub fn initializer<T>(mut self, f: T, args: T::Args) -> Self
    where
        T: Task,
        T::Args: Serialize,
    {
        let _ = f;
        let (encoded, pins) = reduction::pinning(|| reduction::encode(&args));
        let pins = std::sync::Arc::new(pins);
        self.init = Some(encoded.map(|(bytes, fds)| (T::NAME.to_string(), bytes, fds, pins)));
        self
    }

    /// How many tasks a worker runs before it is replaced by a fresh one: Python's
    /// `maxtasksperchild` (a chunk of a `map` counts as one task). Zero is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn pid() -> i32 { std::process::id() as i32 }
    /// let pool = mp::Pool::builder().processes(1).maxtasksperchild(1).build()?;
    /// let a = pool.apply(pid, ())?;
    /// let b = pool.apply(pid, ())?;
    /// assert_ne!(a, b);
    /// assert!(mp::Pool::builder().maxtasksperchild(0).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasks = Some(n);
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
    /// let pool = mp::Pool::builder().processes(1).context(mp::get_context("fork")?).build()?;
    /// assert!(pool.apply(name, ())?.starts_with("ForkPoolWorker-"));
    /// # Ok(()) }
    /// ```
    pub fn context(mut self, ctx: Context) -> Self {
        self.method = Some(ctx.get_start_method());
        self
    }

    /// Starts the workers with `method`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn name() -> String { mp::current_process().name() }
    /// let pool = mp::Pool::builder().processes(1).start_method(mp::StartMethod::Spawn).build()?;
    /// assert!(pool.apply(name, ())?.starts_with("SpawnPoolWorker-"));
    /// # Ok(()) }
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Starts the workers and returns the pool.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for zero processes or a zero `maxtasksperchild`; the initializer's
    /// arguments failing to serialize; a worker failing to start (the workers already started
    /// are stopped first).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let pool = mp::Pool::builder().build()?;
    /// assert_eq!(pool.processes(), mp::cpu_count());
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Pool> {
        crate::bootstrap::ensure_linked();
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes < 1 {
            return Err(Error::value("Number of processes must be at least 1"));
        }
        if self.maxtasks == Some(0) {
            return Err(Error::value(
                "maxtasksperchild must be a positive int or None",
            ));
        }
        let init = self.init.transpose()?;
        let cfg = Config {
            processes,
            method: self.method.unwrap_or_else(crate::get_start_method),
            init,
            maxtasks: self.maxtasks,
        };
        let mut workers = Vec::with_capacity(processes);
        for _ in 0..processes {
            match engine::start_worker(&cfg) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    engine::kill_all(workers);
                    return Err(e);
                }
            }
        }
        let shared = match Shared::new(cfg, workers) {
            Ok(s) => Arc::new(s),
            Err(e) => return Err(e),
        };
        let s2 = shared.clone();
        let thread = crate::thread::spawn("mp-pool", move || {
            let s3 = s2.clone();
            if panic::catch_unwind(AssertUnwindSafe(|| engine::run(s2))).is_err() {
                s3.thread_died();
            }
        });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let ws = std::mem::take(&mut shared.lock().workers);
                engine::kill_all(ws);
                return Err(Error::os("cannot start the pool thread", e));
            }
        };
        let thread_id = thread.id();
        crate::logging::debug!("created pool of {processes} workers");
        Ok(Pool {
            shared,
            thread: Mutex::new(Some(thread)),
            thread_id,
        })
    }
}

impl Context {
    /// A pool whose workers start with this context's method: Python's `ctx.Pool(processes)`.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn double(x: i32) -> i32 { 2 * x }
    /// let pool = mp::get_context("forkserver")?.pool(2)?;
    /// assert_eq!(pool.map(double, [1, 2])?, [2, 4]);
    /// # Ok(()) }
    /// ```
    pub fn pool(&self, processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).context(*self).build()
    }
}

/// Serializes a slice of `A` as a sequence of 1-tuples `(A,)`: the argument tuples of a
/// one-argument task.
struct Singles<'a, A>(&'a [A]);

impl<A: Serialize> Serialize for Singles<'_, A> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for a in self.0 {
            seq.serialize_element(&(a,))?;
        }
        seq.end()
    }
}

/// How long a waiter on a result spins before it sleeps: a worker's reply is often
/// microseconds away.
const SPIN: std::time::Duration = std::time::Duration::from_micros(30);

/// Python's default `map` chunksize: `ceil(len / (4 * processes))`.
fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(processes * 4).max(1)
}

/// How a batch of items becomes task arguments.
trait Encode<A>: Copy + Send + 'static {
    fn encode(self, items: &[A]) -> Result<(Vec<u8>, Vec<OwnedFd>)>;
}

#[derive(Clone, Copy)]
struct AsSingles;
#[derive(Clone, Copy)]
struct AsTuples;

impl<A: Serialize> Encode<A> for AsSingles {
    fn encode(self, items: &[A]) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        reduction::encode(&Singles(items))
    }
}

impl<A: Serialize> Encode<A> for AsTuples {
    fn encode(self, items: &[A]) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        reduction::encode(items)
    }
}

impl Pool {
    /// A pool of `processes` workers started with the default start method: Python's
    /// `Pool(processes)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `processes` is 0; a worker failing to start.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let pool = mp::Pool::new(3)?;
    /// assert_eq!(pool.processes(), 3);
    /// assert_eq!(mp::Pool::new(0).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for the pool's keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`PoolBuilder`].
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            init: None,
            maxtasks: None,
            method: None,
        }
    }

    /// The number of workers the pool keeps running.
    ///
    /// # Examples
    ///
    /// See [`Pool::new`].
    pub fn processes(&self) -> usize {
        self.shared.cfg.processes
    }

    /// The pids of the current workers (mp only; handy to watch `maxtasksperchild` at work).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let pool = mp::Pool::new(2)?;
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.shared.pids()
    }

    fn check_owner(&self) -> Result<()> {
        // (The cached pid: no system call per task.)
        if crate::futex::ids().0 != self.shared.owner {
            return Err(Error::value(
                "a Pool can only be used by the process that created it",
            ));
        }
        Ok(())
    }

    fn apply_impl<T>(&self, args: T::Args) -> Result<AsyncResult<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        T::Value: DeserializeOwned + Send,
    {
        self.check_owner()?;
        let slot = Slot::new(SPIN);
        let sink: Arc<dyn JobSink> = Arc::new(ApplySink { slot: slot.clone() });
        let (bytes, fds) = reduction::encode(std::slice::from_ref(&args))?;
        let rec = self.shared.record(sink, 0, T::NAME, bytes, fds)?;
        self.shared.submit(vec![rec], false)?;
        Ok(AsyncResult::new(slot))
    }

    /// Calls `f(args...)` in a worker and waits for the value: Python's `apply(f, args)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`; the arguments
    /// failing to serialize; the task's panic or `Err` ([`ErrorKind::Remote`]); the worker dying
    /// ([`ErrorKind::WorkerLost`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let pool = mp::Pool::new(1)?;
    /// assert_eq!(pool.apply(add, (2, 3))?, 5);
    /// # Ok(()) }
    /// ```
    pub fn apply<T>(&self, f: T, args: T::Args) -> Result<T::Value>
    where
        T: Task,
        T::Args: Serialize,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.check_owner()?;
        let slot = Slot::new(SPIN);
        let sink: Arc<dyn JobSink> = Arc::new(ApplySink { slot: slot.clone() });
        let (bytes, fds) = reduction::encode(std::slice::from_ref(&args))?;
        let rec = self.shared.record(sink, 0, T::NAME, bytes, fds)?;
        // With an idle worker, this thread reads the answer from the worker itself.
        if let Some(direct) = self.shared.submit_direct(rec)? {
            self.shared.wait_direct(&direct, || slot.is_ready(), None);
        }
        AsyncResult::new(slot).get()
    }

    /// Submits `f(args...)` and returns at once: Python's `apply_async(f, args)`. Attach
    /// callbacks with [`AsyncResult::callback`] and [`AsyncResult::error_callback`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`; the arguments
    /// failing to serialize.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// let pool = mp::Pool::new(2)?;
    /// let results: Vec<_> = (0..4).map(|i| pool.apply_async(square, (i,))).collect::<mp::Result<_>>()?;
    /// let values: Vec<u64> = results.iter().map(|r| r.get()).collect::<mp::Result<_>>()?;
    /// assert_eq!(values, [0, 1, 4, 9]);
    /// # Ok(()) }
    /// ```
    pub fn apply_async<T>(&self, f: T, args: T::Args) -> Result<AsyncResult<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.apply_impl::<T>(args)
    }

    fn map_impl<T, A, E>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        enc: E,
    ) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task,
        T::Value: DeserializeOwned + Send,
        E: Encode<A>,
    {
        self.check_owner()?;
        if chunksize == Some(0) {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        self.shared.check_running()?;
        let items: Vec<A> = {
            let mut n = 0usize;
            let mut v = Vec::new();
            let it = items.into_iter();
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                // A lower bound is a hint, not a promise: `(0..).map(..)` claims `usize::MAX`.
                v.reserve(it.size_hint().0.min(4096));
                for x in it {
                    v.push(x);
                    n += 1;
                }
            }));
            if let Err(p) = r {
                return Err(input_panicked(n, p));
            }
            v
        };
        let cs = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes()));
        let nchunks = items.len().div_ceil(cs);
        let slot = Slot::new(SPIN);
        let sink = Arc::new(MapSink::new(slot.clone(), nchunks));
        if nchunks == 0 {
            sink.slot.set(Ok(Vec::new()));
            return Ok(AsyncResult::new(slot));
        }
        let job: Arc<dyn JobSink> = sink;
        let mut recs = Vec::with_capacity(nchunks);
        for (i, chunk) in items.chunks(cs).enumerate() {
            let (bytes, fds) = enc.encode(chunk)?;
            recs.push(self.shared.record(job.clone(), i, T::NAME, bytes, fds)?);
        }
        drop(items);
        self.shared.submit(recs, false)?;
        Ok(AsyncResult::new(slot))
    }

    /// Applies `f` to every item in parallel and returns the values in order: Python's
    /// `map(f, iterable)`. The items are sent in chunks of `ceil(len / (4 * processes))`, as
    /// CPython computes it; [`Pool::chunksize`] sets another size.
    ///
    /// # Errors
    ///
    /// The first chunk that failed (after every chunk has finished, as in CPython); the input
    /// iterator panicking ([`ErrorKind::Runtime`], nothing is submitted); an item failing to
    /// serialize; [`ErrorKind::Value`] after `close`/`terminate`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// let pool = mp::Pool::new(2)?;
    /// let v: Vec<u64> = pool.map(square, 0..100)?;
    /// assert_eq!(v[99], 9801);
    /// assert!(pool.map(square, Vec::new())?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn map<T, A, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.map_impl::<T, A, _>(iterable, None, AsSingles)?.get()
    }

    /// [`map`](Pool::map) without waiting: Python's `map_async`. The result is ready when
    /// every chunk has finished.
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map), except the tasks' failures, which [`AsyncResult::get`] returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// let pool = mp::Pool::new(2)?;
    /// let r = pool.map_async(square, 0..5)?.callback(|v| assert_eq!(v.len(), 5));
    /// assert_eq!(r.get()?, [0, 1, 4, 9, 16]);
    /// # Ok(()) }
    /// ```
    pub fn map_async<T, A, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.map_impl::<T, A, _>(iterable, None, AsSingles)
    }

    /// Like [`map`](Pool::map) for a task of several arguments, each item being the argument
    /// tuple: Python's `starmap`.
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// let pool = mp::Pool::new(2)?;
    /// assert_eq!(pool.starmap(mul, [(1, 2), (3, 4)])?, [2, 12]);
    /// # Ok(()) }
    /// ```
    pub fn starmap<T, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.map_impl::<T, T::Args, _>(iterable, None, AsTuples)?
            .get()
    }

    /// [`starmap`](Pool::starmap) without waiting: Python's `starmap_async`.
    ///
    /// # Errors
    ///
    /// As [`map_async`](Pool::map_async).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// let pool = mp::Pool::new(2)?;
    /// assert_eq!(pool.starmap_async(mul, vec![(5, 5)])?.get()?, [25]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async<T, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.map_impl::<T, T::Args, _>(iterable, None, AsTuples)
    }

    fn imap_impl<T, A, I, E>(
        &self,
        iterable: I,
        chunksize: usize,
        ordered: bool,
        enc: E,
    ) -> Result<IMapIterator<T::Value>>
    where
        T: Task,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
        T::Value: DeserializeOwned + Send + 'static,
        E: Encode<A>,
    {
        self.check_owner()?;
        if chunksize == 0 {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        self.shared.check_running()?;
        let sink: Arc<IMapSink<T::Value>> = IMapSink::new();
        let it = IMapIterator::new(sink.clone(), ordered);
        let shared = self.shared.clone();
        let limit = 4 * shared.cfg.processes + 8;
        let iter = iterable.into_iter();
        shared.feeder(1);
        let spawned = crate::thread::spawn("mp-pool-feeder", move || {
            let job: Arc<dyn JobSink> = sink.clone();
            feed(&sink, iter, chunksize, limit, |i, chunk| {
                let (bytes, fds) = enc.encode(&chunk)?;
                drop(chunk);
                let rec = shared.record(job.clone(), i, T::NAME, bytes, fds)?;
                shared.submit(vec![rec], true)
            });
            shared.feeder(-1);
        });
        if let Err(e) = spawned {
            self.shared.feeder(-1);
            return Err(Error::os("cannot start the pool feeder thread", e));
        }
        Ok(it)
    }

    /// A lazy [`map`](Pool::map): Python's `imap(f, iterable)`. The iterator yields the values
    /// in order as they come. The input is read on a background thread, at most a few chunks
    /// ahead of the workers, so it can be long or endless; a panic in it ends the iteration
    /// with an error at that position. The default chunksize is 1.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] after `close`/`terminate`. Task failures are items of the iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * x }
    /// let pool = mp::Pool::new(2)?;
    /// let mut it = pool.imap(f, 0..)?; // an endless input
    /// assert_eq!(it.next().unwrap()?, 0);
    /// assert_eq!(it.next().unwrap()?, 1);
    /// assert_eq!(it.next_timeout(std::time::Duration::from_secs(30)).unwrap()?, 4);
    /// # Ok(()) }
    /// ```
    pub fn imap<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
        T::Value: DeserializeOwned + Send + 'static,
    {
        let _ = f;
        self.imap_impl::<T, A, I, _>(iterable, 1, true, AsSingles)
    }

    /// Like [`imap`](Pool::imap), yielding the values in the order they finish: Python's
    /// `imap_unordered`.
    ///
    /// # Errors
    ///
    /// As [`imap`](Pool::imap).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * x }
    /// let pool = mp::Pool::new(2)?;
    /// let mut v: Vec<u64> = pool.imap_unordered(f, 0..10)?.collect::<mp::Result<_>>()?;
    /// v.sort();
    /// assert_eq!(v, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// # Ok(()) }
    /// ```
    pub fn imap_unordered<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
        T::Value: DeserializeOwned + Send + 'static,
    {
        let _ = f;
        self.imap_impl::<T, A, I, _>(iterable, 1, false, AsSingles)
    }

    /// The `map`-family methods with `chunksize` items per task: Python's `chunksize=`
    /// argument.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x + 1 }
    /// let pool = mp::Pool::new(2)?;
    /// assert_eq!(pool.chunksize(10).map(f, 0..100)?.len(), 100);
    /// assert!(pool.chunksize(0).map(f, 0..1).is_err());
    /// # Ok(()) }
    /// ```
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_> {
        Chunked {
            pool: self,
            chunksize,
        }
    }

    /// Stops accepting work; the workers exit once the submitted work is done: Python's
    /// `close()`.
    ///
    /// # Errors
    ///
    /// Only when called from another process than the pool's creator.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x }
    /// let pool = mp::Pool::new(1)?;
    /// pool.close()?;
    /// let err = pool.map(f, [1]).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Value);
    /// assert_eq!(err.to_string(), "Pool not running");
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> Result<()> {
        self.check_owner()?;
        crate::logging::debug!("closing pool");
        self.shared.close();
        Ok(())
    }

    /// Stops the workers at once, without finishing the outstanding work: Python's
    /// `terminate()`. Results not ready yet become [`ErrorKind::ShutDown`] errors (CPython
    /// leaves them waiting forever).
    ///
    /// # Errors
    ///
    /// Only when called from another process than the pool's creator.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn nap(s: u64) { std::thread::sleep(std::time::Duration::from_secs(s)) }
    /// let pool = mp::Pool::new(2)?;
    /// let r = pool.apply_async(nap, (60,))?;
    /// pool.terminate()?;
    /// pool.join()?;
    /// assert_eq!(r.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) -> Result<()> {
        self.check_owner()?;
        crate::logging::debug!("terminating pool");
        self.shared.terminate();
        Ok(())
    }

    /// Waits for the workers to exit: Python's `join()`. After `close` that is when every
    /// submitted task has finished (and its callbacks have run).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool is still running") before `close` or `terminate`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let pool = mp::Pool::new(1)?;
    /// assert_eq!(pool.join().unwrap_err().to_string(), "Pool is still running");
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        self.check_owner()?;
        if self.shared.lock().status == Status::Running {
            return Err(Error::value("Pool is still running"));
        }
        crate::logging::debug!("joining pool");
        if std::thread::current().id() == self.thread_id {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot join a pool from its own result thread (a callback)",
            ));
        }
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if sys::getpid() != self.shared.owner {
            // A forked copy: the workers belong to the creator.
            return;
        }
        self.shared.terminate();
        if std::thread::current().id() != self.thread_id {
            let _ = self.join();
        }
    }
}

/// The `map`-family methods of a [`Pool`] with a `chunksize`, from [`Pool::chunksize`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn mul(a: u32, b: u32) -> u32 { a * b }
/// let pool = mp::Pool::new(2)?;
/// assert_eq!(pool.chunksize(2).starmap(mul, [(1, 2), (3, 4), (5, 6)])?, [2, 12, 30]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Chunked<'a> {
    pool: &'a Pool,
    chunksize: usize,
}

impl Chunked<'_> {
    /// [`Pool::map`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::map`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// See [`Pool::chunksize`].
    pub fn map<T, A, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.pool
            .map_impl::<T, A, _>(iterable, Some(self.chunksize), AsSingles)?
            .get()
    }

    /// [`Pool::map_async`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_async`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u8) -> u8 { x }
    /// let pool = mp::Pool::new(1)?;
    /// assert!(pool.chunksize(1).map_async(f, Vec::new())?.get()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn map_async<T, A, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task<Args = (A,)>,
        A: Serialize,
        I: IntoIterator<Item = A>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.pool
            .map_impl::<T, A, _>(iterable, Some(self.chunksize), AsSingles)
    }

    /// [`Pool::starmap`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::starmap`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// See [`Chunked`].
    pub fn starmap<T, I>(&self, f: T, iterable: I) -> Result<Vec<T::Value>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.pool
            .map_impl::<T, T::Args, _>(iterable, Some(self.chunksize), AsTuples)?
            .get()
    }

    /// [`Pool::starmap_async`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::starmap_async`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn add(a: u8, b: u8) -> u8 { a + b }
    /// let pool = mp::Pool::new(1)?;
    /// assert_eq!(pool.chunksize(3).starmap_async(add, [(1, 1), (2, 2)])?.get()?, [2, 4]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async<T, I>(&self, f: T, iterable: I) -> Result<AsyncResult<Vec<T::Value>>>
    where
        T: Task,
        T::Args: Serialize,
        I: IntoIterator<Item = T::Args>,
        T::Value: DeserializeOwned + Send,
    {
        let _ = f;
        self.pool
            .map_impl::<T, T::Args, _>(iterable, Some(self.chunksize), AsTuples)
    }

    /// [`Pool::imap`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 2 }
    /// let pool = mp::Pool::new(2)?;
    /// let v: Vec<u64> = pool.chunksize(100).imap(f, 0..1000)?.collect::<mp::Result<_>>()?;
    /// assert_eq!(v[999], 1998);
    /// # Ok(()) }
    /// ```
    pub fn imap<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
        T::Value: DeserializeOwned + Send + 'static,
    {
        let _ = f;
        self.pool
            .imap_impl::<T, A, I, _>(iterable, self.chunksize, true, AsSingles)
    }

    /// [`Pool::imap_unordered`] with this chunksize.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap_unordered`]; [`ErrorKind::Value`] for a zero chunksize.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 2 }
    /// let pool = mp::Pool::new(2)?;
    /// let n = pool.chunksize(7).imap_unordered(f, 0..50)?.count();
    /// assert_eq!(n, 50);
    /// # Ok(()) }
    /// ```
    pub fn imap_unordered<T, A, I>(&self, f: T, iterable: I) -> Result<IMapIterator<T::Value>>
    where
        T: Task<Args = (A,)>,
        A: Serialize + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
        T::Value: DeserializeOwned + Send + 'static,
    {
        let _ = f;
        self.pool
            .imap_impl::<T, A, I, _>(iterable, self.chunksize, false, AsSingles)
    }
}
