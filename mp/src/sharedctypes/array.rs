//! [`RawArray`] and [`Array`]: a fixed-length array of [`Shareable`] elements in shared memory,
//! without and with a lock, and their [`ArrayInit`] and [`ArrayBuilder`].

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::store::{Holds, Store};
use super::{ArrayGuard, Shareable, check_not_relocking, lock_then_excl, until_nul};
use crate::error::{Error, Result};
use crate::shm;
use crate::space::Processes;
use crate::synchronize::{AnyLockIn, RLockIn};

// Names the docs link to.
#[cfg(doc)]
use super::Value;
#[cfg(doc)]
use crate::error::ErrorKind;
#[cfg(doc)]
use crate::synchronize::{Lock, RLock};

macro_rules! array_common {
    ($ty:ident, $ex:literal) => {
        impl<T, Sp: Holds<T>> $ty<T, Sp> {
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
                self.obj.len()
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
                self.obj.len() == 0
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
            pub fn to_vec(&self) -> Result<Vec<T>>
            where
                T: Clone,
            {
                self.guarded(|| self.obj.read_range(0..self.obj.len()))
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
            pub fn get_range(&self, range: Range<usize>) -> Result<Vec<T>>
            where
                T: Clone,
            {
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
            pub fn set_range(&self, start: usize, values: &[T]) -> Result<()>
            where
                T: Clone,
            {
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
            pub fn fill(&self, value: T) -> Result<()>
            where
                T: Clone,
            {
                self.guarded(|| self.obj.fill(value))
            }
        }

        impl<Sp: Holds<u8>> $ty<u8, Sp> {
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
pub struct RawArrayIn<T, Sp: Holds<T> = Processes> {
    pub(super) obj: Sp::Store,
}

/// A [`RawArrayIn`] in shared memory, between processes.
pub type RawArray<T> = RawArrayIn<T, Processes>;

impl<T, Sp: Holds<T>> Clone for RawArrayIn<T, Sp> {
    fn clone(&self) -> Self {
        RawArrayIn {
            obj: self.obj.clone(),
        }
    }
}

impl<T, Sp: Holds<T>> RawArrayIn<T, Sp> {
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
    pub fn new(len: usize) -> Result<Self>
    where
        T: Shareable,
    {
        Ok(RawArrayIn {
            obj: Store::zeroed(len, shm::kind::ARRAY)?,
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
    pub fn from_slice(values: &[T]) -> Result<Self>
    where
        T: Clone,
    {
        Ok(RawArrayIn {
            obj: Store::from_slice(values, shm::kind::ARRAY)?,
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
    pub fn from_values(values: impl IntoIterator<Item = T>) -> Result<Self> {
        Ok(RawArrayIn {
            obj: Store::from_vec(values.into_iter().collect(), shm::kind::ARRAY)?,
        })
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
    pub fn borrow_mut(&self) -> Result<ArrayGuard<'_, T, Sp>> {
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

array_common!(RawArrayIn, "mp::sharedctypes::RawArray");

impl<T: fmt::Debug, Sp: Holds<T>> fmt::Debug for RawArrayIn<T, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            Some(x) => write!(f, "RawArray({:?})", self.obj.slice(&x)),
            None => write!(f, "RawArray(<borrowed>)"),
        }
    }
}

impl<T, Sp: Holds<T>> Serialize for RawArrayIn<T, Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.obj.serialize(s)
    }
}

impl<'de, T, Sp: Holds<T>> Deserialize<'de> for RawArrayIn<T, Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let wire = <<Sp::Store as Store<T>>::Wire>::deserialize(d)?;
        Ok(RawArrayIn {
            obj: Store::attach(wire, shm::kind::ARRAY).map_err(serde::de::Error::custom)?,
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
pub struct ArrayBuilder<T, Sp: Holds<T> = Processes> {
    init: ArrayInit<T>,
    lock: Option<AnyLockIn<Sp>>,
}

impl<T: Shareable, Sp: Holds<T>> ArrayBuilder<T, Sp> {
    /// Uses `lock` (a [`Lock`] or an [`RLock`]) instead of a new `RLock`.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn lock(mut self, lock: impl Into<AnyLockIn<Sp>>) -> Self {
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
    pub fn raw(self) -> Result<RawArrayIn<T, Sp>> {
        if self.lock.is_some() {
            return Err(Error::value("an array cannot have a lock and lock=False"));
        }
        match self.init {
            ArrayInit::Zeroed(n) => RawArrayIn::new(n),
            ArrayInit::Values(v) => RawArrayIn::from_values(v),
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
    pub fn build(self) -> Result<ArrayIn<T, Sp>> {
        let obj = match self.init {
            ArrayInit::Zeroed(n) => Store::zeroed(n, shm::kind::ARRAY)?,
            ArrayInit::Values(v) => Store::from_vec(v, shm::kind::ARRAY)?,
        };
        let lock = match self.lock {
            Some(l) => l,
            None => AnyLockIn::RLock(RLockIn::new()?),
        };
        Ok(ArrayIn { obj, lock })
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
pub struct ArrayIn<T, Sp: Holds<T> = Processes> {
    pub(super) obj: Sp::Store,
    pub(super) lock: AnyLockIn<Sp>,
}

/// An [`ArrayIn`] in shared memory, between processes: Python's `multiprocessing.Array`.
pub type Array<T> = ArrayIn<T, Processes>;

impl<T, Sp: Holds<T>> Clone for ArrayIn<T, Sp> {
    fn clone(&self) -> Self {
        ArrayIn {
            obj: self.obj.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T, Sp: Holds<T>> ArrayIn<T, Sp> {
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
    pub fn new(len: usize) -> Result<Self>
    where
        T: Shareable,
    {
        ArrayIn::builder(len).build()
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
    pub fn from_slice(values: &[T]) -> Result<Self>
    where
        T: Clone,
    {
        Ok(ArrayIn {
            obj: Store::from_slice(values, shm::kind::ARRAY)?,
            lock: AnyLockIn::RLock(RLockIn::new()?),
        })
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
    pub fn from_values(values: impl IntoIterator<Item = T>) -> Result<Self> {
        Ok(ArrayIn {
            obj: Store::from_vec(values.into_iter().collect(), shm::kind::ARRAY)?,
            lock: AnyLockIn::RLock(RLockIn::new()?),
        })
    }

    /// A builder for the `lock` argument.
    ///
    /// # Examples
    ///
    /// See [`ArrayBuilder`].
    pub fn builder(init: impl Into<ArrayInit<T>>) -> ArrayBuilder<T, Sp> {
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
    pub fn lock(&self) -> Result<ArrayGuard<'_, T, Sp>> {
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
    pub fn get_lock(&self) -> &AnyLockIn<Sp> {
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
    pub fn get_obj(&self) -> RawArrayIn<T, Sp> {
        RawArrayIn {
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

array_common!(ArrayIn, "mp::Array");

impl<T: fmt::Debug, Sp: Holds<T>> fmt::Debug for ArrayIn<T, Sp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.obj.try_excl() {
            Some(x) => write!(
                f,
                "<SynchronizedArray wrapper for {:?}>",
                self.obj.slice(&x)
            ),
            None => write!(f, "<SynchronizedArray wrapper for <borrowed>>"),
        }
    }
}

impl<T, Sp: Holds<T>> Serialize for ArrayIn<T, Sp> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.obj, &self.lock).serialize(s)
    }
}

impl<'de, T, Sp: Holds<T>> Deserialize<'de> for ArrayIn<T, Sp> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (wire, lock) = <(<Sp::Store as Store<T>>::Wire, AnyLockIn<Sp>)>::deserialize(d)?;
        let obj = Store::attach(wire, shm::kind::ARRAY).map_err(serde::de::Error::custom)?;
        Ok(ArrayIn { obj, lock })
    }
}
