//! The implementation of [`crate::shared_memory`]: named shared memory segments, Python's
//! `multiprocessing.shared_memory`. The public module (in `lib.rs`) re-exports everything here,
//! and also the manager that Python's docs show on the same page.

use std::ffi::CString;
use std::fmt;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::resource_tracker;

const RTYPE: &str = "shared_memory";

/// The longest segment name (NAME_MAX, without the leading slash).
const NAME_MAX: usize = 255;

fn os_err(what: &str, name: &str) -> Error {
    let e = std::io::Error::last_os_error();
    Error::os(format!("{what} '/{name}'"), e)
}

/// Validates a user-given name; returns it without a leading slash.
fn check_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.contains('\0') {
        return Err(Error::value(
            "embedded null character in shared memory name",
        ));
    }
    if bare.is_empty() || bare.contains('/') || bare.len() > NAME_MAX {
        return Err(Error::value(format!(
            "invalid shared memory name {name:?}: it must be 1 to {NAME_MAX} bytes with no `/` \
             after the first"
        )));
    }
    Ok(bare.to_string())
}

fn c_name(bare: &str) -> Result<CString> {
    CString::new(format!("/{bare}"))
        .map_err(|_| Error::value("embedded null character in shared memory name"))
}

fn random_name() -> String {
    let mut b = [0u8; 4];
    crate::sys::random_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("psm_{hex}")
}

struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is shared memory accessed only through atomics (or by `unsafe` callers).
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(fd: &OwnedFd, len: usize) -> Result<Mapping> {
        let ptr = crate::shm::map_shared(fd.as_fd(), len)?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Builder of a [`SharedMemory`]: Python's `SharedMemory(name=None, create=False, size=0, *,
/// track=True)`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let a = mp::shared_memory::SharedMemory::builder().size(64).track(false).create()?;
/// let b = mp::shared_memory::SharedMemory::builder().name(a.name()).track(false).attach()?;
/// assert_eq!(b.size(), 64);
/// a.unlink()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct SharedMemoryBuilder {
    name: Option<String>,
    size: usize,
    track: Option<bool>,
}

impl SharedMemoryBuilder {
    /// The segment's name (without or with a leading `/`). For `create`, a random `psm_...`
    /// name is chosen if none is given.
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryBuilder`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The size in bytes, for `create` (ignored by `attach`, as in Python).
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryBuilder`].
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Whether to register the segment with the resource tracker (default true). An
    /// untracked segment is never unlinked for you.
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryBuilder`].
    pub fn track(mut self, track: bool) -> Self {
        self.track = Some(track);
        self
    }

    /// Creates a new segment: Python's `create=True`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a zero size or a bad name; [`ErrorKind::Os`] with `EEXIST` if a
    /// segment of that name exists (Python's `FileExistsError`).
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryBuilder`].
    pub fn create(self) -> Result<SharedMemory> {
        if self.size == 0 {
            return Err(Error::value(
                "'size' must be a positive number different from zero",
            ));
        }
        let track = self.track.unwrap_or(true);
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_RDWR;
        let (name, fd) = match self.name {
            Some(n) => {
                let bare = check_name(&n)?;
                let fd = shm_open(&bare, flags)?;
                (bare, fd)
            }
            None => loop {
                let bare = random_name();
                match shm_open(&bare, flags) {
                    Ok(fd) => break (bare, fd),
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                    Err(e) => return Err(e),
                }
            },
        };
        let created = SharedMemory::finish_create(name.clone(), fd, self.size, track);
        if created.is_err() {
            if let Ok(c) = c_name(&name) {
                // SAFETY: a valid NUL-terminated name.
                unsafe { libc::shm_unlink(c.as_ptr()) };
            }
        }
        created
    }

    /// Attaches to an existing segment by name: Python's `SharedMemory(name)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] without a name or for a bad one; [`ErrorKind::Os`] with `ENOENT` if
    /// no such segment exists (Python's `FileNotFoundError`).
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryBuilder`].
    pub fn attach(self) -> Result<SharedMemory> {
        let name = self
            .name
            .ok_or_else(|| Error::value("'name' can only be None if create=True"))?;
        let bare = check_name(&name)?;
        let fd = shm_open(&bare, libc::O_RDWR)?;
        // SAFETY: `stat` is plain data; fstat fills it.
        let size = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
                return Err(os_err("fstat", &bare));
            }
            st.st_size as usize
        };
        if size == 0 {
            return Err(Error::value("cannot mmap an empty file"));
        }
        let map = Mapping::new(&fd, size)?;
        let track = self.track.unwrap_or(true);
        if track {
            resource_tracker::register(&format!("/{bare}"), RTYPE)?;
        }
        Ok(SharedMemory {
            name: bare,
            size,
            map: Some(map),
        })
    }
}

fn shm_open(bare: &str, flags: libc::c_int) -> Result<OwnedFd> {
    let c = c_name(bare)?;
    // SAFETY: a valid NUL-terminated name; the result is checked.
    let fd = unsafe { libc::shm_open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(os_err("shm_open", bare));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A named shared-memory segment: Python's `multiprocessing.shared_memory.SharedMemory`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::shared_memory::SharedMemory;
///
/// #[mp::task]
/// fn child(name: String) -> mp::Result<()> {
///     let shm = SharedMemory::attach(&name)?;
///     shm.write(0, b"hello")
/// }
///
/// let shm = SharedMemory::create(16)?;
/// let p = mp::Process::new(child, (shm.name().to_string(),));
/// p.start()?;
/// p.join()?;
/// assert_eq!(shm.read_range(0..5)?, b"hello");
/// shm.unlink()?;
/// # Ok(()) }
/// ```
pub struct SharedMemory {
    name: String,
    size: usize,
    map: Option<Mapping>,
}

