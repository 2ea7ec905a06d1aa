//! Plain data in shared memory: Python's `multiprocessing.sharedctypes` (`Value`, `Array`,
//! `RawValue`, `RawArray`, `copy`, `synchronized`).
//!
//! A [`Value<T>`] or [`Array<T>`] lives in a block of a shared arena (anonymous shared memory,
//! a `memfd` holding many objects, as CPython's `multiprocessing.heap`; an array over 64 KiB
//! gets an arena of its own): a child started with any start method, or a process that
//! received the handle through a [`Connection`](crate::Connection), sees the same memory.
//! Thousands of values cost a few descriptors; a block is reused once no process holds it.
//! Nothing is left in `/dev/shm` when the processes die, whatever the way.
//!
//! # Python → Rust
//!
//! | Python | mp |
//! |---|---|
//! | `Value('d', 0.0)` | [`Value::new(0.0f64)?`](Value::new) (with a new `RLock`) |
//! | `Value('i', 7, lock=lock)` | [`Value::with_lock(7i32, lock)?`](Value::with_lock) |
//! | `Value(c_double, x, lock=False)`, `RawValue('d', x)` | [`Value::builder(x).raw()?`](ValueBuilder::raw), [`RawValue::new(x)?`](RawValue::new) |
//! | `v.value`, `v.value = x` | [`v.get()?`](Value::get), [`v.set(x)?`](Value::set) |
//! | `with v.get_lock(): v.value += 1` | [`*v.lock()? += 1`](Value::lock) |
//! | `v.get_lock()`, `v.get_obj()` | [`v.get_lock()`](Value::get_lock), [`v.get_obj()`](Value::get_obj) |
//! | `Array('i', 10)` (zeroed), `Array('i', range(10))` | [`Array::<i32>::new(10)?`](Array::new), [`Array::from_values(0..10)?`](Array::from_values) |
//! | `a[i]`, `a[i] = x`, `a[:]`, `len(a)` | [`a.get(i)?`](Array::get), [`a.set(i, x)?`](Array::set), [`a.to_vec()?`](Array::to_vec), [`a.len()`](Array::len) |
//! | `Array('c', b'hello')`, `a.value` | [`Array::from_slice(b"hello")?`](Array::from_slice), [`a.value()?`](Array::value) |
//! | `class Point(Structure): _fields_ = [...]` | `#[mp::shared] struct Point { .. }` |
//! | `sharedctypes.copy(obj)`, `synchronized(obj, lock)` | [`copy(&obj)?`](copy), [`synchronized(&obj, lock)?`](synchronized) |
//!
//! # Typecodes
//!
//! Python picks the element type with a typecode at run time; mp picks it at compile time, so
//! an unknown typecode (Python's `TypeError: bad typecode`) cannot happen.
//!
//! | typecode | ctypes | Rust |
//! |---|---|---|
//! | `'c'` | `c_char` | `u8` (an `Array<u8>` has [`value`](Array::value) / [`set_value`](Array::set_value) for byte strings) |
//! | `'b'` | `c_byte` | `i8` |
//! | `'B'` | `c_ubyte` | `u8` |
//! | `'h'` | `c_short` | `i16` |
//! | `'H'` | `c_ushort` | `u16` |
//! | `'i'` | `c_int` | `i32` |
//! | `'I'` | `c_uint` | `u32` |
//! | `'l'` | `c_long` | `i64` |
//! | `'L'` | `c_ulong` | `u64` |
//! | `'q'` | `c_longlong` | `i64` |
//! | `'Q'` | `c_ulonglong` | `u64` |
//! | `'f'` | `c_float` | `f32` |
//! | `'d'` | `c_double` | `f64` |
//! | — | `c_bool`, `c_size_t`, `c_ssize_t` | `bool`, `usize`, `isize` |
//! | — | `c_char * N` inside a structure | [`FixedBytes<N>`] |
//! | — | a `Structure` subclass | a `#[mp::shared]` struct |
//!
//! # Soundness
//!
//! Every access to the data goes through an exclusive *borrow flag* stored next to it in
//! shared memory (a word holding the borrowing thread's id, checked by every process): a
//! [`ValueGuard`] hands out `&mut T` only while it holds that flag, and `get`/`set` hold it for
//! the copy. So Rust references into shared memory never alias a concurrent access made
//! through mp, in this process or another one, even if somebody releases a [`Lock`] behind the
//! guard's back (Python allows any process to release a `Lock`). The flag of a process that
//! died holding it is taken over. The user-visible lock (Python's `get_lock()`) is a separate,
//! ordinary [`RLock`] or [`Lock`] that makes read-modify-write sequences atomic.
//!
//! [`RawValue`] and [`RawArray`] have no user-visible lock (as in Python, `+=` on them is not
//! atomic), but each single access is still made under the borrow flag, so that it cannot tear
//! nor race at the language level.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Range};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::futex;
use crate::shm::{self, Block, BlockWire, pid_alive};
use crate::synchronize::{AnyLock, Lock, RLock};

// ---------------------------------------------------------------------------------------------
// Shareable
// ---------------------------------------------------------------------------------------------

/// Plain data that can live in shared memory: numbers, `bool`, arrays of them,
/// [`FixedBytes`], and structs marked `#[mp::shared]`.
///
/// Implemented by `#[mp::shared]`, which proves at compile time that every field is
/// `Shareable` and computes [`LAYOUT`](Shareable::LAYOUT) from the field names, types,
/// offsets and the size. A mapping received from another process is only accepted if its
/// layout hash matches the receiver's type.
///
/// # Safety
///
/// Implementors must be `Copy`, contain no pointers or references (an address means nothing in
/// another process), no `Drop` glue, and accept the all-zero bit pattern and any value another
/// process could write through the same type (for every field, a valid value of that field's
/// type). `LAYOUT` must change whenever the memory layout or the meaning of the fields does.
///
/// # Examples
///
/// ```
/// use mp::sharedctypes::Shareable;
///
/// #[mp::shared]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
///
/// fn layout<T: Shareable>() -> u64 { T::LAYOUT }
/// assert_ne!(layout::<Point>(), layout::<[f64; 2]>());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in shared memory",
    label = "not plain data (`mp::sharedctypes::Shareable`)",
    note = "shared memory holds plain data only: integers, floats, `bool`, arrays of them, \
            `mp::sharedctypes::FixedBytes<N>` and `#[mp::shared]` structs",
    note = "`String`, `Vec`, `Box` and references point into one process's memory; use a \
            fixed-size array (`[T; N]`) or `FixedBytes<N>` instead"
)]
pub unsafe trait Shareable: Copy + Send + Sync + 'static {
    /// A hash of the layout (names, types, offsets, size), checked when a mapping is attached.
    const LAYOUT: u64;
}

