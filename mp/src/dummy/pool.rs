//! Thread pools with the API of [`mp::pool`](crate::pool): Python's
//! `multiprocessing.pool.ThreadPool`, which `multiprocessing.dummy.Pool` returns.
//!
//! The same targets as [`mp::Pool`](crate::Pool) — `#[mp::task]` fns — run in worker
//! *threads*: [`Task::run`] is called directly, the arguments and values are moved, never
//! serialized. Use it for work that waits (I/O, sleeping, calling out) rather than
//! computes, or to run the same program without processes.
//!
//! Errors keep [`mp::Pool`](crate::Pool)'s kinds and messages, so that code handling them is
//! portable: a task's panic or `Err` is an [`ErrorKind::Remote`] error whose message is the
//! task's own (`task `f` failed: <the Err's text>`) and whose
//! [`source`](std::error::Error::source) is a [`RemoteTraceback`] naming the worker thread.
//! Nothing else is wrapped (CPython's thread pool re-raises the original exception).
//!
//! Differences from the process pool, all from threads being threads:
//!
//! - [`terminate`](Pool::terminate) cannot stop a task that is running: it fails every
//!   result not ready yet with [`ErrorKind::ShutDown`] at once (as mp's does), drops the
//!   queued tasks, and the running ones finish in the background; [`join`](Pool::join)
//!   (and dropping the pool) waits for them, as CPython's `ThreadPool.terminate` does.
//! - a panicking task cannot kill its worker, so there is no `WorkerLost`.
//! - [`PoolBuilder::context`] and [`PoolBuilder::start_method`] are accepted and ignored.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::ThreadId;

use crate::thread::JoinHandle;
use std::time::Duration;

use crate::context::{Context, StartMethod};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::{ApplySink, IMapSink, MapSink, Slot, feed, input_panicked};
use crate::space::handle::{self, Packet};
use crate::task::{Portable, Task};

pub use crate::pool::{AsyncResult, IMapIterator, RemoteTraceback};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_running() -> Error {
    Error::value("Pool not running")
}

fn shut_down() -> Error {
    Error::new(
        ErrorKind::ShutDown,
        "the pool was terminated before the task finished",
    )
}

// ---------------------------------------------------------------------------------------------
// Running a task, capturing its panic
// ---------------------------------------------------------------------------------------------

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that, while a pool task runs in this thread, records the
/// panic's message and location instead of printing them: the caller gets them, as CPython's
/// thread pool hands the exception over without printing it.
fn install_capture_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let p = info.payload();
                let message = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "Box<dyn Any>".to_string());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                CAPTURED.with(|c| *c.borrow_mut() = Some((message, location)));
            } else {
                prev(info);
            }
        }));
    });
}

/// How a task (or an initializer) failed.
struct Failure {
    panicked: bool,
    message: String,
    location: Option<String>,
    index: usize,
}

/// Runs `f` with panics captured: a panic becomes a [`Failure`] at `progress`.
fn capture<R>(
    progress: &Cell<usize>,
    f: impl FnOnce() -> std::result::Result<R, Failure>,
) -> std::result::Result<R, Failure> {
    let outer = CAPTURING.with(|c| c.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(outer));
    match r {
        Ok(r) => r,
        Err(payload) => {
            let cap = CAPTURED.with(|c| c.borrow_mut().take());
            // Dropping a payload can itself panic; keep the worker alive whatever it does.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            let (message, location) = cap.unwrap_or_else(|| ("panic".to_string(), None));
            Err(Failure {
                panicked: true,
                message,
                location,
                index: progress.get(),
            })
        }
    }
}

/// Runs `T` on every item of a chunk: the values, or the first failure.
fn run_chunk<T: Task>(items: Vec<T::Args>) -> std::result::Result<Vec<T::Value>, Failure> {
    let progress = Cell::new(0);
    capture(&progress, || {
        let mut out = Vec::with_capacity(items.len());
        for (i, a) in items.into_iter().enumerate() {
            progress.set(i);
            match T::into_value(T::run(a)) {
                Ok(v) => out.push(v),
                Err(message) => {
                    return Err(Failure {
                        panicked: false,
                        message,
                        location: None,
                        index: i,
                    });
                }
            }
        }
        Ok(out)
    })
}

