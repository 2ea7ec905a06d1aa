//! `Value` and `Array` for threads, with the API of [`mp::sharedctypes`](crate::sharedctypes).
//!
//! Threads share memory, so these are plain Rust values behind an `Arc`: any `Send` type can
//! be stored (no [`Shareable`] bound, except where a zero-filled array is asked for). In
//! CPython's `multiprocessing.dummy`, `Value` is an unsynchronised attribute holder and
//! `Array` an `array.array`; here they keep mp's API — [`get_lock`](Value::get_lock) included —
//! so code written for `mp` compiles unchanged. As in mp, each single access is atomic (it
//! takes the value's borrow lock), a read-modify-write needs [`Value::lock`], and a second
//! guard of the same object in the same thread is an error rather than a deadlock.

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::synchronize::{AnyLock, RLock};
use crate::error::{Error, ErrorKind, Result};
use crate::sharedctypes::Shareable;
use crate::space::handle::{Handle, handle_serde, thread_token};

pub use crate::sharedctypes::ArrayInit;

/// Data with a borrow lock that knows which thread holds it.
struct Obj<S> {
    borrower: AtomicU64,
    data: Mutex<S>,
}

impl<S> Obj<S> {
    fn new(data: S) -> Arc<Obj<S>> {
        Arc::new(Obj {
            borrower: AtomicU64::new(0),
            data: Mutex::new(data),
        })
    }

    fn excl(&self) -> Result<Excl<'_, S>> {
        let me = thread_token();
        if self.borrower.load(Ordering::Relaxed) == me {
            return Err(Error::new(
                ErrorKind::Runtime,
                "this thread already holds a guard of this object: use that guard",
            ));
        }
        let guard = self.data.lock().unwrap_or_else(|e| e.into_inner());
        self.borrower.store(me, Ordering::Relaxed);
        Ok(Excl {
            guard: Some(guard),
            borrower: &self.borrower,
        })
    }
}

/// Exclusive access to an object's data; released on drop.
struct Excl<'a, S> {
    guard: Option<MutexGuard<'a, S>>,
    borrower: &'a AtomicU64,
}

impl<S> Excl<'_, S> {
    fn get(&self) -> &S {
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }

    fn get_mut(&mut self) -> &mut S {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<S> Drop for Excl<'_, S> {
    fn drop(&mut self) {
        self.borrower.store(0, Ordering::Relaxed);
        drop(self.guard.take());
    }
}

/// A plain `Lock` already held by this thread would deadlock: an error instead (as mp).
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

/// Acquires `lock`, then the borrow lock; on failure releases what was taken.
fn lock_then_excl<'a, S>(obj: &'a Obj<S>, lock: &'a AnyLock) -> Result<Excl<'a, S>> {
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

fn guarded<R>(lock: &AnyLock, f: impl FnOnce() -> Result<R>) -> Result<R> {
    check_not_relocking(lock)?;
    lock.acquire()?;
    let r = f();
    let released = lock.release();
    let v = r?;
    released?;
    Ok(v)
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

fn zeroed<T: Shareable>(len: usize) -> Vec<T> {
    // SAFETY: `Shareable` guarantees that the all-zero bit pattern is a valid `T`.
    (0..len)
        .map(|_| unsafe { std::mem::zeroed::<T>() })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

/// Exclusive access to a value as `&mut T`, from [`Value::lock`] (the value's lock is held
/// too) and [`RawValue::borrow_mut`]; releases on drop. mp's
/// [`ValueGuard`](crate::sharedctypes::ValueGuard).
///
/// # Examples
///
/// ```
/// let v = mp::dummy::Value::new(1i32)?;
/// {
///     let mut g: mp::dummy::sharedctypes::ValueGuard<'_, i32> = v.lock()?;
///     *g += 1;
/// }
/// assert_eq!(v.get()?, 2);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T> {
    excl: Option<Excl<'a, T>>,
    lock: Option<&'a AnyLock>,
}

impl<T> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.excl.as_ref().unwrap_or_else(|| unreachable!()).get()
    }
}

impl<T> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.excl
            .as_mut()
            .unwrap_or_else(|| unreachable!())
            .get_mut()
    }
}

impl<T> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.excl.take());
        if let Some(l) = self.lock {
            let _ = l.release();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}