/// Layout-hash helpers used by `#[mp::shared]` (FNV-1a). Not a public API.
#[doc(hidden)]
pub mod __layout {
    /// The starting value.
    pub const START: u64 = 0xcbf2_9ce4_8422_2325;

    /// Feeds a string.
    pub const fn str(mut h: u64, s: &str) -> u64 {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            h ^= b[i] as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h.wrapping_mul(0x0100_0000_01b3)
    }

    /// Feeds an integer.
    pub const fn u64(mut h: u64, x: u64) -> u64 {
        let b = x.to_le_bytes();
        let mut i = 0;
        while i < 8 {
            h ^= b[i] as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        h
    }

    /// The hash of a primitive type.
    pub const fn prim(name: &str, size: usize, align: usize) -> u64 {
        u64(u64(str(START, name), size as u64), align as u64)
    }
}

macro_rules! shareable_prim {
    ($($t:ty)*) => {$(
        // SAFETY: a primitive with no invalid bit patterns (or, for bool, written only as
        // 0/1 by the same type in every process), no pointers, no drop glue.
        unsafe impl Shareable for $t {
            const LAYOUT: u64 = __layout::prim(
                stringify!($t),
                std::mem::size_of::<$t>(),
                std::mem::align_of::<$t>(),
            );
        }
    )*};
}

shareable_prim! { u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64 bool }

// SAFETY: an array of Shareable elements is Shareable.
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {
    const LAYOUT: u64 = __layout::u64(
        __layout::u64(__layout::str(__layout::START, "[]"), T::LAYOUT),
        N as u64,
    );
}

/// A fixed-size byte string, for text inside `#[mp::shared]` structs: ctypes' `c_char * N`.
///
/// Like a ctypes `c_char` array, [`value`](FixedBytes::value) stops at the first NUL and
/// [`set_value`](FixedBytes::set_value) NUL-terminates when there is room.
///
/// # Examples
///
/// ```
/// use mp::sharedctypes::FixedBytes;
/// let mut s = FixedBytes::<16>::new(b"hello world")?;
/// assert_eq!(s.value(), b"hello world");
/// s.set_value(&s.value().to_ascii_uppercase())?;
/// assert_eq!(format!("{s:?}"), "b'HELLO WORLD'");
/// assert!(s.set_value(&[b'x'; 17]).is_err());
/// # Ok::<(), mp::Error>(())
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedBytes<const N: usize>(pub [u8; N]);

// SAFETY: a byte array.
unsafe impl<const N: usize> Shareable for FixedBytes<N> {
    const LAYOUT: u64 = __layout::u64(__layout::str(__layout::START, "FixedBytes"), N as u64);
}

impl<const N: usize> FixedBytes<N> {
    /// A byte string holding `value` (NUL-padded).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `value` is longer than `N` ("byte string too long").
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::sharedctypes::FixedBytes::<4>::new(b"abc")?;
    /// assert_eq!(s.0, *b"abc\0");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: &[u8]) -> Result<Self> {
        let mut s = FixedBytes([0; N]);
        s.set_value(value)?;
        Ok(s)
    }

    /// The bytes up to the first NUL: ctypes' `.value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::sharedctypes::FixedBytes::<8>::new(b"hi")?;
    /// assert_eq!(s.value(), b"hi");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn value(&self) -> &[u8] {
        until_nul(&self.0)
    }

    /// Stores `value`, NUL-terminated if shorter than `N`: ctypes' `.value = ...`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if `value` is longer than `N`; nothing is changed then.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = mp::sharedctypes::FixedBytes::<8>::new(b"hello")?;
    /// s.set_value(b"yo")?;
    /// assert_eq!(s.value(), b"yo");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set_value(&mut self, value: &[u8]) -> Result<()> {
        set_c_bytes(&mut self.0, value)
    }

    /// The text, if it is UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = mp::sharedctypes::FixedBytes::<8>::new(b"hi")?;
    /// assert_eq!(s.as_str(), Some("hi"));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.value()).ok()
    }
}

impl<const N: usize> Default for FixedBytes<N> {
    fn default() -> Self {
        FixedBytes([0; N])
    }
}

impl<const N: usize> fmt::Debug for FixedBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bytes_repr(self.value()))
    }
}

pub(crate) fn bytes_until_nul(b: &[u8]) -> &[u8] {
    until_nul(b)
}

fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn set_c_bytes(dst: &mut [u8], value: &[u8]) -> Result<()> {
    if value.len() > dst.len() {
        return Err(Error::value(format!(
            "byte string too long ({} bytes for {})",
            value.len(),
            dst.len()
        )));
    }
    dst[..value.len()].copy_from_slice(value);
    if value.len() < dst.len() {
        dst[value.len()] = 0;
    }
    Ok(())
}

/// Python's `repr()` of a bytes object: `b'HELLO WORLD'`.
///
/// # Examples
///
/// ```
/// assert_eq!(mp::sharedctypes::bytes_repr(b"it's\n"), r#"b"it's\n""#);
/// assert_eq!(mp::sharedctypes::bytes_repr(b"ab\x00"), r"b'ab\x00'");
/// ```
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::with_capacity(b.len() + 3);
    s.push('b');
    s.push(quote);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

// ---------------------------------------------------------------------------------------------
// The shared object: header (borrow flag, length) + data
// ---------------------------------------------------------------------------------------------

/// Where the data starts in the region's payload.
const DATA: usize = 64;

#[repr(C)]
struct ObjHeader {
    /// The tid of the thread borrowing the data, 0 if none.
    tid: AtomicU32,
    /// The pid of that thread's process.
    pid: AtomicU32,
    waiters: AtomicU32,
    _reserved: AtomicU32,
    /// Number of elements.
    len: AtomicU64,
}

const FIRST_CHECK: Duration = Duration::from_millis(20);
const MAX_CHECK: Duration = Duration::from_millis(500);

const fn obj_layout<T: Shareable>(kind: &str) -> u64 {
    __layout::u64(__layout::str(__layout::START, kind), T::LAYOUT)
}

/// A region holding an element count and `len` elements of `T`.
struct Obj<T> {
    region: Arc<Block>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T> Clone for Obj<T> {
    fn clone(&self) -> Self {
        Obj {
            region: self.region.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

/// Exclusive access to an object's data; released on drop.
struct Excl<'a> {
    hdr: &'a ObjHeader,
}

impl Drop for Excl<'_> {
    #[inline]
    fn drop(&mut self) {
        let h = self.hdr;
        h.pid.store(0, Ordering::Relaxed);
        h.tid.store(0, Ordering::SeqCst);
        if h.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&h.tid, 1);
        }
    }
}

fn kind_name(kind: u32) -> &'static str {
    if kind == shm::kind::ARRAY {
        "mp::Array v1"
    } else {
        "mp::Value v1"
    }
}

