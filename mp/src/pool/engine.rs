//! The parent side of a pool: the shared state, the dispatcher, and the pool thread that reads
//! results, watches the workers' sentinels and replaces workers that die or retire.
//!
//! See `docs/design/pool.md`. In short: every worker has its own socket; the parent knows which
//! tasks it sent to which worker, in order, and a worker runs them in that order and answers
//! each before it starts the next. When a worker dies, the results it sent are read first; the
//! first unanswered task is the one it was running (its result becomes a `WorkerLost` error)
//! and the tasks queued behind it go back to the front of the queue.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::RemoteTraceback;
use super::wire::{self, OutQueue, Outgoing, Reader};
use super::worker::{self, FailureKind, InitArgs, Progress, WireFailure, WorkerArgs, WorkerTask};
use crate::context::StartMethod;
use crate::error::{Error, ErrorKind, Result};
use crate::process::Process;
use crate::reduction::{self, Handle};
use crate::sys;

/// What a worker sent back for one chunk.
#[derive(Debug)]
pub enum Outcome {
    /// The encoded `Vec<Value>` and the descriptors inside it.
    Ok(Vec<u8>, Vec<OwnedFd>),
    /// The chunk failed.
    Err(Error),
}

/// Where the results of a job's chunks go (typed behind this trait).
pub trait JobSink: Send + Sync {
    /// Called once per chunk, by the pool thread or by `terminate`, never under the state lock.
    fn complete(&self, chunk: usize, outcome: Outcome);
}

/// One chunk of a job, from submission until its result arrives.
pub(super) struct TaskRec {
    pub(super) seq: u64,
    pub(super) job: Arc<dyn JobSink>,
    pub(super) chunk: usize,
    pub(super) name: &'static str,
    pub(super) out: Arc<Outgoing>,
}

/// The pool's fixed configuration.
pub(super) struct Config {
    pub(super) processes: usize,
    pub(super) method: StartMethod,
    pub(super) init: Option<super::processes::InitSpec>,
    pub(super) maxtasks: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Running,
    Closed,
    Terminated,
}

impl Status {
    /// Python's name of the state, as a pool's `repr` shows it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Status::Running => "RUN",
            Status::Closed => "CLOSE",
            Status::Terminated => "TERMINATE",
        }
    }
}

/// Who reads a worker's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The pool thread (it polls the socket).
    Thread,
    /// Callers of [`Pool::apply`](super::Pool::apply), each reading its own answer (the pool
    /// thread leaves the socket out of its poll set, so it is not woken for nothing). Only
    /// an idle worker is handed to such a caller; the first task anybody else gives it makes
    /// it the pool thread's again.
    Caller,
}

/// Stable worker ids (indices change when workers die).
static NEXT_WORKER_ID: AtomicU64 = AtomicU64::new(1);

pub(super) struct Worker {
    process: Arc<Process>,
    id: u64,
    pub(super) pid: i32,
    pub(super) name: String,
    sock: Arc<OwnedFd>,
    sentinel: RawFd,
    reader: Reader,
    out: OutQueue,
    inflight: VecDeque<TaskRec>,
    sent: usize,
    /// Results received.
    acked: u64,
    /// The worker's count of tasks started (and of results sent).
    progress: Arc<Progress>,
    /// The socket is full: wait for POLLOUT.
    blocked: bool,
    ready: bool,
    /// Got its last task (maxtasksperchild) or STOP: it will exit by itself.
    retiring: bool,
    stop_sent: bool,
    init_failure: Option<WireFailure>,
    /// Writing to it failed or it broke the protocol: it is being killed.
    faulty: bool,
    owner: Owner,
    /// A caller of `apply` is waiting for this worker's answer and reads it itself.
    direct_busy: bool,
}

impl Worker {
    /// Whether the pool thread polls this worker's socket.
    fn watched(&self) -> bool {
        self.owner == Owner::Thread
            || !self.ready
            || self.blocked
            || self.retiring
            || self.stop_sent
            || self.faulty
    }
}

/// What a caller of `apply` needs to read its answer itself (see [`Shared::submit_direct`]).
pub(super) struct Direct {
    id: u64,
    sock: Arc<OwnedFd>,
    process: Arc<Process>,
    progress: Arc<Progress>,
    /// The worker's count of results sent before this task.
    answered: u64,
}