/// The caller's error for a task's failure: mp's kind and message, with a traceback.
fn task_error(task: &str, worker: &str, f: Failure) -> Error {
    let short = task.rsplit("::").next().unwrap_or(task);
    let message = if f.panicked {
        match &f.location {
            Some(loc) => format!("task `{short}` panicked at {loc}: {}", f.message),
            None => format!("task `{short}` panicked: {}", f.message),
        }
    } else {
        format!("task `{short}` failed: {}", f.message)
    };
    let tb = RemoteTraceback::local(
        task,
        worker.to_string(),
        f.panicked,
        f.message,
        f.location,
        f.index,
    );
    Error::new(ErrorKind::Remote, message).with_source(tb)
}

/// How long a waiter on a result spins before it sleeps: a worker thread's answer is often a
/// few microseconds away, less than a sleep and a wake-up.
const SPIN: Duration = Duration::from_micros(20);

/// Python's default `map` chunksize: `ceil(len / (4 * processes))`.
fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(processes * 4).max(1)
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// How the pool fails a job it will not run (the workers deliver results to the sinks
/// directly).
trait JobSink: Send + Sync {
    fn fail(&self, chunk: usize, e: Error);
}

impl<V: Send> JobSink for ApplySink<V> {
    fn fail(&self, _chunk: usize, e: Error) {
        self.slot.set(Err(e));
    }
}

impl<V: Send> JobSink for MapSink<V> {
    fn fail(&self, chunk: usize, e: Error) {
        self.deliver(chunk, Err(e));
    }
}

impl<V: Send> JobSink for IMapSink<V> {
    fn fail(&self, chunk: usize, e: Error) {
        self.deliver(chunk, Err(e));
    }
}

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Running,
    Closed,
    Terminated,
}

/// A unit of work: one chunk of one job.
struct Job {
    sink: Arc<dyn JobSink>,
    chunk: usize,
    run: Box<dyn FnOnce(&str) + Send>,
}

/// Runs the initializer in a worker; `Err` breaks the pool.
type Init = Arc<dyn Fn() -> std::result::Result<(), Failure> + Send + Sync>;

struct Config {
    processes: usize,
    maxtasks: Option<usize>,
    init: Option<Init>,
}

struct WorkerRec {
    id: u64,
    thread: ThreadId,
    tid: i32,
}

struct State {
    status: Status,
    jobs: VecDeque<Job>,
    /// The job each worker runs: (worker id, sink, chunk).
    running: Vec<(u64, Arc<dyn JobSink>, usize)>,
    workers: Vec<WorkerRec>,
    /// Threads started and not yet finished.
    alive: usize,
    handles: Vec<JoinHandle<()>>,
    /// Workers sleeping for work.
    idle: usize,
    /// `imap` feeders still submitting.
    feeders: usize,
    broken: Option<String>,
    next_worker: u64,
}

struct Shared {
    cfg: Config,
    state: Mutex<State>,
    /// Workers wait here for jobs.
    work: Condvar,
    /// `join` waits here for workers to finish.
    finished: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Starts a worker thread (the state lock held).
    fn spawn_worker(self: &Arc<Shared>, st: &mut State) -> Result<()> {
        st.next_worker += 1;
        let id = st.next_worker;
        let name = format!("ThreadPoolWorker-{id}");
        let shared = self.clone();
        let n2 = name.clone();
        let h = crate::thread::spawn(&name, move || worker_main(shared, id, n2))
            .map_err(|e| Error::os("cannot start a pool worker thread", e))?;
        st.workers.push(WorkerRec {
            id,
            thread: h.id(),
            tid: 0,
        });
        st.alive += 1;
        st.handles.push(h);
        Ok(())
    }

