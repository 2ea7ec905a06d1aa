//! The worker process: the built-in `mp::pool::worker` task every pool worker runs, whatever
//! the start method, and the typed chunk runner each `#[mp::task]` gets in the registry.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::wire::{self, Reader};
use crate::process::Target;
use crate::reduction::{self, Handle};
use crate::registry::{self, ChunkFailure, TaskEntry};
use crate::shm::{self, Region, RegionFd};
use crate::task::Task;

/// How a chunk failed, as it travels back to the parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireFailure {
    pub(crate) what: FailureKind,
    /// Index of the failing item within its chunk.
    pub(crate) index: usize,
    pub(crate) message: String,
    pub(crate) location: Option<String>,
    pub(crate) backtrace: Option<String>,
}

/// What kind of failure a [`WireFailure`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FailureKind {
    /// The task panicked.
    Panic,
    /// The task returned `Err`.
    Error,
    /// The arguments did not decode.
    Decode,
    /// The values did not encode.
    Encode,
    /// The task is not registered in the worker, or is not a pool task.
    Lookup,
}

fn failure(what: FailureKind, index: usize, message: String) -> WireFailure {
    WireFailure {
        what,
        index,
        message,
        location: None,
        backtrace: None,
    }
}

/// A chunk's failure as the registry reports it, for the wire.
fn chunk_failure(e: registry::ChunkError) -> WireFailure {
    let what = match e.kind {
        ChunkFailure::Error => FailureKind::Error,
        ChunkFailure::Decode => FailureKind::Decode,
        ChunkFailure::Encode => FailureKind::Encode,
        ChunkFailure::NotATask => FailureKind::Lookup,
    };
    failure(what, e.index, e.message)
}

// ---------------------------------------------------------------------------------------------
// Panic capture
// ---------------------------------------------------------------------------------------------

struct Captured {
    message: String,
    location: Option<String>,
    backtrace: Option<String>,
}