impl SharedMemory {
    fn finish_create(name: String, fd: OwnedFd, size: usize, track: bool) -> Result<SharedMemory> {
        let len = libc::off_t::try_from(size).map_err(|_| Error::value("size too large"))?;
        // SAFETY: ftruncate on our descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
            return Err(os_err("ftruncate", &name));
        }
        let map = Mapping::new(&fd, size)?;
        if track {
            resource_tracker::register(&format!("/{name}"), RTYPE)?;
        }
        Ok(SharedMemory {
            name,
            size,
            map: Some(map),
        })
    }

    /// A builder for the name, size and `track` arguments.
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryBuilder`].
    pub fn builder() -> SharedMemoryBuilder {
        SharedMemoryBuilder::default()
    }

    /// Creates a segment of `size` bytes with a random name: Python's
    /// `SharedMemory(create=True, size=size)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a zero size; [`ErrorKind::Os`] if the system refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let shm = mp::shared_memory::SharedMemory::create(10)?;
    /// assert!(shm.name().starts_with("psm_"));
    /// assert_eq!(shm.size(), 10);
    /// shm.unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn create(size: usize) -> Result<SharedMemory> {
        SharedMemory::builder().size(size).create()
    }

    /// Attaches to the segment called `name`: Python's `SharedMemory(name)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] with `ENOENT` if it does not exist; [`ErrorKind::Value`] for a bad
    /// name.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::SharedMemory;
    /// let err = SharedMemory::attach("mp_doc_no_such_segment").unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    /// # Ok(()) }
    /// ```
    pub fn attach(name: &str) -> Result<SharedMemory> {
        SharedMemory::builder().name(name).attach()
    }

    /// The name, without the leading slash: Python's `name`.
    ///
    /// # Examples
    ///
    /// See [`SharedMemory`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes: Python's `size` (the real size when attached).
    ///
    /// # Examples
    ///
    /// See [`SharedMemory::create`].
    pub fn size(&self) -> usize {
        self.size
    }

    /// The buffer as atomic bytes: Python's `buf` (empty after [`close`](SharedMemory::close)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::sync::atomic::Ordering;
    /// let shm = mp::shared_memory::SharedMemory::create(4)?;
    /// shm.buf()[0].store(42, Ordering::Relaxed);
    /// assert_eq!(shm.read_range(0..1)?, [42]);
    /// assert_eq!(shm.buf().len(), 4);
    /// shm.unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn buf(&self) -> &[AtomicU8] {
        match &self.map {
            // SAFETY: the mapping is `len` bytes, valid while `self` is borrowed (close takes
            // `&mut self`); AtomicU8 has the layout of u8 and permits concurrent writes.
            Some(m) => unsafe {
                std::slice::from_raw_parts(m.ptr.as_ptr().cast::<AtomicU8>(), m.len)
            },
            None => &[],
        }
    }

    fn mapped(&self, offset: usize, len: usize) -> Result<*mut u8> {
        let m = self
            .map
            .as_ref()
            .ok_or_else(|| Error::value("the SharedMemory is closed"))?;
        match offset.checked_add(len) {
            Some(end) if end <= m.len => {
                // SAFETY: offset <= len of the mapping.
                Ok(unsafe { m.ptr.as_ptr().add(offset) })
            }
            _ => Err(Error::new(
                ErrorKind::Index,
                format!(
                    "range {offset}..{} out of bounds of {} bytes",
                    offset.saturating_add(len),
                    m.len
                ),
            )),
        }
    }

    /// Copies bytes starting at `offset` into `dst` (atomic word-sized loads).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] if the range is out of bounds; [`ErrorKind::Value`] after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let shm = mp::shared_memory::SharedMemory::create(8)?;
    /// shm.write(2, b"xyz")?;
    /// let mut out = [0u8; 3];
    /// shm.read(2, &mut out)?;
    /// assert_eq!(&out, b"xyz");
    /// shm.unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        let p = self.mapped(offset, dst.len())?;
        // SAFETY: `p..p+dst.len()` is inside the mapping (checked).
        unsafe { atomic_load_bytes(p, dst) };
        Ok(())
    }

    /// The bytes in `range`: Python's `bytes(shm.buf[a:b])`.
    ///
    /// # Errors
    ///
    /// As [`read`](SharedMemory::read).
    ///
    /// # Examples
    ///
    /// See [`SharedMemory`].
    pub fn read_range(&self, range: Range<usize>) -> Result<Vec<u8>> {
        let len = range
            .end
            .checked_sub(range.start)
            .ok_or_else(|| Error::new(ErrorKind::Index, "range end before its start"))?;
        let p = self.mapped(range.start, len)?;
        let mut v = vec![0u8; len];
        // SAFETY: in bounds (checked).
        unsafe { atomic_load_bytes(p, &mut v) };
        Ok(v)
    }

    /// Copies `src` into the segment at `offset` (atomic word-sized stores): Python's
    /// `shm.buf[offset:offset+len(src)] = src`.
    ///
    /// # Errors
    ///
    /// As [`read`](SharedMemory::read).
    ///
    /// # Examples
    ///
    /// See [`SharedMemory`].
    pub fn write(&self, offset: usize, src: &[u8]) -> Result<()> {
        let p = self.mapped(offset, src.len())?;
        // SAFETY: in bounds (checked).
        unsafe { atomic_store_bytes(p, src) };
        Ok(())
    }

    /// The whole buffer as a byte slice, without copying.
    ///
    /// # Safety
    ///
    /// No process (this one included) may write the segment while the slice is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let shm = mp::shared_memory::SharedMemory::create(3)?;
    /// shm.write(0, b"abc")?;
    /// // SAFETY: nobody else knows the name yet.
    /// assert_eq!(unsafe { shm.as_slice() }, b"abc");
    /// shm.unlink()?;
    /// # Ok(()) }
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        match &self.map {
            // SAFETY: in bounds; the caller promises there is no concurrent writer.
            Some(m) => unsafe { std::slice::from_raw_parts(m.ptr.as_ptr(), m.len) },
            None => &[],
        }
    }

    /// The whole buffer as a mutable byte slice, without copying.
    ///
    /// # Safety
    ///
    /// No other process may read or write the segment while the slice is alive (within this
    /// process, `&mut self` already ensures it).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let mut shm = mp::shared_memory::SharedMemory::create(3)?;
    /// // SAFETY: nobody else knows the name yet.
    /// unsafe { shm.as_mut_slice() }.copy_from_slice(b"xyz");
    /// assert_eq!(shm.read_range(0..3)?, b"xyz");
    /// shm.unlink()?;
    /// # Ok(()) }
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        match &self.map {
            // SAFETY: in bounds; `&mut self` excludes other users in this process and the
            // caller promises there are none in other processes.
            Some(m) => unsafe { std::slice::from_raw_parts_mut(m.ptr.as_ptr(), m.len) },
            None => &mut [],
        }
    }

    /// Unmaps the segment from this process (it stays in the system until
    /// [`unlink`](SharedMemory::unlink)): Python's `close()`. Afterwards the buffer is empty and
    /// reads and writes fail. Idempotent; dropping the handle does the same.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let mut shm = mp::shared_memory::SharedMemory::create(8)?;
    /// shm.close();
    /// assert!(shm.buf().is_empty());
    /// assert!(shm.read_range(0..1).is_err());
    /// shm.unlink()?; // still possible: by name
    /// # Ok(()) }
    /// ```
    pub fn close(&mut self) {
        self.map = None;
    }

    /// Removes the name from the system (the memory goes when every process has closed it):
    /// Python's `unlink()`. Call it once, in one process.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] with `ENOENT` if it was already unlinked.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let shm = mp::shared_memory::SharedMemory::create(8)?;
    /// shm.unlink()?;
    /// assert_eq!(shm.unlink().unwrap_err().raw_os_error(), Some(libc::ENOENT));
    /// # Ok(()) }
    /// ```
    pub fn unlink(&self) -> Result<()> {
        let c = c_name(&self.name)?;
        // SAFETY: a valid NUL-terminated name.
        if unsafe { libc::shm_unlink(c.as_ptr()) } != 0 {
            return Err(os_err("shm_unlink", &self.name));
        }
        resource_tracker::unregister(&format!("/{}", self.name), RTYPE)
    }
}