    fn check_running(&self) -> Result<()> {
        let st = self.lock();
        if st.status != Status::Running {
            return Err(not_running());
        }
        if let Some(msg) = &st.broken {
            return Err(Error::new(ErrorKind::Remote, msg.clone()));
        }
        Ok(())
    }

    fn submit(&self, jobs: Vec<Job>, from_feeder: bool) -> Result<()> {
        let mut st = self.lock();
        match st.status {
            Status::Running => {}
            Status::Closed if from_feeder => {}
            _ => return Err(not_running()),
        }
        if let Some(msg) = &st.broken {
            return Err(Error::new(ErrorKind::Remote, msg.clone()));
        }
        let n = jobs.len();
        st.jobs.extend(jobs);
        let idle = st.idle;
        drop(st);
        if idle > 0 {
            if n == 1 {
                self.work.notify_one();
            } else {
                self.work.notify_all();
            }
        }
        Ok(())
    }

    /// The initializer failed: every job waiting and every later submission fails.
    fn break_pool(&self, msg: String) {
        let mut st = self.lock();
        if st.broken.is_none() {
            st.broken = Some(msg.clone());
        }
        let jobs: Vec<Job> = st.jobs.drain(..).collect();
        drop(st);
        for j in jobs {
            j.sink
                .fail(j.chunk, Error::new(ErrorKind::Remote, msg.clone()));
        }
        self.work.notify_all();
    }

    fn close(&self) {
        let mut st = self.lock();
        if st.status == Status::Running {
            st.status = Status::Closed;
        }
        drop(st);
        self.work.notify_all();
    }

    fn terminate(&self) {
        let mut st = self.lock();
        st.status = Status::Terminated;
        let jobs: Vec<Job> = st.jobs.drain(..).collect();
        let running: Vec<(Arc<dyn JobSink>, usize)> =
            st.running.iter().map(|(_, s, c)| (s.clone(), *c)).collect();
        drop(st);
        self.work.notify_all();
        for j in jobs {
            j.sink.fail(j.chunk, shut_down());
        }
        for (s, c) in running {
            s.fail(c, shut_down());
        }
    }

    fn feeder(&self, delta: isize) {
        let mut st = self.lock();
        st.feeders = st.feeders.saturating_add_signed(delta);
        let last = st.feeders == 0;
        drop(st);
        if last {
            self.work.notify_all();
        }
    }

    fn is_worker(&self, t: ThreadId) -> bool {
        self.lock().workers.iter().any(|w| w.thread == t)
    }
}

/// A worker's loop: runs jobs until the pool closes (or it retires).
fn serve(shared: &Arc<Shared>, id: u64, name: &str) {
    let mut done = 0usize;
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.status == Status::Terminated || st.broken.is_some() {
                    break None;
                }
                if let Some(j) = st.jobs.pop_front() {
                    st.running.push((id, j.sink.clone(), j.chunk));
                    break Some(j);
                }
                if st.status == Status::Closed && st.feeders == 0 {
                    break None;
                }
                st.idle += 1;
                st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
                st.idle -= 1;
            }
        };
        let Some(job) = job else { break };
        (job.run)(name);
        done += 1;
        let mut st = shared.lock();
        st.running.retain(|(w, ..)| *w != id);
        if shared.cfg.maxtasks.is_some_and(|m| done >= m) {
            // Retire: a fresh thread takes this one's place while work may still come.
            let more = st.status == Status::Running
                || (st.status == Status::Closed && (!st.jobs.is_empty() || st.feeders > 0));
            if more && st.broken.is_none() && shared.spawn_worker(&mut st).is_err() {
                st.broken = Some("cannot start a replacement pool worker thread".into());
            }
            break;
        }
    }
}