impl<T: Shareable> Obj<T> {
    fn new(len: usize, kind: u32) -> Result<Obj<T>> {
        const {
            assert!(
                std::mem::align_of::<T>() <= DATA,
                "shared types must be at most 64-byte aligned"
            )
        };
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(DATA))
            .ok_or_else(|| Error::value("shared array too large"))?;
        let region = shm::alloc(bytes, kind, obj_layout::<T>(kind_name(kind)))?;
        let obj = Obj {
            region: Arc::new(region),
            len,
            _t: PhantomData,
        };
        obj.hdr().len.store(len as u64, Ordering::Release);
        Ok(obj)
    }

    fn attach(wire: BlockWire, kind: u32) -> Result<Obj<T>> {
        let region = Block::attach(wire, kind, obj_layout::<T>(kind_name(kind)))?;
        if region.data_len() < DATA {
            return Err(Error::value("cannot attach shared memory: it is too small"));
        }
        // SAFETY: the payload has room for the header (checked above), 64-byte aligned.
        let hdr: &ObjHeader = unsafe { region.at(0) };
        let len = hdr.len.load(Ordering::Acquire);
        let fits = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_mul(std::mem::size_of::<T>()))
            .and_then(|b| b.checked_add(DATA))
            .is_some_and(|b| b <= region.data_len());
        if !fits || (kind == shm::kind::VALUE && len != 1) {
            return Err(Error::value(
                "cannot attach shared memory: its length does not match its size",
            ));
        }
        Ok(Obj {
            region: Arc::new(region),
            len: len as usize,
            _t: PhantomData,
        })
    }

    #[inline]
    fn hdr(&self) -> &ObjHeader {
        // SAFETY: every object region has a 64-byte header of atomics at offset 0.
        unsafe { self.region.at(0) }
    }

    #[inline]
    fn ptr(&self) -> *mut T {
        // SAFETY: DATA is within the payload (checked at creation and attach); the result is
        // 64-byte aligned, enough for T.
        unsafe { self.region.data().add(DATA).cast::<T>() }
    }

    /// Takes the borrow flag, waiting for another holder; takes it over from a dead one.
    #[inline]
    fn excl(&self) -> Result<Excl<'_>> {
        let h = self.hdr();
        let (pid, tid) = futex::ids();
        if h.tid
            .compare_exchange(0, tid as u32, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            h.pid.store(pid as u32, Ordering::Relaxed);
            return Ok(Excl { hdr: h });
        }
        self.excl_slow(pid, tid)
    }

    #[cold]
    fn excl_slow(&self, pid: i32, tid: i32) -> Result<Excl<'_>> {
        let h = self.hdr();
        let mut interval = FIRST_CHECK;
        let mut spins = 0u32;
        loop {
            let cur = h.tid.load(Ordering::Acquire);
            if cur == 0 {
                if h.tid
                    .compare_exchange(0, tid as u32, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    h.pid.store(pid as u32, Ordering::Relaxed);
                    return Ok(Excl { hdr: h });
                }
                continue;
            }
            if cur == tid as u32 && h.pid.load(Ordering::Relaxed) == pid as u32 {
                return Err(Error::new(
                    ErrorKind::Runtime,
                    "the shared data is already borrowed by this thread: a guard of it is \
                     still alive (drop it before accessing the data again)",
                ));
            }
            if spins < 100 {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            h.waiters.fetch_add(1, Ordering::SeqCst);
            let woke = futex::wait(&h.tid, cur, Some(interval));
            h.waiters.fetch_sub(1, Ordering::SeqCst);
            if !woke {
                let holder = h.pid.load(Ordering::Relaxed) as i32;
                if holder != 0 && holder != pid && !pid_alive(holder) {
                    // The holder died mid-access: take the flag over.
                    if h.tid
                        .compare_exchange(cur, tid as u32, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        h.pid.store(pid as u32, Ordering::Relaxed);
                        return Ok(Excl { hdr: h });
                    }
                }
                interval = (interval * 2).min(MAX_CHECK);
            }
        }
    }

    /// Takes the borrow flag only if it is free.
    fn try_excl(&self) -> Option<Excl<'_>> {
        let h = self.hdr();
        let (pid, tid) = futex::ids();
        h.tid
            .compare_exchange(0, tid as u32, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        h.pid.store(pid as u32, Ordering::Relaxed);
        Some(Excl { hdr: h })
    }

    fn read(&self, i: usize) -> Result<T> {
        check_index(i, self.len)?;
        let _x = self.excl()?;
        // SAFETY: in bounds; exclusive access under the borrow flag; any bit pattern written
        // through `T` in any process is a valid `T` (Shareable).
        Ok(unsafe { self.ptr().add(i).read() })
    }

    fn write(&self, i: usize, v: T) -> Result<()> {
        check_index(i, self.len)?;
        let _x = self.excl()?;
        // SAFETY: as in `read`.
        unsafe { self.ptr().add(i).write(v) };
        Ok(())
    }

    fn read_range(&self, r: Range<usize>) -> Result<Vec<T>> {
        check_range(&r, self.len)?;
        let _x = self.excl()?;
        // SAFETY: in bounds, exclusive access.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr().add(r.start), r.len()) }.to_vec())
    }

    fn write_range(&self, start: usize, values: &[T]) -> Result<()> {
        let end = start
            .checked_add(values.len())
            .ok_or_else(|| Error::new(ErrorKind::Index, "slice out of range"))?;
        check_range(&(start..end), self.len)?;
        let _x = self.excl()?;
        // SAFETY: in bounds, exclusive access; `values` is ours, not in the region.
        unsafe {
            std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr().add(start), values.len())
        };
        Ok(())
    }

    fn fill(&self, v: T) -> Result<()> {
        let _x = self.excl()?;
        // SAFETY: exclusive access to `len` elements.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }.fill(v);
        Ok(())
    }

    /// A new region with a copy of the data.
    fn duplicate(&self, kind: u32) -> Result<Obj<T>> {
        let new = Obj::<T>::new(self.len, kind)?;
        let _x = self.excl()?;
        // SAFETY: both in bounds; distinct regions; exclusive access to the source.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(), new.ptr(), self.len) };
        Ok(new)
    }

    fn with_data(len: usize, kind: u32, values: &[T]) -> Result<Obj<T>> {
        let obj = Obj::new(len, kind)?;
        // SAFETY: fresh region, nobody else can see it yet; `values.len() <= len`.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), obj.ptr(), values.len().min(len)) };
        Ok(obj)
    }

    fn same(&self, other: &Obj<T>) -> bool {
        Arc::ptr_eq(&self.region, &other.region) || self.region.same(&other.region)
    }
}