/// Unlinks the segment called `name` and tells the resource tracker it is gone (what a
/// SharedMemoryManager's server does with the segments it tracks).
pub(crate) fn unlink_name(name: &str) -> Result<()> {
    let bare = check_name(name)?;
    let c = c_name(&bare)?;
    // SAFETY: a valid NUL-terminated name.
    if unsafe { libc::shm_unlink(c.as_ptr()) } != 0 {
        return Err(os_err("shm_unlink", &bare));
    }
    resource_tracker::unregister(&format!("/{bare}"), RTYPE)
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMemory('{}', size={})", self.name, self.size)
    }
}

impl Serialize for SharedMemory {
    /// Serializes by name, as Python pickles it.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.name.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    /// Attaches by name (tracked); a missing segment is an error.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        SharedMemory::attach(&name).map_err(serde::de::Error::custom)
    }
}

/// Copies `dst.len()` bytes from `src` with relaxed atomic loads (8 bytes at a time where
/// aligned).
///
/// # Safety
///
/// `src..src+dst.len()` must be mapped, readable memory.
unsafe fn atomic_load_bytes(src: *const u8, dst: &mut [u8]) {
    let n = dst.len();
    let mut i = 0;
    while i < n && (src as usize + i) % 8 != 0 {
        // SAFETY: in bounds (caller); AtomicU8 has no alignment requirement.
        dst[i] = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Ordering::Relaxed);
        i += 1;
    }
    while i + 8 <= n {
        // SAFETY: in bounds, 8-byte aligned (loop above).
        let w = unsafe { AtomicU64::from_ptr(src.add(i).cast::<u64>().cast_mut()) }
            .load(Ordering::Relaxed);
        dst[i..i + 8].copy_from_slice(&w.to_ne_bytes());
        i += 8;
    }
    while i < n {
        // SAFETY: in bounds.
        dst[i] = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Ordering::Relaxed);
        i += 1;
    }
}

