//! Python objects over a connection (feature `pickle`): plain data as pickles, so that a Rust
//! end and a Python end can `send`/`recv` each other's objects.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Connection;
use crate::error::{Error, ErrorKind, Result};

/// What a listener that authenticates sends first; never the start of a pickle (which starts
/// with the `PROTO` opcode, or an opcode of protocol 0 or 1, none of them `#`).
const CHALLENGE: &[u8] = b"#CHALLENGE#";

/// Unpickles `bytes`, telling an authentication challenge (a client without a key talking
/// to a listener with one) from a bad pickle.
fn unpickle<R>(
    bytes: &[u8],
    f: impl FnOnce(&[u8]) -> serde_pickle::Result<R>,
    what: impl FnOnce() -> String,
) -> Result<R> {
    if bytes.starts_with(CHALLENGE) {
        return Err(Error::new(
            ErrorKind::Authentication,
            "received an authentication challenge instead of a pickle: the listener \
             authenticates and this connection did not (connect with the listener's authkey)",
        ));
    }
    f(bytes).map_err(|e| Error::ser(format!("{}: {e}", what())))
}

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
    /// be read: pickles of other classes fail with [`ErrorKind::Serialization`]
    /// (nothing is executed).
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Connection::recv_bytes), plus [`ErrorKind::Serialization`], and
    /// [`ErrorKind::Authentication`] for an authentication
    /// challenge: the connection comes from a [`Client`](super::Client) without a key, and
    /// the listener has one.
    ///
    /// # Examples
    ///
    /// See [`send_pickle`](Connection::send_pickle).
    pub fn recv_pickle<T: DeserializeOwned>(&self) -> Result<T> {
        let bytes = self.recv_bytes()?;
        unpickle(
            &bytes,
            |b| serde_pickle::from_slice(b, serde_pickle::DeOptions::new()),
            || format!("cannot unpickle a `{}`", std::any::type_name::<T>()),
        )
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
        unpickle(
            &bytes,
            |b| serde_pickle::value_from_slice(b, serde_pickle::DeOptions::new()),
            || "cannot unpickle".to_owned(),
        )
    }

    /// Sends a [`PyValue`] as a pickle (protocol 3), keeping Python's distinctions (tuple,
    /// list, set, frozenset, big int), so that a value received with
    /// [`recv_pickle_value`](Connection::recv_pickle_value) can be echoed or forwarded as it
    /// came: Python's `send(obj)` for any plain object.
    ///
    /// # Errors
    ///
    /// The connection is closed, read-only or broken.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// use std::collections::BTreeSet;
    /// use mp::connection::PyValue;
    /// use serde_pickle::HashableValue;
    /// let (a, b) = mp::Pipe(true)?;
    /// let v = PyValue::Tuple(vec![
    ///     PyValue::None,
    ///     PyValue::Int(10u8.into()),
    ///     PyValue::FrozenSet(BTreeSet::from([HashableValue::Bytes(b"x".to_vec())])),
    /// ]);
    /// a.send_pickle_value(&v)?;
    /// let echo = b.recv_pickle_value()?;
    /// b.send_pickle_value(&echo)?; // forwarded as it came
    /// // Integers come back in their smallest form.
    /// assert_eq!(
    ///     a.recv_pickle_value()?,
    ///     PyValue::Tuple(vec![
    ///         PyValue::None,
    ///         PyValue::I64(10),
    ///         PyValue::FrozenSet(BTreeSet::from([HashableValue::Bytes(b"x".to_vec())])),
    ///     ])
    /// );
    /// # Ok(()) }
    /// ```
    pub fn send_pickle_value(&self, value: &PyValue) -> Result<()> {
        let bytes = serde_pickle::value_to_vec(value, serde_pickle::SerOptions::new())
            .map_err(|e| Error::ser(format!("cannot pickle: {e}")))?;
        self.send_bytes(&bytes)
    }
}