fn worker_main(shared: Arc<Shared>, id: u64, name: String) {
    install_capture_hook();
    {
        let mut st = shared.lock();
        let tid = crate::sys::gettid() as i32;
        if let Some(w) = st.workers.iter_mut().find(|w| w.id == id) {
            w.tid = tid;
        }
    }
    let mut ok = true;
    if let Some(init) = &shared.cfg.init {
        let progress = Cell::new(0);
        if let Err(f) = capture(&progress, || init()) {
            let loc = f.location.map(|l| format!(" at {l}")).unwrap_or_default();
            shared.break_pool(format!(
                "the pool initializer failed in {name}{loc}: {}; the pool is broken",
                f.message
            ));
            ok = false;
        }
    }
    if ok {
        serve(&shared, id, &name);
    }
    let mut st = shared.lock();
    st.workers.retain(|w| w.id != id);
    st.alive -= 1;
    drop(st);
    shared.finished.notify_all();
}

/// A pool of worker threads: Python's `multiprocessing.pool.ThreadPool`
/// (`multiprocessing.dummy.Pool`), with the API of [`mp::Pool`](crate::Pool).
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::new(4)?;
/// assert_eq!(pool.apply(square, (10,))?, 100);
/// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// pool.close()?;
/// pool.join()?;
/// # Ok(()) }
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.shared.lock().status {
            Status::Running => "RUN",
            Status::Closed => "CLOSE",
            Status::Terminated => "TERMINATE",
        };
        write!(
            f,
            "<ThreadPool state={state} pool_size={}>",
            self.shared.cfg.processes
        )
    }
}

/// Builder for a [`Pool`]: Python's `ThreadPool(processes, initializer, initargs)`, with mp's
/// `maxtasksperchild` too.
///
/// # Examples
///
/// ```
/// static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
///
/// #[mp::task]
/// fn init(text: String) { let _ = TAG.set(text); }
/// #[mp::task]
/// fn tag() -> String { TAG.get().cloned().unwrap_or_default() }
///
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::builder()
///     .processes(2)
///     .initializer(init, ("ready".to_string(),))
///     .maxtasksperchild(100)
///     .build()?;
/// assert_eq!(pool.apply(tag, ())?, "ready");
/// # Ok(()) }
/// ```
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Result<(&'static str, Init)>>,
    maxtasks: Option<usize>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field(
                "initializer",
                &self.init.as_ref().map(|i| i.as_ref().map(|x| x.0).ok()),
            )
            .field("maxtasksperchild", &self.maxtasks)
            .finish()
    }
}

impl PoolBuilder {
    /// The number of worker threads (default: [`cpu_count()`](crate::cpu_count), as
    /// CPython's `ThreadPool`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(3).build()?;
    /// assert_eq!(pool.processes(), 3);
    /// assert!(mp::dummy::Pool::builder().processes(0).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args...)` in each worker thread when it starts: Python's `initializer=f,
    /// initargs=args`. The arguments are encoded once and decoded for each worker (so they
    /// need not be `Clone`); handles inside them (mp's and dummy's) work. If it fails, the
    /// pool is broken: outstanding and later tasks fail with its error.
    ///
    /// # Examples
    ///
    /// See [`PoolBuilder`].
    pub fn initializer<T: Task>(mut self, f: T, args: T::Args) -> Self {
        let _ = f;
        // Decoded once per worker: proxies inside take their own references, the pins keep
        // their objects alive meanwhile.
        let ((encoded, kept), pins) =
            crate::reduction::pinning(|| handle::with_encoding(|| args.mp_encode()));
        self.init = Some(encoded.map(|(bytes, fds)| {
            let packet = Packet { bytes, fds, kept };
            let init: Init = Arc::new(move || {
                let _pins = &pins;
                let p = packet.try_clone().map_err(|e| Failure {
                    panicked: false,
                    message: e.to_string(),
                    location: None,
                    index: 0,
                })?;
                let args: T::Args = handle::with_decoding(p.kept, || {
                    <T::Args as Portable>::mp_decode(&p.bytes, p.fds)
                })
                .map_err(|e| Failure {
                    panicked: false,
                    message: e.to_string(),
                    location: None,
                    index: 0,
                })?;
                T::into_value(T::run(args))
                    .map(drop)
                    .map_err(|message| Failure {
                        panicked: false,
                        message,
                        location: None,
                        index: 0,
                    })
            });
            (T::NAME, init)
        }));
        self
    }

