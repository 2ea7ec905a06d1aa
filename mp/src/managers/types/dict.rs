//! The manager's `dict`: its referent ([`Dict`]), [`DictProxy`] and the key iterator behind
//! `DictProxy::iter`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::iterator::{Generator, IteratorProxy};
use super::{args_of, read, unknown, write};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent, into_value, value_into};
use crate::managers::server::Slot;
use crate::managers::value::{Dict, Value};

pub(super) const DICT_METHODS: &[&str] = &[
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__ior__",
    "__iter__",
    "__len__",
    "__or__",
    "__reversed__",
    "__setitem__",
    "clear",
    "copy",
    "get",
    "items",
    "keys",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "values",
];

fn key_error(k: &Value) -> Error {
    Error::new(ErrorKind::Key, k.to_string())
}

pub(super) fn pairs_of(v: Value) -> Result<Vec<(Value, Value)>> {
    match v {
        Value::Dict(d) => Ok(d.into_iter().collect()),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => items
            .into_iter()
            .map(|p| match p {
                Value::List(mut kv) | Value::Tuple(mut kv) if kv.len() == 2 => {
                    let v = kv.pop().unwrap_or_default();
                    let k = kv.pop().unwrap_or_default();
                    Ok((k, v))
                }
                other => Err(Error::new(
                    ErrorKind::Type,
                    format!(
                        "cannot convert dictionary update sequence element {other} to a sequence of length 2"
                    ),
                )),
            })
            .collect(),
        other => Err(Error::new(
            ErrorKind::Type,
            format!("'{}' object is not iterable", other.type_name()),
        )),
    }
}

impl Referent for Dict {
    type Proxy = DictProxy;
    const TYPE_NAME: &'static str = "dict";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        match method {
            "__len__" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::from(read(this).len()))
            }
            "__getitem__" => {
                let a = args_of(args, method, 1, 1)?;
                read(this)
                    .get(&a[0])
                    .cloned()
                    .ok_or_else(|| key_error(&a[0]))
            }
            "get" => {
                let mut a = args_of(args, method, 1, 2)?;
                let default = if a.len() == 2 {
                    a.pop().unwrap_or_default()
                } else {
                    Value::None
                };
                Ok(read(this).get(&a[0]).cloned().unwrap_or(default))
            }
            "__setitem__" => {
                let mut a = args_of(args, method, 2, 2)?;
                let v = a.pop().unwrap_or_default();
                let k = a.pop().unwrap_or_default();
                let old = write(this).insert(k, v)?;
                drop(old);
                Ok(Value::None)
            }
            "__delitem__" => {
                let a = args_of(args, method, 1, 1)?;
                let old = write(this).remove(&a[0]).ok_or_else(|| key_error(&a[0]))?;
                drop(old);
                Ok(Value::None)
            }
            "__contains__" => {
                let a = args_of(args, method, 1, 1)?;
                Ok(Value::Bool(read(this).contains_key(&a[0])))
            }
            "keys" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::List(read(this).keys().cloned().collect()))
            }
            "values" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::List(read(this).values().cloned().collect()))
            }
            "items" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::List(
                    read(this)
                        .iter()
                        .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]))
                        .collect(),
                ))
            }
            "__reversed__" => {
                args_of(args, method, 0, 0)?;
                let d = read(this);
                let keys: Vec<Value> = d.keys().cloned().collect();
                Ok(Value::List(keys.into_iter().rev().collect()))
            }
            "update" | "__ior__" => {
                let mut a = args_of(args, method, 1, 1)?;
                let pairs = pairs_of(a.pop().unwrap_or_default())?;
                let mut d = write(this);
                for (k, v) in pairs {
                    d.insert(k, v)?;
                }
                Ok(Value::None)
            }
            "__or__" => {
                let mut a = args_of(args, method, 1, 1)?;
                let pairs = pairs_of(a.pop().unwrap_or_default())?;
                let mut d = read(this).clone();
                for (k, v) in pairs {
                    d.insert(k, v)?;
                }
                Ok(Value::Dict(d))
            }
            "pop" => {
                let mut a = args_of(args, method, 1, 2)?;
                let default = if a.len() == 2 { a.pop() } else { None };
                match write(this).remove(&a[0]) {
                    Some(v) => Ok(v),
                    None => default.ok_or_else(|| key_error(&a[0])),
                }
            }
            "popitem" => {
                args_of(args, method, 0, 0)?;
                write(this)
                    .pop_last()
                    .map(|(k, v)| Value::Tuple(vec![k, v]))
                    .ok_or_else(|| Error::new(ErrorKind::Key, "'popitem(): dictionary is empty'"))
            }
            "setdefault" => {
                let mut a = args_of(args, method, 1, 2)?;
                let default = if a.len() == 2 {
                    a.pop().unwrap_or_default()
                } else {
                    Value::None
                };
                let k = a.pop().unwrap_or_default();
                let mut d = write(this);
                if let Some(v) = d.get(&k) {
                    return Ok(v.clone());
                }
                d.insert(k, default.clone())?;
                Ok(default)
            }
            "clear" => {
                args_of(args, method, 0, 0)?;
                let old = std::mem::take(&mut *write(this));
                drop(old);
                Ok(Value::None)
            }
            "copy" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::Dict(read(this).clone()))
            }
            "__iter__" => {
                args_of(args, method, 0, 0)?;
                let dict = super::server::current_object()
                    .and_then(|o| o.into_any().downcast::<Slot<Dict>>().ok())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Runtime,
                            "a dict can only be iterated through its manager",
                        )
                    })?;
                let len = read(&dict.cell).len();
                let keys = DictKeys {
                    dict: Some(dict),
                    len,
                    pos: 0,
                    last: None,
                    broken: false,
                };
                super::to_value(&super::Shared::new(Generator {
                    it: Mutex::new(Box::new(keys)),
                }))
            }
            _ => Err(unknown("dict", method)),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(Value::Dict(read(this).clone()).to_string())
    }

    fn get_value(this: &RwLock<Self>) -> Result<Value> {
        Ok(Value::Dict(read(this).clone()))
    }
}