fn check_index(i: usize, len: usize) -> Result<()> {
    if i < len {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Index,
            format!("index {i} out of range for length {len}"),
        ))
    }
}

fn check_range(r: &Range<usize>, len: usize) -> Result<()> {
    if r.start <= r.end && r.end <= len {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Index,
            format!("slice {}..{} out of range for length {len}", r.start, r.end),
        ))
    }
}

impl<T> Serialize for Obj<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.region.serialize(s)
    }
}

fn de_obj<'de, D: Deserializer<'de>, T: Shareable>(
    d: D,
    kind: u32,
) -> std::result::Result<Obj<T>, D::Error> {
    let wire = BlockWire::deserialize(d)?;
    Obj::attach(wire, kind).map_err(serde::de::Error::custom)
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

/// Exclusive access to a synchronized value: the lock is held and `&mut T` is handed out.
/// Made by [`Value::lock`]; releases both when dropped.
///
/// # Examples
///
/// ```
/// let v = mp::Value::new(1i32)?;
/// {
///     let mut g: mp::sharedctypes::ValueGuard<'_, i32> = v.lock()?;
///     *g += 1;
/// }
/// assert_eq!(v.get()?, 2);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Shareable> {
    obj: &'a Obj<T>,
    excl: Option<Excl<'a>>,
    lock: Option<&'a AnyLock>,
}

impl<T: Shareable> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the borrow flag is held for the guard's life: nobody else accesses the data.
        unsafe { &*self.obj.ptr() }
    }
}

impl<T: Shareable> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { &mut *self.obj.ptr() }
    }
}

impl<T: Shareable> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.excl.take());
        if let Some(l) = self.lock {
            let _ = l.release();
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}

/// Exclusive access to a shared array as `&mut [T]`. Made by [`Array::lock`] (the array's lock
/// is held too) and [`RawArray::borrow_mut`]; releases on drop.
///
/// # Examples
///
/// ```
/// let a = mp::Array::<u8>::new(4)?;
/// a.lock()?.fill(7);
/// assert_eq!(a.to_vec()?, [7, 7, 7, 7]);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Shareable> {
    obj: &'a Obj<T>,
    excl: Option<Excl<'a>>,
    lock: Option<&'a AnyLock>,
}

impl<T: Shareable> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the borrow flag is held; `len` elements are in bounds.
        unsafe { std::slice::from_raw_parts(self.obj.ptr(), self.obj.len) }
    }
}

impl<T: Shareable> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.obj.ptr(), self.obj.len) }
    }
}

impl<T: Shareable> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.excl.take());
        if let Some(l) = self.lock {
            let _ = l.release();
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&&**self).finish()
    }
}

/// A plain `Lock` already held by this thread would deadlock (CPython hangs there): an error
/// instead.
fn check_not_relocking(lock: &AnyLock) -> Result<()> {
    if let AnyLock::Lock(l) = lock
        && l.is_mine()
    {
        return Err(Error::new(
            ErrorKind::Runtime,
            "this thread already holds the object's Lock, which is not recursive: use the \
             guard you hold, or give the object an RLock",
        ));
    }
    Ok(())
}

/// Acquires `lock`, then the borrow flag; on failure releases what was taken.
fn lock_then_excl<'a, T: Shareable>(obj: &'a Obj<T>, lock: &'a AnyLock) -> Result<Excl<'a>> {
    check_not_relocking(lock)?;
    lock.acquire()?;
    match obj.excl() {
        Ok(x) => Ok(x),
        Err(e) => {
            let _ = lock.release();
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RawValue / Value
// ---------------------------------------------------------------------------------------------

/// A value in shared memory without a lock: Python's `RawValue` (and `Value(.., lock=False)`).
///
/// Each `get` or `set` is atomic with respect to the others (made under the borrow flag, see
/// the module docs), but a read-modify-write is not: use a [`Value`] for that.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::sharedctypes::RawValue;
///
/// #[mp::task]
/// fn square(x: RawValue<f64>) -> mp::Result<()> {
///     x.set(x.get()?.powi(2))
/// }
///
/// let x = RawValue::new(1.0 / 3.0)?;
/// let p = mp::Process::new(square, (x.clone(),));
/// p.start()?;
/// p.join()?;
/// assert_eq!(x.get()?, 0.1111111111111111);
/// # Ok(()) }
/// ```
pub struct RawValue<T: Shareable> {
    obj: Obj<T>,
}

impl<T: Shareable> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            obj: self.obj.clone(),
        }
    }
}

impl<T: Shareable> RawValue<T> {
    /// A value in new shared memory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::sharedctypes::RawValue::new(2.4f64)?;
    /// assert_eq!(v.get()?, 2.4);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: T) -> Result<RawValue<T>> {
        Ok(RawValue {
            obj: Obj::with_data(1, shm::kind::VALUE, std::slice::from_ref(&value))?,
        })
    }

    /// Reads the value: Python's `.value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread holds a guard on the same memory (through a
    /// [`Value`] made by [`synchronized`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::sharedctypes::RawValue::new(7i32)?;
    /// assert_eq!(v.get()?, 7);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.obj.read(0)
    }

    /// Writes the value: Python's `.value = x`.
    ///
    /// # Errors
    ///
    /// As [`get`](RawValue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::sharedctypes::RawValue::new(7i32)?;
    /// v.set(8)?;
    /// assert_eq!(v.get()?, 8);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        self.obj.write(0, value)
    }

    /// Exclusive access as `&mut T` for a read-modify-write, without a user-visible lock (other
    /// accesses wait until the guard is dropped).
    ///
    /// # Errors
    ///
    /// As [`get`](RawValue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::sharedctypes::RawValue::new(7i32)?;
    /// *v.borrow_mut()? *= 7;
    /// assert_eq!(v.get()?, 49);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn borrow_mut(&self) -> Result<ValueGuard<'_, T>> {
        let excl = self.obj.excl()?;
        Ok(ValueGuard {
            obj: &self.obj,
            excl: Some(excl),
            lock: None,
        })
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            // SAFETY: exclusive access under the flag.
            Some(_x) => write!(f, "RawValue({:?})", unsafe { self.obj.ptr().read() }),
            None => write!(f, "RawValue(<borrowed>)"),
        }
    }
}

impl<T: Shareable> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.obj.serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(RawValue {
            obj: de_obj(d, shm::kind::VALUE)?,
        })
    }
}

