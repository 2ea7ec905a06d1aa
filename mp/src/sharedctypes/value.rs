//! [`RawValue`] and [`Value`]: one [`Shareable`] in shared memory, without and with a lock.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::store::{Holds, Store};
use super::{ValueGuard, lock_then_excl};
use crate::error::{Error, Result};
use crate::shm;
use crate::space::Processes;
use crate::synchronize::{AnyLockIn, RLockIn};

// Names the docs link to.
#[cfg(doc)]
use super::synchronized;
#[cfg(doc)]
use crate::error::ErrorKind;
#[cfg(doc)]
use crate::synchronize::{Lock, RLock};

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
pub struct RawValueIn<T, Sp: Holds<T> = Processes> {
    pub(super) obj: Sp::Store,
}

/// A [`RawValueIn`] in shared memory, between processes.
pub type RawValue<T> = RawValueIn<T, Processes>;

impl<T, Sp: Holds<T>> Clone for RawValueIn<T, Sp> {
    fn clone(&self) -> Self {
        RawValueIn {
            obj: self.obj.clone(),
        }
    }
}

impl<T, Sp: Holds<T>> RawValueIn<T, Sp> {
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
    pub fn new(value: T) -> Result<Self> {
        Ok(RawValueIn {
            obj: Store::from_one(value, shm::kind::VALUE)?,
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
    pub fn get(&self) -> Result<T>
    where
        T: Clone,
    {
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
    pub fn borrow_mut(&self) -> Result<ValueGuard<'_, T, Sp>> {
        let excl = self.obj.excl()?;
        Ok(ValueGuard {
            obj: &self.obj,
            excl: Some(excl),
            lock: None,
        })
    }
}

impl<T: fmt::Debug, Sp: Holds<T>> fmt::Debug for RawValueIn<T, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            Some(x) => write!(f, "RawValue({:?})", &self.obj.slice(&x)[0]),
            None => write!(f, "RawValue(<borrowed>)"),
        }
    }
}

impl<T, Sp: Holds<T>> Serialize for RawValueIn<T, Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.obj.serialize(s)
    }
}

impl<'de, T, Sp: Holds<T>> Deserialize<'de> for RawValueIn<T, Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let wire = <<Sp::Store as Store<T>>::Wire>::deserialize(d)?;
        Ok(RawValueIn {
            obj: Store::attach(wire, shm::kind::VALUE).map_err(serde::de::Error::custom)?,
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
pub struct ValueIn<T, Sp: Holds<T> = Processes> {
    pub(super) obj: Sp::Store,
    pub(super) lock: AnyLockIn<Sp>,
}

/// A [`ValueIn`] in shared memory, between processes: Python's `multiprocessing.Value`.
pub type Value<T> = ValueIn<T, Processes>;

impl<T, Sp: Holds<T>> Clone for ValueIn<T, Sp> {
    fn clone(&self) -> Self {
        ValueIn {
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
pub struct ValueBuilder<T, Sp: Holds<T> = Processes> {
    value: T,
    lock: Option<AnyLockIn<Sp>>,
}

impl<T, Sp: Holds<T>> ValueBuilder<T, Sp> {
    /// Uses `lock` (a [`Lock`] or an [`RLock`]) instead of a new `RLock`.
    ///
    /// # Examples
    ///
    /// See [`ValueBuilder`].
    pub fn lock(mut self, lock: impl Into<AnyLockIn<Sp>>) -> Self {
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
    pub fn raw(self) -> Result<RawValueIn<T, Sp>> {
        if self.lock.is_some() {
            return Err(Error::value("a value cannot have a lock and lock=False"));
        }
        RawValueIn::new(self.value)
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
    pub fn build(self) -> Result<ValueIn<T, Sp>> {
        let lock = match self.lock {
            Some(l) => l,
            None => AnyLockIn::RLock(RLockIn::new()?),
        };
        Ok(ValueIn {
            obj: Store::from_one(self.value, shm::kind::VALUE)?,
            lock,
        })
    }
}

impl<T, Sp: Holds<T>> ValueIn<T, Sp> {
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
    pub fn new(value: T) -> Result<Self> {
        ValueIn::builder(value).build()
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
    pub fn with_lock(value: T, lock: impl Into<AnyLockIn<Sp>>) -> Result<Self> {
        ValueIn::builder(value).lock(lock).build()
    }

    /// A builder for the `lock` argument.
    ///
    /// # Examples
    ///
    /// See [`ValueBuilder`].
    pub fn builder(value: T) -> ValueBuilder<T, Sp> {
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
    pub fn get(&self) -> Result<T>
    where
        T: Clone,
    {
        let x = lock_then_excl(&self.obj, &self.lock)?;
        let v = self.obj.slice(&x)[0].clone();
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
    /// let v = mp::Value::new(3i64)?;
    /// v.set(1 << 33)?;
    /// assert_eq!(v.get()?, 1 << 33);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        let mut x = lock_then_excl(&self.obj, &self.lock)?;
        let old = std::mem::replace(&mut self.obj.slice_mut(&mut x)[0], value);
        drop(x);
        let released = self.lock.release();
        drop(old); // after the lock is released
        released
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
    pub fn lock(&self) -> Result<ValueGuard<'_, T, Sp>> {
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
    pub fn get_lock(&self) -> &AnyLockIn<Sp> {
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
    pub fn get_obj(&self) -> RawValueIn<T, Sp> {
        RawValueIn {
            obj: self.obj.clone(),
        }
    }
}

impl<T: fmt::Debug, Sp: Holds<T>> fmt::Debug for ValueIn<T, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            Some(x) => write!(f, "<Synchronized wrapper for {:?}>", &self.obj.slice(&x)[0]),
            None => write!(f, "<Synchronized wrapper for <borrowed>>"),
        }
    }
}

impl<T, Sp: Holds<T>> Serialize for ValueIn<T, Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.obj, &self.lock).serialize(s)
    }
}

impl<'de, T, Sp: Holds<T>> Deserialize<'de> for ValueIn<T, Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (wire, lock) = <(<Sp::Store as Store<T>>::Wire, AnyLockIn<Sp>)>::deserialize(d)?;
        let obj = Store::attach(wire, shm::kind::VALUE).map_err(serde::de::Error::custom)?;
        Ok(ValueIn { obj, lock })
    }
}