/// The iterator behind `iter(d)` (CPython's `dict_keyiterator`, held by the manager): the
/// keys in insertion order. Adding or removing keys while it runs makes its next step an
/// error, as in Python.
struct DictKeys {
    /// The dict (kept alive, as Python's iterator keeps its dict); `None` once exhausted.
    dict: Option<Arc<Slot<Dict>>>,
    /// The dict's size when the iteration started.
    len: usize,
    /// The position of the next key.
    pos: usize,
    /// The key yielded last (a removal before it moves it: the keys changed).
    last: Option<Value>,
    /// The size changed: every later step fails too (CPython makes that state sticky).
    broken: bool,
}

fn changed_size() -> Error {
    Error::new(
        ErrorKind::Runtime,
        "dictionary changed size during iteration",
    )
}

impl Iterator for DictKeys {
    type Item = Result<Value>;
    fn next(&mut self) -> Option<Result<Value>> {
        if self.broken {
            return Some(Err(changed_size()));
        }
        let dict = self.dict.as_ref()?;
        let d = read(&dict.cell);
        if d.len() != self.len {
            self.broken = true;
            return Some(Err(changed_size()));
        }
        let moved = self.pos > 0 && d.get_index(self.pos - 1).map(|(k, _)| k) != self.last.as_ref();
        let next = d.get_index(self.pos).map(|(k, _)| k.clone());
        drop(d);
        if moved {
            // The same size but other keys (one removed, another added): CPython reports
            // it and ends the iteration.
            self.dict = None;
            return Some(Err(Error::new(
                ErrorKind::Runtime,
                "dictionary keys changed during iteration",
            )));
        }
        match next {
            Some(k) => {
                self.pos += 1;
                self.last = Some(k.clone());
                Some(Ok(k))
            }
            None => {
                // Exhausted stays exhausted, whatever happens to the dict later.
                self.dict = None;
                None
            }
        }
    }
}

