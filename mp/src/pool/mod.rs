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
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::context::{Context, StartMethod};
use crate::error::{Error, Result};
use crate::task::Task;

mod engine;
mod processes;
mod raw;
mod result;
mod threads;
mod wire;
mod worker;

pub use processes::WorkerProcesses;
pub(crate) use raw::{NextChunk, RawJob};
#[cfg(feature = "async")]
pub use result::ResultFuture;
pub(crate) use result::{ApplySink, IMapSink, MapSink, Sink, Slot, feed, input_panicked};
pub use result::{AsyncResult, IMapIterator};
pub use threads::WorkerThreads;
#[doc(hidden)]
pub use wire::fuzz_parse as __fuzz_wire;

// Names the docs link to.
#[cfg(doc)]
use crate::error::ErrorKind;

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
///
/// The same front runs tasks in worker *threads* with [`WorkerThreads`] as the executor
/// (`mp::dummy::Pool`, Python's `ThreadPool`): one implementation of the API, two ways to run.
pub struct PoolIn<E: Executor = WorkerProcesses> {
    ex: E,
}

/// A pool of worker processes (the default executor of [`PoolIn`]).
pub type Pool = PoolIn<WorkerProcesses>;

/// Builder for a [`PoolIn`] (the default executor: worker processes).
pub type PoolBuilder = PoolBuilderIn<WorkerProcesses>;

impl<E: Executor> fmt::Debug for PoolIn<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} state={} pool_size={}>",
            E::KIND,
            self.ex.state(),
            self.ex.processes()
        )
    }
}

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
pub struct PoolBuilderIn<E: Executor = WorkerProcesses> {
    processes: Option<usize>,
    init: Option<Result<E::Init>>,
    maxtasks: Option<usize>,
    method: Option<StartMethod>,
}

impl<E: Executor> fmt::Debug for PoolBuilderIn<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field(
                "initializer",
                &self
                    .init
                    .as_ref()
                    .map(|i| i.as_ref().map(E::init_name).ok()),
            )
            .field("maxtasksperchild", &self.maxtasks)
            .field("start_method", &self.method)
            .finish()
    }
}

