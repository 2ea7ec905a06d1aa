//! Where an object lives: the memory space of a primitive.
//!
//! mp's synchronization primitives are written once, over a space: [`Processes`] puts their
//! state in a block of a shared arena (`mp::Lock`, usable across processes), [`Threads`] in
//! this process's heap (`mp::dummy::Lock`, Python's `threading.Lock`). The engine is the same
//! atomics and futexes in both; the space decides where the state is allocated, how a handle
//! travels (as its arena's descriptor, or as a reference through an in-process transport) and
//! which of Python's error kinds a misuse gets (`multiprocessing`'s or `threading`'s).
//!
//! ```
//! # fn main() -> mp::Result<()> {
//! use mp::space::{Processes, Threads};
//! use mp::synchronize::LockIn;
//!
//! let shared: LockIn<Processes> = mp::Lock::new()?;
//! let local: LockIn<Threads> = mp::dummy::Lock::new()?;
//! // Python's error kinds per space: ValueError for a process lock, RuntimeError for threading's.
//! assert_eq!(shared.release().unwrap_err().kind(), mp::ErrorKind::Value);
//! assert_eq!(local.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
//! # Ok(()) }
//! ```

pub(crate) mod handle;

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::shm::{self, Block};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Processes {}
    impl Sealed for super::Threads {}
}

/// A memory space: [`Processes`] or [`Threads`] (sealed).
///
/// ```
/// fn where_it_lives<Sp: mp::space::Space>() -> &'static str {
///     if Sp::THREADS { "this process" } else { "shared memory" }
/// }
/// assert_eq!(where_it_lives::<mp::space::Threads>(), "this process");
/// ```
pub trait Space: sealed::Sealed + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// `true` for [`Threads`].
    const THREADS: bool;
}

/// Shared between processes: state in a block of a shared arena (Python's `multiprocessing`).
///
/// ```
/// let l: mp::synchronize::LockIn<mp::space::Processes> = mp::Lock::new().unwrap();
/// # drop(l);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processes {}

/// Shared between the threads of this process: state on the heap (Python's `threading`, as
/// `multiprocessing.dummy` re-exports it).
///
/// ```
/// let l: mp::synchronize::LockIn<mp::space::Threads> = mp::dummy::Lock::new().unwrap();
/// # drop(l);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {}

impl Space for Processes {
    const THREADS: bool = false;
}

impl Space for Threads {
    const THREADS: bool = true;
}

/// How the thread backend names the calling thread (`threading.current_thread().name`), for
/// the reprs of thread primitives: entered at link time by the backend, which sits above.
#[linkme::distributed_slice]
pub(crate) static THREAD_NAMES: [fn() -> String];

/// What to do when a thread of the thread backend ends (wake the waiters of
/// `mp::dummy::connection::wait`): entered at link time by those above.
#[linkme::distributed_slice]
pub(crate) static THREAD_ENDS: [fn()];

/// The calling thread's name as `threading` gives it.
pub(crate) fn thread_name() -> String {
    match THREAD_NAMES.first() {
        Some(name) => name(),
        None => std::thread::current()
            .name()
            .unwrap_or("Thread")
            .to_string(),
    }
}

/// The memory of an object: a block of a shared arena, or a heap allocation.
pub(crate) enum Mem {
    Arena(Block),
    Heap(Heap),
}

impl Mem {
    /// `len` zeroed bytes, 64-byte aligned, in the space `Sp` (`kind` and `layout` tag an
    /// arena block for the processes that attach it).
    pub(crate) fn alloc<Sp: Space>(len: usize, kind: u32, layout: u64) -> Result<Mem> {
        if Sp::THREADS {
            Heap::zeroed(len).map(Mem::Heap)
        } else {
            shm::alloc(len, kind, layout).map(Mem::Arena)
        }
    }

    pub(crate) fn data(&self) -> *mut u8 {
        match self {
            Mem::Arena(b) => b.data(),
            Mem::Heap(h) => h.ptr.as_ptr(),
        }
    }

    pub(crate) fn data_len(&self) -> usize {
        match self {
            Mem::Arena(b) => b.data_len(),
            Mem::Heap(h) => h.layout.size(),
        }
    }

    /// The arena block, if the memory is one (what travels to another process).
    pub(crate) fn block(&self) -> Option<&Block> {
        match self {
            Mem::Arena(b) => Some(b),
            Mem::Heap(_) => None,
        }
    }
}

/// Zeroed heap memory, 64-byte aligned (a cache line, as arena blocks are).
pub(crate) struct Heap {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the allocation is plain memory owned by this value; what lives in it is atomics.
unsafe impl Send for Heap {}
// SAFETY: as above.
unsafe impl Sync for Heap {}

impl Heap {
    fn zeroed(len: usize) -> Result<Heap> {
        let layout = Layout::from_size_align(len.max(1), 64)
            .map_err(|_| Error::value("object too large"))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::value("out of memory"))?;
        Ok(Heap { ptr, layout })
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}