/// Copies `src` to `dst` with relaxed atomic stores.
///
/// # Safety
///
/// `dst..dst+src.len()` must be mapped, writable memory.
unsafe fn atomic_store_bytes(dst: *mut u8, src: &[u8]) {
    let n = src.len();
    let mut i = 0;
    while i < n && (dst as usize + i) % 8 != 0 {
        // SAFETY: in bounds (caller).
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Relaxed);
        i += 1;
    }
    while i + 8 <= n {
        let mut w = [0u8; 8];
        w.copy_from_slice(&src[i..i + 8]);
        // SAFETY: in bounds, 8-byte aligned.
        unsafe { AtomicU64::from_ptr(dst.add(i).cast::<u64>()) }
            .store(u64::from_ne_bytes(w), Ordering::Relaxed);
        i += 8;
    }
    while i < n {
        // SAFETY: in bounds.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Ordering::Relaxed);
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// ShareableList
// ---------------------------------------------------------------------------------------------

/// One element of a [`ShareableList`]: the Python types it can hold.
///
/// Equality follows Python's: `Int(1) == Float(1.0) == Bool(true)`.
///
/// # Examples
///
/// ```
/// use mp::shared_memory::Item;
/// assert_eq!(Item::from(1), Item::Float(1.0));
/// assert_eq!(Item::from("a").to_string(), "'a'");
/// assert_eq!(Item::from(&b"b"[..]).to_string(), "b'b'");
/// ```
#[derive(Debug, Clone)]
pub enum Item {
    /// `int` (stored as a 64-bit signed integer, format `q`).
    Int(i64),
    /// `float` (format `d`).
    Float(f64),
    /// `bool` (format `xxxxxxx?`).
    Bool(bool),
    /// `None` (format `xxxxxx?x`).
    None,
    /// `str` (UTF-8, format `Ns`).
    Str(String),
    /// `bytes` (format `Ns`).
    Bytes(Vec<u8>),
}

impl Item {
    fn number(&self) -> Option<f64> {
        match *self {
            Item::Int(i) => Some(i as f64),
            Item::Float(f) => Some(f),
            Item::Bool(b) => Some(b as u8 as f64),
            _ => None,
        }
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Item) -> bool {
        match (self, other) {
            (Item::Int(a), Item::Int(b)) => a == b,
            (Item::None, Item::None) => true,
            (Item::Str(a), Item::Str(b)) => a == b,
            (Item::Bytes(a), Item::Bytes(b)) => a == b,
            (a, b) => match (a.number(), b.number()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

impl fmt::Display for Item {
    /// Python's `repr()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Int(i) => write!(f, "{i}"),
            Item::Float(x) => write!(f, "{x:?}"),
            Item::Bool(true) => f.write_str("True"),
            Item::Bool(false) => f.write_str("False"),
            Item::None => f.write_str("None"),
            Item::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Item::Bytes(b) => f.write_str(&crate::sharedctypes::bytes_repr(b)),
        }
    }
}

macro_rules! item_from_int {
    ($($t:ty)*) => {$(
        impl From<$t> for Item {
            fn from(v: $t) -> Item {
                Item::Int(v as i64)
            }
        }
    )*};
}
item_from_int! { i8 i16 i32 i64 u8 u16 u32 }

impl From<f64> for Item {
    fn from(v: f64) -> Item {
        Item::Float(v)
    }
}

impl From<f32> for Item {
    fn from(v: f32) -> Item {
        Item::Float(v as f64)
    }
}

impl From<bool> for Item {
    fn from(v: bool) -> Item {
        Item::Bool(v)
    }
}

impl From<&str> for Item {
    fn from(v: &str) -> Item {
        Item::Str(v.to_string())
    }
}

impl From<String> for Item {
    fn from(v: String) -> Item {
        Item::Str(v)
    }
}

impl From<&[u8]> for Item {
    fn from(v: &[u8]) -> Item {
        Item::Bytes(v.to_vec())
    }
}

impl From<Vec<u8>> for Item {
    fn from(v: Vec<u8>) -> Item {
        Item::Bytes(v)
    }
}

impl From<()> for Item {
    fn from((): ()) -> Item {
        Item::None
    }
}

impl<T: Into<Item>> From<Option<T>> for Item {
    fn from(v: Option<T>) -> Item {
        v.map_or(Item::None, Into::into)
    }
}

const ALIGN: usize = 8;
const FMT_BOOL: &str = "xxxxxxx?";
const FMT_NONE: &str = "xxxxxx?x";

impl Item {
    /// The format used when this item is stored in a fresh slot.
    fn format(&self) -> String {
        match self {
            Item::Int(_) => "q".into(),
            Item::Float(_) => "d".into(),
            Item::Bool(_) => FMT_BOOL.into(),
            Item::None => FMT_NONE.into(),
            Item::Str(s) => format!("{}s", ALIGN * (s.chars().count() / ALIGN + 1)),
            Item::Bytes(b) => format!("{}s", ALIGN * (b.len() / ALIGN + 1)),
        }
    }

    fn code(&self) -> u8 {
        match self {
            Item::Str(_) => 1,
            Item::Bytes(_) => 2,
            Item::None => 3,
            _ => 0,
        }
    }

    /// The bytes stored in the slot for `fmt` (whose size is `size`).
    fn encode(&self, size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size];
        match self {
            Item::Int(i) => out[..8].copy_from_slice(&i.to_ne_bytes()),
            Item::Float(x) => out[..8].copy_from_slice(&x.to_ne_bytes()),
            Item::Bool(b) => out[7] = *b as u8,
            Item::None => {}
            Item::Str(s) => out[..s.len()].copy_from_slice(s.as_bytes()),
            Item::Bytes(b) => out[..b.len()].copy_from_slice(b),
        }
        out
    }
}

/// Bytes a format occupies (`q`, `d`, the 8-byte bool/None forms, or `Ns`).
fn format_size(fmt: &str) -> Option<usize> {
    match fmt {
        "q" | "d" | FMT_BOOL | FMT_NONE => Some(8),
        s => s.strip_suffix('s')?.parse().ok(),
    }
}

fn corrupt(what: &str) -> Error {
    Error::value(format!(
        "the ShareableList's memory is inconsistent: {what}"
    ))
}

/// A fixed-length list of ints, floats, bools, `None`s, strs and bytes in named shared memory,
/// with CPython's layout: Python's `multiprocessing.shared_memory.ShareableList`. A Python
/// process can attach to it by name, and the other way around.
///
/// Each str/bytes slot gets `8 * (len / 8 + 1)` bytes when the list is created (`len` in
/// characters for a str, as CPython counts); a later value may change type, and a str or
/// bytes value must fit the slot ("exceeds available storage" otherwise, with nothing
/// changed).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::shared_memory::{Item, ShareableList};
///
/// let sl = ShareableList::new([
///     Item::from("howdy"), b"HoWdY"[..].into(), (-273.154).into(), 100.into(),
///     Item::None, true.into(), 42.into(),
/// ])?;
/// assert_eq!(sl.format()?, "8s8sdqxxxxxx?xxxxxxxx?q");
/// assert_eq!(sl.get(-1)?, Item::Int(42));
/// sl.set(0, "hi")?;
/// let other = ShareableList::attach(sl.shm().name())?;
/// assert_eq!(other.get(0)?, Item::from("hi"));
/// sl.shm().unlink()?;
/// # Ok(()) }
/// ```
pub struct ShareableList {
    shm: SharedMemory,
    len: usize,
    /// Slot offsets from the data start; `len + 1` entries.
    offsets: Vec<usize>,
}

impl ShareableList {
    /// A new list in a segment with a random name: Python's `ShareableList(sequence)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if a str's UTF-8 encoding does not fit the slot CPython's layout
    /// gives it (CPython silently truncates it); [`ErrorKind::Os`] if the segment cannot be
    /// created.
    ///
    /// # Examples
    ///
    /// See [`ShareableList`].
    pub fn new<I: Into<Item>>(items: impl IntoIterator<Item = I>) -> Result<ShareableList> {
        ShareableList::create_in(None, true, items.into_iter().map(Into::into).collect())
    }

    /// A new list in a segment called `name`: Python's `ShareableList(sequence, name=name)`.
    ///
    /// # Errors
    ///
    /// As [`new`](ShareableList::new), plus `EEXIST` if the name is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let sl = mp::shared_memory::ShareableList::with_name("mp_doc_sl", [1, 2, 3])?;
    /// assert_eq!(sl.shm().name(), "mp_doc_sl");
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn with_name<I: Into<Item>>(
        name: &str,
        items: impl IntoIterator<Item = I>,
    ) -> Result<ShareableList> {
        ShareableList::create_in(
            Some(name),
            true,
            items.into_iter().map(Into::into).collect(),
        )
    }

    fn create_in(name: Option<&str>, track: bool, items: Vec<Item>) -> Result<ShareableList> {
        let n = items.len();
        let formats: Vec<String> = items.iter().map(Item::format).collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        let mut off = 0usize;
        for (item, fmt) in items.iter().zip(&formats) {
            let size = format_size(fmt).ok_or_else(|| corrupt("bad format"))?;
            let need = match item {
                Item::Str(s) => s.len(),
                Item::Bytes(b) => b.len(),
                _ => 0,
            };
            if need > size {
                return Err(Error::value(format!(
                    "str item {item} needs {need} bytes of UTF-8, more than the {size} bytes \
                     CPython's layout gives it"
                )));
            }
            if fmt.len() > 8 {
                return Err(Error::value("item too large for a ShareableList"));
            }
            off += size;
            offsets.push(off);
        }
        let data_start = (n + 2) * 8;
        let total = data_start + off + n * 8 + n;
        let mut b = SharedMemory::builder().size(total).track(track);
        if let Some(name) = name {
            b = b.name(name);
        }
        let shm = b.create()?;
        let mut buf = Vec::with_capacity(total);
        buf.extend_from_slice(&(n as i64).to_ne_bytes());
        for o in &offsets {
            buf.extend_from_slice(&(*o as i64).to_ne_bytes());
        }
        for (i, item) in items.iter().enumerate() {
            buf.extend_from_slice(&item.encode(offsets[i + 1] - offsets[i]));
        }
        for fmt in &formats {
            let mut f8 = [0u8; 8];
            f8[..fmt.len()].copy_from_slice(fmt.as_bytes());
            buf.extend_from_slice(&f8);
        }
        buf.extend(items.iter().map(Item::code));
        debug_assert_eq!(buf.len(), total);
        shm.write(0, &buf)?;
        Ok(ShareableList {
            shm,
            len: n,
            offsets,
        })
    }

    /// Attaches to the list in the segment `name`: Python's `ShareableList(name=name)`.
    ///
    /// # Errors
    ///
    /// `ENOENT` if there is no such segment; [`ErrorKind::Value`] if its contents are not a
    /// consistent ShareableList.
    ///
    /// # Examples
    ///
    /// See [`ShareableList`].
    pub fn attach(name: &str) -> Result<ShareableList> {
        ShareableList::from_shm(SharedMemory::attach(name)?)
    }

    /// A list over an attached segment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if its contents are not a consistent ShareableList.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::{SharedMemory, ShareableList};
    /// let sl = ShareableList::new([1])?;
    /// let again = ShareableList::from_shm(SharedMemory::attach(sl.shm().name())?)?;
    /// assert_eq!(again.len(), 1);
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn from_shm(shm: SharedMemory) -> Result<ShareableList> {
        let size = shm.size();
        let mut w = [0u8; 8];
        shm.read(0, &mut w).map_err(|_| corrupt("too small"))?;
        let n = i64::from_ne_bytes(w);
        let n = usize::try_from(n).map_err(|_| corrupt("negative length"))?;
        // Every element needs at least 8 (offset) + 8 (format) + 1 (code) bytes.
        if n > size / 17 {
            return Err(corrupt("length larger than the segment"));
        }
        let raw = shm.read_range(8..8 + (n + 1) * 8)?;
        let mut offsets = Vec::with_capacity(n + 1);
        for c in raw.chunks_exact(8) {
            let o = i64::from_ne_bytes(c.try_into().map_err(|_| corrupt("offsets"))?);
            offsets.push(usize::try_from(o).map_err(|_| corrupt("negative offset"))?);
        }
        let data_start = (n + 2) * 8;
        let end = data_start + offsets[n] + n * 8 + n;
        if offsets.windows(2).any(|w| w[0] > w[1]) || end > size {
            return Err(corrupt("offsets out of bounds"));
        }
        Ok(ShareableList {
            shm,
            len: n,
            offsets,
        })
    }

    /// The segment: Python's `shm`.
    ///
    /// # Examples
    ///
    /// See [`ShareableList`].
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The number of items: Python's `len(sl)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let sl = mp::shared_memory::ShareableList::new(Vec::<i64>::new())?;
    /// assert!(sl.is_empty());
    /// assert_eq!(sl.format()?, "");
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    ///
    /// # Examples
    ///
    /// See [`len`](ShareableList::len).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn position(&self, i: isize) -> Result<usize> {
        let n = self.len as isize;
        let p = if i < 0 { i + n } else { i };
        if p < 0 || p >= n {
            return Err(Error::new(ErrorKind::Index, "index out of range"));
        }
        Ok(p as usize)
    }

    fn data_start(&self) -> usize {
        (self.len + 2) * 8
    }

    fn formats_start(&self) -> usize {
        self.data_start() + self.offsets[self.len]
    }

    fn codes_start(&self) -> usize {
        self.formats_start() + self.len * 8
    }

    fn format_at(&self, p: usize) -> Result<String> {
        let mut f8 = [0u8; 8];
        self.shm.read(self.formats_start() + p * 8, &mut f8)?;
        let f = crate::sharedctypes::bytes_until_nul(&f8);
        String::from_utf8(f.to_vec()).map_err(|_| corrupt("format is not text"))
    }

    /// The item at `i` (negative counts from the end): Python's `sl[i]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] out of range; [`ErrorKind::Value`] if the stored str is not
    /// UTF-8 or the memory is inconsistent.
    ///
    /// # Examples
    ///
    /// See [`ShareableList`].
    pub fn get(&self, i: isize) -> Result<Item> {
        let p = self.position(i)?;
        let fmt = self.format_at(p)?;
        let mut code = [0u8; 1];
        self.shm.read(self.codes_start() + p, &mut code)?;
        let size = format_size(&fmt).ok_or_else(|| corrupt("unknown format"))?;
        let slot = self.offsets[p + 1] - self.offsets[p];
        if size > slot.max(8) {
            return Err(corrupt("format larger than its slot"));
        }
        let raw = self.shm.read_range({
            let at = self.data_start() + self.offsets[p];
            at..at + size
        })?;
        let word = || -> [u8; 8] { raw[..8].try_into().unwrap_or([0; 8]) };
        Ok(match (fmt.as_str(), code[0]) {
            (_, 3) => Item::None,
            ("q", _) => Item::Int(i64::from_ne_bytes(word())),
            ("d", _) => Item::Float(f64::from_ne_bytes(word())),
            (FMT_BOOL, _) => Item::Bool(raw[7] != 0),
            (FMT_NONE, _) => Item::Bool(raw[6] != 0),
            (_, 1) => {
                let b = trim_nuls(&raw);
                Item::Str(
                    String::from_utf8(b.to_vec())
                        .map_err(|_| Error::value("the stored str is not valid UTF-8"))?,
                )
            }
            (_, 2) => Item::Bytes(trim_nuls(&raw).to_vec()),
            _ => Item::Bytes(raw),
        })
    }

    /// Stores `value` at `i` (negative counts from the end): Python's `sl[i] = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] out of range; [`ErrorKind::Value`] if a str/bytes value is longer
    /// than its slot ("bytes/str item exceeds available storage"), in which case nothing
    /// changes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let sl = mp::shared_memory::ShareableList::new(["abc"])?;
    /// sl.set(0, "12345678")?; // exactly fills the 8-byte slot
    /// assert!(sl.set(0, "123456789").is_err());
    /// assert_eq!(sl.get(0)?, "12345678".into());
    /// sl.set(0, 7)?; // a value may change type
    /// assert_eq!(sl.format()?, "q");
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn set(&self, i: isize, value: impl Into<Item>) -> Result<()> {
        let value = value.into();
        let p = self.position(i)?;
        let current = self.format_at(p)?;
        let allocated = self.offsets[p + 1] - self.offsets[p];
        let new_format = match &value {
            Item::Str(_) | Item::Bytes(_) => {
                let len = match &value {
                    Item::Str(s) => s.len(),
                    Item::Bytes(b) => b.len(),
                    _ => 0,
                };
                if len > allocated {
                    return Err(Error::value("bytes/str item exceeds available storage"));
                }
                if current.ends_with('s') {
                    current
                } else {
                    format!("{allocated}s")
                }
            }
            other => other.format(),
        };
        let size = format_size(&new_format).ok_or_else(|| corrupt("unknown format"))?;
        if size > allocated.max(8) || new_format.len() > 8 {
            return Err(corrupt("format larger than its slot"));
        }
        let mut f8 = [0u8; 8];
        f8[..new_format.len()].copy_from_slice(new_format.as_bytes());
        self.shm.write(self.formats_start() + p * 8, &f8)?;
        self.shm.write(self.codes_start() + p, &[value.code()])?;
        self.shm
            .write(self.data_start() + self.offsets[p], &value.encode(size))
    }

    /// The packing format of all items: Python's `format` (e.g. `8s8sdqxxxxxx?xxxxxxxx?q`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the memory is inconsistent.
    ///
    /// # Examples
    ///
    /// See [`ShareableList`].
    pub fn format(&self) -> Result<String> {
        (0..self.len).map(|p| self.format_at(p)).collect()
    }

    /// Every item, in order: Python's `list(sl)`.
    ///
    /// # Errors
    ///
    /// As [`get`](ShareableList::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::{Item, ShareableList};
    /// let sl = ShareableList::new([1, 2])?;
    /// assert_eq!(sl.to_vec()?, [Item::Int(1), Item::Int(2)]);
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn to_vec(&self) -> Result<Vec<Item>> {
        (0..self.len as isize).map(|i| self.get(i)).collect()
    }

    /// How many items equal `value`: Python's `count(value)`.
    ///
    /// # Errors
    ///
    /// As [`get`](ShareableList::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let sl = mp::shared_memory::ShareableList::new([1, 2, 1])?;
    /// assert_eq!(sl.count(&1.into())?, 2);
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn count(&self, value: &Item) -> Result<usize> {
        Ok(self.to_vec()?.iter().filter(|x| *x == value).count())
    }

    /// The position of the first item equal to `value`: Python's `index(value)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let sl = mp::shared_memory::ShareableList::new(["a", "b"])?;
    /// assert_eq!(sl.index(&"b".into())?, 1);
    /// assert_eq!(sl.index(&"c".into()).unwrap_err().kind(), mp::ErrorKind::Value);
    /// sl.shm().unlink()?;
    /// # Ok(()) }
    /// ```
    pub fn index(&self, value: &Item) -> Result<usize> {
        self.to_vec()?
            .iter()
            .position(|x| x == value)
            .ok_or_else(|| Error::value(format!("{value} not in this container")))
    }
}

fn trim_nuls(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    &b[..end]
}

impl fmt::Debug for ShareableList {
    /// Python's repr: `ShareableList([1, 'a'], name='psm_...')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_vec() {
            Ok(items) => {
                let list: Vec<String> = items.iter().map(Item::to_string).collect();
                write!(
                    f,
                    "ShareableList([{}], name='{}')",
                    list.join(", "),
                    self.shm.name()
                )
            }
            Err(_) => write!(f, "ShareableList(<unreadable>, name='{}')", self.shm.name()),
        }
    }
}

impl Serialize for ShareableList {
    /// By name only, as Python pickles it.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(d)?;
        ShareableList::from_shm(shm).map_err(serde::de::Error::custom)
    }
}