impl<E: Executor> PoolBuilderIn<E> {
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
    pub fn initializer<T: Task>(mut self, f: T, args: T::Args) -> Self {
        let _ = f;
        self.init = Some(E::init::<T>(args));
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
    pub fn build(self) -> Result<PoolIn<E>> {
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes < 1 {
            return Err(Error::value("Number of processes must be at least 1"));
        }
        if self.maxtasks == Some(0) {
            return Err(Error::value(
                "maxtasksperchild must be a positive int or None",
            ));
        }
        let ex = E::start(sealed::Settings {
            processes,
            maxtasks: self.maxtasks,
            method: self.method,
            init: self.init.transpose()?,
        })?;
        Ok(PoolIn { ex })
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

fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(processes * 4).max(1)
}

mod sealed {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{ApplySink, AsyncResult, Sink, Slot};
    use crate::context::StartMethod;
    use crate::error::Result;
    use crate::task::Task;

    /// What a pool was built with.
    #[derive(Debug)]
    pub struct Settings<I> {
        pub(crate) processes: usize,
        pub(crate) maxtasks: Option<usize>,
        pub(crate) method: Option<StartMethod>,
        pub(crate) init: Option<I>,
    }

    /// How a pool runs its tasks: the part of a pool that differs between processes and
    /// threads (the front, [`PoolIn`](super::PoolIn), is written once).
    pub trait Engine: Send + Sync + Sized + 'static {
        /// What the `imap` feeder thread holds to submit chunks.
        type Queue: Clone + Send + Sync + 'static;
        /// A prepared initializer.
        type Init: Send + Sync + 'static;
        /// The pool's name in its `Debug` form.
        const KIND: &'static str;
        /// The name of the `imap` feeder thread.
        const FEEDER: &'static str;
        /// How long a result's waiter spins before it sleeps.
        const SPIN: Duration;
        fn init<T: Task>(args: T::Args) -> Result<Self::Init>;
        fn init_name(init: &Self::Init) -> &str;
        fn start(settings: Settings<Self::Init>) -> Result<Self>;
        fn queue(&self) -> &Self::Queue;
        fn processes(&self) -> usize;
        fn worker_pids(&self) -> Vec<i32>;
        fn state(&self) -> &'static str;
        /// Only the process that made a pool may use it.
        fn check_caller(&self) -> Result<()>;
        fn check_running(q: &Self::Queue) -> Result<()>;
        /// Submits chunks `(index, arguments)` whose results go to `sink`.
        fn submit<T: Task, S: Sink<T::Value>>(
            q: &Self::Queue,
            sink: &Arc<S>,
            chunks: impl IntoIterator<Item = (usize, Vec<T::Args>)>,
            from_feeder: bool,
        ) -> Result<()>;
        fn feeder(q: &Self::Queue, delta: isize);
        fn close(&self);
        fn terminate(&self);
        fn join(&self) -> Result<()>;
        /// Dropping the pool: terminate, and join unless called from the pool's own thread.
        fn dropped(&self);
        /// `apply`: submit one task and wait.
        fn apply<T: Task>(&self, args: T::Args) -> Result<T::Value> {
            let slot = Slot::new(Self::SPIN);
            let sink = Arc::new(ApplySink { slot: slot.clone() });
            Self::submit::<T, _>(self.queue(), &sink, std::iter::once((0, vec![args])), false)?;
            AsyncResult::new(slot).get()
        }
    }
}

/// Where a pool runs its tasks: [`WorkerProcesses`] (processes, `mp::Pool`) or [`WorkerThreads`]
/// (`mp::dummy::Pool`). Sealed: the two are mp's.
///
/// # Examples
///
/// ```
/// fn size<E: mp::pool::Executor>(pool: &mp::pool::PoolIn<E>) -> usize {
///     pool.processes()
/// }
/// let pool = mp::dummy::Pool::new(2)?;
/// assert_eq!(size(&pool), 2);
/// # Ok::<(), mp::Error>(())
/// ```
pub trait Executor: sealed::Engine {}

impl Executor for WorkerProcesses {}
impl Executor for WorkerThreads {}

impl<E: Executor> PoolIn<E> {
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
    pub fn new(processes: usize) -> Result<PoolIn<E>> {
        PoolIn::builder().processes(processes).build()
    }

