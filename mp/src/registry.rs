//! The task registry: `#[mp::task]` items, looked up by name in a spawned or forkserver child
//! and in pool workers.
//!
//! The backend is a `linkme` distributed slice; nothing outside this module (and the
//! `__private` re-exports the macros use) knows that. Entries are looked up by **name**
//! (`module_path!()::ident`), never by address, because addresses differ between processes.

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::process::Run;
use crate::reduction;
use crate::task::Task;

/// How a task invocation failed.
#[derive(Debug)]
#[doc(hidden)]
pub enum InvokeError {
    /// The argument bytes did not decode as the task's argument tuple.
    Decode(String),
    /// The task returned `Err`; the message is its `Display`.
    Failed(String),
    /// The return value could not be encoded.
    Encode(String),
}

/// Decodes the arguments, runs the task, and (when asked) encodes what it returned.
#[doc(hidden)]
pub type Invoke = fn(&[u8], Vec<OwnedFd>, bool) -> Result<Option<Vec<u8>>, InvokeError>;

/// One registered task. Built by `#[mp::task]`; not meant to be written by hand.
#[doc(hidden)]
#[derive(Debug)]
pub struct TaskEntry {
    /// `module_path!()::ident`.
    pub name: &'static str,
    /// Source file of the registration.
    pub file: &'static str,
    /// Source line of the registration.
    pub line: u32,
    /// The signature, `fn(Args) -> Output`, for error messages and the build id.
    pub signature: fn() -> &'static str,
    /// Decodes the arguments and runs the task.
    pub invoke: Invoke,
    /// The task as a `fn(Args) -> Output` pointer, boxed as `Any` (for `TaskRef`).
    pub erased: fn() -> Box<dyn Any + Send + Sync>,
    /// Runs a whole chunk of argument tuples in a pool worker (see `pool::worker`).
    pub(crate) pool_invoke: crate::pool::PoolInvoke,
}

fn invoke_task<T>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    want: bool,
) -> Result<Option<Vec<u8>>, InvokeError>
where
    T: Task,
    T::Args: DeserializeOwned,
    T::Value: Serialize,
{
    let args: T::Args =
        reduction::decode(bytes, fds).map_err(|e| InvokeError::Decode(e.to_string()))?;
    let value = T::into_value(T::run(args)).map_err(InvokeError::Failed)?;
    if !want {
        return Ok(None);
    }
    reduction::encode_plain(&value)
        .map(Some)
        .map_err(|e| InvokeError::Encode(e.to_string()))
}

fn invoke_run<T: Run>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    _want: bool,
) -> Result<Option<Vec<u8>>, InvokeError> {
    let (obj,): (T,) =
        reduction::decode(bytes, fds).map_err(|e| InvokeError::Decode(e.to_string()))?;
    obj.run();
    Ok(None)
}

fn erased_task<T: Task>() -> Box<dyn Any + Send + Sync> {
    Box::new(T::run as fn(T::Args) -> T::Output)
}

fn erased_run<T: Run>() -> Box<dyn Any + Send + Sync> {
    Box::new((|t: (T,)| t.0.run()) as fn((T,)))
}

fn signature_task<T: Task>() -> &'static str {
    std::any::type_name::<fn(T::Args) -> T::Output>()
}

fn signature_run<T: Run>() -> &'static str {
    std::any::type_name::<T>()
}

impl TaskEntry {
    /// The entry of a `#[mp::task]` fn.
    pub const fn of<T>(file: &'static str, line: u32) -> TaskEntry
    where
        T: Task,
        T::Args: DeserializeOwned,
        T::Value: Serialize,
    {
        TaskEntry {
            name: T::NAME,
            file,
            line,
            signature: signature_task::<T>,
            invoke: invoke_task::<T>,
            erased: erased_task::<T>,
            pool_invoke: crate::pool::invoke_chunk::<T>,
        }
    }

    /// The entry of a `#[mp::task] impl Run for T`.
    pub const fn of_run<T: Run>(name: &'static str, file: &'static str, line: u32) -> TaskEntry {
        TaskEntry {
            name,
            file,
            line,
            signature: signature_run::<T>,
            invoke: invoke_run::<T>,
            erased: erased_run::<T>,
            pool_invoke: crate::pool::invoke_not_a_task,
        }
    }
}

#[linkme::distributed_slice]
#[doc(hidden)]
pub static MP_TASK_REGISTRY: [TaskEntry];

struct Index {
    by_name: HashMap<&'static str, &'static TaskEntry>,
    duplicate: Option<String>,
    build_id: u64,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name: HashMap<&'static str, &'static TaskEntry> = HashMap::new();
        let mut duplicate = None;
        let mut sigs: Vec<(&str, &str)> = Vec::new();
        for e in MP_TASK_REGISTRY.iter() {
            if let Some(prev) = by_name.insert(e.name, e) {
                duplicate.get_or_insert_with(|| {
                    format!(
                        "mp task `{}` is registered twice: at {}:{} and at {}:{}; give one of \
                         them another name",
                        e.name, prev.file, prev.line, e.file, e.line
                    )
                });
            }
            sigs.push((e.name, (e.signature)()));
        }
        sigs.sort_unstable();
        // FNV-1a over the crate version and the sorted (name, signature) pairs.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |b: &[u8]| {
            for &x in b {
                h ^= x as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(env!("CARGO_PKG_VERSION").as_bytes());
        for (n, s) in sigs {
            feed(n.as_bytes());
            feed(b"\0");
            feed(s.as_bytes());
            feed(b"\0");
        }
        Index {
            by_name,
            duplicate,
            build_id: h,
        }
    })
}

/// Looks a task up by its registry name.
pub(crate) fn lookup(name: &str) -> Option<&'static TaskEntry> {
    index().by_name.get(name).copied()
}

/// The duplicate-name report, if two registrations share a name.
pub(crate) fn check_duplicates() -> Result<(), String> {
    match &index().duplicate {
        Some(msg) => Err(msg.clone()),
        None => Ok(()),
    }
}

/// A fingerprint of this build's registry: a child from another program has another one.
pub(crate) fn build_id() -> u64 {
    index().build_id
}

/// The names of every registered task, sorted.
///
/// # Examples
///
/// ```
/// #[mp::task]
/// fn listed() {}
///
/// let names = mp::registered_tasks();
/// assert!(names.iter().any(|n| n.ends_with("::listed")));
/// assert!(names.windows(2).all(|w| w[0] <= w[1]));
/// ```
pub fn registered_tasks() -> Vec<&'static str> {
    let mut v: Vec<_> = index().by_name.keys().copied().collect();
    v.sort_unstable();
    v
}
