//! The thread executor: worker threads that call [`Task::run`] directly, the arguments and
//! values moved, never serialized (Python's `multiprocessing.pool.ThreadPool`, which
//! `multiprocessing.dummy.Pool` returns). [`PoolIn`](super::PoolIn) is the front.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::ThreadId;
use std::time::Duration;

use super::engine::Status;
use super::result::Fail;
use super::sealed::Settings;
use super::{RemoteTraceback, Sink};
use crate::error::{Error, ErrorKind, Result};
use crate::space::handle::{self, Packet};
use crate::task::{Portable, Task};
use crate::thread::JoinHandle;

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

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

/// A unit of work: one chunk of one job.
struct Job {
    sink: Arc<dyn Fail>,
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
    running: Vec<(u64, Arc<dyn Fail>, usize)>,
    workers: Vec<WorkerRec>,
    /// Workers started and not yet finished.
    alive: usize,
    handles: Vec<JoinHandle<()>>,
    /// Workers sleeping for work.
    idle: usize,
    /// `imap` feeders still submitting.
    feeders: usize,
    broken: Option<String>,
    next_worker: u64,
}

pub struct Shared {
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
        let running: Vec<(Arc<dyn Fail>, usize)> =
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

/// A prepared initializer: its task's name and the closure each worker runs.
pub struct ThreadInit(&'static str, Init);

/// Worker threads: the executor of `mp::dummy::Pool` (Python's
/// `multiprocessing.pool.ThreadPool`). The targets are the same `#[mp::task]` fns as a process
/// pool's; [`Task::run`] is called directly in a worker thread.
///
/// Differences from [`WorkerProcesses`](super::WorkerProcesses), all from threads being threads:
/// `terminate` cannot stop a task that is running (it fails every result not ready yet with
/// [`ErrorKind::ShutDown`] at once, drops the queued tasks, and the running ones finish in the
/// background; `join` and dropping the pool wait for them, as CPython's `ThreadPool` does); a
/// panicking task cannot kill its worker, so there is no `WorkerLost`; the builder's `context`
/// and `start_method` are accepted and ignored; [`worker_pids`](super::PoolIn::worker_pids)
/// lists the workers' thread ids.
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool: mp::pool::PoolIn<mp::pool::WorkerThreads> = mp::dummy::Pool::new(2)?;
/// assert_eq!(pool.map(square, 0..4)?, [0, 1, 4, 9]);
/// assert_eq!(format!("{pool:?}"), "<ThreadPool state=RUN pool_size=2>");
/// # Ok::<(), mp::Error>(())
/// ```
pub struct WorkerThreads {
    shared: Arc<Shared>,
}

impl super::sealed::Engine for WorkerThreads {
    type Queue = Arc<Shared>;
    type Init = ThreadInit;
    const KIND: &'static str = "ThreadPool";
    const FEEDER: &'static str = "mp-dummy-pool-feeder";
    /// A worker thread's answer is often a few microseconds away, less than a sleep and a
    /// wake-up.
    const SPIN: Duration = Duration::from_micros(20);

    fn init<T: Task>(args: T::Args) -> Result<Self::Init> {
        // Decoded once per worker: proxies inside take their own references, the pins keep
        // their objects alive meanwhile.
        let ((encoded, kept), pins) =
            crate::reduction::pinning(|| handle::with_encoding(|| args.mp_encode()));
        let (bytes, fds) = encoded?;
        let packet = Packet { bytes, fds, kept };
        let failure = |message: String| Failure {
            panicked: false,
            message,
            location: None,
            index: 0,
        };
        let init: Init = Arc::new(move || {
            let _pins = &pins;
            let p = packet.try_clone().map_err(|e| failure(e.to_string()))?;
            let args: T::Args =
                handle::with_decoding(p.kept, || <T::Args as Portable>::mp_decode(&p.bytes, p.fds))
                    .map_err(|e| failure(e.to_string()))?;
            T::into_value(T::run(args)).map(drop).map_err(failure)
        });
        Ok(ThreadInit(T::NAME, init))
    }

    fn init_name(init: &ThreadInit) -> &str {
        init.0
    }

    fn start(s: Settings<Self::Init>) -> Result<WorkerThreads> {
        let processes = s.processes;
        let shared = Arc::new(Shared {
            cfg: Config {
                processes,
                maxtasks: s.maxtasks,
                init: s.init.map(|i| i.1),
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
        let pool = WorkerThreads { shared };
        {
            let mut st = pool.shared.lock();
            for _ in 0..processes {
                if let Err(e) = pool.shared.spawn_worker(&mut st) {
                    drop(st);
                    pool.shared.terminate();
                    let _ = super::sealed::Engine::join(&pool);
                    return Err(e);
                }
            }
        }
        crate::logging::debug!("created thread pool of {processes} workers");
        Ok(pool)
    }

    fn queue(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn processes(&self) -> usize {
        self.shared.cfg.processes
    }

    fn worker_pids(&self) -> Vec<i32> {
        self.shared
            .lock()
            .workers
            .iter()
            .filter(|w| w.tid != 0)
            .map(|w| w.tid)
            .collect()
    }

    fn state(&self) -> &'static str {
        self.shared.lock().status.name()
    }

    fn check_caller(&self) -> Result<()> {
        Ok(())
    }

    fn check_running(q: &Arc<Shared>) -> Result<()> {
        q.check_running()
    }

    fn submit<T: Task, S: Sink<T::Value>>(
        q: &Arc<Shared>,
        sink: &Arc<S>,
        chunks: impl IntoIterator<Item = (usize, Vec<T::Args>)>,
        from_feeder: bool,
    ) -> Result<()> {
        let jobs = chunks
            .into_iter()
            .map(|(i, chunk)| {
                let s2 = sink.clone();
                Job {
                    sink: sink.clone(),
                    chunk: i,
                    run: Box::new(move |worker: &str| {
                        let r = run_chunk::<T>(chunk).map_err(|f| task_error(T::NAME, worker, f));
                        s2.deliver_values(i, r);
                    }),
                }
            })
            .collect();
        q.submit(jobs, from_feeder)
    }

    fn feeder(q: &Arc<Shared>, delta: isize) {
        q.feeder(delta);
    }

    fn close(&self) {
        self.shared.close();
    }

    fn terminate(&self) {
        self.shared.terminate();
    }

    fn join(&self) -> Result<()> {
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

    fn dropped(&self) {
        self.shared.terminate();
        if !self.shared.is_worker(std::thread::current().id()) {
            let _ = super::sealed::Engine::join(self);
        }
    }
}

impl std::fmt::Debug for WorkerThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerThreads")
            .field("processes", &self.shared.cfg.processes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl std::fmt::Debug for ThreadInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ThreadInit").field(&self.0).finish()
    }
}