/// A value in shared memory with a lock: Python's `multiprocessing.Value`.
///
/// By default the lock is a new [`RLock`]; [`with_lock`](Value::with_lock) uses a given
/// [`Lock`] or [`RLock`] (Python's `lock=` argument). [`get`](Value::get) and
/// [`set`](Value::set) take the lock for the copy; [`lock`](Value::lock) holds it and gives
/// `&mut T`, which is how `with v.get_lock(): v.value += 1` is written.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::{Array, Value};
///
/// #[mp::task]
/// fn f(n: Value<f64>, a: Array<i32>) -> mp::Result<()> {
///     n.set(3.1415927)?;
///     for x in a.lock()?.iter_mut() {
///         *x = -*x;
///     }
///     Ok(())
/// }
///
/// let num = Value::new(0.0)?;
/// let arr = Array::from_values(0..10)?;
/// let p = mp::Process::new(f, (num.clone(), arr.clone()));
/// p.start()?;
/// p.join()?;
/// assert_eq!(num.get()?, 3.1415927);
/// assert_eq!(arr.to_vec()?, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
/// # Ok(()) }
/// ```
pub struct Value<T: Shareable> {
    obj: Obj<T>,
    lock: AnyLock,
}

impl<T: Shareable> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            obj: self.obj.clone(),
            lock: self.lock.clone(),
        }
    }
}

/// Builder of a [`Value`]: Python's `Value(type, x, lock=...)`: [`lock`](ValueBuilder::lock)
/// for a given Lock or RLock, [`raw`](ValueBuilder::raw) for `lock=False` (a [`RawValue`]).
///
/// # Examples
///
/// ```
/// let lock = mp::Lock::new()?;
/// let v = mp::Value::builder(7i32).lock(lock.clone()).build()?;
/// assert_eq!(*v.get_lock(), lock.into());
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ValueBuilder<T> {
    value: T,
    lock: Option<AnyLock>,
}

impl<T: Shareable> ValueBuilder<T> {
    /// Uses `lock` (a [`Lock`] or an [`RLock`]) instead of a new `RLock`.
    ///
    /// # Examples
    ///
    /// See [`ValueBuilder`].
    pub fn lock(mut self, lock: impl Into<AnyLock>) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// Python's `lock=False`: creates the value without a lock, as a [`RawValue`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if a lock was given too (Python's `lock=` takes one or the other);
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let x = mp::Value::builder(1.0f64 / 3.0).raw()?; // Value(c_double, 1/3, lock=False)
    /// x.set(x.get()?.powi(2))?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn raw(self) -> Result<RawValue<T>> {
        if self.lock.is_some() {
            return Err(Error::value("a value cannot have a lock and lock=False"));
        }
        RawValue::new(self.value)
    }

    /// Creates the value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// See [`ValueBuilder`].
    pub fn build(self) -> Result<Value<T>> {
        let lock = match self.lock {
            Some(l) => l,
            None => AnyLock::RLock(RLock::new()?),
        };
        Ok(Value {
            obj: Obj::with_data(1, shm::kind::VALUE, std::slice::from_ref(&self.value))?,
            lock,
        })
    }
}

impl<T: Shareable> Value<T> {
    /// A value with a new [`RLock`]: Python's `Value(typecode, x)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::Value::new(0.0f64)?;
    /// assert_eq!(v.get()?, 0.0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: T) -> Result<Value<T>> {
        Value::builder(value).build()
    }

    /// A value guarded by `lock` (a [`Lock`] or [`RLock`]): Python's `Value(t, x, lock=lock)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::Lock::new()?;
    /// let v = mp::Value::with_lock(7i32, l.clone())?;
    /// let g = v.lock()?;
    /// assert!(l.locked());
    /// # drop(g);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn with_lock(value: T, lock: impl Into<AnyLock>) -> Result<Value<T>> {
        Value::builder(value).lock(lock).build()
    }

    /// A builder for the `lock` argument.
    ///
    /// # Examples
    ///
    /// See [`ValueBuilder`].
    pub fn builder(value: T) -> ValueBuilder<T> {
        ValueBuilder { value, lock: None }
    }

    /// Reads the value under the lock: Python's `.value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the lock's holder died; [`ErrorKind::Runtime`] if this
    /// thread holds a [`ValueGuard`] of this value (the lock is recursive, the data is not), or
    /// holds the value's lock when it is a plain (non-recursive) [`Lock`], where CPython would
    /// deadlock.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::Value::new(3i64)?;
    /// assert_eq!(v.get()?, 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        let _x = lock_then_excl(&self.obj, &self.lock)?;
        // SAFETY: exclusive access under the flag.
        let v = unsafe { self.obj.ptr().read() };
        drop(_x);
        self.lock.release()?;
        Ok(v)
    }

    /// Writes the value under the lock: Python's `.value = x`.
    ///
    /// # Errors
    ///
    /// As [`get`](Value::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::Value::new(3i64)?;
    /// v.set(1 << 33)?;
    /// assert_eq!(v.get()?, 1 << 33);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        let x = lock_then_excl(&self.obj, &self.lock)?;
        // SAFETY: exclusive access under the flag.
        unsafe { self.obj.ptr().write(value) };
        drop(x);
        self.lock.release()
    }

    /// Takes the lock and gives `&mut T` until the guard is dropped: Python's
    /// `with v.get_lock(): v.value ...`.
    ///
    /// # Errors
    ///
    /// As [`get`](Value::get): in particular a second guard of the same value in the same
    /// thread is an error (not a deadlock, not aliasing).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::Value::new(0u32)?;
    /// *v.lock()? += 1;
    /// let g = v.lock()?;
    /// assert!(v.lock().is_err()); // already borrowed by this thread
    /// # drop(g);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn lock(&self) -> Result<ValueGuard<'_, T>> {
        let excl = lock_then_excl(&self.obj, &self.lock)?;
        Ok(ValueGuard {
            obj: &self.obj,
            excl: Some(excl),
            lock: Some(&self.lock),
        })
    }

    /// The lock: Python's `get_lock()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::Value::new(0u8)?;
    /// let _g = v.get_lock().lock()?;
    /// v.set(1)?; // the default lock is recursive
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_lock(&self) -> &AnyLock {
        &self.lock
    }

    /// The unsynchronized object over the same memory: Python's `get_obj()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::Value::new(5u16)?;
    /// v.get_obj().set(6)?;
    /// assert_eq!(v.get()?, 6);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_obj(&self) -> RawValue<T> {
        RawValue {
            obj: self.obj.clone(),
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            // SAFETY: exclusive access under the flag.
            Some(_x) => write!(f, "<Synchronized wrapper for {:?}>", unsafe {
                self.obj.ptr().read()
            }),
            None => write!(f, "<Synchronized wrapper for <borrowed>>"),
        }
    }
}

impl<T: Shareable> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.obj, &self.lock).serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (wire, lock) = <(BlockWire, AnyLock)>::deserialize(d)?;
        let obj = Obj::attach(wire, shm::kind::VALUE).map_err(serde::de::Error::custom)?;
        Ok(Value { obj, lock })
    }
}

// ---------------------------------------------------------------------------------------------
// RawArray / Array
// ---------------------------------------------------------------------------------------------