/// Exclusive access to an array as `&mut [T]`, from [`Array::lock`] and
/// [`RawArray::borrow_mut`]; releases on drop.
///
/// # Examples
///
/// ```
/// let a = mp::dummy::Array::<u8>::new(4)?;
/// a.lock()?.fill(7);
/// assert_eq!(a.to_vec()?, [7, 7, 7, 7]);
/// # Ok::<(), mp::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T> {
    excl: Option<Excl<'a, Vec<T>>>,
    lock: Option<&'a AnyLock>,
}

impl<T> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.excl.as_ref().unwrap_or_else(|| unreachable!()).get()
    }
}

impl<T> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.excl
            .as_mut()
            .unwrap_or_else(|| unreachable!())
            .get_mut()
    }
}

impl<T> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.excl.take());
        if let Some(l) = self.lock {
            let _ = l.release();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&&**self).finish()
    }
}

// ---------------------------------------------------------------------------------------------
// RawValue / Value
// ---------------------------------------------------------------------------------------------

/// A value without a user-visible lock: mp's [`RawValue`](crate::RawValue) (Python's
/// `RawValue`, and `Value(.., lock=False)`).
///
/// # Examples
///
/// ```
/// use mp::dummy::RawValue;
/// let x = RawValue::new(1.0f64 / 3.0)?;
/// let y = x.clone();
/// std::thread::spawn(move || y.set(y.get()?.powi(2))).join().unwrap()?;
/// assert_eq!(x.get()?, 0.1111111111111111);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct RawValue<T> {
    obj: Arc<Obj<T>>,
}

impl<T> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            obj: self.obj.clone(),
        }
    }
}

impl<T> RawValue<T> {
    /// A new value.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::RawValue::new(2.4f64)?;
    /// assert_eq!(v.get()?, 2.4);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: T) -> Result<RawValue<T>> {
        Ok(RawValue {
            obj: Obj::new(value),
        })
    }

    /// Reads the value: Python's `.value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread holds a guard of the same value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::RawValue::new(7i32)?;
    /// assert_eq!(v.get()?, 7);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get(&self) -> Result<T>
    where
        T: Clone,
    {
        Ok(self.obj.excl()?.get().clone())
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
    /// let v = mp::dummy::RawValue::new(7i32)?;
    /// v.set(8)?;
    /// assert_eq!(v.get()?, 8);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        *self.obj.excl()?.get_mut() = value;
        Ok(())
    }

    /// Exclusive access as `&mut T` for a read-modify-write, without a user-visible lock.
    ///
    /// # Errors
    ///
    /// As [`get`](RawValue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::RawValue::new(7i32)?;
    /// *v.borrow_mut()? *= 7;
    /// assert_eq!(v.get()?, 49);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn borrow_mut(&self) -> Result<ValueGuard<'_, T>> {
        Ok(ValueGuard {
            excl: Some(self.obj.excl()?),
            lock: None,
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.data.try_lock() {
            Ok(g) => write!(f, "RawValue({:?})", &*g),
            Err(_) => write!(f, "RawValue(<borrowed>)"),
        }
    }
}

impl<T: Send + 'static> Handle for RawValue<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(RawValue<T>);

/// A value with a lock, with the API of [`mp::Value`](crate::Value).
///
/// By default the lock is a new [`RLock`]; [`with_lock`](Value::with_lock) uses a given
/// [`Lock`](super::Lock) or [`RLock`]. [`get`](Value::get) and [`set`](Value::set) take the lock
/// for the copy; [`lock`](Value::lock) holds it and gives `&mut T`, which is how
/// `with v.get_lock(): v.value += 1` is written.
///
/// # Examples
///
/// ```
/// use mp::dummy::{Array, Process, Value};
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
/// # fn main() -> mp::Result<()> {
/// let num = Value::new(0.0)?;
/// let arr = Array::from_values(0..10)?;
/// let p = Process::new(f, (num.clone(), arr.clone()));
/// p.start()?;
/// p.join()?;
/// assert_eq!(num.get()?, 3.1415927);
/// assert_eq!(arr.to_vec()?, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
/// # Ok(()) }
/// ```
pub struct Value<T> {
    obj: Arc<Obj<T>>,
    lock: AnyLock,
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            obj: self.obj.clone(),
            lock: self.lock.clone(),
        }
    }
}

/// Builder of a [`Value`]: [`lock`](ValueBuilder::lock) for a given Lock or RLock,
/// [`raw`](ValueBuilder::raw) for `lock=False` (a [`RawValue`]).
///
/// # Examples
///
/// ```
/// let lock = mp::dummy::Lock::new()?;
/// let v = mp::dummy::Value::builder(7i32).lock(lock.clone()).build()?;
/// assert_eq!(*v.get_lock(), lock.into());
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ValueBuilder<T> {
    value: T,
    lock: Option<AnyLock>,
}

