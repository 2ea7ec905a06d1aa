//! The manager's `Value` and `Array`: [`ValueCell`], [`ArrayCell`] and their proxies.

use std::fmt;
use std::marker::PhantomData;
use std::sync::RwLock;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{args_of, index_of, range_to_slice, read, unknown, write};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::managers::proxy::{BaseProxy, Proxy, Referent, into_value};
use crate::managers::value::{StrRepr, Value};

/// The object behind a manager's `Value(typecode, value)`: one value, unsynchronized (as
/// in CPython: there is no lock around `v.value += 1`).
#[derive(Debug, Clone)]
pub struct ValueCell {
    typecode: String,
    value: Value,
}

impl ValueCell {
    /// A cell holding `value`, with Python's typecode for the `repr`.
    ///
    /// # Examples
    ///
    /// ```
    /// # drop(mp::managers::ValueCell::new("i", 0.into()));
    /// ```
    pub fn new(typecode: &str, value: Value) -> ValueCell {
        ValueCell {
            typecode: typecode.to_owned(),
            value,
        }
    }
}

impl Referent for ValueCell {
    type Proxy = ValueProxy;
    const TYPE_NAME: &'static str = "Value";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        match method {
            "get" => {
                args_of(args, method, 0, 0)?;
                Ok(read(this).value.clone())
            }
            "set" => {
                let mut a = args_of(args, method, 1, 1)?;
                write(this).value = a.pop().unwrap_or_default();
                Ok(Value::None)
            }
            _ => Err(unknown("Value", method)),
        }
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let c = read(this);
        Ok(format!("Value({}, {})", StrRepr(&c.typecode), c.value))
    }
    fn get_value(this: &RwLock<Self>) -> Result<Value> {
        Ok(read(this).value.clone())
    }
}

/// A proxy for a manager's `Value`: Python's `ValueProxy` (`v.value` is
/// [`get`](ValueProxy::get) / [`set`](ValueProxy::set)).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let m = mp::Manager()?;
/// let v = m.value("d", 1.5)?;
/// v.set(v.get()? * 2.0)?;
/// assert_eq!(v.get()?, 3.0);
/// assert_eq!(v.to_string(), "Value('d', 3.0)");
/// # Ok(()) }
/// ```
pub struct ValueProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ValueProxy<T>, "ValueProxy", ValueCell, &["get", "set"]);

impl<T: Serialize + DeserializeOwned + 'static> ValueProxy<T> {
    /// `v.value`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached.
    ///
    /// # Examples
    ///
    /// See [`ValueProxy`].
    pub fn get(&self) -> Result<T> {
        self.base.call("get", vec![])
    }

    /// `v.value = x`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached.
    ///
    /// # Examples
    ///
    /// See [`ValueProxy`].
    pub fn set(&self, x: T) -> Result<()> {
        self.base.call("set", vec![into_value(x)?])
    }
}

/// The object behind a manager's `Array(typecode, sequence)`: a fixed-length sequence.
#[derive(Debug, Clone)]
pub struct ArrayCell {
    typecode: String,
    items: Vec<Value>,
}

impl ArrayCell {
    /// An array of `items`, with Python's typecode for the `repr`.
    ///
    /// # Examples
    ///
    /// ```
    /// # drop(mp::managers::ArrayCell::new("i", vec![1.into()]));
    /// ```
    pub fn new(typecode: &str, items: Vec<Value>) -> ArrayCell {
        ArrayCell {
            typecode: typecode.to_owned(),
            items,
        }
    }
}

impl Referent for ArrayCell {
    type Proxy = ArrayProxy;
    const TYPE_NAME: &'static str = "Array";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        match method {
            "__len__" => Ok(Value::from(read(this).items.len())),
            "__getitem__" => {
                let a = args_of(args, method, 1, 1)?;
                let c = read(this);
                match &a[0] {
                    Value::Slice(s) => Ok(Value::List(
                        s.positions(c.items.len())?
                            .into_iter()
                            .map(|i| c.items[i].clone())
                            .collect(),
                    )),
                    i => Ok(c.items[index_of(i, c.items.len(), "array")?].clone()),
                }
            }
            "__setitem__" => {
                let mut a = args_of(args, method, 2, 2)?;
                let v = a.pop().unwrap_or_default();
                let mut c = write(this);
                let len = c.items.len();
                let i = index_of(&a[0], len, "array assignment")?;
                c.items[i] = v;
                Ok(Value::None)
            }
            _ => Err(unknown("Array", method)),
        }
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let c = read(this);
        Ok(format!(
            "array({}, {})",
            StrRepr(&c.typecode),
            Value::List(c.items.clone())
        ))
    }
    fn get_value(this: &RwLock<Self>) -> Result<Value> {
        Ok(Value::List(read(this).items.clone()))
    }
}

/// A proxy for a manager's `Array`: Python's `ArrayProxy` (`len`, `a[i]`, `a[i] = x`).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let m = mp::Manager()?;
/// let a = m.array("i", vec![1, 2, 3])?;
/// a.set(0, -1)?;
/// assert_eq!(a.len()?, 3);
/// assert_eq!(a.get(0)?, -1);
/// assert_eq!(a.to_vec()?, [-1, 2, 3]);
/// assert_eq!(a.get(3).unwrap_err().kind(), mp::ErrorKind::Index);
/// # Ok(()) }
/// ```
pub struct ArrayProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    ArrayProxy<T>,
    "ArrayProxy",
    ArrayCell,
    &["__len__", "__getitem__", "__setitem__"]
);

impl<T: Serialize + DeserializeOwned + 'static> ArrayProxy<T> {
    /// `len(a)`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn len(&self) -> Result<usize> {
        self.base.call("__len__", vec![])
    }

    /// `len(a) == 0`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// assert!(mp::Manager()?.array::<i32>("i", vec![])?.is_empty()?);
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `a[i]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`].
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn get(&self, i: isize) -> Result<T> {
        self.base.call("__getitem__", vec![Value::from(i)])
    }

    /// `a[i] = x`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`].
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn set(&self, i: isize, x: T) -> Result<()> {
        self.base
            .call("__setitem__", vec![Value::from(i), into_value(x)?])
    }

    /// `a[:]`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.base.call("__getitem__", vec![range_to_slice(..)])
    }
}
