//! The task registry: `#[mp::task]` items, looked up by name in a spawned or forkserver child
//! and in pool workers.
//!
//! The backend is a `linkme` distributed slice; nothing outside this module (and the
//! `__private` re-exports the macros use) knows that. Entries are looked up by **name**
//! (`module_path!()::ident`), never by address, because addresses differ between processes.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};
use crate::reduction;
use crate::task::{Portable, Run, Task, TaskRef};

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
pub(crate) type Invoke = fn(&[u8], Vec<OwnedFd>, bool) -> Result<Option<Vec<u8>>, InvokeError>;

/// How running a chunk failed: what, at which item of the chunk.
#[derive(Debug)]
pub(crate) struct ChunkError {
    pub(crate) kind: ChunkFailure,
    /// Index of the failing item within its chunk.
    pub(crate) index: usize,
    pub(crate) message: String,
}

/// What kind of failure a [`ChunkError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkFailure {
    /// The task returned `Err`.
    Error,
    /// The arguments did not decode.
    Decode,
    /// The values did not encode.
    Encode,
    /// The entry is not a task that takes argument tuples (a `Run` type).
    NotATask,
}

/// Runs a whole chunk of argument tuples (a pool worker's unit of work): decodes a
/// `Vec<Args>`, runs the task on each (setting `progress` to the index of the one running),
/// and encodes the `Vec<Value>`.
pub(crate) type ChunkInvoke =
    fn(&[u8], Vec<OwnedFd>, &Cell<usize>) -> Result<(Vec<u8>, Vec<OwnedFd>), ChunkError>;

fn chunk_error(kind: ChunkFailure, index: usize, message: String) -> ChunkError {
    ChunkError {
        kind,
        index,
        message,
    }
}

fn invoke_chunk<T: Task>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    progress: &Cell<usize>,
) -> Result<(Vec<u8>, Vec<OwnedFd>), ChunkError> {
    let args: Vec<T::Args> = <T::Args as Portable>::mp_decode_seq(bytes, fds).map_err(|e| {
        chunk_error(
            ChunkFailure::Decode,
            0,
            format!("cannot decode the arguments of `{}`: {e}", T::NAME),
        )
    })?;
    let mut out: Vec<T::Value> = Vec::with_capacity(args.len());
    for (i, a) in args.into_iter().enumerate() {
        progress.set(i);
        match T::into_value(T::run(a)) {
            Ok(v) => out.push(v),
            Err(m) => return Err(chunk_error(ChunkFailure::Error, i, m)),
        }
    }
    <T::Value as Portable>::mp_encode_seq(&out).map_err(|e| {
        chunk_error(
            ChunkFailure::Encode,
            0,
            format!(
                "error sending the result of `{}`: cannot serialize `{}`: {}",
                T::NAME,
                std::any::type_name::<T::Value>(),
                e
            ),
        )
    })
}

fn invoke_chunk_run(
    _: &[u8],
    _: Vec<OwnedFd>,
    _: &Cell<usize>,
) -> Result<(Vec<u8>, Vec<OwnedFd>), ChunkError> {
    Err(chunk_error(
        ChunkFailure::NotATask,
        0,
        "a `Run` type is not a pool task".into(),
    ))
}

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
    /// Runs a whole chunk of argument tuples (a pool worker's unit of work).
    pub(crate) invoke_chunk: ChunkInvoke,
}

