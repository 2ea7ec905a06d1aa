//! The server side of a manager's pool: the objects its server holds ([`PoolCell`],
//! [`AsyncResultCell`], [`IMapCell`]) and the `Pool` typeid's constructor.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{AsyncResultProxy, IMapProxy, PoolProxy};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::Referent;
use crate::managers::server::{Obj, Slot, client_gone};
use crate::managers::types::{args_of, read, timeout_arg};
use crate::managers::{Shared, Value, to_value};
use crate::pool::{NextChunk, Pool, RawJob};
use crate::reduction;

// Names the docs link to.
#[cfg(doc)]
use super::MapResultProxy;

/// The methods of a [`PoolProxy`] (CPython's `PoolProxy._exposed_`, plus `processes`).
pub(crate) const POOL_METHODS: &[&str] = &[
    "apply",
    "apply_async",
    "close",
    "imap",
    "imap_unordered",
    "join",
    "map",
    "map_async",
    "processes",
    "starmap",
    "starmap_async",
    "terminate",
];

pub(super) const RESULT_METHODS: &[&str] = &["get", "ready", "successful", "wait"];
pub(super) const IMAP_METHODS: &[&str] = &["__next__"];

/// A blocking method wakes up this often to see whether its client is still there.
const SLICE: Duration = Duration::from_millis(100);

fn str_arg(v: &Value, what: &str) -> Result<String> {
    v.as_str().map(str::to_owned).ok_or_else(|| {
        Error::new(
            ErrorKind::Type,
            format!("{what} must be a str, not '{}'", v.type_name()),
        )
    })
}

fn bytes_arg(v: Value, what: &str) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(Error::new(
            ErrorKind::Type,
            format!("{what} must be bytes, not '{}'", other.type_name()),
        )),
    }
}

fn chunks_arg(v: Value) -> Result<Vec<Vec<u8>>> {
    match v {
        Value::List(items) | Value::Tuple(items) => {
            items.into_iter().map(|c| bytes_arg(c, "a chunk")).collect()
        }
        other => Err(Error::new(
            ErrorKind::Type,
            format!("the chunks must be a list, not '{}'", other.type_name()),
        )),
    }
}

fn gone() -> Error {
    Error::new(ErrorKind::Eof, "the client went away")
}

/// Waits for every chunk of `job` (or the deadline), looking at the client every slice.
fn wait_job(job: &RawJob, deadline: Option<Instant>) -> Result<bool> {
    loop {
        let slice = Instant::now() + SLICE;
        if job.wait(Some(deadline.map_or(slice, |d| d.min(slice)))) {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        if client_gone() {
            return Err(gone());
        }
    }
}

fn job_value(job: &RawJob) -> Result<Value> {
    match job.result() {
        Some(Ok(chunks)) => Ok(Value::List(chunks.into_iter().map(Value::Bytes).collect())),
        Some(Err((kind, message))) => Err(Error::new(kind, message)),
        None => Err(Error::new(
            ErrorKind::Timeout,
            "timed out waiting for the result",
        )),
    }
}

/// The object behind a [`PoolProxy`]: an [`mp::Pool`](crate::Pool) running in the manager's
/// process, its workers children of that process.
pub struct PoolCell {
    pool: Pool,
}

impl fmt::Debug for PoolCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.pool, f)
    }
}

impl Referent for PoolCell {
    type Proxy = PoolProxy;
    const TYPE_NAME: &'static str = "Pool";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let cell = read(this);
        let pool = &cell.pool;
        match method {
            "processes" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::from(pool.processes()))
            }
            "apply" | "apply_async" => {
                let mut a = args_of(args, method, 2, 2)?;
                let bytes = bytes_arg(a.pop().unwrap_or_default(), "the arguments")?;
                let task = str_arg(&a[0], "the task name")?;
                let job = pool.submit_raw(&task, vec![bytes])?;
                if method == "apply" {
                    wait_job(&job, None)?;
                    return job_value(&job);
                }
                to_value(&Shared::new(AsyncResultCell { job }))
            }
            "map" | "starmap" | "map_async" | "starmap_async" | "imap" | "imap_unordered" => {
                let mut a = args_of(args, method, 2, 2)?;
                let chunks = chunks_arg(a.pop().unwrap_or_default())?;
                let task = str_arg(&a[0], "the task name")?;
                let job = pool.submit_raw(&task, chunks)?;
                match method {
                    "map" | "starmap" => {
                        wait_job(&job, None)?;
                        job_value(&job)
                    }
                    "map_async" | "starmap_async" => {
                        to_value(&Shared::new(AsyncResultCell { job }))
                    }
                    _ => to_value(&Shared::new(IMapCell {
                        job,
                        ordered: method == "imap",
                    })),
                }
            }
            "close" => {
                args_of(args, method, 0, 0)?;
                pool.close().map(|_| Value::None)
            }
            "terminate" => {
                args_of(args, method, 0, 0)?;
                pool.terminate().map(|_| Value::None)
            }
            "join" => {
                args_of(args, method, 0, 0)?;
                pool.join().map(|_| Value::None)
            }
            _ => Err(Error::new(
                ErrorKind::Remote,
                format!("'Pool' object has no method '{method}'"),
            )),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(format!("{:?}", read(this).pool))
    }
}

