//! `Value` and `Array` for threads, with the API of [`mp::sharedctypes`](crate::sharedctypes).
//!
//! These are mp's [`ValueIn`](crate::sharedctypes::ValueIn),
//! [`ArrayIn`](crate::sharedctypes::ArrayIn) and their raw forms in the thread space: the
//! same fronts, with the data on the heap behind a mutex instead of in a shared arena. Threads
//! share memory, so any `Send` type can be stored (no [`Shareable`] bound, except where a
//! zero-filled array is asked for). In CPython's `multiprocessing.dummy`, `Value` is an
//! unsynchronised attribute holder and `Array` an `array.array`; here they keep mp's API —
//! [`get_lock`](Value::get_lock) included — so code written for `mp` compiles unchanged. As
//! in mp, each single access is atomic (it takes the value's borrow lock), a read-modify-write
//! needs [`Value::lock`], and a second guard of the same object in the same thread is an error
//! rather than a deadlock.
//!
//! # Examples
//!
//! ```
//! use mp::dummy::{Array, Value};
//! let v = Value::new(String::from("any Send value"))?;
//! v.lock()?.push('!');
//! assert_eq!(v.get()?, "any Send value!");
//! let a = Array::from_values([1u8, 2, 3])?;
//! a.set(0, 9)?;
//! assert_eq!(a.to_vec()?, [9, 2, 3]);
//! # Ok::<(), mp::Error>(())
//! ```

use crate::space::Threads;

#[cfg(doc)]
use crate::sharedctypes::Shareable;

pub use crate::sharedctypes::{ArrayInit, CopyShared, Synchronize, copy, synchronized};

/// A value without a lock, on the heap: [`mp::sharedctypes::RawValue`](crate::sharedctypes::RawValue)
/// in the thread space.
pub type RawValue<T> = crate::sharedctypes::RawValueIn<T, Threads>;

/// A value with a lock: [`mp::Value`](crate::Value) in the thread space.
pub type Value<T> = crate::sharedctypes::ValueIn<T, Threads>;

/// Builder for a [`Value`].
pub type ValueBuilder<T> = crate::sharedctypes::ValueBuilder<T, Threads>;

/// An array without a lock, on the heap.
pub type RawArray<T> = crate::sharedctypes::RawArrayIn<T, Threads>;

/// An array with a lock: [`mp::Array`](crate::Array) in the thread space.
pub type Array<T> = crate::sharedctypes::ArrayIn<T, Threads>;

/// Builder for an [`Array`].
pub type ArrayBuilder<T> = crate::sharedctypes::ArrayBuilder<T, Threads>;

/// Exclusive access to a [`Value`] or a [`RawValue`].
pub type ValueGuard<'a, T> = crate::sharedctypes::ValueGuard<'a, T, Threads>;

/// Exclusive access to an [`Array`] or a [`RawArray`].
pub type ArrayGuard<'a, T> = crate::sharedctypes::ArrayGuard<'a, T, Threads>;