fn invoke_task<T: Task>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    want: bool,
) -> Result<Option<Vec<u8>>, InvokeError> {
    let args = <T::Args as Portable>::mp_decode(bytes, fds)
        .map_err(|e| InvokeError::Decode(e.to_string()))?;
    let value = T::into_value(T::run(args)).map_err(InvokeError::Failed)?;
    if !want {
        return Ok(None);
    }
    match value.mp_encode() {
        Ok((bytes, fds)) if fds.is_empty() => Ok(Some(bytes)),
        Ok(_) => Err(InvokeError::Encode(
            "a task's return value cannot carry handles (descriptors)".into(),
        )),
        Err(e) => Err(InvokeError::Encode(e.to_string())),
    }
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
    pub const fn of<T: Task>(file: &'static str, line: u32) -> TaskEntry {
        TaskEntry {
            name: T::NAME,
            file,
            line,
            signature: signature_task::<T>,
            invoke: invoke_task::<T>,
            erased: erased_task::<T>,
            invoke_chunk: invoke_chunk::<T>,
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
            invoke_chunk: invoke_chunk_run,
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
        // The linker's build id of the program: two builds with the same tasks still differ.
        if let Some(id) = elf_build_id() {
            feed(b"elf-build-id\0");
            feed(id);
        }
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

/// The GNU build id (`.note.gnu.build-id`) of the main program, if the linker wrote one.
fn elf_build_id() -> Option<&'static [u8]> {
    struct Found(Option<&'static [u8]>);

    unsafe extern "C" fn callback(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid `dl_phdr_info` and our `data` pointer; the
        // first object it reports is the main program, whose segments stay mapped for the
        // life of the process, so the note bytes are 'static.
        unsafe {
            let found = &mut *data.cast::<Found>();
            let info = &*info;
            for i in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type != libc::PT_NOTE {
                    continue;
                }
                let start = (info.dlpi_addr as usize + ph.p_vaddr as usize) as *const u8;
                let notes = std::slice::from_raw_parts(start, ph.p_memsz as usize);
                if let Some(id) = find_gnu_build_id(notes) {
                    found.0 = Some(id);
                    break;
                }
            }
        }
        1 // stop after the main program
    }

    static ID: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *ID.get_or_init(|| {
        let mut found = Found(None);
        // SAFETY: the callback only reads what the loader hands it and writes into `found`,
        // which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(callback), (&mut found as *mut Found).cast()) };
        found.0
    })
}

/// Walks ELF notes (4-byte aligned name and descriptor) for `NT_GNU_BUILD_ID` owned by "GNU".
fn find_gnu_build_id(mut notes: &'static [u8]) -> Option<&'static [u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |b: &[u8]| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (word(&notes[0..]), word(&notes[4..]), word(&notes[8..]));
        let name_end = 12usize.checked_add(namesz.next_multiple_of(4))?;
        let desc_end = name_end.checked_add(descsz.next_multiple_of(4))?;
        if desc_end > notes.len() {
            return None;
        }
        if kind as u32 == NT_GNU_BUILD_ID && notes[12..12 + namesz].starts_with(b"GNU") {
            return Some(&notes[name_end..name_end + descsz]);
        }
        notes = &notes[desc_end..];
    }
    None
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

impl<A: Send + 'static, R: 'static> TaskRef<A, R> {
    /// Looks a task up by its registry name, checking its signature.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if no task has that name or its signature differs.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn double(x: u32) -> u32 { 2 * x }
    /// let name = mp::TaskRef::new(double).name();
    /// let t = mp::TaskRef::<(u32,), u32>::from_name(name).unwrap();
    /// assert_eq!(t.call((21,)).unwrap(), 42);
    /// assert!(mp::TaskRef::<(u32,), u32>::from_name("nope").is_err());
    /// assert!(mp::TaskRef::<(u8,), u32>::from_name(name).is_err());
    /// ```
    pub fn from_name(name: &str) -> Result<TaskRef<A, R>> {
        let entry = lookup(name)
            .ok_or_else(|| Error::value(format!("no task named `{name}` is registered")))?;
        Self::fn_ptr_of(entry)?;
        Ok(TaskRef {
            name: entry.name,
            _sig: PhantomData,
        })
    }

    fn fn_ptr_of(entry: &'static TaskEntry) -> Result<fn(A) -> R> {
        let any = (entry.erased)();
        any.downcast_ref::<fn(A) -> R>().copied().ok_or_else(|| {
            Error::new(
                ErrorKind::Type,
                format!(
                    "task `{}` has the signature `{}`, not `{}`",
                    entry.name,
                    (entry.signature)(),
                    std::any::type_name::<fn(A) -> R>()
                ),
            )
        })
    }

    /// Calls the task in this process.
    ///
    /// # Errors
    ///
    /// Only if the registry of this process lacks the task (impossible for a reference made
    /// or received in the same build).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// assert_eq!(mp::TaskRef::new(add).call((1, 2)).unwrap(), 3);
    /// ```
    pub fn call(&self, args: A) -> Result<R> {
        let entry = lookup(self.name)
            .ok_or_else(|| Error::value(format!("no task named `{}` is registered", self.name)))?;
        let f = Self::fn_ptr_of(entry)?;
        Ok(f(args))
    }
}