/// The object behind an [`AsyncResultProxy`] or a [`MapResultProxy`]: the encoded results of
/// one submission to a managed pool.
pub struct AsyncResultCell {
    job: Arc<RawJob>,
}

impl fmt::Debug for AsyncResultCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResultCell")
            .field("ready", &self.job.ready())
            .finish()
    }
}

impl Referent for AsyncResultCell {
    type Proxy = AsyncResultProxy;
    const TYPE_NAME: &'static str = "AsyncResult";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let job = read(this).job.clone();
        match method {
            "ready" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::Bool(job.ready()))
            }
            "successful" => {
                args_of(args, method, 0, 0)?;
                job.successful().map(Value::Bool).ok_or_else(|| {
                    Error::value("the result is not ready: successful() needs a finished call")
                })
            }
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                wait_job(&job, timeout_arg(a.first())?).map(Value::Bool)
            }
            "get" => {
                let a = args_of(args, method, 0, 1)?;
                wait_job(&job, timeout_arg(a.first())?)?;
                job_value(&job)
            }
            _ => Err(Error::new(
                ErrorKind::Remote,
                format!("'AsyncResult' object has no method '{method}'"),
            )),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        let ready = read(this).job.ready();
        Ok(format!(
            "<multiprocessing.pool.AsyncResult ({})>",
            if ready { "ready" } else { "pending" }
        ))
    }
}

/// The object behind an [`IMapProxy`]: the chunks of an `imap` as they come back.
pub struct IMapCell {
    job: Arc<RawJob>,
    ordered: bool,
}

impl fmt::Debug for IMapCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMapCell")
            .field("ordered", &self.ordered)
            .finish()
    }
}

impl Referent for IMapCell {
    type Proxy = IMapProxy;
    const TYPE_NAME: &'static str = "IMapIterator";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let (job, ordered) = {
            let c = read(this);
            (c.job.clone(), c.ordered)
        };
        match method {
            "__next__" => {
                let a = args_of(args, method, 0, 1)?;
                let deadline = timeout_arg(a.first())?;
                loop {
                    let slice = Instant::now() + SLICE;
                    let until = deadline.map_or(slice, |d| d.min(slice));
                    match job.next_chunk(ordered, Some(until)) {
                        NextChunk::Ready(Ok(b)) => return Ok(Value::Bytes(b)),
                        NextChunk::Ready(Err((kind, message))) => {
                            return Err(Error::new(kind, message));
                        }
                        NextChunk::End => return Err(Error::new(ErrorKind::StopIteration, "")),
                        NextChunk::Timeout => {
                            if deadline.is_some_and(|d| Instant::now() >= d) {
                                return Err(Error::new(
                                    ErrorKind::Timeout,
                                    "timed out waiting for the next result",
                                ));
                            }
                            if client_gone() {
                                return Err(gone());
                            }
                        }
                    }
                }
            }
            _ => Err(Error::new(
                ErrorKind::Remote,
                format!("'IMapIterator' object has no method '{method}'"),
            )),
        }
    }

    fn repr(_this: &RwLock<Self>) -> Result<String> {
        Ok("<multiprocessing.pool.IMapIterator object>".into())
    }
}

/// What `SyncManager::pool_builder` sends to the server's `Pool` constructor.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct PoolSpec {
    pub(super) processes: Option<usize>,
    pub(super) maxtasksperchild: Option<usize>,
    pub(super) start_method: Option<String>,
    pub(super) initializer: Option<(String, Vec<u8>)>,
}

/// The server's constructor of the `Pool` typeid.
pub(crate) fn new_pool(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (spec,): (PoolSpec,) = reduction::decode_plain(b)
        .map_err(|e| Error::new(ErrorKind::Type, format!("bad arguments for Pool(): {e}")))?;
    let mut builder = Pool::builder();
    if let Some(n) = spec.processes {
        builder = builder.processes(n);
    }
    if let Some(n) = spec.maxtasksperchild {
        builder = builder.maxtasksperchild(n);
    }
    if let Some(m) = spec.start_method {
        builder = builder.context(crate::get_context(&m)?);
    }
    if let Some((task, args)) = spec.initializer {
        if crate::registry::lookup(&task).is_none() {
            return Err(Error::value(format!(
                "the initializer `{task}` is not a task registered in the manager's program"
            )));
        }
        builder = builder.initializer_raw(task, args);
    }
    let pool = builder.build()?;
    Ok(Arc::new(Slot {
        cell: RwLock::new(PoolCell { pool }),
    }))
}