macro_rules! array_common {
    ($ty:ident, $ex:literal) => {
        impl<T: Shareable> $ty<T> {
            /// The number of elements: Python's `len(a)`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::<i32>::new(3)?;")]
            /// assert_eq!(a.len(), 3);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn len(&self) -> usize {
                self.obj.len
            }

            /// Whether the array has no elements.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert!(", $ex, "::<i32>::new(0)?.is_empty());")]
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn is_empty(&self) -> bool {
                self.obj.len == 0
            }

            /// The element at `i`: Python's `a[i]`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Index`] out of range.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::from_slice(&[9, 2, 8])?;")]
            /// assert_eq!(a.get(2)?, 8);
            /// assert_eq!(a.get(3).unwrap_err().kind(), mp::ErrorKind::Index);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn get(&self, i: usize) -> Result<T> {
                self.guarded(|| self.obj.read(i))
            }

            /// Stores `value` at `i`: Python's `a[i] = x`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Index`] out of range.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::<i32>::new(2)?;")]
            /// a.set(1, 5)?;
            /// assert_eq!(a.to_vec()?, [0, 5]);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn set(&self, i: usize, value: T) -> Result<()> {
                self.guarded(|| self.obj.write(i, value))
            }

            /// A copy of every element: Python's `a[:]`.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::from_values(0..3)?;")]
            /// assert_eq!(a.to_vec()?, [0, 1, 2]);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn to_vec(&self) -> Result<Vec<T>> {
                self.guarded(|| self.obj.read_range(0..self.obj.len))
            }

            /// A copy of a slice: Python's `a[start:end]` (a list).
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Index`] if the range is out of bounds.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::from_values(0..5)?;")]
            /// assert_eq!(a.get_range(1..3)?, [1, 2]);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn get_range(&self, range: Range<usize>) -> Result<Vec<T>> {
                self.guarded(|| self.obj.read_range(range))
            }

            /// Copies `values` into the array starting at `start`: Python's
            /// `a[start:start+len(values)] = values`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Index`] if they do not fit.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::<i32>::new(4)?;")]
            /// a.set_range(1, &[7, 8])?;
            /// assert_eq!(a.to_vec()?, [0, 7, 8, 0]);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn set_range(&self, start: usize, values: &[T]) -> Result<()> {
                self.guarded(|| self.obj.write_range(start, values))
            }

            /// Sets every element to `value`.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let a = ", $ex, "::<u8>::new(3)?;")]
            /// a.fill(1)?;
            /// assert_eq!(a.to_vec()?, [1, 1, 1]);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn fill(&self, value: T) -> Result<()> {
                self.guarded(|| self.obj.fill(value))
            }
        }

        impl $ty<u8> {
            /// The bytes up to the first NUL: ctypes' `.value` of a `c_char` array (Python's
            /// `Array('c', ...)`).
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = ", $ex, "::from_slice(b\"hello world\")?;")]
            /// assert_eq!(s.value()?, b"hello world");
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn value(&self) -> Result<Vec<u8>> {
                let mut v = self.to_vec()?;
                let n = until_nul(&v).len();
                v.truncate(n);
                Ok(v)
            }

            /// Stores a byte string, NUL-terminated if shorter than the array: ctypes'
            /// `.value = b'...'`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Value`] if it is longer than the array ("byte string too long").
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = ", $ex, "::from_slice(b\"hello world\")?;")]
            /// s.set_value(b"HELLO")?;
            /// assert_eq!(s.value()?, b"HELLO");
            /// assert_eq!(s.raw()?, b"HELLO\0world");
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn set_value(&self, value: &[u8]) -> Result<()> {
                if value.len() > self.len() {
                    return Err(Error::value(format!(
                        "byte string too long ({} bytes for {})",
                        value.len(),
                        self.len()
                    )));
                }
                let mut buf = value.to_vec();
                if buf.len() < self.len() {
                    buf.push(0);
                }
                self.set_range(0, &buf)
            }

            /// All the bytes: ctypes' `.raw`.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let s = ", $ex, "::<u8>::new(2)?;")]
            /// assert_eq!(s.raw()?, [0, 0]);
            /// # Ok::<(), mp::Error>(())
            /// ```
            pub fn raw(&self) -> Result<Vec<u8>> {
                self.to_vec()
            }
        }
    };
}

/// An array in shared memory without a lock: Python's `RawArray` (and
/// `Array(.., lock=False)`).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::sharedctypes::RawArray;
///
/// #[mp::task]
/// fn fill(a: RawArray<u8>) -> mp::Result<()> {
///     a.borrow_mut()?.fill(0xab); // memset speed
///     Ok(())
/// }
///
/// let a = RawArray::<u8>::new(1 << 20)?;
/// let p = mp::Process::new(fill, (a.clone(),));
/// p.start()?;
/// p.join()?;
/// assert!(a.to_vec()?.iter().all(|&b| b == 0xab));
/// # Ok(()) }
/// ```
pub struct RawArray<T: Shareable> {
    obj: Obj<T>,
}

impl<T: Shareable> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            obj: self.obj.clone(),
        }
    }
}

impl<T: Shareable> RawArray<T> {
    /// A zero-filled array of `len` elements: Python's `RawArray('i', n)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the size overflows; [`ErrorKind::Os`] if the shared memory
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::sharedctypes::RawArray::<i16>::new(7)?;
    /// assert_eq!(a.to_vec()?, [0; 7]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(len: usize) -> Result<RawArray<T>> {
        Ok(RawArray {
            obj: Obj::new(len, shm::kind::ARRAY)?,
        })
    }

    /// An array holding a copy of `values`: Python's `RawArray('i', (9, 2, 8))`.
    ///
    /// # Errors
    ///
    /// As [`new`](RawArray::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::sharedctypes::RawArray::from_slice(&[9i32, 2, 8])?;
    /// assert_eq!(a.len(), 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_slice(values: &[T]) -> Result<RawArray<T>> {
        Ok(RawArray {
            obj: Obj::with_data(values.len(), shm::kind::ARRAY, values)?,
        })
    }

    /// An array holding the items of `values`: Python's `RawArray('i', range(10))`.
    ///
    /// # Errors
    ///
    /// As [`new`](RawArray::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::sharedctypes::RawArray::from_values(0..10i64)?;
    /// assert_eq!(a.get(9)?, 9);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_values(values: impl IntoIterator<Item = T>) -> Result<RawArray<T>> {
        let v: Vec<T> = values.into_iter().collect();
        RawArray::from_slice(&v)
    }

    /// Exclusive access as `&mut [T]` until the guard is dropped (other accesses wait).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread already holds a guard of the same memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::sharedctypes::RawArray::<u32>::new(3)?;
    /// a.borrow_mut()?.copy_from_slice(&[1, 2, 3]);
    /// assert_eq!(a.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn borrow_mut(&self) -> Result<ArrayGuard<'_, T>> {
        let excl = self.obj.excl()?;
        Ok(ArrayGuard {
            obj: &self.obj,
            excl: Some(excl),
            lock: None,
        })
    }

    fn guarded<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        f()
    }
}

