//! Anonymous shared memory: the storage of locks, queues, `Value`s and `Array`s.
//!
//! Small objects (the synchronization primitives, `Value`s and `Array`s) live in blocks of
//! shared arenas (see [`arena`]). Queues and pools have a [`Region`] of their own.
//!
//! A [`Region`] is a `memfd` mapped `MAP_SHARED`. It has no name, so nothing is left in
//! `/dev/shm` when a process dies, whatever the way; the kernel frees the memory when the last
//! descriptor and the last mapping are gone. A region travels to other processes as its
//! descriptor (through the side table of [`crate::reduction`]); a fork child simply keeps the
//! mapping.
//!
//! Every region starts with a [`Header`] naming what lives in it (a kind and a layout hash),
//! checked when a region is attached in another process, so that a descriptor of one kind of
//! object can never be read as another.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::{reduction, sys};

mod arena;
pub(crate) use arena::{Block, BlockWire, alloc};

/// The first bytes of every region.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Header {
    magic: AtomicU32,
    kind: AtomicU32,
    layout: AtomicU64,
}

const MAGIC: u32 = 0x6d70_7368; // "mpsh"

/// Size of the header, rounded so that what follows is 64-byte aligned.
pub(crate) const HEADER: usize = 64;

/// A shared mapping of a memfd.
pub(crate) struct Region {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is shared memory, valid for as long as the Region lives; what is stored
// in it is accessed through atomics or under a lock by the types built on top.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// A new zero-filled region of at least `len` bytes after the header, tagged with `kind`
    /// and `layout`.
    pub(crate) fn new(len: usize, kind: u32, layout: u64) -> Result<Region> {
        let total = HEADER
            .checked_add(len)
            .ok_or_else(|| Error::value("shared memory size overflows"))?;
        let fd = memfd(c"mp", total)?;
        let region = Region::map(fd, total)?;
        let h = region.header();
        h.kind.store(kind, Ordering::Relaxed);
        h.layout.store(layout, Ordering::Relaxed);
        h.magic.store(MAGIC, Ordering::Release);
        Ok(region)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Region> {
        let ptr = map_shared(fd.as_fd(), len)?;
        Ok(Region { fd, ptr, len })
    }

    /// Attaches a region received from another process, checking its kind and layout.
    pub(crate) fn attach(fd: OwnedFd, kind: u32, layout: u64) -> Result<Region> {
        // SAFETY: `stat` is plain data; fstat fills it.
        let size = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
                return Err(Error::os("fstat", std::io::Error::last_os_error()));
            }
            st.st_size as usize
        };
        if size < HEADER {
            return Err(bad_region("it is too small"));
        }
        let region = Region::map(fd, size)?;
        let h = region.header();
        if h.magic.load(Ordering::Acquire) != MAGIC {
            return Err(bad_region("it is not an mp object"));
        }
        if h.kind.load(Ordering::Relaxed) != kind {
            return Err(bad_region("it holds another kind of object"));
        }
        if h.layout.load(Ordering::Relaxed) != layout {
            return Err(bad_region(
                "its layout differs from this build's (a `#[mp::shared]` type changed?)",
            ));
        }
        Ok(region)
    }

    fn header(&self) -> &Header {
        // SAFETY: every region is at least HEADER bytes, page-aligned, and Header is made of
        // atomics, valid for any bit pattern.
        unsafe { &*self.ptr.as_ptr().cast::<Header>() }
    }

    /// The start of the payload (after the header), 64-byte aligned.
    pub(crate) fn data(&self) -> *mut u8 {
        // SAFETY: HEADER < len, so the offset stays inside the mapping.
        unsafe { self.ptr.as_ptr().add(HEADER) }
    }

    /// The payload size.
    pub(crate) fn data_len(&self) -> usize {
        self.len - HEADER
    }

    /// A reference to a `T` at `offset` in the payload.
    ///
    /// # Safety
    ///
    /// `T` must be valid for any bit pattern that other processes may write (atomics and plain
    /// integers), `offset + size_of::<T>()` must fit in the payload, and `offset` must be
    /// aligned for `T`.
    pub(crate) unsafe fn at<T>(&self, offset: usize) -> &T {
        debug_assert!(offset + std::mem::size_of::<T>() <= self.data_len());
        debug_assert!(offset % std::mem::align_of::<T>() == 0);
        // SAFETY: guaranteed by the caller.
        unsafe { &*self.data().add(offset).cast::<T>() }
    }
}

fn bad_region(why: &str) -> Error {
    Error::new(
        ErrorKind::Value,
        format!("cannot attach shared memory: {why}"),
    )
}

/// A new zero-filled anonymous file of `len` bytes, close-on-exec (the one `memfd_create` of
/// shared objects).
pub(crate) fn memfd(name: &std::ffi::CStr, len: usize) -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated name; valid flags.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(Error::os("memfd_create", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate on our descriptor.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(Error::os("ftruncate", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

/// Maps `len` bytes of `fd` shared and read-write (the one `mmap` of shared objects).
pub(crate) fn map_shared(fd: BorrowedFd<'_>, len: usize) -> Result<NonNull<u8>> {
    // SAFETY: mapping `len` bytes of an open descriptor, shared, read-write.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::os("mmap", std::io::Error::last_os_error()));
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| Error::value("mmap returned null"))
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl AsFd for Region {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("fd", &self.fd.as_raw_fd())
            .field("len", &self.len)
            .finish()
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        reduction::serialize_fd(self.fd.as_fd(), s)
    }
}

/// A region in transit: deserialize it, then [`Region::attach`] with the expected kind.
pub(crate) struct RegionFd(pub(crate) OwnedFd);

impl<'de> Deserialize<'de> for RegionFd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<RegionFd, D::Error> {
        reduction::deserialize_fd(d).map(RegionFd)
    }
}

/// Kinds of objects that live in regions (the header's `kind`).
pub(crate) mod kind {
    pub(crate) const LOCK: u32 = 1;
    pub(crate) const RLOCK: u32 = 2;
    pub(crate) const SEMAPHORE: u32 = 3;
    pub(crate) const CONDITION: u32 = 4;
    pub(crate) const EVENT: u32 = 5;
    pub(crate) const BARRIER: u32 = 6;
    pub(crate) const VALUE: u32 = 7;
    pub(crate) const ARRAY: u32 = 8;
    pub(crate) const QUEUE: u32 = 9;
    pub(crate) const POOL: u32 = 10;
}

/// Whether the thread `tid` (of any process) may still be running: `/proc/<tid>/stat`
/// exists and does not show a zombie. A thread that cannot be seen (gone, or hidden by
/// `hidepid`) counts as gone, so callers combine this with [`pid_alive`] of its process.
pub(crate) fn tid_alive(tid: i32) -> bool {
    if tid <= 0 {
        return false;
    }
    match std::fs::read(format!("/proc/{tid}/stat")) {
        // The state is the field after the command name, which ends at the last ')'.
        Ok(s) => {
            let state = s
                .iter()
                .rposition(|&c| c == b')')
                .and_then(|i| s.get(i + 2));
            !matches!(state, Some(b'Z') | Some(b'X') | None)
        }
        Err(_) => false,
    }
}

/// Whether the process `pid` is still running (a zombie counts as dead).
pub(crate) fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match sys::pidfd_open(pid) {
        // Readable means it exited (possibly not yet reaped).
        Ok(fd) => {
            !sys::poll_readable(fd.as_raw_fd(), Some(std::time::Duration::ZERO)).unwrap_or(false)
        }
        Err(e) => !matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::EINVAL)),
    }
}
