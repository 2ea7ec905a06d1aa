//! Python objects over a connection (feature `pickle`): plain data as pickles, so that a Rust
//! end and a Python end can `send`/`recv` each other's objects.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Connection;
use crate::error::{Error, Result};

/// A dynamically typed Python value (`None`, bools, ints, floats, str, bytes, lists, tuples,
/// dicts, sets), for [`Connection::recv_pickle_value`] when the shape is not known in
/// advance.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// use mp::connection::PyValue;
/// let (a, b) = mp::Pipe(true)?;
/// a.send_pickle(&(1, "x"))?;
/// let v = b.recv_pickle_value()?;
/// assert_eq!(v, PyValue::Tuple(vec![PyValue::I64(1), PyValue::String("x".into())]));
/// # Ok(()) }
/// ```
pub type PyValue = serde_pickle::Value;

impl Connection {
    /// Sends `value` as a pickle (protocol 3), which Python's `Connection.recv()` unpickles:
    /// Python's `send(obj)` towards a Python peer. Rust `Option::None`/`()` become `None`,
    /// tuples become tuples, `Vec`s lists, maps dicts, strings `str`; use
    /// `serde_bytes::Bytes` (or [`PyValue::Bytes`]) for `bytes`.
    ///
    /// # Errors
    ///
    /// The value cannot be pickled, or the connection is closed, read-only or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let (a, b) = mp::Pipe(true)?;
    /// a.send_pickle(&(2.25, None::<i32>, "junk"))?;
    /// let v: (f64, Option<i32>, String) = b.recv_pickle()?;
    /// assert_eq!(v, (2.25, None, "junk".to_string()));
    /// # Ok(()) }
    /// ```
    pub fn send_pickle<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let bytes = serde_pickle::to_vec(&value, serde_pickle::SerOptions::new()).map_err(|e| {
            Error::ser(format!(
                "cannot pickle `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })?;
        self.send_bytes(&bytes)
    }

    /// Receives a pickle sent by Python's `Connection.send(obj)` (any protocol up to 5) and
    /// converts it to `T`; a Python list also converts to a Rust tuple. Only plain data can
    /// be read: pickles of other classes fail with [`ErrorKind::Serialization`](crate::ErrorKind::Serialization)
    /// (nothing is executed).
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Connection::recv_bytes), plus
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization).
    ///
    /// # Examples
    ///
    /// See [`send_pickle`](Connection::send_pickle).
    pub fn recv_pickle<T: DeserializeOwned>(&self) -> Result<T> {
        let bytes = self.recv_bytes()?;
        serde_pickle::from_slice(&bytes, serde_pickle::DeOptions::new()).map_err(|e| {
            Error::ser(format!(
                "cannot unpickle a `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Receives a pickle sent by Python as a [`PyValue`], keeping Python's distinctions
    /// (tuple vs list, set vs list) that a typed [`recv_pickle`](Connection::recv_pickle)
    /// folds away.
    ///
    /// # Errors
    ///
    /// As [`recv_pickle`](Connection::recv_pickle).
    ///
    /// # Examples
    ///
    /// See [`PyValue`].
    pub fn recv_pickle_value(&self) -> Result<PyValue> {
        let bytes = self.recv_bytes()?;
        serde_pickle::value_from_slice(&bytes, serde_pickle::DeOptions::new())
            .map_err(|e| Error::ser(format!("cannot unpickle: {e}")))
    }
}