    /// How many tasks a worker thread runs before a fresh thread replaces it (mp's
    /// `maxtasksperchild`; a chunk of a `map` counts as one task). Zero is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn tid() -> i32 { mp::dummy::current_process().ident() }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(1).maxtasksperchild(1).build()?;
    /// let a = pool.apply(tid, ())?;
    /// let b = pool.apply(tid, ())?;
    /// assert_ne!(a, b);
    /// assert!(mp::dummy::Pool::builder().maxtasksperchild(0).build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasks = Some(n);
        self
    }

    /// Accepted so that code written for `mp` compiles, and ignored: threads have no start
    /// method.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(1).context(mp::get_context("fork")?).build()?;
    /// # drop(pool);
    /// # Ok(()) }
    /// ```
    pub fn context(self, ctx: Context) -> Self {
        let _ = ctx;
        self
    }

    /// Accepted and ignored, as [`context`](PoolBuilder::context).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().processes(1).start_method(mp::StartMethod::Spawn).build()?;
    /// # drop(pool);
    /// # Ok(()) }
    /// ```
    pub fn start_method(self, method: StartMethod) -> Self {
        let _ = method;
        self
    }

    /// Starts the worker threads and returns the pool.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for zero processes or a zero `maxtasksperchild`; the
    /// initializer's arguments failing to encode; a thread failing to start.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::builder().build()?;
    /// assert_eq!(pool.processes(), mp::cpu_count());
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes < 1 {
            return Err(Error::value("Number of processes must be at least 1"));
        }
        if self.maxtasks == Some(0) {
            return Err(Error::value(
                "maxtasksperchild must be a positive int or None",
            ));
        }
        let init = self.init.transpose()?.map(|(_, i)| i);
        let shared = Arc::new(Shared {
            cfg: Config {
                processes,
                maxtasks: self.maxtasks,
                init,
            },
            state: Mutex::new(State {
                status: Status::Running,
                jobs: VecDeque::new(),
                running: Vec::new(),
                workers: Vec::new(),
                alive: 0,
                handles: Vec::new(),
                idle: 0,
                feeders: 0,
                broken: None,
                next_worker: 0,
            }),
            work: Condvar::new(),
            finished: Condvar::new(),
        });
        let pool = Pool { shared };
        {
            let mut st = pool.shared.lock();
            for _ in 0..processes {
                if let Err(e) = pool.shared.spawn_worker(&mut st) {
                    drop(st);
                    pool.shared.terminate();
                    let _ = pool.join();
                    return Err(e);
                }
            }
        }
        crate::logging::debug!("created thread pool of {processes} workers");
        Ok(pool)
    }
}