impl<T> ValueBuilder<T> {
    /// Uses `lock` (a [`Lock`](super::Lock) or an [`RLock`]) instead of a new `RLock`.
    ///
    /// # Examples
    ///
    /// See [`ValueBuilder`].
    pub fn lock(mut self, lock: impl Into<AnyLock>) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// Python's `lock=False`: the value without a lock, as a [`RawValue`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if a lock was given too.
    ///
    /// # Examples
    ///
    /// ```
    /// let x = mp::dummy::Value::builder(1.0f64 / 3.0).raw()?;
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
    /// None; the `Result` is mp's.
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
            obj: Obj::new(self.value),
            lock,
        })
    }
}

impl<T> Value<T> {
    /// A value with a new [`RLock`]: Python's `Value(typecode, x)`.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::Value::new(0.0f64)?;
    /// assert_eq!(v.get()?, 0.0);
    /// // Any Send type, not only plain data:
    /// let s = mp::dummy::Value::new(String::from("text"))?;
    /// s.lock()?.push_str(" more");
    /// assert_eq!(s.get()?, "text more");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(value: T) -> Result<Value<T>> {
        Value::builder(value).build()
    }

    /// A value guarded by `lock` (a [`Lock`](super::Lock) or [`RLock`]).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Lock::new()?;
    /// let v = mp::dummy::Value::with_lock(7i32, l.clone())?;
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
    /// [`ErrorKind::Runtime`] if this thread holds a [`ValueGuard`] of this value, or holds
    /// the value's lock when it is a plain (non-recursive) `Lock`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::Value::new(3i64)?;
    /// assert_eq!(v.get()?, 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get(&self) -> Result<T>
    where
        T: Clone,
    {
        let x = lock_then_excl(&self.obj, &self.lock)?;
        let v = x.get().clone();
        drop(x);
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
    /// let v = mp::dummy::Value::new(3i64)?;
    /// v.set(1 << 33)?;
    /// assert_eq!(v.get()?, 1 << 33);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        let mut x = lock_then_excl(&self.obj, &self.lock)?;
        *x.get_mut() = value;
        drop(x);
        self.lock.release()
    }

    /// Takes the lock and gives `&mut T` until the guard is dropped.
    ///
    /// # Errors
    ///
    /// As [`get`](Value::get): a second guard of the same value in the same thread is an
    /// error (not a deadlock).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::Value::new(0u32)?;
    /// *v.lock()? += 1;
    /// let g = v.lock()?;
    /// assert!(v.lock().is_err()); // already borrowed by this thread
    /// # drop(g);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn lock(&self) -> Result<ValueGuard<'_, T>> {
        let excl = lock_then_excl(&self.obj, &self.lock)?;
        Ok(ValueGuard {
            excl: Some(excl),
            lock: Some(&self.lock),
        })
    }

    /// The lock: Python's `get_lock()` (CPython's dummy `Value` has none; mp's has).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::Value::new(0u8)?;
    /// let _g = v.get_lock().lock()?;
    /// v.set(1)?; // the default lock is recursive
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_lock(&self) -> &AnyLock {
        &self.lock
    }

    /// The unsynchronized object over the same data: Python's `get_obj()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = mp::dummy::Value::new(5u16)?;
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

impl<T: fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.data.try_lock() {
            Ok(g) => write!(f, "<Synchronized wrapper for {:?}>", &*g),
            Err(_) => write!(f, "<Synchronized wrapper for <borrowed>>"),
        }
    }
}

impl<T: Send + 'static> Handle for Value<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Value<T>);

// ---------------------------------------------------------------------------------------------
// RawArray / Array
// ---------------------------------------------------------------------------------------------