thread_local! {
    static CAPTURED: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// Installs (once per process) a panic hook that, while [`capture`] runs a task, records the
/// panic's message, location and backtrace instead of printing them: the parent gets them.
pub(super) fn install_capture_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if crate::bootstrap::panics_captured() {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "Box<dyn Any>".to_string());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                // Not in a fork child: capturing takes std's backtrace lock, which another
                // thread of the parent may have held at the fork (the worker would hang).
                let backtrace = if crate::thread::forked_since_hook() {
                    None
                } else {
                    let bt = std::backtrace::Backtrace::capture();
                    (bt.status() == std::backtrace::BacktraceStatus::Captured)
                        .then(|| bt.to_string())
                };
                CAPTURED.with(|c| {
                    *c.borrow_mut() = Some(Captured {
                        message,
                        location,
                        backtrace,
                    })
                });
            } else {
                prev(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into a [`WireFailure`] with the panic's message and location.
fn capture<R>(
    progress: &Cell<usize>,
    f: impl FnOnce() -> Result<R, WireFailure>,
) -> Result<R, WireFailure> {
    crate::bootstrap::capture_panics(true);
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    crate::bootstrap::capture_panics(false);
    match r {
        Ok(r) => r,
        Err(payload) => {
            let cap = CAPTURED.with(|c| c.borrow_mut().take());
            // Dropping a payload can itself panic; keep the worker alive whatever it does.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            let (message, location, backtrace) = match cap {
                Some(c) => (c.message, c.location, c.backtrace),
                None => ("panic".to_string(), None, None),
            };
            Err(WireFailure {
                what: FailureKind::Panic,
                index: progress.get(),
                message,
                location,
                backtrace,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The worker task
// ---------------------------------------------------------------------------------------------

/// What the pool gives each worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerArgs {
    pub(crate) sock: Handle,
    pub(crate) progress: Progress,
    pub(crate) init: Option<InitArgs>,
    pub(crate) maxtasks: Option<usize>,
}

const PROGRESS_LAYOUT: u64 = 0x706f_6f6c_0002; // "pool", version 2

/// Shared counters of a worker: the tasks it has started (after the worker dies, the parent
/// compares it with the results it received to know exactly which task was running) and the
/// results it has sent (a caller of `apply` waiting for one spins on it briefly before it
/// sleeps).
#[derive(Debug)]
pub(crate) struct Progress(Region);

impl Progress {
    pub(crate) fn new() -> crate::error::Result<Progress> {
        Region::new(64, shm::kind::POOL, PROGRESS_LAYOUT).map(Progress)
    }

    fn counter(&self) -> &AtomicU64 {
        // SAFETY: offset 0 of a 64-byte payload, 64-byte aligned; an AtomicU64 is valid for any
        // bit pattern.
        unsafe { self.0.at::<AtomicU64>(0) }
    }

    fn answers(&self) -> &AtomicU64 {
        // SAFETY: offset 8 of a 64-byte payload, 8-byte aligned; an AtomicU64 is valid for any
        // bit pattern.
        unsafe { self.0.at::<AtomicU64>(8) }
    }

    /// The number of results the worker has written to its socket.
    pub(crate) fn answered(&self) -> u64 {
        self.answers().load(Ordering::Acquire)
    }

    fn add_answered(&self, n: u64) {
        self.answers().fetch_add(n, Ordering::Release);
    }

    /// A second view of the same counter (for the parent, whose first one goes to the worker).
    pub(crate) fn try_clone(&self) -> crate::error::Result<Progress> {
        use std::os::fd::AsFd;
        let fd = crate::sys::dup(self.0.as_fd().as_raw_fd())
            .map_err(|e| crate::error::Error::os("dup", e))?;
        Region::attach(fd, shm::kind::POOL, PROGRESS_LAYOUT).map(Progress)
    }

    /// The number of tasks started.
    pub(crate) fn started(&self) -> u64 {
        self.counter().load(Ordering::Acquire)
    }

    fn set_started(&self, n: u64) {
        self.counter().store(n, Ordering::Release);
    }
}

impl Serialize for Progress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Progress, D::Error> {
        let RegionFd(fd) = RegionFd::deserialize(d)?;
        Region::attach(fd, shm::kind::POOL, PROGRESS_LAYOUT)
            .map(Progress)
            .map_err(serde::de::Error::custom)
    }
}

/// The initializer and its encoded arguments.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InitArgs {
    pub(crate) name: String,
    pub(crate) args: Vec<u8>,
    pub(crate) fds: Vec<Handle>,
}

/// The built-in task every pool worker runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerTask;

impl Task for WorkerTask {
    type Args = (WorkerArgs,);
    type Output = ();
    type Value = ();
    const NAME: &'static str = "mp::pool::worker";
    fn run((args,): (WorkerArgs,)) {
        worker_main(args)
    }
    fn into_value(_: ()) -> Result<(), String> {
        Ok(())
    }
}

impl Target<(WorkerArgs,)> for WorkerTask {
    type Output = ();
    fn call(self, args: (WorkerArgs,)) {
        <WorkerTask as Task>::run(args)
    }
    fn task_name(&self) -> Option<&'static str> {
        Some(<WorkerTask as Task>::NAME)
    }
}

#[linkme::distributed_slice(crate::registry::MP_TASK_REGISTRY)]
#[linkme(crate = linkme)]
pub(crate) static WORKER_ENTRY: TaskEntry = TaskEntry::of::<WorkerTask>(file!(), line!());

fn send(fd: RawFd, kind: u8, seq: u64, aux: u32, body: &[u8], fds: &[RawFd]) -> bool {
    match wire::frame_aux(kind, seq, fds.len() as u32, aux, body) {
        Ok(f) => wire::send_blocking(fd, &f, fds).is_ok(),
        Err(_) => false,
    }
}

fn send_failure(fd: RawFd, kind: u8, seq: u64, f: &WireFailure) -> bool {
    let body = reduction::encode_plain(f).unwrap_or_default();
    send(fd, kind, seq, 0, &body, &[])
}

/// Results not sent yet: a worker with more tasks already received sends its results in
/// batches (bounded in size and age), one `sendmsg` for many.
struct Batch {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
    since: Option<Instant>,
    /// Results in `bytes`.
    count: u64,
}

/// Results older than this are sent even if more tasks are waiting.
const BATCH_AGE: Duration = Duration::from_micros(200);
const BATCH_BYTES: usize = 64 * 1024;

impl Batch {
    fn add(&mut self, kind: u8, seq: u64, aux: u32, body: &[u8], fds: Vec<OwnedFd>) {
        if !wire::append_frame(&mut self.bytes, kind, seq, fds.len() as u32, aux, body) {
            // Over 4 GiB: report that instead.
            let f = failure(
                FailureKind::Encode,
                0,
                "a pool result is limited to 4 GiB".into(),
            );
            let body = reduction::encode_plain(&f).unwrap_or_default();
            wire::append_frame(&mut self.bytes, wire::ERR, seq, 0, 0, &body);
        } else {
            self.fds.extend(fds);
        }
        self.since.get_or_insert_with(Instant::now);
        self.count += 1;
    }

    fn due(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES
            || self.fds.len() >= 64
            || self.since.is_some_and(|t| t.elapsed() >= BATCH_AGE)
    }

    fn flush(&mut self, fd: RawFd, progress: &Progress) -> bool {
        if self.bytes.is_empty() {
            return true;
        }
        let raw: Vec<RawFd> = self.fds.iter().map(|f| f.as_raw_fd()).collect();
        let ok = wire::send_blocking(fd, &self.bytes, &raw).is_ok();
        if ok {
            // After the write: whoever sees the count can read the results.
            progress.add_answered(self.count);
        }
        self.bytes.clear();
        self.fds.clear();
        self.since = None;
        self.count = 0;
        ok
    }
}

fn worker_main(args: WorkerArgs) {
    let sock: OwnedFd = args.sock.into_owned_fd();
    let fd = sock.as_raw_fd();
    install_capture_hook();
    crate::logging::debug!("worker started");
    let progress = Cell::new(0);
    if let Some(init) = args.init {
        let fds: Vec<OwnedFd> = init.fds.into_iter().map(Handle::into_owned_fd).collect();
        let r = capture(&progress, || match registry::lookup(&init.name) {
            None => Err(failure(
                FailureKind::Lookup,
                0,
                format!(
                    "initializer `{}` is not registered in the worker",
                    init.name
                ),
            )),
            Some(entry) => crate::bootstrap::invoke(entry, &init.args, fds)
                .map_err(|m| failure(FailureKind::Error, 0, m)),
        });
        if let Err(f) = r {
            send_failure(fd, wire::INIT_FAILED, 0, &f);
            return;
        }
    }
    if !send(fd, wire::READY, 0, 0, &[], &[]) {
        return;
    }
    let mut reader = Reader::new();
    let mut batch = Batch {
        bytes: Vec::new(),
        fds: Vec::new(),
        since: None,
        count: 0,
    };
    let mut done = 0usize;
    let mut cached: Option<&'static TaskEntry> = None;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                // About to wait for work: what is done goes out first.
                if !batch.flush(fd, &args.progress) || reader.eof {
                    break;
                }
                match reader.fill(fd, false) {
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            Err(_) => break,
        };
        match frame.kind {
            wire::TASK => {}
            _ => break, // STOP, or anything unexpected
        }
        let seq = frame.seq;
        let name = reader.name(&frame);
        let entry = match cached {
            Some(e) if e.name == name => Some(e),
            _ => registry::lookup(name),
        };
        cached = entry.or(cached);
        let t0 = Instant::now();
        progress.set(0);
        args.progress.set_started(done as u64 + 1);
        let result = match entry {
            None => Err(failure(
                FailureKind::Lookup,
                0,
                format!("task `{name}` is not registered in the worker's binary"),
            )),
            Some(e) => {
                let body = reader.body(&frame);
                capture(&progress, || {
                    (e.invoke_chunk)(body, frame.fds, &progress).map_err(chunk_failure)
                })
            }
        };
        let micros = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let (kind, body, fds) = match result {
            Ok((bytes, fds)) => (wire::OK, bytes, fds),
            Err(f) => (
                wire::ERR,
                reduction::encode_plain(&f).unwrap_or_default(),
                Vec::new(),
            ),
        };
        if !batch.fds.is_empty()
            && batch.fds.len() + fds.len() > crate::sys::fdpass::DIRECT
            && !batch.flush(fd, &args.progress)
        {
            break;
        }
        batch.add(kind, seq, micros, &body, fds);
        done += 1;
        let last = args.maxtasks.is_some_and(|m| done >= m);
        if (last || batch.due() || !reader.has_frame()) && !batch.flush(fd, &args.progress) {
            break;
        }
        if last {
            crate::logging::debug!("worker exiting after {done} tasks");
            break;
        }
    }
}