pub(super) struct State {
    pub(super) status: Status,
    pub(super) workers: Vec<Worker>,
    pending: VecDeque<TaskRec>,
    pub(super) feeders: usize,
    broken: Option<(ErrorKind, String)>,
    ewma_us: Option<f64>,
    early_deaths: u32,
    starting: usize,
    term_deadline: Option<Instant>,
    killed: bool,
}

/// Everything the pool handle, the pool thread and the feeders share.
#[allow(missing_debug_implementations)] // internal: reachable only through the sealed executor trait
pub struct Shared {
    state: Mutex<State>,
    wake: OwnedFd,
    /// Readable for good once the pool is terminated (or its thread died): wakes callers of
    /// `apply` that wait on a worker's socket themselves.
    kick: OwnedFd,
    pub(super) cfg: Config,
    pub(super) owner: i32,
    next_seq: AtomicU64,
}

type Completion = (Arc<dyn JobSink>, usize, Outcome);

fn not_running() -> Error {
    Error::value("Pool not running")
}

impl Shared {
    pub(super) fn new(cfg: Config, workers: Vec<Worker>) -> Result<Shared> {
        // SAFETY: eventfd with integer flags; the descriptor is fresh and ours.
        let wake = sys::cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
            .map_err(|e| Error::os("eventfd", e))?;
        // SAFETY: `wake` is a fresh descriptor nobody else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(wake) };
        // SAFETY: as above.
        let kick = sys::cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
            .map_err(|e| Error::os("eventfd", e))?;
        // SAFETY: as above.
        let kick = unsafe { OwnedFd::from_raw_fd(kick) };
        Ok(Shared {
            state: Mutex::new(State {
                status: Status::Running,
                workers,
                pending: VecDeque::new(),
                feeders: 0,
                broken: None,
                ewma_us: None,
                early_deaths: 0,
                starting: 0,
                term_deadline: None,
                killed: false,
            }),
            wake,
            kick,
            cfg,
            owner: sys::getpid(),
            next_seq: AtomicU64::new(1),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the pool thread.
    pub(super) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Wakes every caller of `apply` waiting on a worker's socket (the pool is going away).
    fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.kick.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Submits the task of an `apply`. When a worker is idle and nothing is queued, the task
    /// goes straight to it and the caller gets a [`Direct`]: it then waits on that worker's
    /// socket with [`Shared::wait_direct`] and reads the answer itself, instead of the pool
    /// thread reading it and waking the caller (one process wake-up less per call).
    /// Otherwise the task is submitted as any other (`None`).
    pub(super) fn submit_direct(&self, rec: TaskRec) -> Result<Option<Direct>> {
        let mut st = self.lock();
        if st.status != Status::Running {
            return Err(not_running());
        }
        if let Some((kind, msg)) = &st.broken {
            return Err(Error::new(*kind, msg.clone()));
        }
        // (With maxtasksperchild, a task may retire its worker: the pool thread's business.)
        if self.cfg.maxtasks.is_none() && st.pending.is_empty() {
            let mut pick: Option<usize> = None;
            for (i, w) in st.workers.iter().enumerate() {
                let idle = w.ready
                    && w.inflight.is_empty()
                    && w.out.is_empty()
                    && !w.direct_busy
                    && !w.retiring
                    && !w.faulty
                    && !w.stop_sent
                    && !w.blocked
                    && !w.reader.eof;
                if idle {
                    pick = Some(i);
                    if w.owner == Owner::Caller {
                        // Already out of the pool thread's poll set.
                        break;
                    }
                }
            }
            if let Some(i) = pick {
                let w = &mut st.workers[i];
                // Idle: every result it sent was read, none is on its way.
                let answered = w.progress.answered();
                w.out.push(rec.out.clone());
                w.inflight.push_back(rec);
                w.sent += 1;
                if !flush_worker(w) {
                    w.owner = Owner::Caller;
                    w.direct_busy = true;
                    return Ok(Some(Direct {
                        id: w.id,
                        sock: w.sock.clone(),
                        process: w.process.clone(),
                        progress: w.progress.clone(),
                        answered,
                    }));
                }
                // The socket is full or broken: the pool thread takes it from here.
                w.owner = Owner::Thread;
                drop(st);
                self.wake();
                return Ok(None);
            }
        }
        st.pending.push_back(rec);
        let wake = self.dispatch(&mut st, false);
        drop(st);
        if wake {
            self.wake();
        }
        Ok(None)
    }

    /// Waits, as the caller of an `apply` given `d`, until the worker's answer is read (by
    /// this thread, from the worker's socket) or something else needs the pool thread: the
    /// worker dies, the pool is terminated, the deadline passes, or another task was given to
    /// the worker. The caller then waits on its result as usual (it is usually there).
    pub(super) fn wait_direct(
        &self,
        d: &Direct,
        done: impl Fn() -> bool,
        deadline: Option<Instant>,
    ) {
        // The worker's sentinel: its death is the pool thread's business.
        let sentinel = d.process.sentinel().unwrap_or(-1);
        // A pool answer is often microseconds away: spin on the worker's count of results
        // sent before sleeping in the kernel (a wake-up from another CPU costs more).
        spin_while(|| d.progress.answered() == d.answered && !done());
        // Once the worker has counted the answer, it is in the socket: no need to poll.
        let mut answered = d.progress.answered() != d.answered;
        loop {
            if done() {
                // Answered through someone else (terminate): nothing to read any more.
                let mut st = self.lock();
                if let Some(w) = st.workers.iter_mut().find(|w| w.id == d.id) {
                    w.direct_busy = false;
                }
                return;
            }
            let mut pfds =
                [d.sock.as_raw_fd(), sentinel, self.kick.as_raw_fd()].map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            let ready = if std::mem::take(&mut answered) {
                pfds[0].revents = libc::POLLIN;
                true
            } else {
                let timeout = deadline.map(|t| t.saturating_duration_since(Instant::now()));
                match sys::poll(&mut pfds, timeout) {
                    Ok(n) => n > 0,
                    Err(_) => false,
                }
            };
            let mut completions = Vec::new();
            let mut wake = false;
            let mut finished = false;
            {
                let mut st = self.lock();
                let Some(i) = st.workers.iter().position(|w| w.id == d.id) else {
                    // Removed by the pool thread (it died): its tasks are accounted for.
                    return;
                };
                let w = &mut st.workers[i];
                if w.owner != Owner::Caller {
                    // (Cannot happen: nobody gives a task to a worker an `apply` caller
                    // waits on.) The pool thread reads it.
                    w.direct_busy = false;
                    drop(st);
                    self.wake();
                    return;
                }
                let handover = !ready || pfds[1].revents != 0 || pfds[2].revents != 0;
                if !handover && pfds[0].revents != 0 {
                    read_until_idle(&mut st, i, &mut completions);
                    let pool_busy = st.status != Status::Running
                        || st.broken.is_some()
                        || !st.pending.is_empty()
                        || st.feeders > 0;
                    let w = &mut st.workers[i];
                    if w.faulty || w.reader.eof {
                        w.owner = Owner::Thread;
                        w.direct_busy = false;
                        wake = true;
                        finished = true;
                    } else if w.inflight.is_empty() {
                        w.direct_busy = false;
                        finished = true;
                    }
                    wake |= pool_busy;
                }
                if handover {
                    // Timed out, the worker is dying or the pool is going away: the pool
                    // thread reads this worker from now on.
                    let w = &mut st.workers[i];
                    w.owner = Owner::Thread;
                    w.direct_busy = false;
                    wake = true;
                    finished = true;
                }
            }
            run_completions(completions);
            if wake {
                self.wake();
            }
            if finished {
                return;
            }
        }
    }

    /// A task record for chunk `chunk` of `job`, running task `name` on `payload`.
    pub(super) fn record(
        &self,
        job: Arc<dyn JobSink>,
        chunk: usize,
        name: &'static str,
        bytes: Vec<u8>,
        fds: Vec<OwnedFd>,
    ) -> Result<TaskRec> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let frame = wire::frame(wire::TASK, seq, fds.len() as u32, name, &bytes)
            .map_err(|e| Error::value(e.to_string()))?;
        Ok(TaskRec {
            seq,
            job,
            chunk,
            name,
            out: Arc::new(Outgoing { bytes: frame, fds }),
        })
    }

    /// Queues tasks and sends what the workers can take now. Feeders of a running `imap` may
    /// still submit after `close`.
    pub(super) fn submit(&self, recs: Vec<TaskRec>, from_feeder: bool) -> Result<()> {
        let mut st = self.lock();
        match st.status {
            Status::Running => {}
            Status::Closed if from_feeder => {}
            _ => return Err(not_running()),
        }
        if let Some((kind, msg)) = &st.broken {
            return Err(Error::new(*kind, msg.clone()));
        }
        st.pending.extend(recs);
        let wake = self.dispatch(&mut st, false);
        drop(st);
        if wake {
            self.wake();
        }
        Ok(())
    }

    /// Checks that new work is accepted.
    pub(super) fn check_running(&self) -> Result<()> {
        let st = self.lock();
        if st.status != Status::Running {
            return Err(not_running());
        }
        if let Some((kind, msg)) = &st.broken {
            return Err(Error::new(*kind, msg.clone()));
        }
        Ok(())
    }

    /// Moves pending tasks to workers with room and writes what the sockets take. Returns
    /// whether the pool thread has to act (a socket is full, a worker retires or failed).
    fn dispatch(&self, st: &mut State, force: bool) -> bool {
        let limit = ahead_limit(st.ewma_us);
        let mut touched = Vec::new();
        let mut wake = false;
        while !st.pending.is_empty() {
            let mut best: Option<usize> = None;
            for (i, w) in st.workers.iter().enumerate() {
                // A worker whose `apply` caller reads it itself gets nothing more until that
                // answer is read: the caller waits on its socket for that answer only.
                if w.retiring || w.faulty || w.stop_sent || w.direct_busy {
                    continue;
                }
                let n = w.inflight.len();
                if n >= limit {
                    continue;
                }
                if best.is_none_or(|b| n < st.workers[b].inflight.len()) {
                    best = Some(i);
                    if n == 0 {
                        break;
                    }
                }
            }
            let Some(i) = best else { break };
            let Some(rec) = st.pending.pop_front() else {
                break;
            };
            let w = &mut st.workers[i];
            if w.owner == Owner::Caller {
                // The pool thread reads this worker again: it must poll its socket.
                w.owner = Owner::Thread;
                wake = true;
            }
            w.out.push(rec.out.clone());
            w.inflight.push_back(rec);
            w.sent += 1;
            if self.cfg.maxtasks.is_some_and(|m| w.sent >= m) {
                w.retiring = true;
                wake = true;
            }
            if !touched.contains(&i) {
                touched.push(i);
            }
        }
        for i in touched {
            let w = &mut st.workers[i];
            // A worker with plenty of work delivered gets the rest later, in one write, from
            // the pool thread when its results come in.
            let delivered = w.inflight.len().saturating_sub(w.out.len());
            if !force && delivered >= limit.div_ceil(2) {
                continue;
            }
            if flush_worker(w) {
                wake = true;
            }
        }
        wake
    }

    /// Python's `close()`.
    pub(super) fn close(&self) {
        let mut st = self.lock();
        if st.status == Status::Running {
            st.status = Status::Closed;
        }
        drop(st);
        self.wake();
    }

    /// Python's `terminate()`: fail every outstanding task, SIGTERM every worker.
    pub(super) fn terminate(&self) {
        let mut st = self.lock();
        if st.status == Status::Terminated {
            return;
        }
        st.status = Status::Terminated;
        let mut failed: Vec<TaskRec> = st.pending.drain(..).collect();
        for w in &mut st.workers {
            failed.extend(w.inflight.drain(..));
            let _ = w.process.terminate();
        }
        st.term_deadline = Some(Instant::now() + Duration::from_secs(1));
        drop(st);
        self.wake();
        self.kick();
        run_completions(
            failed
                .into_iter()
                .map(|r| {
                    let e = Error::new(
                        ErrorKind::ShutDown,
                        "the pool was terminated before the task completed",
                    );
                    (r.job, r.chunk, Outcome::Err(e))
                })
                .collect(),
        );
    }

    /// The pool thread panicked (a bug): fail everything and stop the workers rather than
    /// leave callers waiting forever.
    pub(super) fn thread_died(&self) {
        let mut st = self.lock();
        let err = (
            ErrorKind::Runtime,
            "the pool's result thread panicked; the pool is broken".to_string(),
        );
        let mut done = Vec::new();
        st.fail_all(&err, &mut done);
        st.broken = Some(err);
        st.status = Status::Terminated;
        let workers = std::mem::take(&mut st.workers);
        drop(st);
        self.kick();
        run_completions(done);
        kill_all(workers);
    }

    /// A feeder started or finished.
    pub(super) fn feeder(&self, delta: isize) {
        let mut st = self.lock();
        st.feeders = st.feeders.saturating_add_signed(delta);
        drop(st);
        if delta < 0 {
            self.wake();
        }
    }

    /// The pids of the live workers.
    pub(super) fn pids(&self) -> Vec<i32> {
        self.lock().workers.iter().map(|w| w.pid).collect()
    }
}

/// Spins (yielding now and then, so that a worker on the same CPU gets to run) while `busy`
/// holds, for at most ~30 µs.
fn spin_while(busy: impl Fn() -> bool) {
    let start = Instant::now();
    let mut i = 0u32;
    while busy() {
        i += 1;
        if i % 64 == 0 {
            if start.elapsed() > Duration::from_micros(30) {
                return;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// How many tasks a worker may hold (running plus queued) given the recent task run time:
/// tiny tasks are sent far ahead so that workers never wait for the parent, long ones one at
/// a time so that a free worker takes the next (as in CPython, where workers pull).
fn ahead_limit(ewma_us: Option<f64>) -> usize {
    match ewma_us {
        None => 1,
        Some(us) if us < 50.0 => 64,
        Some(us) if us < 1000.0 => 8,
        Some(us) if us < 20_000.0 => 2,
        Some(_) => 1,
    }
}

/// Writes what the socket takes; true if the pool thread must wait for POLLOUT or the worker
/// failed.
fn flush_worker(w: &mut Worker) -> bool {
    match w.out.flush(w.sock.as_raw_fd()) {
        Ok(true) => {
            w.blocked = false;
            false
        }
        Ok(false) => {
            w.blocked = true;
            true
        }
        Err(e) => {
            crate::logging::debug!("cannot write to pool worker {}: {e}", w.name);
            fault(w);
            true
        }
    }
}

fn fault(w: &mut Worker) {
    if !w.faulty {
        w.faulty = true;
        let _ = w.process.kill();
    }
}

fn run_completions(done: Vec<Completion>) {
    for (job, chunk, outcome) in done {
        if panic::catch_unwind(AssertUnwindSafe(|| job.complete(chunk, outcome))).is_err() {
            crate::logging::warning!("a pool callback panicked");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------------

/// Starts one worker process.
pub(super) fn start_worker(cfg: &Config) -> Result<Worker> {
    // Install the worker's panic hook here, in the parent: a fork child inherits it already
    // installed, instead of taking the panic-hook lock that another thread of the parent may
    // have held at the moment of `fork()` (a deadlock seen under load).
    super::worker::install_capture_hook();
    std::hint::black_box(&worker::WORKER_ENTRY);
    let (ours, theirs) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    wire::set_nonblocking(ours.as_raw_fd()).map_err(|e| Error::os("fcntl", e))?;
    let init = match &cfg.init {
        None => None,
        Some(super::processes::InitSpec(name, args, fds, _)) => {
            let mut dups = Vec::with_capacity(fds.len());
            for f in fds {
                dups.push(Handle::new(
                    sys::dup(f.as_raw_fd()).map_err(|e| Error::os("dup", e))?,
                ));
            }
            Some(InitArgs {
                name: name.clone(),
                args: args.clone(),
                fds: dups,
            })
        }
    };
    let progress = Progress::new()?;
    let ours_progress = progress.try_clone()?;
    let args = WorkerArgs {
        sock: Handle::new(theirs),
        progress,
        init,
        maxtasks: cfg.maxtasks,
    };
    let p = Process::builder(WorkerTask, (args,))
        .daemon(true)
        .start_method(cfg.method)
        .build();
    let name = p.name().replacen(
        "Process",
        &format!("{}PoolWorker", cfg.method.process_prefix()),
        1,
    );
    p.set_name(name.clone());
    p.start()?;
    let pid = p.pid().unwrap_or(0);
    let sentinel = p.sentinel()?;
    let p = Arc::new(p);
    crate::logging::debug!("added worker {name} (pid {pid})");
    Ok(Worker {
        process: p,
        id: NEXT_WORKER_ID.fetch_add(1, Ordering::Relaxed),
        pid,
        name,
        sock: Arc::new(ours),
        sentinel,
        reader: Reader::new(),
        out: OutQueue::default(),
        inflight: VecDeque::new(),
        sent: 0,
        acked: 0,
        progress: Arc::new(ours_progress),
        blocked: false,
        ready: false,
        retiring: false,
        stop_sent: false,
        init_failure: None,
        faulty: false,
        owner: Owner::Thread,
        direct_busy: false,
    })
}

/// Kills and reaps workers (a failed constructor, the end of the pool thread).
pub(super) fn kill_all(workers: Vec<Worker>) {
    for w in &workers {
        let _ = w.process.kill();
    }
    for w in &workers {
        let _ = w.process.join_timeout(Duration::from_secs(5));
    }
}

fn signal_name(code: i32) -> String {
    let name = match -code {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGINT => "SIGINT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        _ => return format!("exit code {code}"),
    };
    format!("exit code {code} ({name})")
}

/// Turns a worker's failure report into the error the caller gets.
fn remote_error(task: &str, worker: &str, f: WireFailure) -> Error {
    let short = task.rsplit("::").next().unwrap_or(task).to_string();
    let (kind, message) = match f.what {
        FailureKind::Panic => (
            ErrorKind::Remote,
            match &f.location {
                Some(loc) => format!("task `{short}` panicked at {loc}: {}", f.message),
                None => format!("task `{short}` panicked: {}", f.message),
            },
        ),
        FailureKind::Error => (
            ErrorKind::Remote,
            format!("task `{short}` failed: {}", f.message),
        ),
        FailureKind::Decode | FailureKind::Encode => (ErrorKind::Serialization, f.message.clone()),
        FailureKind::Lookup => (ErrorKind::Value, f.message.clone()),
    };
    let tb = RemoteTraceback {
        task: task.to_string(),
        worker: worker.to_string(),
        panicked: f.what == FailureKind::Panic,
        message: f.message,
        location: f.location,
        backtrace: f.backtrace,
        index: f.index,
    };
    Error::new(kind, message).with_source(tb)
}

impl State {
    fn fail_all(&mut self, err: &(ErrorKind, String), done: &mut Vec<Completion>) {
        let mut failed: Vec<TaskRec> = self.pending.drain(..).collect();
        for w in &mut self.workers {
            failed.extend(w.inflight.drain(..));
        }
        for r in failed {
            done.push((
                r.job,
                r.chunk,
                Outcome::Err(Error::new(err.0, err.1.clone())),
            ));
        }
    }

    fn outstanding(&self) -> bool {
        !self.pending.is_empty()
            || self.feeders > 0
            || self.workers.iter().any(|w| !w.inflight.is_empty())
    }

    fn update_ewma(&mut self, us: u32) {
        let x = us as f64;
        self.ewma_us = Some(match self.ewma_us {
            None => x,
            Some(a) => 0.8 * a + 0.2 * x,
        });
    }
}

/// Reads everything available from worker `i` and handles the frames.
fn read_worker(st: &mut State, i: usize, done: &mut Vec<Completion>) {
    let mut budget: usize = 16 << 20;
    loop {
        let w = &mut st.workers[i];
        if w.reader.eof || budget == 0 {
            break;
        }
        match w.reader.fill(w.sock.as_raw_fd(), true) {
            Ok(0) => break,
            Ok(n) => budget = budget.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                w.reader.eof = true;
                break;
            }
        }
        if handle_frames(st, i, done).is_err() {
            fault(&mut st.workers[i]);
            return;
        }
    }
    if handle_frames(st, i, done).is_err() {
        fault(&mut st.workers[i]);
    }
}

/// Reads worker `i` (non-blocking) until it has no task in flight, or nothing more is
/// there: what a caller of `apply` reading its own answer needs, without the extra read
/// that would only find the socket empty.
fn read_until_idle(st: &mut State, i: usize, done: &mut Vec<Completion>) {
    loop {
        let w = &mut st.workers[i];
        if w.reader.eof {
            return;
        }
        match w.reader.fill(w.sock.as_raw_fd(), true) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                w.reader.eof = true;
                return;
            }
        }
        if handle_frames(st, i, done).is_err() {
            fault(&mut st.workers[i]);
            return;
        }
        if st.workers[i].inflight.is_empty() {
            return;
        }
    }
}

fn handle_frames(st: &mut State, i: usize, done: &mut Vec<Completion>) -> io::Result<()> {
    loop {
        let w = &mut st.workers[i];
        let Some(frame) = w.reader.next_frame()? else {
            return Ok(());
        };
        match frame.kind {
            wire::READY => {
                w.ready = true;
                st.early_deaths = 0;
            }
            wire::INIT_FAILED => {
                w.init_failure = reduction::decode_plain(w.reader.body(&frame)).ok();
            }
            wire::OK | wire::ERR => {
                let Some(rec) = w.inflight.pop_front() else {
                    return Err(io::Error::other("unexpected result"));
                };
                if rec.seq != frame.seq {
                    return Err(io::Error::other("result out of order"));
                }
                let outcome = if frame.kind == wire::OK {
                    Outcome::Ok(w.reader.body(&frame).to_vec(), frame.fds)
                } else {
                    let f: WireFailure = reduction::decode_plain(w.reader.body(&frame))
                        .unwrap_or_else(|e| WireFailure {
                            what: FailureKind::Decode,
                            index: 0,
                            message: format!("cannot decode a worker's error report: {e}"),
                            location: None,
                            backtrace: None,
                        });
                    Outcome::Err(remote_error(rec.name, &w.name, f))
                };
                w.acked += 1;
                done.push((rec.job, rec.chunk, outcome));
                st.update_ewma(frame.aux);
            }
            _ => return Err(io::Error::other("unexpected message")),
        }
    }
}

/// Worker `i` exited: account for its tasks and remove it.
fn handle_death(st: &mut State, i: usize, done: &mut Vec<Completion>) {
    read_worker(st, i, done);
    let mut w = st.workers.swap_remove(i);
    let _ = w.process.join_timeout(Duration::from_secs(1));
    let code = w.process.exitcode().unwrap_or(255);
    if st.status == Status::Terminated {
        return;
    }
    if let Some(f) = w.init_failure.take() {
        let loc = f.location.map(|l| format!(" at {l}")).unwrap_or_default();
        let err = (
            ErrorKind::Remote,
            format!(
                "the pool initializer failed in {}{loc}: {}; the pool is broken",
                w.name, f.message
            ),
        );
        st.pending.extend(w.inflight.drain(..));
        st.fail_all(&err, done);
        st.broken = Some(err);
        return;
    }
    if !w.ready {
        st.early_deaths += 1;
        for rec in w.inflight.drain(..).rev() {
            st.pending.push_front(rec);
        }
        if st.early_deaths >= 5 {
            let err = (
                ErrorKind::WorkerLost,
                format!(
                    "pool workers keep dying before they are ready (last: {} with {}); the \
                     pool is broken",
                    w.name,
                    signal_name(code)
                ),
            );
            st.fail_all(&err, done);
            st.broken = Some(err);
        }
        return;
    }
    // The worker runs its tasks in the order it got them: the one it started last and did not
    // answer was running; the ones before it finished but their results were still in the
    // worker's batch (they run again); the ones after it never started.
    let started = w.progress.started();
    let running = started
        .checked_sub(w.acked + 1)
        .map(|i| i as usize)
        .filter(|&i| i < w.inflight.len());
    let lost = running.and_then(|i| w.inflight.remove(i));
    if let Some(rec) = lost {
        let short = rec.name.rsplit("::").next().unwrap_or(rec.name);
        let e = Error::new(
            ErrorKind::WorkerLost,
            format!(
                "worker {} (pid {}) died with {} while running task `{short}`",
                w.name,
                w.pid,
                signal_name(code)
            ),
        );
        crate::logging::warning!("{e}");
        done.push((rec.job, rec.chunk, Outcome::Err(e)));
    }
    for rec in w.inflight.drain(..).rev() {
        st.pending.push_front(rec);
    }
}

// ---------------------------------------------------------------------------------------------
// The pool thread
// ---------------------------------------------------------------------------------------------

fn drain_eventfd(fd: RawFd) {
    let mut x: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
    unsafe { libc::read(fd, (&mut x as *mut u64).cast(), 8) };
}

const READ_EVENTS: i16 = libc::POLLIN | libc::POLLHUP | libc::POLLERR;

/// The pool thread: Python's worker, task and result handler threads in one.
pub(super) fn run(shared: Arc<Shared>) {
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    loop {
        let timeout = {
            let st = shared.lock();
            pfds.clear();
            pfds.push(libc::pollfd {
                fd: shared.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            for w in &st.workers {
                let mut ev = libc::POLLIN;
                if w.blocked {
                    ev |= libc::POLLOUT;
                }
                pfds.push(libc::pollfd {
                    fd: if w.reader.eof || !w.watched() {
                        -1
                    } else {
                        w.sock.as_raw_fd()
                    },
                    events: ev,
                    revents: 0,
                });
                pfds.push(libc::pollfd {
                    fd: w.sentinel,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            st.term_deadline.map(|d| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10))
            })
        };
        if let Err(e) = sys::poll(&mut pfds, timeout) {
            crate::logging::warning!("pool thread: poll failed: {e}");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut done: Vec<Completion> = Vec::new();
        let mut to_start = 0usize;
        let mut finished = Vec::new();
        let exit;
        {
            let mut st = shared.lock();
            if pfds[0].revents != 0 {
                drain_eventfd(shared.wake.as_raw_fd());
            }
            // The worker list only changes under the lock, and only the pool thread removes
            // workers, so the poll indices still match (new workers were appended).
            let n = (pfds.len() - 1) / 2;
            let mut dead = Vec::new();
            for i in 0..n.min(st.workers.len()) {
                let sock_ev = pfds[1 + 2 * i].revents;
                let sent_ev = pfds[2 + 2 * i].revents;
                // (A worker a caller of `apply` reads may still be in a poll set built before.)
                if sock_ev & READ_EVENTS != 0 && st.workers[i].watched() {
                    read_worker(&mut st, i, &mut done);
                }
                if sock_ev & libc::POLLOUT != 0 {
                    flush_worker(&mut st.workers[i]);
                }
                if sent_ev != 0 {
                    dead.push(i);
                }
            }
            for &i in dead.iter().rev() {
                handle_death(&mut st, i, &mut done);
            }
            if st.status == Status::Terminated {
                let failed: Vec<TaskRec> = st.pending.drain(..).collect();
                for r in failed {
                    let e = Error::new(
                        ErrorKind::ShutDown,
                        "the pool was terminated before the task completed",
                    );
                    done.push((r.job, r.chunk, Outcome::Err(e)));
                }
                if !st.killed && st.term_deadline.is_some_and(|d| Instant::now() >= d) {
                    st.killed = true;
                    for w in &st.workers {
                        let _ = w.process.kill();
                    }
                }
                exit = st.workers.is_empty() && st.starting == 0;
            } else {
                if let Some(err) = st.broken.clone() {
                    st.fail_all(&err, &mut done);
                }
                shared.dispatch(&mut st, true);
                for w in &mut st.workers {
                    if !w.out.is_empty() && !w.blocked {
                        flush_worker(w);
                    }
                }
                let work = st.outstanding();
                if st.broken.is_none() && (st.status == Status::Running || work) {
                    let active = st
                        .workers
                        .iter()
                        .filter(|w| !w.retiring && !w.faulty)
                        .count();
                    to_start = shared.cfg.processes.saturating_sub(active + st.starting);
                    st.starting += to_start;
                }
                let mut stopping = false;
                if st.status == Status::Closed && !work && st.starting == 0 {
                    stopping = true;
                    for w in &mut st.workers {
                        if !w.stop_sent {
                            w.stop_sent = true;
                            w.retiring = true;
                            if let Ok(f) = wire::frame(wire::STOP, 0, 0, "", &[]) {
                                w.out.push(Arc::new(Outgoing {
                                    bytes: f,
                                    fds: Vec::new(),
                                }));
                                flush_worker(w);
                            }
                        }
                    }
                }
                exit = stopping && st.workers.is_empty();
            }
            if exit {
                finished = std::mem::take(&mut st.workers);
            }
        }
        run_completions(done);
        if exit {
            kill_all(finished);
            return;
        }
        for _ in 0..to_start {
            let started = start_worker(&shared.cfg);
            let mut st = shared.lock();
            st.starting -= 1;
            match started {
                Ok(w) => {
                    if st.status == Status::Terminated {
                        let _ = w.process.kill();
                    }
                    st.workers.push(w);
                    shared.dispatch(&mut st, true);
                }
                Err(e) => {
                    let err = (
                        ErrorKind::ProcessStart,
                        format!("cannot start a replacement pool worker: {e}; the pool is broken"),
                    );
                    let mut done = Vec::new();
                    st.fail_all(&err, &mut done);
                    st.broken = Some(err);
                    drop(st);
                    run_completions(done);
                }
            }
        }
    }
}