array_common!(RawArray, "mp::sharedctypes::RawArray");

impl<T: Shareable + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            Some(_x) => {
                // SAFETY: exclusive access under the flag.
                let s = unsafe { std::slice::from_raw_parts(self.obj.ptr(), self.obj.len) };
                write!(f, "RawArray({s:?})")
            }
            None => write!(f, "RawArray(<borrowed>)"),
        }
    }
}

impl<T: Shareable> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.obj.serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(RawArray {
            obj: de_obj(d, shm::kind::ARRAY)?,
        })
    }
}

/// How a new [`Array`] is filled: a length (zeroed) or initial values. Python's
/// `size_or_initializer`.
///
/// # Examples
///
/// ```
/// use mp::sharedctypes::ArrayInit;
/// let zeroed: ArrayInit<i32> = 10.into();
/// let given: ArrayInit<i32> = vec![1, 2, 3].into();
/// # drop((zeroed, given));
/// ```
#[derive(Debug, Clone)]
pub enum ArrayInit<T> {
    /// `n` zeroed elements.
    Zeroed(usize),
    /// These elements.
    Values(Vec<T>),
}

impl<T> From<usize> for ArrayInit<T> {
    fn from(n: usize) -> Self {
        ArrayInit::Zeroed(n)
    }
}

impl<T> From<Vec<T>> for ArrayInit<T> {
    fn from(v: Vec<T>) -> Self {
        ArrayInit::Values(v)
    }
}

impl<T: Clone> From<&[T]> for ArrayInit<T> {
    fn from(v: &[T]) -> Self {
        ArrayInit::Values(v.to_vec())
    }
}

impl<T: Clone, const N: usize> From<&[T; N]> for ArrayInit<T> {
    fn from(v: &[T; N]) -> Self {
        ArrayInit::Values(v.to_vec())
    }
}

/// Builder of an [`Array`]: Python's `Array(type, size_or_initializer, lock=...)`:
/// [`lock`](ArrayBuilder::lock) for a given Lock or RLock, [`raw`](ArrayBuilder::raw) for
/// `lock=False` (a [`RawArray`]).
///
/// # Examples
///
/// ```
/// let lock = mp::Lock::new()?;
/// let s = mp::Array::builder(b"hello world").lock(lock).build()?;
/// assert_eq!(s.value()?, b"hello world");
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ArrayBuilder<T> {
    init: ArrayInit<T>,
    lock: Option<AnyLock>,
}

impl<T: Shareable> ArrayBuilder<T> {
    /// Uses `lock` (a [`Lock`] or an [`RLock`]) instead of a new `RLock`.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn lock(mut self, lock: impl Into<AnyLock>) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// Python's `lock=False`: creates the array without a lock, as a [`RawArray`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if a lock was given too, or if the size overflows;
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::builder(vec![9i32, 2, 8]).raw()?; // Array('i', (9, 2, 8), lock=False)
    /// assert_eq!(a.to_vec()?, [9, 2, 8]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn raw(self) -> Result<RawArray<T>> {
        if self.lock.is_some() {
            return Err(Error::value("an array cannot have a lock and lock=False"));
        }
        match self.init {
            ArrayInit::Zeroed(n) => RawArray::new(n),
            ArrayInit::Values(v) => RawArray::from_slice(&v),
        }
    }

    /// Creates the array.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the size overflows; [`ErrorKind::Os`] if the shared memory
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn build(self) -> Result<Array<T>> {
        let obj = match &self.init {
            ArrayInit::Zeroed(n) => Obj::new(*n, shm::kind::ARRAY)?,
            ArrayInit::Values(v) => Obj::with_data(v.len(), shm::kind::ARRAY, v)?,
        };
        let lock = match self.lock {
            Some(l) => l,
            None => AnyLock::RLock(RLock::new()?),
        };
        Ok(Array { obj, lock })
    }
}

/// An array in shared memory with a lock: Python's `multiprocessing.Array`.
///
/// # Examples
///
/// See [`Value`] for the Python documentation's `Value`/`Array` program; an array of
/// `#[mp::shared]` structs:
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::shared]
/// #[derive(Debug, PartialEq)]
/// struct Point { x: f64, y: f64 }
///
/// #[mp::task]
/// fn modify(a: mp::Array<Point>) -> mp::Result<()> {
///     for p in a.lock()?.iter_mut() {
///         p.x = p.x.powi(2);
///         p.y = p.y.powi(2);
///     }
///     Ok(())
/// }
///
/// let a = mp::Array::from_slice(&[Point { x: 1.875, y: -6.25 }, Point { x: -5.75, y: 2.0 }])?;
/// let p = mp::Process::new(modify, (a.clone(),));
/// p.start()?;
/// p.join()?;
/// assert_eq!(a.get(0)?, Point { x: 3.515625, y: 39.0625 });
/// # Ok(()) }
/// ```
pub struct Array<T: Shareable> {
    obj: Obj<T>,
    lock: AnyLock,
}

impl<T: Shareable> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            obj: self.obj.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Shareable> Array<T> {
    /// A zero-filled array of `len` elements with a new [`RLock`]: Python's `Array('i', n)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the size overflows; [`ErrorKind::Os`] if the shared memory
    /// cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::<i32>::new(10)?;
    /// assert_eq!(a.to_vec()?, [0; 10]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(len: usize) -> Result<Array<T>> {
        Array::builder(len).build()
    }

    /// An array holding a copy of `values`: Python's `Array('i', [9, 2, 8])`.
    ///
    /// # Errors
    ///
    /// As [`new`](Array::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::from_slice(&[9i32, 2, 8])?;
    /// assert_eq!(a.to_vec()?, [9, 2, 8]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_slice(values: &[T]) -> Result<Array<T>> {
        Array::builder(values).build()
    }

    /// An array holding the items of `values`: Python's `Array('i', range(10))`.
    ///
    /// # Errors
    ///
    /// As [`new`](Array::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::from_values(0..10)?;
    /// assert_eq!(a.get(3)?, 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_values(values: impl IntoIterator<Item = T>) -> Result<Array<T>> {
        Array::builder(values.into_iter().collect::<Vec<T>>()).build()
    }

    /// A builder for the `lock` argument.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn builder(init: impl Into<ArrayInit<T>>) -> ArrayBuilder<T> {
        ArrayBuilder {
            init: init.into(),
            lock: None,
        }
    }

    /// Takes the lock and gives `&mut [T]` until the guard is dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OwnerDied`] if the lock's holder died; [`ErrorKind::Runtime`] if this
    /// thread already holds a guard of this array.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::from_slice(&[1i32, 2, 3])?;
    /// a.lock()?.reverse();
    /// assert_eq!(a.to_vec()?, [3, 2, 1]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>> {
        let excl = lock_then_excl(&self.obj, &self.lock)?;
        Ok(ArrayGuard {
            obj: &self.obj,
            excl: Some(excl),
            lock: Some(&self.lock),
        })
    }

    /// The lock: Python's `get_lock()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::<u8>::new(1)?;
    /// assert!(!a.get_lock().locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_lock(&self) -> &AnyLock {
        &self.lock
    }

    /// The unsynchronized array over the same memory: Python's `get_obj()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::Array::<u8>::new(2)?;
    /// a.get_obj().set(0, 9)?;
    /// assert_eq!(a.get(0)?, 9);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_obj(&self) -> RawArray<T> {
        RawArray {
            obj: self.obj.clone(),
        }
    }

    fn guarded<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        check_not_relocking(&self.lock)?;
        self.lock.acquire()?;
        let r = f();
        let released = self.lock.release();
        let v = r?;
        released?;
        Ok(v)
    }
}

