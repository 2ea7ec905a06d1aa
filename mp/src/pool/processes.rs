//! The process executor: worker processes fed encoded chunks through the pool thread
//! ([`engine`](super::engine)). [`PoolIn`](super::PoolIn) is the front.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use super::engine::{self, Config, JobSink, Shared, Status};
use super::sealed::Settings;
use super::{ApplySink, AsyncResult, Sink, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::task::{Portable, Task};
use crate::thread::JoinHandle;
use crate::{reduction, sys};

/// The initializer's name, encoded arguments and the descriptors inside them.
/// The last part keeps alive the managed objects of proxies inside the arguments (decoded
/// once per worker, each taking its own reference).
pub struct InitSpec(
    pub(super) String,
    pub(super) Vec<u8>,
    pub(super) Vec<std::os::fd::OwnedFd>,
    /// Held, never read: keeps the objects of proxies in the arguments alive.
    #[allow(dead_code)]
    pub(super) Arc<crate::reduction::Carried>,
);

/// Worker processes: the executor of [`Pool`](super::Pool) (Python's
/// `multiprocessing.pool.Pool`).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let pool: mp::pool::PoolIn<mp::pool::WorkerProcesses> = mp::Pool::new(1)?;
/// assert_eq!(pool.worker_pids().len(), 1);
/// # Ok(()) }
/// ```
pub struct WorkerProcesses {
    pub(super) shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl super::sealed::Engine for WorkerProcesses {
    type Queue = Arc<Shared>;
    type Init = InitSpec;
    const KIND: &'static str = "Pool";
    const FEEDER: &'static str = "mp-pool-feeder";
    const SPIN: Duration = Duration::from_micros(30);

    fn init<T: Task>(args: T::Args) -> Result<InitSpec> {
        let (encoded, pins) = reduction::pinning(|| args.mp_encode());
        let (bytes, fds) = encoded?;
        Ok(InitSpec(T::NAME.to_string(), bytes, fds, Arc::new(pins)))
    }

    fn init_name(init: &InitSpec) -> &str {
        &init.0
    }

    fn start(s: Settings<InitSpec>) -> Result<WorkerProcesses> {
        crate::bootstrap::ensure_linked();
        let processes = s.processes;
        let cfg = Config {
            processes,
            method: s.method.unwrap_or_else(crate::get_start_method),
            init: s.init,
            maxtasks: s.maxtasks,
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
        let shared = Arc::new(Shared::new(cfg, workers)?);
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
        Ok(WorkerProcesses {
            shared,
            thread: Mutex::new(Some(thread)),
            thread_id,
        })
    }

    fn queue(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn processes(&self) -> usize {
        self.shared.cfg.processes
    }

    fn worker_pids(&self) -> Vec<i32> {
        self.shared.pids()
    }

    fn state(&self) -> &'static str {
        self.shared.lock().status.name()
    }

    fn check_caller(&self) -> Result<()> {
        // (The cached pid: no system call per task.)
        if crate::futex::ids().0 != self.shared.owner {
            return Err(Error::value(
                "a Pool can only be used by the process that created it",
            ));
        }
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
        let job: Arc<dyn JobSink> = sink.clone();
        let chunks = chunks.into_iter();
        let mut recs = Vec::with_capacity(chunks.size_hint().0);
        for (i, chunk) in chunks {
            let (bytes, fds) = T::Args::mp_encode_seq(&chunk)?;
            drop(chunk);
            recs.push(q.record(job.clone(), i, T::NAME, bytes, fds)?);
        }
        q.submit(recs, from_feeder)
    }

    fn feeder(q: &Arc<Shared>, delta: isize) {
        q.feeder(delta);
    }

    fn apply<T: Task>(&self, args: T::Args) -> Result<T::Value> {
        let slot = Slot::new(Self::SPIN);
        let sink: Arc<dyn JobSink> = Arc::new(ApplySink { slot: slot.clone() });
        let (bytes, fds) = T::Args::mp_encode_seq(std::slice::from_ref(&args))?;
        let rec = self.shared.record(sink, 0, T::NAME, bytes, fds)?;
        // With an idle worker, this thread reads the answer from the worker itself.
        if let Some(direct) = self.shared.submit_direct(rec)? {
            self.shared.wait_direct(&direct, || slot.is_ready(), None);
        }
        AsyncResult::new(slot).get()
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

    fn dropped(&self) {
        if sys::getpid() != self.shared.owner {
            // A forked copy: the workers belong to the creator.
            return;
        }
        self.shared.terminate();
        if std::thread::current().id() != self.thread_id {
            let _ = super::sealed::Engine::join(self);
        }
    }
}

impl std::fmt::Debug for WorkerProcesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProcesses")
            .field("processes", &self.shared.cfg.processes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for InitSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InitSpec")
            .field(&self.0)
            .finish_non_exhaustive()
    }
}
