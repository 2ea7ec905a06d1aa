//! [`RawValue`] and [`Value`]: one [`Shareable`] in shared memory, without and with a lock.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Obj, Shareable, ValueGuard, de_obj, lock_then_excl};
use crate::error::{Error, Result};
use crate::shm::{self, BlockWire};
use crate::synchronize::{AnyLock, RLock};

// Names the docs link to.
#[cfg(doc)]
use super::synchronized;
#[cfg(doc)]
use crate::error::ErrorKind;
#[cfg(doc)]
use crate::synchronize::Lock;

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
    pub(super) obj: Obj<T>,
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
    pub(super) obj: Obj<T>,
    pub(super) lock: AnyLock,
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