macro_rules! array_common {
    ($ty:ident, $ex:literal) => {
        impl<T> $ty<T> {
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
                self.len
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
                self.len == 0
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
            pub fn get(&self, i: usize) -> Result<T>
            where
                T: Clone,
            {
                check_index(i, self.len)?;
                self.guarded(|| Ok(self.obj.excl()?.get()[i].clone()))
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
                check_index(i, self.len)?;
                self.guarded(|| {
                    self.obj.excl()?.get_mut()[i] = value;
                    Ok(())
                })
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
            pub fn to_vec(&self) -> Result<Vec<T>>
            where
                T: Clone,
            {
                self.guarded(|| Ok(self.obj.excl()?.get().clone()))
            }

            /// A copy of a slice: Python's `a[start:end]`.
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
            pub fn get_range(&self, range: Range<usize>) -> Result<Vec<T>>
            where
                T: Clone,
            {
                check_range(&range, self.len)?;
                self.guarded(|| Ok(self.obj.excl()?.get()[range].to_vec()))
            }

            /// Copies `values` into the array starting at `start`.
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
            pub fn set_range(&self, start: usize, values: &[T]) -> Result<()>
            where
                T: Clone,
            {
                let end = start
                    .checked_add(values.len())
                    .ok_or_else(|| Error::new(ErrorKind::Index, "slice out of range"))?;
                check_range(&(start..end), self.len)?;
                self.guarded(|| {
                    self.obj.excl()?.get_mut()[start..end].clone_from_slice(values);
                    Ok(())
                })
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
            pub fn fill(&self, value: T) -> Result<()>
            where
                T: Clone,
            {
                self.guarded(|| {
                    self.obj.excl()?.get_mut().fill(value);
                    Ok(())
                })
            }
        }

        impl $ty<u8> {
            /// The bytes up to the first NUL: ctypes' `.value` of a `c_char` array.
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
                let n = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                v.truncate(n);
                Ok(v)
            }

            /// Stores a byte string, NUL-terminated if shorter than the array.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Value`] if it is longer than the array.
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

/// An array without a user-visible lock: mp's [`RawArray`](crate::RawArray).
///
/// # Examples
///
/// ```
/// let a = mp::dummy::RawArray::<u8>::new(1 << 10)?;
/// let b = a.clone();
/// std::thread::spawn(move || b.borrow_mut().map(|mut g| g.fill(0xab))).join().unwrap()?;
/// assert!(a.to_vec()?.iter().all(|&x| x == 0xab));
/// # Ok::<(), mp::Error>(())
/// ```
pub struct RawArray<T> {
    obj: Arc<Obj<Vec<T>>>,
    len: usize,
}

impl<T> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            obj: self.obj.clone(),
            len: self.len,
        }
    }
}

impl<T> RawArray<T> {
    /// A zero-filled array of `len` elements of plain data.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::RawArray::<i32>::new(3)?.to_vec()?, [0, 0, 0]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(len: usize) -> Result<RawArray<T>>
    where
        T: Shareable,
    {
        Ok(RawArray::from_vec(zeroed(len)))
    }

    fn from_vec(v: Vec<T>) -> RawArray<T> {
        RawArray {
            len: v.len(),
            obj: Obj::new(v),
        }
    }

    /// An array holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::RawArray::from_slice(&["a".to_string(), "b".to_string()])?;
    /// assert_eq!(a.get(1)?, "b");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_slice(values: &[T]) -> Result<RawArray<T>>
    where
        T: Clone,
    {
        Ok(RawArray::from_vec(values.to_vec()))
    }

    /// An array holding the items of `values`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::RawArray::from_values(0..4)?;
    /// assert_eq!(a.len(), 4);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_values(values: impl IntoIterator<Item = T>) -> Result<RawArray<T>> {
        Ok(RawArray::from_vec(values.into_iter().collect()))
    }

    /// Exclusive access as `&mut [T]`, without a user-visible lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread already holds a guard of this array.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::RawArray::from_values([3, 1, 2])?;
    /// a.borrow_mut()?.sort();
    /// assert_eq!(a.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn borrow_mut(&self) -> Result<ArrayGuard<'_, T>> {
        Ok(ArrayGuard {
            excl: Some(self.obj.excl()?),
            lock: None,
        })
    }

    fn guarded<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        f()
    }
}

array_common!(RawArray, "mp::dummy::RawArray");

impl<T: fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.data.try_lock() {
            Ok(g) => write!(f, "RawArray({:?})", &*g),
            Err(_) => write!(f, "RawArray(<borrowed>)"),
        }
    }
}

impl<T: Send + 'static> Handle for RawArray<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(RawArray<T>);