array_common!(Array, "mp::Array");

impl<T: Shareable + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            Some(_x) => {
                // SAFETY: exclusive access under the flag.
                let s = unsafe { std::slice::from_raw_parts(self.obj.ptr(), self.obj.len) };
                write!(f, "<SynchronizedArray wrapper for {s:?}>")
            }
            None => write!(f, "<SynchronizedArray wrapper for <borrowed>>"),
        }
    }
}

impl<T: Shareable> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.obj, &self.lock).serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (wire, lock) = <(BlockWire, AnyLock)>::deserialize(d)?;
        let obj = Obj::attach(wire, shm::kind::ARRAY).map_err(serde::de::Error::custom)?;
        Ok(Array { obj, lock })
    }
}

// ---------------------------------------------------------------------------------------------
// copy / synchronized
// ---------------------------------------------------------------------------------------------

/// Shared objects that [`copy`] can duplicate.
pub trait CopyShared {
    /// The type of the copy (the raw, unsynchronized kind, as in CPython).
    type Raw;
    /// Copies the data into new shared memory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the shared memory cannot be created.
    fn copy_shared(&self) -> Result<Self::Raw>;
}

impl<T: Shareable> CopyShared for RawValue<T> {
    type Raw = RawValue<T>;
    fn copy_shared(&self) -> Result<RawValue<T>> {
        Ok(RawValue {
            obj: self.obj.duplicate(shm::kind::VALUE)?,
        })
    }
}

impl<T: Shareable> CopyShared for RawArray<T> {
    type Raw = RawArray<T>;
    fn copy_shared(&self) -> Result<RawArray<T>> {
        Ok(RawArray {
            obj: self.obj.duplicate(shm::kind::ARRAY)?,
        })
    }
}

impl<T: Shareable> CopyShared for Value<T> {
    type Raw = RawValue<T>;
    fn copy_shared(&self) -> Result<RawValue<T>> {
        let _g = self.lock.lock()?;
        self.get_obj().copy_shared()
    }
}

impl<T: Shareable> CopyShared for Array<T> {
    type Raw = RawArray<T>;
    fn copy_shared(&self) -> Result<RawArray<T>> {
        let _g = self.lock.lock()?;
        self.get_obj().copy_shared()
    }
}

/// An independent copy of a shared object, in new shared memory: Python's
/// `sharedctypes.copy(obj)`.
///
/// # Errors
///
/// [`ErrorKind::Os`] if the shared memory cannot be created.
///
/// # Examples
///
/// ```
/// use mp::sharedctypes::{RawValue, copy};
/// let a = RawValue::new(1.5f64)?;
/// let b = copy(&a)?;
/// a.set(2.5)?;
/// assert_eq!(b.get()?, 1.5);
/// # Ok::<(), mp::Error>(())
/// ```
pub fn copy<O: CopyShared>(obj: &O) -> Result<O::Raw> {
    obj.copy_shared()
}

/// Raw shared objects that [`synchronized`] can wrap.
pub trait Synchronize {
    /// The synchronized wrapper.
    type Synchronized;
    /// Wraps the same memory with a lock.
    fn synchronize(&self, lock: AnyLock) -> Self::Synchronized;
}

impl<T: Shareable> Synchronize for RawValue<T> {
    type Synchronized = Value<T>;
    fn synchronize(&self, lock: AnyLock) -> Value<T> {
        Value {
            obj: self.obj.clone(),
            lock,
        }
    }
}

impl<T: Shareable> Synchronize for RawArray<T> {
    type Synchronized = Array<T>;
    fn synchronize(&self, lock: AnyLock) -> Array<T> {
        Array {
            obj: self.obj.clone(),
            lock,
        }
    }
}

/// A synchronized wrapper around the same memory as `obj`, using `lock` (a new [`RLock`] if
/// `None`): Python's `sharedctypes.synchronized(obj, lock=None)`.
///
/// # Errors
///
/// [`ErrorKind::Os`] if a new lock cannot be created.
///
/// # Examples
///
/// ```
/// use mp::sharedctypes::{RawArray, synchronized};
/// let raw = RawArray::<i32>::new(3)?;
/// let a = synchronized(&raw, None)?;
/// a.set(0, 4)?;
/// assert_eq!(raw.get(0)?, 4);
/// let l = mp::Lock::new()?;
/// let b = synchronized(&raw, l.clone())?;
/// assert_eq!(*b.get_lock(), l.into());
/// # Ok::<(), mp::Error>(())
/// ```
pub fn synchronized<O: Synchronize>(
    obj: &O,
    lock: impl Into<Option<AnyLock>>,
) -> Result<O::Synchronized> {
    let lock = match lock.into() {
        Some(l) => l,
        None => AnyLock::RLock(RLock::new()?),
    };
    Ok(obj.synchronize(lock))
}

impl From<Lock> for Option<AnyLock> {
    fn from(l: Lock) -> Self {
        Some(AnyLock::Lock(l))
    }
}

impl From<RLock> for Option<AnyLock> {
    fn from(l: RLock) -> Self {
        Some(AnyLock::RLock(l))
    }
}

impl<T: Shareable> PartialEq for RawValue<T> {
    /// Whether both handles are the same shared memory.
    fn eq(&self, other: &Self) -> bool {
        self.obj.same(&other.obj)
    }
}

impl<T: Shareable> PartialEq for RawArray<T> {
    /// Whether both handles are the same shared memory.
    fn eq(&self, other: &Self) -> bool {
        self.obj.same(&other.obj)
    }
}