/// A proxy for a managed `dict`: Python's `DictProxy`.
///
/// Keys and values are [`Value`]s in the manager (compared and hashed as Python does);
/// `K` and `V` are what this proxy converts them to and from (`DictProxy` alone is
/// `DictProxy<Value, Value>`, heterogeneous like Python's).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{DictProxy, Value};
/// let manager = mp::Manager()?;
/// let d: DictProxy = manager.dict()?;
/// d.set(1, "1")?;
/// d.set("2", 2)?;
/// d.set(0.25, Value::None)?;
/// assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
/// assert_eq!(d.get_item(&"2")?, Value::from(2));
/// assert_eq!(d.get_item(&"missing").unwrap_err().kind(), mp::ErrorKind::Key);
/// assert_eq!(d.get(&"missing")?, None);
/// # Ok(()) }
/// ```
pub struct DictProxy<K = Value, V = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> (K, V)>,
}

proxy_common!(DictProxy<K, V>, "DictProxy", Dict, DICT_METHODS);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// `len(d)`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict()?;
    /// assert_eq!(d.len()?, 0);
    /// assert!(d.is_empty()?);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> Result<usize> {
        if let Some(d) = self.base.local_ref::<Dict>() {
            return Ok(read(d).len());
        }
        self.base.call("__len__", vec![])
    }

    /// `len(d) == 0`.
    ///
    /// # Errors
    ///
    /// See [`len`](DictProxy::len).
    ///
    /// # Examples
    ///
    /// See [`len`](DictProxy::len).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `d[key]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if the key is missing (the message is its `repr`).
    ///
    /// # Examples
    ///
    /// See [`DictProxy`].
    pub fn get_item<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V> {
        self.get_as(key)
    }

    /// `d[key]` converted to another type than `V` (for example a nested proxy).
    ///
    /// # Errors
    ///
    /// As [`get_item`](DictProxy::get_item), plus [`ErrorKind::Type`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::managers::{DictProxy, Value};
    /// let m = mp::Manager()?;
    /// let d: DictProxy = m.dict()?;
    /// d.set("inner", &m.dict::<Value, Value>()?)?;
    /// d.get_as::<DictProxy<String, i32>, _>("inner")?.set("x", 1)?;
    /// assert_eq!(d.get_as::<DictProxy, _>("inner")?.to_string(), "{'x': 1}");
    /// # Ok(()) }
    /// ```
    pub fn get_as<U: DeserializeOwned + 'static, Q: Serialize + ?Sized>(
        &self,
        key: &Q,
    ) -> Result<U> {
        let k = super::to_value(key)?;
        if let Some(d) = self.base.local_ref::<Dict>() {
            let v = read(d).get(&k).cloned();
            return value_into(v.ok_or_else(|| key_error(&k))?);
        }
        self.base.call("__getitem__", vec![k])
    }

    /// `d.get(key)`: `None` if missing.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`DictProxy`].
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>> {
        let k = super::to_value(key)?;
        let v: Value = match self.base.local_ref::<Dict>() {
            Some(d) => read(d).get(&k).cloned().unwrap_or_default(),
            None => self.base.call("get", vec![k])?,
        };
        match v {
            Value::None => Ok(None),
            v => value_into(v).map(Some),
        }
    }

    /// `d[key] = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for an unhashable key (a list, a dict).
    ///
    /// # Examples
    ///
    /// See [`DictProxy`].
    pub fn set(&self, key: impl Into<K>, value: impl Into<V>) -> Result<()> {
        let (k, v) = (into_value(key.into())?, into_value(value.into())?);
        if let Some(d) = self.base.local_ref::<Dict>() {
            let old = write(d).insert(k, v)?;
            drop(old); // after the lock is released
            return Ok(());
        }
        self.base.call("__setitem__", vec![k, v])
    }

    /// `del d[key]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if the key is missing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// d.remove(&"a")?;
    /// assert!(!d.contains(&"a")?);
    /// assert_eq!(d.remove(&"a").unwrap_err().kind(), mp::ErrorKind::Key);
    /// # Ok(()) }
    /// ```
    pub fn remove<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<()> {
        self.base.call("__delitem__", vec![super::to_value(key)?])
    }

    /// `key in d`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`remove`](DictProxy::remove).
    pub fn contains<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool> {
        let k = super::to_value(key)?;
        if let Some(d) = self.base.local_ref::<Dict>() {
            return Ok(read(d).contains_key(&k));
        }
        self.base.call("__contains__", vec![k])
    }

    /// `list(d.keys())`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> =
    ///     m.dict_from([("b".to_string(), 1), ("a".to_string(), 2)])?;
    /// assert_eq!(d.keys()?, ["b", "a"]);
    /// assert_eq!(d.values()?, [1, 2]);
    /// assert_eq!(d.items()?, [("b".to_string(), 1), ("a".to_string(), 2)]);
    /// # Ok(()) }
    /// ```
    pub fn keys(&self) -> Result<Vec<K>> {
        self.base.call("keys", vec![])
    }

    /// `list(d.values())`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`keys`](DictProxy::keys).
    pub fn values(&self) -> Result<Vec<V>> {
        self.base.call("values", vec![])
    }

    /// `list(d.items())`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`keys`](DictProxy::keys).
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        self.base.call("items", vec![])
    }

    /// `d.update(items)` (also Python's `d |= items`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for an unhashable key.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict()?;
    /// d.update([("a".to_string(), 1), ("b".to_string(), 2)])?;
    /// assert_eq!(d.len()?, 2);
    /// # Ok(()) }
    /// ```
    pub fn update(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let pairs = items
            .into_iter()
            .map(|(k, v)| Ok(Value::Tuple(vec![into_value(k)?, into_value(v)?])))
            .collect::<Result<Vec<_>>>()?;
        self.base.call("update", vec![Value::List(pairs)])
    }

    /// `d.pop(key)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if the key is missing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// assert_eq!(d.pop(&"a")?, 1);
    /// assert_eq!(d.pop(&"a").unwrap_err().kind(), mp::ErrorKind::Key);
    /// # Ok(()) }
    /// ```
    pub fn pop<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V> {
        self.base.call("pop", vec![super::to_value(key)?])
    }

    /// `d.popitem()`: removes and returns the last item inserted.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if the dict is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// assert_eq!(d.popitem()?, ("a".to_string(), 1));
    /// assert_eq!(d.popitem().unwrap_err().kind(), mp::ErrorKind::Key);
    /// # Ok(()) }
    /// ```
    pub fn popitem(&self) -> Result<(K, V)> {
        self.base.call("popitem", vec![])
    }

    /// `d.setdefault(key, default)`: the value of `key`, set to `default` first if missing.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict()?;
    /// assert_eq!(d.setdefault("a", 1)?, 1);
    /// assert_eq!(d.setdefault("a", 2)?, 1);
    /// # Ok(()) }
    /// ```
    pub fn setdefault(&self, key: impl Into<K>, default: impl Into<V>) -> Result<V> {
        self.base.call(
            "setdefault",
            vec![into_value(key.into())?, into_value(default.into())?],
        )
    }

    /// `d.clear()`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// d.clear()?;
    /// assert!(d.is_empty()?);
    /// # Ok(()) }
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.base.call("clear", vec![])
    }

    /// A copy of the dict (Python's `d.copy()`): its items in insertion order, to collect
    /// into the map type you like.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::collections::HashMap;
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// let h: HashMap<String, i32> = d.copy()?.into_iter().collect();
    /// assert_eq!(h["a"], 1);
    /// # Ok(()) }
    /// ```
    pub fn copy(&self) -> Result<Vec<(K, V)>> {
        self.base.call("items", vec![])
    }

    /// `iter(d)`: an iterator over the keys, living in the manager (each step is a round
    /// trip; [`keys`](DictProxy::keys) fetches them all at once). Adding or removing keys
    /// while it runs makes its next step an [`ErrorKind::Runtime`] error ("dictionary changed
    /// size during iteration"), as in Python. Once exhausted, it stays exhausted.
    ///
    /// # Errors
    ///
    /// Only the manager's; the items are `Result`s too.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let d: mp::managers::DictProxy<i32, String> =
    ///     m.dict_from((65..70).map(|i| (i, char::from(i as u8).to_string())))?;
    /// let mut it = d.iter()?;
    /// assert_eq!(it.by_ref().collect::<mp::Result<Vec<_>>>()?, [65, 66, 67, 68, 69]);
    /// assert!(it.next().is_none()); // exhausted
    ///
    /// let mut it = d.iter()?;
    /// d.clear()?;
    /// let err = it.next().unwrap().unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Runtime);
    /// assert_eq!(err.message(), "dictionary changed size during iteration");
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> Result<IteratorProxy<K>> {
        self.base.call("__iter__", vec![])
    }
}