/// Builder of an [`Array`]: [`lock`](ArrayBuilder::lock) for a given Lock or RLock,
/// [`raw`](ArrayBuilder::raw) for `lock=False` (a [`RawArray`]).
///
/// # Examples
///
/// ```
/// let lock = mp::dummy::Lock::new()?;
/// let s = mp::dummy::Array::builder(b"hello world").lock(lock).build()?;
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
    /// Uses `lock` (a [`Lock`](super::Lock) or an [`RLock`]) instead of a new `RLock`.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn lock(mut self, lock: impl Into<AnyLock>) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// Python's `lock=False`: the array without a lock, as a [`RawArray`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if a lock was given too.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::builder(vec![9i32, 2, 8]).raw()?;
    /// assert_eq!(a.to_vec()?, [9, 2, 8]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn raw(self) -> Result<RawArray<T>> {
        if self.lock.is_some() {
            return Err(Error::value("an array cannot have a lock and lock=False"));
        }
        Ok(RawArray::from_vec(init_vec(self.init)))
    }

    /// Creates the array.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn build(self) -> Result<Array<T>> {
        let lock = match self.lock {
            Some(l) => l,
            None => AnyLock::RLock(RLock::new()?),
        };
        Ok(Array::from_parts(init_vec(self.init), lock))
    }
}

fn init_vec<T: Shareable>(init: ArrayInit<T>) -> Vec<T> {
    match init {
        ArrayInit::Zeroed(n) => zeroed(n),
        ArrayInit::Values(v) => v,
    }
}

/// An array with a lock, with the API of [`mp::Array`](crate::Array).
///
/// # Examples
///
/// See [`Value`]; an array of structs:
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Point { x: f64, y: f64 }
/// let a = mp::dummy::Array::from_slice(&[Point { x: 1.875, y: -6.25 }, Point { x: -5.75, y: 2.0 }])?;
/// for p in a.lock()?.iter_mut() {
///     p.x = p.x.powi(2);
///     p.y = p.y.powi(2);
/// }
/// assert_eq!(a.get(0)?, Point { x: 3.515625, y: 39.0625 });
/// # Ok::<(), mp::Error>(())
/// ```
pub struct Array<T> {
    obj: Arc<Obj<Vec<T>>>,
    len: usize,
    lock: AnyLock,
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            obj: self.obj.clone(),
            len: self.len,
            lock: self.lock.clone(),
        }
    }
}

impl<T> Array<T> {
    fn from_parts(v: Vec<T>, lock: AnyLock) -> Array<T> {
        Array {
            len: v.len(),
            obj: Obj::new(v),
            lock,
        }
    }

    /// A zero-filled array of `len` elements of plain data, with a new [`RLock`]: Python's
    /// `Array('i', n)`.
    ///
    /// # Errors
    ///
    /// None; the `Result` is mp's.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::<i32>::new(10)?;
    /// assert_eq!(a.to_vec()?, [0; 10]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn new(len: usize) -> Result<Array<T>>
    where
        T: Shareable,
    {
        Ok(Array::from_parts(
            zeroed(len),
            AnyLock::RLock(RLock::new()?),
        ))
    }

    /// An array holding a copy of `values`: Python's `Array('i', [9, 2, 8])`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::from_slice(&[9i32, 2, 8])?;
    /// assert_eq!(a.to_vec()?, [9, 2, 8]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_slice(values: &[T]) -> Result<Array<T>>
    where
        T: Clone,
    {
        Ok(Array::from_parts(
            values.to_vec(),
            AnyLock::RLock(RLock::new()?),
        ))
    }

    /// An array holding the items of `values`: Python's `Array('i', range(10))`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::from_values(0..10)?;
    /// assert_eq!(a.get(3)?, 3);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn from_values(values: impl IntoIterator<Item = T>) -> Result<Array<T>> {
        Ok(Array::from_parts(
            values.into_iter().collect(),
            AnyLock::RLock(RLock::new()?),
        ))
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
    /// [`ErrorKind::Runtime`] if this thread already holds a guard of this array.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::from_slice(&[1i32, 2, 3])?;
    /// a.lock()?.reverse();
    /// assert_eq!(a.to_vec()?, [3, 2, 1]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>> {
        let excl = lock_then_excl(&self.obj, &self.lock)?;
        Ok(ArrayGuard {
            excl: Some(excl),
            lock: Some(&self.lock),
        })
    }

    /// The lock: Python's `get_lock()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::<u8>::new(1)?;
    /// assert!(!a.get_lock().locked());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_lock(&self) -> &AnyLock {
        &self.lock
    }

    /// The unsynchronized array over the same data: Python's `get_obj()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Array::<u8>::new(2)?;
    /// a.get_obj().set(0, 9)?;
    /// assert_eq!(a.get(0)?, 9);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_obj(&self) -> RawArray<T> {
        RawArray {
            obj: self.obj.clone(),
            len: self.len,
        }
    }

    fn guarded<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        guarded(&self.lock, f)
    }
}

array_common!(Array, "mp::dummy::Array");