    /// A builder for the pool's keyword arguments.
    ///
    /// # Examples
    ///
    /// See [`PoolBuilder`].
    pub fn builder() -> PoolBuilderIn<E> {
        PoolBuilderIn {
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
        self.ex.processes()
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
        self.ex.worker_pids()
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
    pub fn apply<T: Task>(&self, f: T, args: T::Args) -> Result<T::Value> {
        let _ = f;
        self.ex.check_caller()?;
        self.ex.apply::<T>(args)
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
    pub fn apply_async<T: Task>(&self, f: T, args: T::Args) -> Result<AsyncResult<T::Value>> {
        let _ = f;
        self.ex.check_caller()?;
        let slot = Slot::new(E::SPIN);
        let sink = Arc::new(ApplySink { slot: slot.clone() });
        E::submit::<T, _>(
            self.ex.queue(),
            &sink,
            std::iter::once((0, vec![args])),
            false,
        )?;
        Ok(AsyncResult::new(slot))
    }

    fn map_impl<T: Task, A>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        args: fn(A) -> T::Args,
    ) -> Result<AsyncResult<Vec<T::Value>>> {
        self.ex.check_caller()?;
        if chunksize == Some(0) {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        E::check_running(self.ex.queue())?;
        let mut items: Vec<T::Args> = {
            let mut n = 0usize;
            let mut v = Vec::new();
            let it = items.into_iter();
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                // A lower bound is a hint, not a promise: `(0..).map(..)` claims `usize::MAX`.
                v.reserve(it.size_hint().0.min(4096));
                for x in it {
                    v.push(args(x));
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
        let slot = Slot::new(E::SPIN);
        let sink = Arc::new(MapSink::new(slot.clone(), nchunks));
        if nchunks == 0 {
            sink.slot.set(Ok(Vec::new()));
            return Ok(AsyncResult::new(slot));
        }
        // Split from the end so that each chunk is moved out without copying the rest.
        let mut chunks = Vec::with_capacity(nchunks);
        for i in (0..nchunks).rev() {
            chunks.push((i, items.split_off(i * cs)));
        }
        chunks.reverse();
        E::submit::<T, _>(self.ex.queue(), &sink, chunks, false)?;
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
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.map_impl::<T, A>(iterable, None, |a| (a,))?.get()
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
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.map_impl::<T, A>(iterable, None, |a| (a,))
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
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.map_impl::<T, T::Args>(iterable, None, |a| a)?.get()
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
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.map_impl::<T, T::Args>(iterable, None, |a| a)
    }

    fn imap_impl<T, A, I>(
        &self,
        iterable: I,
        chunksize: usize,
        ordered: bool,
        args: fn(A) -> T::Args,
    ) -> Result<IMapIterator<T::Value>>
    where
        T: Task,
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        self.ex.check_caller()?;
        if chunksize == 0 {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        let q = self.ex.queue().clone();
        E::check_running(&q)?;
        let sink: Arc<IMapSink<T::Value>> = IMapSink::new();
        let it = IMapIterator::new(sink.clone(), ordered);
        let limit = 4 * self.processes() + 8;
        let iter = iterable.into_iter().map(args);
        E::feeder(&q, 1);
        let q2 = q.clone();
        let spawned = crate::thread::spawn(E::FEEDER, move || {
            feed(&sink, iter, chunksize, limit, |i, chunk| {
                E::submit::<T, _>(&q2, &sink, std::iter::once((i, chunk)), true)
            });
            E::feeder(&q2, -1);
        });
        if let Err(e) = spawned {
            E::feeder(&q, -1);
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
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.imap_impl::<T, A, I>(iterable, 1, true, |a| (a,))
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
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.imap_impl::<T, A, I>(iterable, 1, false, |a| (a,))
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
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_, E> {
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
        self.ex.check_caller()?;
        crate::logging::debug!("closing {}", E::KIND);
        self.ex.close();
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
        self.ex.check_caller()?;
        crate::logging::debug!("terminating {}", E::KIND);
        self.ex.terminate();
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
        self.ex.check_caller()?;
        self.ex.join()
    }
}

impl<E: Executor> Drop for PoolIn<E> {
    fn drop(&mut self) {
        self.ex.dropped();
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
pub struct Chunked<'a, E: Executor = WorkerProcesses> {
    pool: &'a PoolIn<E>,
    chunksize: usize,
}

impl<E: Executor> Clone for Chunked<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Executor> Copy for Chunked<'_, E> {}

impl<E: Executor> fmt::Debug for Chunked<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunked")
            .field("pool", self.pool)
            .field("chunksize", &self.chunksize)
            .finish()
    }
}

impl<E: Executor> Chunked<'_, E> {
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
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, A>(iterable, Some(self.chunksize), |a| (a,))?
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
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, A>(iterable, Some(self.chunksize), |a| (a,))
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
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, T::Args>(iterable, Some(self.chunksize), |a| a)?
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
        I: IntoIterator<Item = T::Args>,
    {
        let _ = f;
        self.pool
            .map_impl::<T, T::Args>(iterable, Some(self.chunksize), |a| a)
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
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.pool
            .imap_impl::<T, A, I>(iterable, self.chunksize, true, |a| (a,))
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
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        let _ = f;
        self.pool
            .imap_impl::<T, A, I>(iterable, self.chunksize, false, |a| (a,))
    }
}
