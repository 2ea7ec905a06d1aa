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
use std::ops::{Deref, DerefMut};

use crate::error::{Error, ErrorKind, Result};
use crate::shm;
use crate::space::{Processes, Space};
use crate::synchronize::{AnyLockIn, LockIn, RLockIn};

// Names the docs link to.
#[cfg(doc)]
use crate::synchronize::{AnyLock, Lock, RLock};

// The value and array types live in their own files, the storage of each space in
// `store.rs`; `Shareable`, the guards, `copy` and `synchronized` stay here.
mod array;
mod store;
mod value;

pub use array::{Array, ArrayBuilder, ArrayIn, ArrayInit, RawArray, RawArrayIn};
pub use store::Holds;
use store::Store;
pub use value::{RawValue, RawValueIn, Value, ValueBuilder, ValueIn};

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
pub struct ValueGuard<'a, T, Sp: Holds<T> = Processes> {
    obj: &'a Sp::Store,
    excl: Option<<Sp::Store as Store<T>>::Excl<'a>>,
    lock: Option<&'a AnyLockIn<Sp>>,
}

impl<T, Sp: Holds<T>> Deref for ValueGuard<'_, T, Sp> {
    type Target = T;
    fn deref(&self) -> &T {
        let x = self
            .excl
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only by drop"));
        &self.obj.slice(x)[0]
    }
}

impl<T, Sp: Holds<T>> DerefMut for ValueGuard<'_, T, Sp> {
    fn deref_mut(&mut self) -> &mut T {
        let x = self
            .excl
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only by drop"));
        &mut self.obj.slice_mut(x)[0]
    }
}

impl<T, Sp: Holds<T>> Drop for ValueGuard<'_, T, Sp> {
    fn drop(&mut self) {
        drop(self.excl.take());
        if let Some(l) = self.lock {
            let _ = l.release();
        }
    }
}

impl<T: fmt::Debug, Sp: Holds<T>> fmt::Debug for ValueGuard<'_, T, Sp> {
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
pub struct ArrayGuard<'a, T, Sp: Holds<T> = Processes> {
    obj: &'a Sp::Store,
    excl: Option<<Sp::Store as Store<T>>::Excl<'a>>,
    lock: Option<&'a AnyLockIn<Sp>>,
}

impl<T, Sp: Holds<T>> Deref for ArrayGuard<'_, T, Sp> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        let x = self
            .excl
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only by drop"));
        self.obj.slice(x)
    }
}

impl<T, Sp: Holds<T>> DerefMut for ArrayGuard<'_, T, Sp> {
    fn deref_mut(&mut self) -> &mut [T] {
        let x = self
            .excl
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only by drop"));
        self.obj.slice_mut(x)
    }
}

impl<T, Sp: Holds<T>> Drop for ArrayGuard<'_, T, Sp> {
    fn drop(&mut self) {
        drop(self.excl.take());
        if let Some(l) = self.lock {
            let _ = l.release();
        }
    }
}

impl<T: fmt::Debug, Sp: Holds<T>> fmt::Debug for ArrayGuard<'_, T, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&&**self).finish()
    }
}

/// A plain `Lock` already held by this thread would deadlock (CPython hangs there): an error
/// instead.
fn check_not_relocking<Sp: Space>(lock: &AnyLockIn<Sp>) -> Result<()> {
    if let AnyLockIn::Lock(l) = lock
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
fn lock_then_excl<'a, T, Sp: Holds<T>>(
    obj: &'a Sp::Store,
    lock: &'a AnyLockIn<Sp>,
) -> Result<<Sp::Store as Store<T>>::Excl<'a>> {
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

impl<T: Clone, Sp: Holds<T>> CopyShared for RawValueIn<T, Sp> {
    type Raw = RawValueIn<T, Sp>;
    fn copy_shared(&self) -> Result<RawValueIn<T, Sp>> {
        Ok(RawValueIn {
            obj: self.obj.duplicate(shm::kind::VALUE)?,
        })
    }
}

impl<T: Clone, Sp: Holds<T>> CopyShared for RawArrayIn<T, Sp> {
    type Raw = RawArrayIn<T, Sp>;
    fn copy_shared(&self) -> Result<RawArrayIn<T, Sp>> {
        Ok(RawArrayIn {
            obj: self.obj.duplicate(shm::kind::ARRAY)?,
        })
    }
}

impl<T: Clone, Sp: Holds<T>> CopyShared for ValueIn<T, Sp> {
    type Raw = RawValueIn<T, Sp>;
    fn copy_shared(&self) -> Result<RawValueIn<T, Sp>> {
        let _g = self.lock.lock()?;
        self.get_obj().copy_shared()
    }
}

impl<T: Clone, Sp: Holds<T>> CopyShared for ArrayIn<T, Sp> {
    type Raw = RawArrayIn<T, Sp>;
    fn copy_shared(&self) -> Result<RawArrayIn<T, Sp>> {
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
    /// The space of the object and of its lock.
    type Space: Space;
    /// The synchronized wrapper.
    type Synchronized;
    /// Wraps the same memory with a lock.
    fn synchronize(&self, lock: AnyLockIn<Self::Space>) -> Self::Synchronized;
}

impl<T, Sp: Holds<T>> Synchronize for RawValueIn<T, Sp> {
    type Space = Sp;
    type Synchronized = ValueIn<T, Sp>;
    fn synchronize(&self, lock: AnyLockIn<Sp>) -> ValueIn<T, Sp> {
        ValueIn {
            obj: self.obj.clone(),
            lock,
        }
    }
}

impl<T, Sp: Holds<T>> Synchronize for RawArrayIn<T, Sp> {
    type Space = Sp;
    type Synchronized = ArrayIn<T, Sp>;
    fn synchronize(&self, lock: AnyLockIn<Sp>) -> ArrayIn<T, Sp> {
        ArrayIn {
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
    lock: impl Into<Option<AnyLockIn<O::Space>>>,
) -> Result<O::Synchronized> {
    let lock = match lock.into() {
        Some(l) => l,
        None => AnyLockIn::RLock(RLockIn::new()?),
    };
    Ok(obj.synchronize(lock))
}

impl<Sp: Space> From<LockIn<Sp>> for Option<AnyLockIn<Sp>> {
    fn from(l: LockIn<Sp>) -> Self {
        Some(AnyLockIn::Lock(l))
    }
}

impl<Sp: Space> From<RLockIn<Sp>> for Option<AnyLockIn<Sp>> {
    fn from(l: RLockIn<Sp>) -> Self {
        Some(AnyLockIn::RLock(l))
    }
}

impl<T, Sp: Holds<T>> PartialEq for RawValueIn<T, Sp> {
    /// Whether both handles are the same shared memory.
    fn eq(&self, other: &Self) -> bool {
        self.obj.same(&other.obj)
    }
}

impl<T, Sp: Holds<T>> PartialEq for RawArrayIn<T, Sp> {
    /// Whether both handles are the same shared memory.
    fn eq(&self, other: &Self) -> bool {
        self.obj.same(&other.obj)
    }
}