impl<T: fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.data.try_lock() {
            Ok(g) => write!(f, "<SynchronizedArray wrapper for {:?}>", &*g),
            Err(_) => write!(f, "<SynchronizedArray wrapper for <borrowed>>"),
        }
    }
}

impl<T: Send + 'static> Handle for Array<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}
handle_serde!(Array<T>);

// ---------------------------------------------------------------------------------------------
// copy / synchronized
// ---------------------------------------------------------------------------------------------

/// Objects that [`copy`] can duplicate: mp's [`CopyShared`](crate::sharedctypes::CopyShared).
pub trait CopyShared {
    /// The type of the copy (the raw, unsynchronized kind, as in CPython).
    type Raw;
    /// Copies the data.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread holds a guard of the object.
    fn copy_shared(&self) -> Result<Self::Raw>;
}

impl<T: Clone> CopyShared for RawValue<T> {
    type Raw = RawValue<T>;
    fn copy_shared(&self) -> Result<RawValue<T>> {
        RawValue::new(self.get()?)
    }
}

impl<T: Clone> CopyShared for RawArray<T> {
    type Raw = RawArray<T>;
    fn copy_shared(&self) -> Result<RawArray<T>> {
        Ok(RawArray::from_vec(self.to_vec()?))
    }
}

impl<T: Clone> CopyShared for Value<T> {
    type Raw = RawValue<T>;
    fn copy_shared(&self) -> Result<RawValue<T>> {
        RawValue::new(self.get()?)
    }
}

impl<T: Clone> CopyShared for Array<T> {
    type Raw = RawArray<T>;
    fn copy_shared(&self) -> Result<RawArray<T>> {
        Ok(RawArray::from_vec(self.to_vec()?))
    }
}

/// An independent copy of an object: Python's `sharedctypes.copy(obj)`, as
/// [`mp::sharedctypes::copy`](crate::sharedctypes::copy).
///
/// # Errors
///
/// [`ErrorKind::Runtime`] if this thread holds a guard of the object.
///
/// # Examples
///
/// ```
/// use mp::dummy::sharedctypes::copy;
/// let a = mp::dummy::RawValue::new(1.5f64)?;
/// let b = copy(&a)?;
/// a.set(2.5)?;
/// assert_eq!(b.get()?, 1.5);
/// # Ok::<(), mp::Error>(())
/// ```
pub fn copy<O: CopyShared>(obj: &O) -> Result<O::Raw> {
    obj.copy_shared()
}

/// Raw objects that [`synchronized`] can wrap: mp's
/// [`Synchronize`](crate::sharedctypes::Synchronize).
pub trait Synchronize {
    /// The synchronized wrapper.
    type Synchronized;
    /// Wraps the same data with a lock.
    fn synchronize(&self, lock: AnyLock) -> Self::Synchronized;
}

impl<T> Synchronize for RawValue<T> {
    type Synchronized = Value<T>;
    fn synchronize(&self, lock: AnyLock) -> Value<T> {
        Value {
            obj: self.obj.clone(),
            lock,
        }
    }
}

impl<T> Synchronize for RawArray<T> {
    type Synchronized = Array<T>;
    fn synchronize(&self, lock: AnyLock) -> Array<T> {
        Array {
            obj: self.obj.clone(),
            len: self.len,
            lock,
        }
    }
}

/// A synchronized wrapper around the same data as `obj`, using `lock` (a new [`RLock`] if
/// `None`): Python's `sharedctypes.synchronized(obj, lock=None)`.
///
/// # Errors
///
/// None; the `Result` is mp's.
///
/// # Examples
///
/// ```
/// use mp::dummy::sharedctypes::synchronized;
/// let raw = mp::dummy::RawArray::<i32>::new(3)?;
/// let a = synchronized(&raw, None)?;
/// a.set(0, 4)?;
/// assert_eq!(raw.get(0)?, 4);
/// let l = mp::dummy::Lock::new()?;
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

impl From<super::Lock> for Option<AnyLock> {
    fn from(l: super::Lock) -> Self {
        Some(AnyLock::Lock(l))
    }
}

impl From<RLock> for Option<AnyLock> {
    fn from(l: RLock) -> Self {
        Some(AnyLock::RLock(l))
    }
}

impl<T> PartialEq for RawValue<T> {
    /// Whether both handles are the same object.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.obj, &other.obj)
    }
}

impl<T> PartialEq for RawArray<T> {
    /// Whether both handles are the same object.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.obj, &other.obj)
    }
}