impl Pool {
    /// A pool of `processes` worker threads: Python's `ThreadPool(processes)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `processes` is 0; a thread failing to start.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(3)?;
    /// assert_eq!(pool.processes(), 3);
    /// assert_eq!(mp::dummy::Pool::new(0).unwrap_err().kind(), mp::ErrorKind::Value);
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
        }
    }

    /// The number of worker threads the pool keeps running.
    ///
    /// # Examples
    ///
    /// See [`Pool::new`].
    pub fn processes(&self) -> usize {
        self.shared.cfg.processes
    }

    /// The kernel thread ids of the current workers (mp's `worker_pids`, for threads).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// assert!(pool.worker_pids().len() <= 2);
    /// # Ok(()) }
    /// ```
    pub fn worker_pids(&self) -> Vec<i32> {
        self.shared
            .lock()
            .workers
            .iter()
            .filter(|w| w.tid != 0)
            .map(|w| w.tid)
            .collect()
    }

    fn apply_impl<T: Task>(&self, args: T::Args) -> Result<AsyncResult<T::Value>> {
        let slot = Slot::new(SPIN);
        let s2 = slot.clone();
        let run = Box::new(move |worker: &str| {
            let r = run_chunk::<T>(vec![args]);
            s2.set(match r {
                Ok(mut v) => v
                    .pop()
                    .ok_or_else(|| Error::new(ErrorKind::Runtime, "a pool task returned no value")),
                Err(f) => Err(task_error(T::NAME, worker, f)),
            });
        });
        let job = Job {
            sink: Arc::new(ApplySink { slot: slot.clone() }),
            chunk: 0,
            run,
        };
        self.shared.submit(vec![job], false)?;
        Ok(AsyncResult::new(slot))
    }

    /// Calls `f(args...)` in a worker thread and waits for the value: Python's
    /// `apply(f, args)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`; the task's panic
    /// or `Err` ([`ErrorKind::Remote`]).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert_eq!(pool.apply(add, (2, 3))?, 5);
    /// # Ok(()) }
    /// ```
    pub fn apply<T: Task>(&self, f: T, args: T::Args) -> Result<T::Value> {
        let _ = f;
        self.apply_impl::<T>(args)?.get()
    }

    /// Submits `f(args...)` and returns at once: Python's `apply_async(f, args)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool not running") after `close`/`terminate`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
    /// let results: Vec<_> = (0..4).map(|i| pool.apply_async(square, (i,))).collect::<mp::Result<_>>()?;
    /// let values: Vec<u64> = results.iter().map(|r| r.get()).collect::<mp::Result<_>>()?;
    /// assert_eq!(values, [0, 1, 4, 9]);
    /// # Ok(()) }
    /// ```
    pub fn apply_async<T: Task>(&self, f: T, args: T::Args) -> Result<AsyncResult<T::Value>> {
        let _ = f;
        self.apply_impl::<T>(args)
    }

    fn map_impl<T: Task, A>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        args: fn(A) -> T::Args,
    ) -> Result<AsyncResult<Vec<T::Value>>> {
        if chunksize == Some(0) {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        self.shared.check_running()?;
        let mut items: Vec<T::Args> = {
            let mut n = 0usize;
            let mut v = Vec::new();
            let it = items.into_iter();
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                // An endless input announces `usize::MAX`: reserve no more than a page's worth.
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
        let slot = Slot::new(SPIN);
        if nchunks == 0 {
            slot.set(Ok(Vec::new()));
            return Ok(AsyncResult::new(slot));
        }
        let sink = Arc::new(MapSink::new(slot.clone(), nchunks));
        let mut jobs = Vec::with_capacity(nchunks);
        let mut chunk_index = nchunks;
        // Split from the end so that each chunk is moved out without copying the rest.
        while !items.is_empty() {
            chunk_index -= 1;
            let chunk = items.split_off(chunk_index * cs);
            let s2 = sink.clone();
            let i = chunk_index;
            jobs.push(Job {
                sink: sink.clone(),
                chunk: i,
                run: Box::new(move |worker: &str| {
                    let r = run_chunk::<T>(chunk).map_err(|f| task_error(T::NAME, worker, f));
                    s2.deliver(i, r);
                }),
            });
        }
        jobs.reverse();
        self.shared.submit(jobs, false)?;
        Ok(AsyncResult::new(slot))
    }

    /// Applies `f` to every item and returns the values in order: Python's
    /// `map(f, iterable)`, with CPython's default chunksize `ceil(len / (4 * processes))`;
    /// [`Pool::chunksize`] sets another.
    ///
    /// # Errors
    ///
    /// The first chunk that failed (after every chunk has finished, as in CPython); the input
    /// iterator panicking ([`ErrorKind::Runtime`], nothing is submitted); [`ErrorKind::Value`]
    /// after `close`/`terminate`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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

    /// [`map`](Pool::map) without waiting: Python's `map_async`.
    ///
    /// # Errors
    ///
    /// As [`map`](Pool::map), except the tasks' failures, which [`AsyncResult::get`] returns.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
    /// #[mp::task]
    /// fn mul(a: i64, b: i64) -> i64 { a * b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
        if chunksize == 0 {
            return Err(Error::value("Chunksize must be 1+, not 0"));
        }
        self.shared.check_running()?;
        let sink: Arc<IMapSink<T::Value>> = IMapSink::new();
        let it = IMapIterator::new(sink.clone(), ordered);
        let shared = self.shared.clone();
        let limit = 4 * shared.cfg.processes + 8;
        let iter = iterable.into_iter().map(args);
        shared.feeder(1);
        let spawned = crate::thread::spawn("mp-dummy-pool-feeder", move || {
            feed(&sink, iter, chunksize, limit, |index, chunk| {
                let s2 = sink.clone();
                let job = Job {
                    sink: sink.clone(),
                    chunk: index,
                    run: Box::new(move |worker: &str| {
                        let r = run_chunk::<T>(chunk).map_err(|f| task_error(T::NAME, worker, f));
                        s2.deliver(index, r);
                    }),
                };
                shared.submit(vec![job], true)
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
    /// in order as they come; the input is read on a background thread, a few chunks ahead of
    /// the workers, so it can be long or endless. The default chunksize is 1.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] after `close`/`terminate`. Task failures are items of the iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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

    /// The `map`-family methods with `chunksize` items per task: Python's `chunksize=`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x + 1 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// pool.close()?;
    /// let err = pool.map(f, [1]).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Value);
    /// assert_eq!(err.to_string(), "Pool not running");
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> Result<()> {
        crate::logging::debug!("closing thread pool");
        self.shared.close();
        Ok(())
    }

    /// Stops the pool without running the queued work: Python's `terminate()`. Results not
    /// ready yet become [`ErrorKind::ShutDown`] errors at once; tasks already running cannot
    /// be interrupted (threads cannot be killed) and finish in the background.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// let running = pool.apply_async(nap, (200,))?;
    /// let queued = pool.apply_async(nap, (200,))?;
    /// pool.terminate()?;
    /// assert_eq!(queued.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// assert_eq!(running.get().unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// pool.join()?; // waits for the running task
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) -> Result<()> {
        crate::logging::debug!("terminating thread pool");
        self.shared.terminate();
        Ok(())
    }

    /// Waits for the worker threads to exit: Python's `join()`. After `close` that is when
    /// every submitted task has finished (and its callbacks have run).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("Pool is still running") before `close` or `terminate`;
    /// [`ErrorKind::Runtime`] from one of the pool's own threads (a callback).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
    /// assert_eq!(pool.join().unwrap_err().to_string(), "Pool is still running");
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        if self.shared.lock().status == Status::Running {
            return Err(Error::value("Pool is still running"));
        }
        if self.shared.is_worker(std::thread::current().id()) {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot join a pool from one of its own threads (a callback)",
            ));
        }
        crate::logging::debug!("joining thread pool");
        let mut st = self.shared.lock();
        while st.alive > 0 {
            st = self
                .shared
                .finished
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
        let handles = std::mem::take(&mut st.handles);
        drop(st);
        for h in handles {
            let _ = h.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// Terminates the pool, as leaving Python's `with ThreadPool() as p:` does, and waits for
    /// the tasks still running (threads cannot be stopped).
    fn drop(&mut self) {
        self.shared.terminate();
        if !self.shared.is_worker(std::thread::current().id()) {
            let _ = self.join();
        }
    }
}

/// The `map`-family methods of a [`Pool`] with a `chunksize`, from [`Pool::chunksize`].
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn mul(a: u32, b: u32) -> u32 { a * b }
/// # fn main() -> mp::Result<()> {
/// let pool = mp::dummy::Pool::new(2)?;
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
    /// #[mp::task]
    /// fn f(x: u8) -> u8 { x }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
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
    /// #[mp::task]
    /// fn add(a: u8, b: u8) -> u8 { a + b }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(1)?;
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
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 2 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
    /// #[mp::task]
    /// fn f(x: u64) -> u64 { x * 2 }
    /// # fn main() -> mp::Result<()> {
    /// let pool = mp::dummy::Pool::new(2)?;
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
