//! The SyncManager's types: the objects its server holds (list, dict, Namespace, Queue,
//! locks...) and their typed proxies.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::proxy::{BaseProxy, Proxy, Referent, into_value, value_into};
use super::server::{Obj, Slot, client_gone};
use super::value::{Dict, Slice, StrRepr, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::queues::local::{Core, Wait};
use crate::queues::{TryGetError, TryPutError};
use crate::space::Threads;

// ---------------------------------------------------------------------------------------------
// Argument helpers (server side)
// ---------------------------------------------------------------------------------------------

fn args_of(args: Value, name: &str, min: usize, max: usize) -> Result<Vec<Value>> {
    let v = match args {
        Value::Tuple(v) | Value::List(v) => v,
        Value::None => Vec::new(),
        one => vec![one],
    };
    if v.len() < min || v.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else {
            format!("from {min} to {max}")
        };
        return Err(Error::new(
            ErrorKind::Type,
            format!(
                "{name}() takes {expected} positional arguments but {} were given",
                v.len()
            ),
        ));
    }
    Ok(v)
}

fn int_arg(v: &Value, what: &str) -> Result<i64> {
    v.as_int()
        .and_then(|i| i64::try_from(i).ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Type,
                format!("{what} must be an integer, not '{}'", v.type_name()),
            )
        })
}

fn timeout_arg(v: Option<&Value>) -> Result<Option<Instant>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(v) => {
            let secs = v.as_f64().ok_or_else(|| {
                Error::new(
                    ErrorKind::Type,
                    format!("timeout must be a number, not '{}'", v.type_name()),
                )
            })?;
            let secs = secs.max(0.0);
            if !secs.is_finite() || secs > 1e9 {
                return Ok(None);
            }
            Ok(Some(Instant::now() + Duration::from_secs_f64(secs)))
        }
    }
}

fn bool_arg(v: Option<&Value>, default: bool) -> bool {
    v.map_or(default, Value::truthy)
}

fn index_of(v: &Value, len: usize, what: &str) -> Result<usize> {
    let i = int_arg(v, &format!("{what} indices"))?;
    let j = if i < 0 { i + len as i64 } else { i };
    if j < 0 || j >= len as i64 {
        return Err(Error::new(
            ErrorKind::Index,
            format!("{what} index out of range"),
        ));
    }
    Ok(j as usize)
}

fn unknown(type_name: &str, method: &str) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("'{type_name}' object has no method '{method}'"),
    )
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn sort_values(v: &mut [Value], reverse: bool) -> Result<()> {
    let mut failed: Option<(&'static str, &'static str)> = None;
    let backup = v.to_vec();
    v.sort_by(|a, b| match a.py_cmp(b) {
        Some(o) => {
            if reverse {
                o.reverse()
            } else {
                o
            }
        }
        None => {
            failed.get_or_insert((a.type_name(), b.type_name()));
            std::cmp::Ordering::Equal
        }
    });
    if let Some((a, b)) = failed {
        v.clone_from_slice(&backup);
        return Err(Error::new(
            ErrorKind::Type,
            format!("'<' not supported between instances of '{a}' and '{b}'"),
        ));
    }
    Ok(())
}

fn range_to_slice(r: impl RangeBounds<isize>) -> Value {
    let start = match r.start_bound() {
        Bound::Included(&s) => Some(s as i64),
        Bound::Excluded(&s) => Some(s as i64 + 1),
        Bound::Unbounded => None,
    };
    let stop = match r.end_bound() {
        Bound::Included(&e) => Some(e as i64 + 1),
        Bound::Excluded(&e) => Some(e as i64),
        Bound::Unbounded => None,
    };
    Value::Slice(Box::new(Slice {
        start,
        stop,
        step: None,
    }))
}

fn values_of<T: Serialize + 'static>(items: impl IntoIterator<Item = T>) -> Result<Vec<Value>> {
    items.into_iter().map(into_value).collect()
}

fn secs(d: Duration) -> Value {
    Value::Float(d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// Shared proxy boilerplate
// ---------------------------------------------------------------------------------------------

macro_rules! proxy_common {
    ($name:ident < $($t:ident),* >, $str:literal, $referent:ty, $exposed:expr) => {
        impl<$($t: 'static),*> Proxy for $name<$($t),*> {
            type Referent = $referent;
            const NAME: &'static str = $str;
            const EXPOSED: &'static [&'static str] = $exposed;
            fn from_base(base: BaseProxy) -> Self {
                $name { base, _t: PhantomData }
            }
            fn base(&self) -> &BaseProxy {
                &self.base
            }
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                $name { base: self.base.clone(), _t: PhantomData }
            }
        }

        impl<$($t),*> fmt::Debug for $name<$($t),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.base, f)
            }
        }

        impl<$($t),*> fmt::Display for $name<$($t),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.base, f)
            }
        }

        impl<$($t),*> Serialize for $name<$($t),*> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.base.serialize(s)
            }
        }

        impl<'de, $($t: 'static),*> Deserialize<'de> for $name<$($t),*> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                BaseProxy::deserialize_for::<Self, D>(d).map(Self::from_base)
            }
        }

        impl<$($t),*> From<&$name<$($t),*>> for Value {
            fn from(p: &$name<$($t),*>) -> Value {
                Value::Proxy(p.base.to_ref())
            }
        }

        impl<$($t),*> $name<$($t),*> {
            /// The base proxy: Python's `_callmethod`, `_getvalue`, `_exposed_` and the token.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[mp::main] fn main() -> mp::Result<()> {
            /// let m = mp::Manager()?;
            /// let l: mp::managers::ListProxy = m.list()?;
            /// assert_eq!(l.base().token().typeid(), "list");
            /// # Ok(()) }
            /// ```
            pub fn base(&self) -> &BaseProxy {
                &self.base
            }
        }
    };
}

macro_rules! proxy_common_plain {
    ($name:ident, $str:literal, $referent:ty, $exposed:expr $(, $field:ident = $init:expr)*) => {
        impl Proxy for $name {
            type Referent = $referent;
            const NAME: &'static str = $str;
            const EXPOSED: &'static [&'static str] = $exposed;
            fn from_base(base: BaseProxy) -> Self {
                $name { $($field: $init(&base),)* base }
            }
            fn base(&self) -> &BaseProxy {
                &self.base
            }
        }

        impl Clone for $name {
            fn clone(&self) -> Self {
                Self::from_base(self.base.clone())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.base, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.base, f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.base.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                BaseProxy::deserialize_for::<Self, D>(d).map(Self::from_base)
            }
        }

        impl From<&$name> for Value {
            fn from(p: &$name) -> Value {
                Value::Proxy(p.base.to_ref())
            }
        }

        impl $name {
            /// The base proxy: Python's `_callmethod`, `_getvalue`, `_exposed_` and the token.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[mp::main] fn main() -> mp::Result<()> {
            /// let m = mp::Manager()?;
            /// let e = m.event()?;
            /// assert_eq!(e.base().token().typeid(), "Event");
            /// # Ok(()) }
            /// ```
            pub fn base(&self) -> &BaseProxy {
                &self.base
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

const LIST_METHODS: &[&str] = &[
    "__add__",
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__iadd__",
    "__imul__",
    "__len__",
    "__mul__",
    "__reversed__",
    "__rmul__",
    "__setitem__",
    "append",
    "clear",
    "copy",
    "count",
    "extend",
    "index",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
];

fn list_repr(v: &[Value]) -> String {
    Value::List(v.to_vec()).to_string()
}

impl Referent for Vec<Value> {
    type Proxy = ListProxy;
    const TYPE_NAME: &'static str = "list";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        match method {
            "__len__" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::from(read(this).len()))
            }
            "__getitem__" => {
                let a = args_of(args, method, 1, 1)?;
                let l = read(this);
                match &a[0] {
                    Value::Slice(s) => Ok(Value::List(
                        s.positions(l.len())?
                            .into_iter()
                            .map(|i| l[i].clone())
                            .collect(),
                    )),
                    i => Ok(l[index_of(i, l.len(), "list")?].clone()),
                }
            }
            "__setitem__" => {
                let mut a = args_of(args, method, 2, 2)?;
                let v = a.pop().unwrap_or_default();
                let mut l = write(this);
                match &a[0] {
                    Value::Slice(s) => {
                        let items = match v {
                            Value::List(x) | Value::Tuple(x) => x,
                            other => {
                                return Err(Error::new(
                                    ErrorKind::Type,
                                    format!(
                                        "can only assign an iterable, not '{}'",
                                        other.type_name()
                                    ),
                                ));
                            }
                        };
                        let (start, stop, step) = s.indices(l.len())?;
                        if step == 1 {
                            let stop = stop.max(start);
                            l.splice(start as usize..stop as usize, items);
                        } else {
                            let pos = s.positions(l.len())?;
                            if pos.len() != items.len() {
                                return Err(Error::new(
                                    ErrorKind::Value,
                                    format!(
                                        "attempt to assign sequence of size {} to extended slice of size {}",
                                        items.len(),
                                        pos.len()
                                    ),
                                ));
                            }
                            for (p, x) in pos.into_iter().zip(items) {
                                l[p] = x;
                            }
                        }
                    }
                    i => {
                        let i = index_of(i, l.len(), "list assignment")?;
                        l[i] = v;
                    }
                }
                Ok(Value::None)
            }
            "__delitem__" => {
                let a = args_of(args, method, 1, 1)?;
                let mut l = write(this);
                match &a[0] {
                    Value::Slice(s) => {
                        let mut pos = s.positions(l.len())?;
                        pos.sort_unstable();
                        for p in pos.into_iter().rev() {
                            l.remove(p);
                        }
                    }
                    i => {
                        let i = index_of(i, l.len(), "list assignment")?;
                        l.remove(i);
                    }
                }
                Ok(Value::None)
            }
            "__contains__" => {
                let a = args_of(args, method, 1, 1)?;
                Ok(Value::Bool(read(this).contains(&a[0])))
            }
            "append" => {
                let mut a = args_of(args, method, 1, 1)?;
                write(this).push(a.pop().unwrap_or_default());
                Ok(Value::None)
            }
            "extend" | "__iadd__" => {
                let mut a = args_of(args, method, 1, 1)?;
                match a.pop().unwrap_or_default() {
                    Value::List(x) | Value::Tuple(x) => write(this).extend(x),
                    other => {
                        return Err(Error::new(
                            ErrorKind::Type,
                            format!("'{}' object is not iterable", other.type_name()),
                        ));
                    }
                }
                Ok(Value::None)
            }
            "__add__" => {
                let mut a = args_of(args, method, 1, 1)?;
                match a.pop().unwrap_or_default() {
                    Value::List(x) => {
                        let mut l = read(this).clone();
                        l.extend(x);
                        Ok(Value::List(l))
                    }
                    other => Err(Error::new(
                        ErrorKind::Type,
                        format!(
                            "can only concatenate list (not \"{}\") to list",
                            other.type_name()
                        ),
                    )),
                }
            }
            "__mul__" | "__rmul__" | "__imul__" => {
                let a = args_of(args, method, 1, 1)?;
                let n = int_arg(&a[0], "can't multiply sequence by non-int: n")?.max(0) as usize;
                if method == "__imul__" {
                    let mut l = write(this);
                    let orig = l.clone();
                    l.clear();
                    for _ in 0..n {
                        l.extend(orig.iter().cloned());
                    }
                    Ok(Value::None)
                } else {
                    let l = read(this);
                    let mut out = Vec::with_capacity(l.len().saturating_mul(n).min(1 << 20));
                    for _ in 0..n {
                        out.extend(l.iter().cloned());
                    }
                    Ok(Value::List(out))
                }
            }
            "__reversed__" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::List(read(this).iter().rev().cloned().collect()))
            }
            "insert" => {
                let mut a = args_of(args, method, 2, 2)?;
                let v = a.pop().unwrap_or_default();
                let i = int_arg(&a[0], "list.insert() index")?;
                let mut l = write(this);
                let len = l.len() as i64;
                let i = if i < 0 { (i + len).max(0) } else { i.min(len) };
                l.insert(i as usize, v);
                Ok(Value::None)
            }
            "pop" => {
                let a = args_of(args, method, 0, 1)?;
                let mut l = write(this);
                if l.is_empty() {
                    return Err(Error::new(ErrorKind::Index, "pop from empty list"));
                }
                let i = match a.first() {
                    None => l.len() - 1,
                    Some(i) => index_of(i, l.len(), "pop")?,
                };
                Ok(l.remove(i))
            }
            "remove" => {
                let a = args_of(args, method, 1, 1)?;
                let mut l = write(this);
                match l.iter().position(|x| *x == a[0]) {
                    Some(i) => {
                        l.remove(i);
                        Ok(Value::None)
                    }
                    None => Err(Error::new(
                        ErrorKind::Value,
                        "list.remove(x): x not in list",
                    )),
                }
            }
            "index" => {
                let a = args_of(args, method, 1, 3)?;
                let l = read(this);
                let len = l.len() as i64;
                let norm = |v: Option<&Value>, d: i64| -> Result<i64> {
                    match v {
                        None => Ok(d),
                        Some(v) => {
                            let i = int_arg(v, "slice indices")?;
                            Ok(if i < 0 { (i + len).max(0) } else { i.min(len) })
                        }
                    }
                };
                let (start, stop) = (norm(a.get(1), 0)?, norm(a.get(2), len)?);
                (start..stop.max(start))
                    .find(|&i| l[i as usize] == a[0])
                    .map(|i| Value::Int(i as i128))
                    .ok_or_else(|| Error::new(ErrorKind::Value, format!("{} is not in list", a[0])))
            }
            "count" => {
                let a = args_of(args, method, 1, 1)?;
                Ok(Value::from(
                    read(this).iter().filter(|x| **x == a[0]).count(),
                ))
            }
            "reverse" => {
                args_of(args, method, 0, 0)?;
                write(this).reverse();
                Ok(Value::None)
            }
            "sort" => {
                let a = args_of(args, method, 0, 1)?;
                sort_values(&mut write(this), bool_arg(a.first(), false))?;
                Ok(Value::None)
            }
            "clear" => {
                args_of(args, method, 0, 0)?;
                // Drop the items after the lock is released.
                let old = std::mem::take(&mut *write(this));
                drop(old);
                Ok(Value::None)
            }
            "copy" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::List(read(this).clone()))
            }
            _ => Err(unknown("list", method)),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(list_repr(&read(this)))
    }

    fn get_value(this: &RwLock<Self>) -> Result<Value> {
        Ok(Value::List(read(this).clone()))
    }
}

/// A proxy for a managed `list`: Python's `ListProxy`.
///
/// The items are [`Value`]s in the manager; `T` is what this proxy converts them to and
/// from (`ListProxy` alone is `ListProxy<Value>`, heterogeneous like Python's). Indices may
/// be negative, as in Python. Proxies do not compare by value (Python's
/// `manager.list([1,2,3]) == [1,2,3]` is `False`): compare [`copy`](ListProxy::copy).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::ListProxy;
/// let manager = mp::Manager()?;
/// let l: ListProxy<i64> = manager.list_from((0..10).map(|i| i * i))?;
/// assert_eq!(l.to_string(), "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
/// assert_eq!(l.get(4)?, 16);
/// assert_eq!(l.get(-1)?, 81);
/// assert_eq!(l.slice(2..5)?, [4, 9, 16]);
/// assert_eq!(l.get(20).unwrap_err().kind(), mp::ErrorKind::Index);
/// l.reverse()?;
/// assert_eq!(l.copy()?[0], 81);
/// # Ok(()) }
/// ```
pub struct ListProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ListProxy<T>, "ListProxy", Vec<Value>, LIST_METHODS);

impl<T: Serialize + DeserializeOwned + 'static> ListProxy<T> {
    /// `len(l)`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method of every proxy; not repeated below).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<u8> = m.list_from([1, 2])?;
    /// assert_eq!(l.len()?, 2);
    /// assert!(!l.is_empty()?);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> Result<usize> {
        if let Some(l) = self.base.local_ref::<Vec<Value>>() {
            return Ok(read(l).len());
        }
        self.base.call("__len__", vec![])
    }

    /// `len(l) == 0`.
    ///
    /// # Errors
    ///
    /// See [`len`](ListProxy::len).
    ///
    /// # Examples
    ///
    /// See [`len`](ListProxy::len).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `l[i]` (negative `i` counts from the end).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] ("list index out of range").
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn get(&self, i: isize) -> Result<T> {
        self.get_as(i)
    }

    /// `l[i]` converted to another type than `T` (for example a nested proxy).
    ///
    /// # Errors
    ///
    /// As [`get`](ListProxy::get), plus [`ErrorKind::Type`] if the item is not an `U`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::managers::{DictProxy, ListProxy};
    /// let m = mp::Manager()?;
    /// let outer: ListProxy = m.list()?;
    /// outer.append(&m.dict::<String, i32>()?)?;
    /// let inner: DictProxy<String, i32> = outer.get_as(0)?;
    /// inner.set("a", 1)?;
    /// assert_eq!(outer.get_as::<DictProxy<String, i32>>(0)?.to_string(), "{'a': 1}");
    /// # Ok(()) }
    /// ```
    pub fn get_as<U: DeserializeOwned + 'static>(&self, i: isize) -> Result<U> {
        if let Some(l) = self.base.local_ref::<Vec<Value>>() {
            let item = {
                let l = read(l);
                l[index_of(&Value::from(i), l.len(), "list")?].clone()
            };
            return value_into(item);
        }
        self.base.call("__getitem__", vec![Value::from(i)])
    }

    /// `l[i] = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] ("list assignment index out of range").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2])?;
    /// l.set(-1, 5)?;
    /// assert_eq!(l.copy()?, [1, 5]);
    /// # Ok(()) }
    /// ```
    pub fn set(&self, i: isize, value: impl Into<T>) -> Result<()> {
        let v = into_value(value.into())?;
        if let Some(l) = self.base.local_ref::<Vec<Value>>() {
            let old = {
                let mut l = write(l);
                let j = index_of(&Value::from(i), l.len(), "list assignment")?;
                std::mem::replace(&mut l[j], v)
            };
            drop(old); // after the lock is released
            return Ok(());
        }
        self.base.call("__setitem__", vec![Value::from(i), v])
    }

    /// `l[range]` as a `Vec` (Python's `l[2:5]` is `l.slice(2..5)`, `l[-3:]` is
    /// `l.slice(-3..)`).
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn slice(&self, range: impl RangeBounds<isize>) -> Result<Vec<T>> {
        self.base.call("__getitem__", vec![range_to_slice(range)])
    }

    /// `l[range] = items`.
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
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// l.set_slice(..2, [9])?;
    /// assert_eq!(l.copy()?, [9, 3]);
    /// # Ok(()) }
    /// ```
    pub fn set_slice(
        &self,
        range: impl RangeBounds<isize>,
        items: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        self.base.call(
            "__setitem__",
            vec![range_to_slice(range), Value::List(values_of(items)?)],
        )
    }

    /// `del l[i]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// l.del(0)?;
    /// l.del_slice(1..)?;
    /// assert_eq!(l.copy()?, [2]);
    /// # Ok(()) }
    /// ```
    pub fn del(&self, i: isize) -> Result<()> {
        self.base.call("__delitem__", vec![Value::from(i)])
    }

    /// `del l[range]`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`del`](ListProxy::del).
    pub fn del_slice(&self, range: impl RangeBounds<isize>) -> Result<()> {
        self.base.call("__delitem__", vec![range_to_slice(range)])
    }

    /// `l.append(x)`. `x` may be a proxy (`&other_list`): the list then holds a reference
    /// to that object.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::managers::ListProxy;
    /// let m = mp::Manager()?;
    /// let (a, b): (ListProxy, ListProxy) = (m.list()?, m.list()?);
    /// a.append(&b)?;
    /// b.append("hello")?;
    /// assert!(a.to_string().starts_with("[<ListProxy object, typeid 'list' at 0x"));
    /// assert_eq!(a.get_as::<ListProxy>(0)?.to_string(), "['hello']");
    /// # Ok(()) }
    /// ```
    pub fn append(&self, x: impl Into<T>) -> Result<()> {
        let v = into_value(x.into())?;
        if let Some(l) = self.base.local_ref::<Vec<Value>>() {
            write(l).push(v);
            return Ok(());
        }
        self.base.call("append", vec![v])
    }

    /// `l.extend(items)` (also Python's `l += items`).
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
    /// let l: mp::managers::ListProxy<i32> = m.list()?;
    /// l.extend([1, 2])?;
    /// assert_eq!(l.copy()?, [1, 2]);
    /// # Ok(()) }
    /// ```
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        self.base
            .call("extend", vec![Value::List(values_of(items)?)])
    }

    /// `l.insert(i, x)`.
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
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 3])?;
    /// l.insert(1, 2)?;
    /// assert_eq!(l.copy()?, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn insert(&self, i: isize, x: impl Into<T>) -> Result<()> {
        self.base
            .call("insert", vec![Value::from(i), into_value(x.into())?])
    }

    /// `l.pop()`: removes and returns the last item.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] ("pop from empty list").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// assert_eq!(l.pop()?, 3);
    /// assert_eq!(l.pop_at(0)?, 1);
    /// l.pop()?;
    /// assert_eq!(l.pop().unwrap_err().kind(), mp::ErrorKind::Index);
    /// # Ok(()) }
    /// ```
    pub fn pop(&self) -> Result<T> {
        self.base.call("pop", vec![])
    }

    /// `l.pop(i)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`].
    ///
    /// # Examples
    ///
    /// See [`pop`](ListProxy::pop).
    pub fn pop_at(&self, i: isize) -> Result<T> {
        self.base.call("pop", vec![Value::from(i)])
    }

    /// `l.remove(x)`: removes the first item equal to `x`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("list.remove(x): x not in list").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2, 1])?;
    /// l.remove(&1)?;
    /// assert_eq!(l.copy()?, [2, 1]);
    /// assert_eq!(l.remove(&7).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn remove<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<()> {
        self.base.call("remove", vec![super::to_value(x)?])
    }

    /// `l.index(x)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] ("x is not in list").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<String> = m.list_from(["a", "b"])?;
    /// assert_eq!(l.index(&"b")?, 1);
    /// assert_eq!(l.count(&"a")?, 1);
    /// assert!(l.contains(&"a")?);
    /// # Ok(()) }
    /// ```
    pub fn index<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<usize> {
        self.base.call("index", vec![super::to_value(x)?])
    }

    /// `l.count(x)`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`index`](ListProxy::index).
    pub fn count<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<usize> {
        self.base.call("count", vec![super::to_value(x)?])
    }

    /// `x in l`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`index`](ListProxy::index).
    pub fn contains<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<bool> {
        self.base.call("__contains__", vec![super::to_value(x)?])
    }

    /// `l.reverse()`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn reverse(&self) -> Result<()> {
        self.base.call("reverse", vec![])
    }

    /// `l.sort()`, in Python's order.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if two items cannot be compared (the list is left as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<f64> = m.list_from([2.5, 1.0, 3.0])?;
    /// l.sort()?;
    /// assert_eq!(l.copy()?, [1.0, 2.5, 3.0]);
    /// l.sort_reverse()?;
    /// assert_eq!(l.get(0)?, 3.0);
    /// # Ok(()) }
    /// ```
    pub fn sort(&self) -> Result<()> {
        self.base.call("sort", vec![])
    }

    /// `l.sort(reverse=True)`.
    ///
    /// # Errors
    ///
    /// As [`sort`](ListProxy::sort).
    ///
    /// # Examples
    ///
    /// See [`sort`](ListProxy::sort).
    pub fn sort_reverse(&self) -> Result<()> {
        self.base.call("sort", vec![Value::Bool(true)])
    }

    /// `l.clear()`.
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
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1])?;
    /// l.clear()?;
    /// assert!(l.is_empty()?);
    /// # Ok(()) }
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.base.call("clear", vec![])
    }

    /// A copy of the list (Python's `l[:]` or `l.copy()`): a plain `Vec`, not a proxy.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn copy(&self) -> Result<Vec<T>> {
        self.base.call("copy", vec![])
    }

    /// `l *= n` (the proxy stays the same object).
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
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2])?;
    /// l.imul(2)?;
    /// assert_eq!(l.copy()?, [1, 2, 1, 2]);
    /// assert_eq!(l.mul(0)?, []);
    /// assert_eq!(l.add([3])?, [1, 2, 1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn imul(&self, n: usize) -> Result<()> {
        self.base.call("__imul__", vec![Value::from(n)])
    }

    /// `l * n`: a plain `Vec`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`imul`](ListProxy::imul).
    pub fn mul(&self, n: usize) -> Result<Vec<T>> {
        self.base.call("__mul__", vec![Value::from(n)])
    }

    /// `l + items`: a plain `Vec`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`imul`](ListProxy::imul).
    pub fn add(&self, items: impl IntoIterator<Item = T>) -> Result<Vec<T>> {
        self.base
            .call("__add__", vec![Value::List(values_of(items)?)])
    }

    /// Iterates by index, as Python iterates a `ListProxy` (through `__getitem__`, so later
    /// changes to the list are seen; it ends at the first index past the end).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let m = mp::Manager()?;
    /// let l: mp::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// let v: Vec<i32> = l.iter().collect::<mp::Result<_>>()?;
    /// assert_eq!(v, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Result<T>> + '_ {
        let mut i = 0isize;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.get(i) {
                Ok(x) => {
                    i += 1;
                    Some(Ok(x))
                }
                Err(e) if e.kind() == ErrorKind::Index => {
                    done = true;
                    None
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// dict
// ---------------------------------------------------------------------------------------------

const DICT_METHODS: &[&str] = &[
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

fn pairs_of(v: Value) -> Result<Vec<(Value, Value)>> {
    match v {
        Value::Dict(d) => Ok(d.into_iter().collect()),
        Value::List(items) | Value::Tuple(items) => items
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

// ---------------------------------------------------------------------------------------------
// Namespace
// ---------------------------------------------------------------------------------------------

/// The object behind a [`NamespaceProxy`]: Python's `multiprocessing.managers.Namespace`.
///
/// # Examples
///
/// ```
/// let ns = mp::managers::Namespace::default();
/// # drop(ns);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    attrs: IndexMap<String, Value>,
}

const NAMESPACE_METHODS: &[&str] = &["__getattribute__", "__setattr__", "__delattr__", "__dir__"];

fn attr_error(name: &str) -> Error {
    Error::new(
        ErrorKind::Key,
        format!("'Namespace' object has no attribute '{name}'"),
    )
}

impl Referent for Namespace {
    type Proxy = NamespaceProxy;
    const TYPE_NAME: &'static str = "Namespace";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let name_of = |v: &Value| -> Result<String> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::new(ErrorKind::Type, "attribute name must be string"))
        };
        match method {
            "__getattribute__" => {
                let a = args_of(args, method, 1, 1)?;
                let n = name_of(&a[0])?;
                read(this)
                    .attrs
                    .get(&n)
                    .cloned()
                    .ok_or_else(|| attr_error(&n))
            }
            "__setattr__" => {
                let mut a = args_of(args, method, 2, 2)?;
                let v = a.pop().unwrap_or_default();
                let n = name_of(&a[0])?;
                write(this).attrs.insert(n, v);
                Ok(Value::None)
            }
            "__delattr__" => {
                let a = args_of(args, method, 1, 1)?;
                let n = name_of(&a[0])?;
                write(this)
                    .attrs
                    .shift_remove(&n)
                    .map(|_| Value::None)
                    .ok_or_else(|| attr_error(&n))
            }
            "__dir__" => {
                args_of(args, method, 0, 0)?;
                Ok(Value::List(
                    read(this).attrs.keys().cloned().map(Value::Str).collect(),
                ))
            }
            _ => Err(unknown("Namespace", method)),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        let ns = read(this);
        let mut items: Vec<(&String, &Value)> = ns
            .attrs
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .collect();
        items.sort_by(|a, b| a.0.cmp(b.0));
        let body: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(format!("Namespace({})", body.join(", ")))
    }

    fn get_value(this: &RwLock<Self>) -> Result<Value> {
        let mut d = Dict::new();
        for (k, v) in read(this).attrs.iter() {
            d.insert(Value::Str(k.clone()), v.clone())?;
        }
        Ok(Value::Dict(d))
    }
}

/// A proxy for a managed `Namespace`: named attributes of any type.
///
/// Attributes whose name starts with `_` belong to the proxy, not to the referent, as in
/// Python (`Global._z = 12.3` is not seen by other processes).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let manager = mp::Manager()?;
/// let global = manager.namespace()?;
/// global.set("x", 10)?;
/// global.set("y", "hello")?;
/// global.set("_z", 12.3)?; // an attribute of the proxy
/// assert_eq!(global.to_string(), "Namespace(x=10, y='hello')");
/// assert_eq!(global.get::<i32>("x")?, 10);
/// assert_eq!(global.get::<f64>("_z")?, 12.3);
/// assert_eq!(global.get::<i32>("nope").unwrap_err().kind(), mp::ErrorKind::Key);
/// # Ok(()) }
/// ```
pub struct NamespaceProxy {
    base: BaseProxy,
    local: Arc<Mutex<IndexMap<String, Value>>>,
}

impl Proxy for NamespaceProxy {
    type Referent = Namespace;
    const NAME: &'static str = "NamespaceProxy";
    const EXPOSED: &'static [&'static str] = NAMESPACE_METHODS;
    fn from_base(base: BaseProxy) -> Self {
        NamespaceProxy {
            base,
            local: Default::default(),
        }
    }
    fn base(&self) -> &BaseProxy {
        &self.base
    }
}

impl Clone for NamespaceProxy {
    fn clone(&self) -> Self {
        NamespaceProxy {
            base: self.base.clone(),
            local: self.local.clone(),
        }
    }
}

impl fmt::Debug for NamespaceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.base, f)
    }
}

impl fmt::Display for NamespaceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.base, f)
    }
}

impl Serialize for NamespaceProxy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.base.serialize(s)
    }
}

impl<'de> Deserialize<'de> for NamespaceProxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        BaseProxy::deserialize_for::<Self, D>(d).map(Self::from_base)
    }
}

impl From<&NamespaceProxy> for Value {
    fn from(p: &NamespaceProxy) -> Value {
        Value::Proxy(p.base.to_ref())
    }
}

impl NamespaceProxy {
    /// The base proxy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let ns = mp::Manager()?.namespace()?;
    /// assert_eq!(ns.base().token().typeid(), "Namespace");
    /// # Ok(()) }
    /// ```
    pub fn base(&self) -> &BaseProxy {
        &self.base
    }

    /// `ns.name = value`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached, or the value cannot be converted.
    ///
    /// # Examples
    ///
    /// See [`NamespaceProxy`].
    pub fn set<T: Serialize + 'static>(&self, name: &str, value: T) -> Result<()> {
        let v = into_value(value)?;
        if name.starts_with('_') {
            lock(&self.local).insert(name.to_owned(), v);
            return Ok(());
        }
        if let Some(ns) = self.base.local_ref::<Namespace>() {
            let old = write(ns).attrs.insert(name.to_owned(), v);
            drop(old); // after the lock is released
            return Ok(());
        }
        self.base.call("__setattr__", vec![Value::from(name), v])
    }

    /// `ns.name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if there is no such attribute (Python's `AttributeError`);
    /// [`ErrorKind::Type`] if it is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`NamespaceProxy`].
    pub fn get<T: DeserializeOwned + 'static>(&self, name: &str) -> Result<T> {
        if name.starts_with('_') {
            let v = lock(&self.local)
                .get(name)
                .cloned()
                .ok_or_else(|| attr_error(name))?;
            return value_into(v);
        }
        if let Some(ns) = self.base.local_ref::<Namespace>() {
            let v = read(ns).attrs.get(name).cloned();
            return value_into(v.ok_or_else(|| attr_error(name))?);
        }
        self.base.call("__getattribute__", vec![Value::from(name)])
    }

    /// `del ns.name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Key`] if there is no such attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let ns = mp::Manager()?.namespace()?;
    /// ns.set("x", 1)?;
    /// ns.del("x")?;
    /// assert!(ns.del("x").is_err());
    /// assert!(ns.names()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn del(&self, name: &str) -> Result<()> {
        if name.starts_with('_') {
            return lock(&self.local)
                .shift_remove(name)
                .map(drop)
                .ok_or_else(|| attr_error(name));
        }
        self.base.call("__delattr__", vec![Value::from(name)])
    }

    /// The names of the referent's attributes.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`del`](NamespaceProxy::del).
    pub fn names(&self) -> Result<Vec<String>> {
        self.base.call("__dir__", vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Queue and JoinableQueue
// ---------------------------------------------------------------------------------------------

/// The object behind a [`QueueProxy`] and a [`JoinableQueueProxy`]: Python's
/// `queue.Queue`, living in the manager's process. Its engine is the local flavour of mp's
/// queues (`mp::dummy::Queue`'s); a serving thread's wait for it ends when its client goes
/// away.
///
/// # Examples
///
/// ```
/// let q = mp::managers::Queue::new(2);
/// q.put_local(1.into()).unwrap();
/// assert_eq!(q.qsize(), 1);
/// ```
pub struct Queue {
    core: Arc<Core<Value>>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Queue(maxsize={}, qsize={})",
            self.core.maxsize,
            self.qsize()
        )
    }
}

impl Queue {
    /// A queue holding at most `maxsize` items (`0`: no limit).
    ///
    /// # Examples
    ///
    /// See [`Queue`].
    pub fn new(maxsize: usize) -> Queue {
        Queue {
            core: Core::new(maxsize, usize::MAX),
        }
    }

    /// The number of items.
    ///
    /// # Examples
    ///
    /// See [`Queue`].
    pub fn qsize(&self) -> usize {
        self.core.qsize()
    }

    /// Puts an item from the manager's own process (without blocking).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] if the queue is full.
    ///
    /// # Examples
    ///
    /// See [`Queue`].
    pub fn put_local(&self, item: Value) -> Result<()> {
        self.put(item, Wait::Never)
    }

    /// Takes an item from the manager's own process, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] if none came in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = mp::managers::Queue::new(0);
    /// q.put_local("x".into())?;
    /// assert_eq!(q.get_local(Duration::ZERO)?, "x".into());
    /// assert!(q.get_local(Duration::from_millis(1)).is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_local(&self, timeout: Duration) -> Result<Value> {
        self.get(Wait::Until(crate::sys::deadline_after(timeout)))
    }

    fn put(&self, item: Value, wait: Wait) -> Result<()> {
        self.core.put(item, wait).map_err(|e| match e {
            TryPutError::Failed(_, e) => e,
            _ => Error::new(ErrorKind::Full, "queue is full"),
        })
    }

    fn get(&self, wait: Wait) -> Result<Value> {
        self.core.get(wait).map_err(|e| match e {
            TryGetError::Failed(e) => e,
            _ => Error::new(ErrorKind::Empty, "queue is empty"),
        })
    }
}

/// A request's `block` and `timeout` as a local queue's wait.
fn queue_wait(block: bool, deadline: Option<Instant>) -> Wait {
    if block {
        Wait::Until(deadline)
    } else {
        Wait::Never
    }
}

const QUEUE_METHODS: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "put",
    "put_nowait",
    "qsize",
];

const JOINABLE_QUEUE_METHODS: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "join",
    "put",
    "put_nowait",
    "qsize",
    "task_done",
];

impl Referent for Queue {
    type Proxy = QueueProxy;
    const TYPE_NAME: &'static str = "Queue";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let q = read(this);
        match method {
            "put" | "put_nowait" => {
                let mut a = args_of(args, method, 1, 3)?;
                let (block, deadline) = if method == "put_nowait" {
                    (false, None)
                } else {
                    (bool_arg(a.get(1), true), timeout_arg(a.get(2))?)
                };
                a.truncate(1);
                q.put(a.pop().unwrap_or_default(), queue_wait(block, deadline))?;
                Ok(Value::None)
            }
            "get" | "get_nowait" => {
                let a = args_of(args, method, 0, 2)?;
                let (block, deadline) = if method == "get_nowait" {
                    (false, None)
                } else {
                    (bool_arg(a.first(), true), timeout_arg(a.get(1))?)
                };
                q.get(queue_wait(block, deadline))
            }
            "qsize" => Ok(Value::from(q.qsize())),
            "empty" => Ok(Value::Bool(q.qsize() == 0)),
            "full" => Ok(Value::Bool(
                q.core.maxsize > 0 && q.qsize() >= q.core.maxsize,
            )),
            "task_done" => q.core.task_done().map(|()| Value::None),
            "join" => {
                if q.core.join(Wait::Until(None)) {
                    Ok(Value::None)
                } else {
                    Err(crate::futex::cancelled_error())
                }
            }
            _ => Err(unknown("Queue", method)),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(format!(
            "<queue.Queue object (qsize={})>",
            read(this).qsize()
        ))
    }
}

/// A proxy for a queue living in a manager: what `manager.Queue()` returns in Python, and
/// what the remote-manager programs register (`register('get_queue', ...)`).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let manager = mp::Manager()?;
/// let q = manager.queue::<String>(2)?;
/// q.put("a".into())?;
/// q.put("b".into())?;
/// assert!(q.full()?);
/// assert_eq!(q.put_nowait("c".into()).unwrap_err().kind(), mp::ErrorKind::Full);
/// assert_eq!(q.get()?, "a");
/// assert_eq!(q.get_timeout(Duration::from_secs(5))?, "b");
/// assert_eq!(q.get_nowait().unwrap_err().kind(), mp::ErrorKind::Empty);
/// # Ok(()) }
/// ```
pub struct QueueProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(QueueProxy<T>, "AutoProxy[Queue]", Queue, QUEUE_METHODS);

/// A proxy for a managed `JoinableQueue`: a [`QueueProxy`] plus `task_done` and `join`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let manager = mp::Manager()?;
/// let q = manager.joinable_queue::<i32>(0)?;
/// q.put(1)?;
/// assert_eq!(q.get()?, 1);
/// q.task_done()?;
/// q.join()?;
/// assert_eq!(q.task_done().unwrap_err().kind(), mp::ErrorKind::Value);
/// # Ok(()) }
/// ```
pub struct JoinableQueueProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    JoinableQueueProxy<T>,
    "AutoProxy[JoinableQueue]",
    Queue,
    JOINABLE_QUEUE_METHODS
);

macro_rules! queue_methods {
    ($name:ident) => {
        impl<T: Serialize + DeserializeOwned + 'static> $name<T> {
            /// `q.put(item)`: waits while the queue is full.
            ///
            /// # Errors
            ///
            /// The manager cannot be reached (for every method; not repeated below).
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put(&self, item: T) -> Result<()> {
                self.base.call("put", vec![into_value(item)?])
            }

            /// `q.put_nowait(item)`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Full`] if the queue is full.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put_nowait(&self, item: T) -> Result<()> {
                self.base.call("put_nowait", vec![into_value(item)?])
            }

            /// `q.put(item, timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Full`] if the queue stayed full for `timeout`.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
                self.base.call(
                    "put",
                    vec![into_value(item)?, Value::Bool(true), secs(timeout)],
                )
            }

            /// `q.get()`: waits for an item.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get(&self) -> Result<T> {
                self.base.call("get", vec![])
            }

            /// `q.get_nowait()`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Empty`] if the queue is empty.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get_nowait(&self) -> Result<T> {
                self.base.call("get_nowait", vec![])
            }

            /// `q.get(timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Empty`] if nothing came within `timeout`.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
                self.base
                    .call("get", vec![Value::Bool(true), secs(timeout)])
            }

            /// `q.qsize()`.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn qsize(&self) -> Result<usize> {
                self.base.call("qsize", vec![])
            }

            /// `q.empty()`.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn empty(&self) -> Result<bool> {
                self.base.call("empty", vec![])
            }

            /// `q.full()`.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn full(&self) -> Result<bool> {
                self.base.call("full", vec![])
            }
        }
    };
}
queue_methods!(QueueProxy);
queue_methods!(JoinableQueueProxy);

impl<T: Serialize + DeserializeOwned + 'static> JoinableQueueProxy<T> {
    /// `q.task_done()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if called more times than items were put.
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn task_done(&self) -> Result<()> {
        self.base.call("task_done", vec![])
    }

    /// `q.join()`: waits until every item put has been marked done.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn join(&self) -> Result<()> {
        self.base.call("join", vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Lock, RLock, Semaphore, BoundedSemaphore
// ---------------------------------------------------------------------------------------------

/// The object behind a manager's `Lock()`: Python's `threading.Lock`, which is mp's own thread
/// lock (`mp::dummy::Lock`); any client may release it.
pub type Lock = crate::synchronize::LockIn<Threads>;

/// The object behind a manager's `RLock()`: re-entrant, owned by the serving thread of the
/// client that acquired it (mp's thread `RLock`).
pub type RLock = crate::synchronize::RLockIn<Threads>;

/// The object behind a manager's `Semaphore(n)` (mp's thread `Semaphore`).
pub type Semaphore = crate::synchronize::SemaphoreIn<Threads>;

/// The object behind a manager's `BoundedSemaphore(n)`: releasing it above `n` is an error.
pub type BoundedSemaphore = crate::synchronize::BoundedSemaphoreIn<Threads>;

const ACQUIRER_METHODS: &[&str] = &["acquire", "release", "locked"];

fn acquire_args(args: Value) -> Result<(bool, Option<Instant>)> {
    let a = args_of(args, "acquire", 0, 2)?;
    let blocking = bool_arg(a.first(), true);
    let deadline = timeout_arg(a.get(1))?;
    if !blocking && deadline.is_some() {
        return Err(Error::new(
            ErrorKind::Value,
            "can't specify a timeout for a non-blocking call",
        ));
    }
    Ok((blocking, deadline))
}

/// Waits for `attempt` (given how long it may block) until `deadline`, in slices of 100 ms
/// at most, so that a serving thread whose client went away stops waiting.
fn in_slices(
    deadline: Option<Instant>,
    mut attempt: impl FnMut(Duration) -> Result<bool>,
) -> Result<bool> {
    loop {
        if client_gone() {
            return Err(Error::new(ErrorKind::Eof, "the client went away"));
        }
        let mut slice = Duration::from_millis(100);
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return attempt(Duration::ZERO);
            }
            slice = slice.min(d - now);
        }
        if attempt(slice)? {
            return Ok(true);
        }
    }
}

/// Python's `acquire(blocking, timeout)` over a lock's `acquire_timeout`. What a waiter
/// acquired for a client that went away meanwhile is given back (`undo`), not kept by a
/// serving thread nobody will ask to release it.
fn acquire_with(
    (blocking, deadline): (bool, Option<Instant>),
    mut timed: impl FnMut(Duration) -> Result<bool>,
    undo: impl FnOnce() -> Result<()>,
) -> Result<bool> {
    let now = timed(Duration::ZERO)?;
    if now || !blocking {
        return Ok(now);
    }
    let got = in_slices(deadline, timed)?;
    if got && client_gone() {
        undo()?;
        return Err(Error::new(ErrorKind::Eof, "the client went away"));
    }
    Ok(got)
}

impl Referent for Lock {
    type Proxy = LockProxy;
    const TYPE_NAME: &'static str = "Lock";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let l = read(this);
        match method {
            "acquire" => acquire_with(
                acquire_args(args)?,
                |t| l.acquire_timeout(t),
                || l.release(),
            )
            .map(Value::Bool),
            "release" => l.release().map(|_| Value::None),
            "locked" => Ok(Value::Bool(l.locked())),
            _ => Err(unknown("Lock", method)),
        }
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let state = if read(this).locked() {
            "locked"
        } else {
            "unlocked"
        };
        Ok(format!("<{state} _thread.lock object>"))
    }
}

impl Referent for RLock {
    type Proxy = RLockProxy;
    const TYPE_NAME: &'static str = "RLock";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let l = read(this);
        match method {
            "acquire" => acquire_with(
                acquire_args(args)?,
                |t| l.acquire_timeout(t),
                || l.release(),
            )
            .map(Value::Bool),
            "release" => l.release().map(|_| Value::None),
            "locked" => Ok(Value::Bool(l.locked())),
            _ => Err(unknown("RLock", method)),
        }
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let l = read(this);
        let state = if l.locked() { "locked" } else { "unlocked" };
        Ok(format!(
            "<{state} _thread.RLock object count={}>",
            l.depth()
        ))
    }
}

/// What a manager's semaphores answer (both kinds).
fn dispatch_sem(
    name: &str,
    method: &str,
    args: Value,
    timed: impl FnMut(Duration) -> Result<bool>,
    release_n: impl Fn(u32) -> Result<()>,
    value: u32,
) -> Result<Value> {
    match method {
        "acquire" => acquire_with(acquire_args(args)?, timed, || release_n(1)).map(Value::Bool),
        "release" => {
            let a = args_of(args, method, 0, 1)?;
            let n = match a.first() {
                Some(v) => int_arg(v, "n")?,
                None => 1,
            };
            if n < 1 {
                return Err(Error::new(ErrorKind::Value, "n must be one or more"));
            }
            let n = u32::try_from(n)
                .map_err(|_| Error::new(ErrorKind::Value, "semaphore value would overflow"))?;
            release_n(n).map(|_| Value::None)
        }
        "locked" => Ok(Value::Bool(value == 0)),
        "get_value" => Ok(Value::from(value)),
        _ => Err(unknown(name, method)),
    }
}

impl Referent for Semaphore {
    type Proxy = SemaphoreProxy;
    const TYPE_NAME: &'static str = "Semaphore";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let s = read(this);
        let value = s.get_value();
        let timed = |t| s.acquire_timeout(t);
        dispatch_sem("Semaphore", method, args, timed, |n| s.release_n(n), value)
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        Ok(format!(
            "<threading.Semaphore object: value={}>",
            read(this).get_value()
        ))
    }
}

impl Referent for BoundedSemaphore {
    type Proxy = BoundedSemaphoreProxy;
    const TYPE_NAME: &'static str = "BoundedSemaphore";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let s = read(this);
        let value = s.get_value();
        let timed = |t| s.acquire_timeout(t);
        dispatch_sem(
            "BoundedSemaphore",
            method,
            args,
            timed,
            |n| s.release_n(n),
            value,
        )
    }
    fn repr(this: &RwLock<Self>) -> Result<String> {
        let s = read(this);
        Ok(format!(
            "<threading.BoundedSemaphore object: value={}/{}>",
            s.get_value(),
            s.max_value()
        ))
    }
}

fn fast_lock(base: &BaseProxy) -> Option<Lock> {
    base.local_ref::<Lock>().map(|l| read(l).clone())
}

macro_rules! acquirer_proxy {
    ($name:ident, $str:literal, $referent:ty, $doc:literal, $example:literal) => {
        #[doc = $doc]
        ///
        /// # Examples
        ///
        #[doc = $example]
        pub struct $name {
            base: BaseProxy,
            /// A `Lock` of this process, reached without its `RwLock` cell.
            fast: Option<Lock>,
        }

        proxy_common_plain!($name, $str, $referent, ACQUIRER_METHODS, fast = fast_lock);

        impl $name {
            /// `acquire()`: waits until acquired.
            ///
            /// # Errors
            ///
            /// The manager cannot be reached (for every method; not repeated below).
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn acquire(&self) -> Result<()> {
                if let Some(l) = &self.fast {
                    return l.acquire();
                }
                self.base.call::<bool>("acquire", vec![]).map(drop)
            }

            /// `acquire(blocking=False)`: whether it was acquired.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn try_acquire(&self) -> Result<bool> {
                if let Some(l) = &self.fast {
                    return l.try_acquire();
                }
                self.base.call("acquire", vec![Value::Bool(false)])
            }

            /// `acquire(timeout=t)`: whether it was acquired in time.
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                if let Some(l) = &self.fast {
                    return l.acquire_timeout(timeout);
                }
                self.base
                    .call("acquire", vec![Value::Bool(true), secs(timeout)])
            }

            /// `release()`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Runtime`] for a lock that is not held (by this client thread,
            /// for an `RLock`); [`ErrorKind::Value`] for a bounded semaphore released above
            /// its bound.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn release(&self) -> Result<()> {
                if let Some(l) = &self.fast {
                    return l.release();
                }
                self.base.call("release", vec![])
            }

            /// Whether it is held (Python 3.14's `locked()`).
            ///
            /// # Errors
            ///
            /// Only the manager's.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn locked(&self) -> Result<bool> {
                if let Some(l) = &self.fast {
                    return Ok(l.locked());
                }
                self.base.call("locked", vec![])
            }
        }
    };
}

acquirer_proxy!(
    LockProxy,
    "AcquirerProxy",
    Lock,
    "A proxy for a manager's `Lock`: Python's `AcquirerProxy`.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let l = manager.lock()?;
l.acquire()?;
assert!(!l.try_acquire()?);
l.release()?;
assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
# Ok(()) }
```"
);
acquirer_proxy!(
    RLockProxy,
    "AcquirerProxy",
    RLock,
    "A proxy for a manager's `RLock`: re-entrant, owned by the thread that acquired it.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let l = manager.rlock()?;
l.acquire()?;
l.acquire()?;
l.release()?;
l.release()?;
assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
# Ok(()) }
```"
);
acquirer_proxy!(
    SemaphoreProxy,
    "AcquirerProxy",
    Semaphore,
    "A proxy for a manager's `Semaphore`.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let s = manager.semaphore(1)?;
s.acquire()?;
assert!(!s.try_acquire()?);
s.release()?;
s.release()?; // an unbounded semaphore may go above its start
# Ok(()) }
```"
);
acquirer_proxy!(
    BoundedSemaphoreProxy,
    "AcquirerProxy",
    BoundedSemaphore,
    "A proxy for a manager's `BoundedSemaphore`.",
    "```
# #[mp::main] fn main() -> mp::Result<()> {
let manager = mp::Manager()?;
let s = manager.bounded_semaphore(1)?;
s.acquire()?;
s.release()?;
assert_eq!(s.release().unwrap_err().kind(), mp::ErrorKind::Value);
# Ok(()) }
```"
);

// ---------------------------------------------------------------------------------------------
// Condition
// ---------------------------------------------------------------------------------------------

/// The object behind a manager's `Condition()`: mp's thread `Condition` (over an `RLock`).
pub type Condition = crate::synchronize::ConditionIn<Threads>;

const CONDITION_METHODS: &[&str] = &[
    "acquire",
    "release",
    "locked",
    "wait",
    "notify",
    "notify_all",
];

/// Gives up whatever a serving thread holds of a condition's lock for a client that went
/// away, and the error to answer with.
fn abandon(c: &Condition) -> Error {
    while c.get_lock().is_mine() {
        if c.release().is_err() {
            break;
        }
    }
    crate::futex::cancelled_error()
}

impl Referent for Condition {
    type Proxy = ConditionProxy;
    const TYPE_NAME: &'static str = "Condition";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let c = read(this);
        match method {
            "acquire" => acquire_with(
                acquire_args(args)?,
                |t| c.acquire_timeout(t),
                || c.release(),
            )
            .map(Value::Bool),
            "release" => c.release().map(|_| Value::None),
            "locked" => Ok(Value::Bool(c.get_lock().locked())),
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                match c.wait_deadline(timeout_arg(a.first())?) {
                    Err(e) if e.kind() == ErrorKind::Eof => Err(abandon(&c)),
                    Err(e) => Err(e),
                    Ok(notified) if client_gone() => {
                        // Pass on a notification nobody will receive here.
                        if notified {
                            let _ = c.notify(1);
                        }
                        Err(abandon(&c))
                    }
                    Ok(notified) => Ok(Value::Bool(notified)),
                }
            }
            "notify" => {
                let a = args_of(args, method, 0, 1)?;
                let n = match a.first() {
                    Some(v) => int_arg(v, "n")?.max(0) as usize,
                    None => 1,
                };
                c.notify(n).map(|_| Value::None)
            }
            "notify_all" => c.notify_all().map(|_| Value::None),
            _ => Err(unknown("Condition", method)),
        }
    }
}

/// A proxy for a manager's `Condition`: Python's `ConditionProxy`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let manager = mp::Manager()?;
/// let c = manager.condition()?;
/// c.acquire()?;
/// assert!(!c.wait_timeout(Duration::from_millis(10))?); // nobody notifies
/// c.notify(1)?;
/// c.release()?;
/// assert_eq!(c.notify(1).unwrap_err().kind(), mp::ErrorKind::Runtime);
/// # Ok(()) }
/// ```
pub struct ConditionProxy {
    base: BaseProxy,
}

proxy_common_plain!(
    ConditionProxy,
    "ConditionProxy",
    Condition,
    CONDITION_METHODS
);

impl ConditionProxy {
    /// `acquire()`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn acquire(&self) -> Result<()> {
        self.base.call::<bool>("acquire", vec![]).map(drop)
    }

    /// `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.base
            .call("acquire", vec![Value::Bool(true), secs(timeout)])
    }

    /// `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this client thread does not hold it.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn release(&self) -> Result<()> {
        self.base.call("release", vec![])
    }

    /// `wait()`: releases the lock, waits for a notification, takes the lock back.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this client thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn wait(&self) -> Result<()> {
        self.base.call::<bool>("wait", vec![]).map(drop)
    }

    /// `wait(timeout)`: whether it was notified in time.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionProxy::wait).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.base.call("wait", vec![secs(timeout)])
    }

    /// `wait_for(predicate, timeout)`: waits until `predicate()` is true (it runs in this
    /// process, as in CPython); returns its last value.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionProxy::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let c = mp::Manager()?.condition()?;
    /// c.acquire()?;
    /// assert!(c.wait_for(|| true, None)?);
    /// assert!(!c.wait_for(|| false, Some(Duration::from_millis(20)))?);
    /// c.release()?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(crate::sys::deadline_after);
        loop {
            if predicate() {
                return Ok(true);
            }
            match deadline {
                None => self.wait()?,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(predicate());
                    }
                    self.wait_timeout(d - now)?;
                }
            }
        }
    }

    /// `notify(n)`: wakes up to `n` waiters (Python's default is 1), as
    /// [`Condition::notify`](crate::Condition::notify).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn notify(&self, n: usize) -> Result<()> {
        self.base.call("notify", vec![Value::from(n)])
    }

    /// `notify_all()`.
    ///
    /// # Errors
    ///
    /// As [`notify`](ConditionProxy::notify).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn notify_all(&self) -> Result<()> {
        self.base.call("notify_all", vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

/// The object behind a manager's `Event()`.
/// The object behind a manager's `Event()` (mp's thread `Event`).
pub type Event = crate::synchronize::EventIn<Threads>;

const EVENT_METHODS: &[&str] = &["is_set", "set", "clear", "wait"];

impl Referent for Event {
    type Proxy = EventProxy;
    const TYPE_NAME: &'static str = "Event";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let e = read(this);
        match method {
            "is_set" => Ok(Value::Bool(e.is_set())),
            "set" => {
                e.set();
                Ok(Value::None)
            }
            "clear" => {
                e.clear();
                Ok(Value::None)
            }
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                let deadline = timeout_arg(a.first())?;
                in_slices(deadline, |t| Ok(e.wait_timeout(t))).map(Value::Bool)
            }
            _ => Err(unknown("Event", method)),
        }
    }
}

/// A proxy for a manager's `Event`: Python's `EventProxy`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let e = mp::Manager()?.event()?;
/// assert!(!e.is_set()?);
/// assert!(!e.wait_timeout(Duration::from_millis(10))?);
/// e.set()?;
/// e.wait()?;
/// e.clear()?;
/// assert!(!e.is_set()?);
/// # Ok(()) }
/// ```
pub struct EventProxy {
    base: BaseProxy,
}

proxy_common_plain!(EventProxy, "EventProxy", Event, EVENT_METHODS);

impl EventProxy {
    /// `is_set()`.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached (for every method; not repeated below).
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn is_set(&self) -> Result<bool> {
        self.base.call("is_set", vec![])
    }

    /// `set()`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn set(&self) -> Result<()> {
        self.base.call("set", vec![])
    }

    /// `clear()`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn clear(&self) -> Result<()> {
        self.base.call("clear", vec![])
    }

    /// `wait()`: until the flag is set.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn wait(&self) -> Result<()> {
        self.base.call::<bool>("wait", vec![]).map(drop)
    }

    /// `wait(timeout)`: whether the flag is set.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.base.call("wait", vec![secs(timeout)])
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier
// ---------------------------------------------------------------------------------------------

/// The object behind a manager's `Barrier(parties)`: mp's thread `Barrier`.
pub type Barrier = crate::synchronize::BarrierIn<Threads>;

const BARRIER_METHODS: &[&str] = &["__getattribute__", "wait", "abort", "reset"];

impl Referent for Barrier {
    type Proxy = BarrierProxy;
    const TYPE_NAME: &'static str = "Barrier";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let b = read(this);
        match method {
            "wait" => {
                let a = args_of(args, method, 0, 1)?;
                b.wait_deadline(timeout_arg(a.first())?).map(Value::from)
            }
            "abort" => {
                b.abort();
                Ok(Value::None)
            }
            "reset" => {
                b.reset();
                Ok(Value::None)
            }
            "__getattribute__" => {
                let a = args_of(args, method, 1, 1)?;
                match a[0].as_str() {
                    Some("parties") => Ok(Value::from(b.parties())),
                    Some("n_waiting") => Ok(Value::from(b.n_waiting())),
                    Some("broken") => Ok(Value::Bool(b.broken())),
                    _ => Err(Error::new(
                        ErrorKind::Key,
                        format!("'Barrier' object has no attribute {}", a[0]),
                    )),
                }
            }
            _ => Err(unknown("Barrier", method)),
        }
    }
}

/// A proxy for a manager's `Barrier`: Python's `BarrierProxy`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// let b = mp::Manager()?.barrier(1)?;
/// assert_eq!(b.parties()?, 1);
/// assert_eq!(b.wait()?, 0);
/// b.abort()?;
/// assert!(b.broken()?);
/// assert_eq!(b.wait().unwrap_err().kind(), mp::ErrorKind::BrokenBarrier);
/// b.reset()?;
/// assert_eq!(b.wait_timeout(Duration::from_secs(1))?, 0);
/// # Ok(()) }
/// ```
pub struct BarrierProxy {
    base: BaseProxy,
}

proxy_common_plain!(BarrierProxy, "BarrierProxy", Barrier, BARRIER_METHODS);

impl BarrierProxy {
    /// `wait()`: the arrival index (`0..parties`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] if the barrier is or becomes broken.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn wait(&self) -> Result<usize> {
        self.base.call("wait", vec![])
    }

    /// `wait(timeout)`: a timeout breaks the barrier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`].
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.base.call("wait", vec![secs(timeout)])
    }

    /// `abort()`: breaks the barrier.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn abort(&self) -> Result<()> {
        self.base.call("abort", vec![])
    }

    /// `reset()`: back to the empty, unbroken state.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn reset(&self) -> Result<()> {
        self.base.call("reset", vec![])
    }

    /// `parties`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn parties(&self) -> Result<usize> {
        self.base
            .call("__getattribute__", vec![Value::from("parties")])
    }

    /// `n_waiting`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// assert_eq!(mp::Manager()?.barrier(3)?.n_waiting()?, 0);
    /// # Ok(()) }
    /// ```
    pub fn n_waiting(&self) -> Result<usize> {
        self.base
            .call("__getattribute__", vec![Value::from("n_waiting")])
    }

    /// `broken`.
    ///
    /// # Errors
    ///
    /// Only the manager's.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn broken(&self) -> Result<bool> {
        self.base
            .call("__getattribute__", vec![Value::from("broken")])
    }
}

// ---------------------------------------------------------------------------------------------
// Value and Array
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Iterator (generators)
// ---------------------------------------------------------------------------------------------

/// A generator living in a manager: what a registered callable returns for the
/// `GeneratorProxy` of Python's documentation, and the `Iterator` typeid.
///
/// # Examples
///
/// ```
/// use mp::managers::{Generator, Shared};
/// #[mp::task]
/// fn baz() -> Shared<Generator> {
///     Shared::new(Generator::new((0..10).map(|i| i * i)))
/// }
/// # drop(baz());
/// ```
pub struct Generator {
    it: Mutex<Box<dyn Iterator<Item = Result<Value>> + Send>>,
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<generator object>")
    }
}

impl Generator {
    /// Wraps an iterator; its items are converted with [`to_value`](super::to_value).
    ///
    /// # Examples
    ///
    /// See [`Generator`].
    pub fn new<I>(it: I) -> Generator
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Serialize,
    {
        Generator {
            it: Mutex::new(Box::new(it.into_iter().map(|x| super::to_value(&x)))),
        }
    }
}

impl Referent for Generator {
    type Proxy = IteratorProxy;
    const TYPE_NAME: &'static str = "Iterator";
    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        match method {
            "__next__" => {
                args_of(args, method, 0, 0)?;
                let g = read(this);
                let next = lock(&g.it).next();
                match next {
                    Some(v) => v,
                    None => Err(Error::new(ErrorKind::StopIteration, "")),
                }
            }
            "close" => {
                let g = read(this);
                *lock(&g.it) = Box::new(std::iter::empty());
                Ok(Value::None)
            }
            _ => Err(unknown("generator", method)),
        }
    }
    fn repr(_this: &RwLock<Self>) -> Result<String> {
        Ok("<generator object>".into())
    }
}

/// A proxy for a generator in a manager: Python's `IteratorProxy` (and the documentation's
/// `GeneratorProxy`), iterated remotely through `__next__`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{BaseManager, Generator, IteratorProxy, Shared};
///
/// #[mp::task]
/// fn baz() -> Shared<Generator> {
///     Shared::new(Generator::new((0..10).map(|i| i * i)))
/// }
///
/// let manager = BaseManager::builder()
///     .register::<IteratorProxy<i64>, _>("baz", baz)
///     .start()?;
/// let it: IteratorProxy<i64> = manager.create("baz", ())?;
/// let squares: Vec<i64> = it.collect::<mp::Result<_>>()?;
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// # Ok(()) }
/// ```
pub struct IteratorProxy<T = Value> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    IteratorProxy<T>,
    "IteratorProxy",
    Generator,
    &["__next__", "close"]
);

impl<T: DeserializeOwned + 'static> IteratorProxy<T> {
    /// The next item: `Ok(None)` when the generator is exhausted.
    ///
    /// # Errors
    ///
    /// The manager cannot be reached, or the item is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`IteratorProxy`].
    pub fn next_item(&self) -> Result<Option<T>> {
        match self.base.call("__next__", vec![]) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::StopIteration => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<T: DeserializeOwned + 'static> Iterator for IteratorProxy<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        self.next_item().transpose()
    }
}

// ---------------------------------------------------------------------------------------------
// The SyncManager's typeids
// ---------------------------------------------------------------------------------------------

fn ctor<T: Referent>(value: T) -> Arc<dyn Obj> {
    Arc::new(Slot {
        cell: RwLock::new(value),
    })
}

fn decode_args<A: DeserializeOwned>(bytes: &[u8], typeid: &str) -> Result<A> {
    crate::reduction::decode_plain(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Type,
            format!("bad arguments for {typeid}(): {e}"),
        )
    })
}

fn new_list(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (items,): (Vec<Value>,) = decode_args(b, "list")?;
    Ok(ctor(items))
}

fn new_dict(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (items,): (Vec<(Value, Value)>,) = decode_args(b, "dict")?;
    let mut d = Dict::new();
    for (k, v) in items {
        d.insert(k, v)?;
    }
    Ok(ctor(d))
}

fn new_namespace(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (items,): (Vec<(String, Value)>,) = decode_args(b, "Namespace")?;
    Ok(ctor(Namespace {
        attrs: items.into_iter().collect(),
    }))
}

fn new_queue(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (maxsize,): (usize,) = decode_args(b, "Queue")?;
    Ok(ctor(Queue::new(maxsize)))
}

fn new_lock(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (): () = decode_args(b, "Lock")?;
    Ok(ctor(Lock::new()?))
}

fn new_rlock(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (): () = decode_args(b, "RLock")?;
    Ok(ctor(RLock::new()?))
}

fn new_semaphore(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (n,): (usize,) = decode_args(b, "Semaphore")?;
    Ok(ctor(Semaphore::new(semaphore_value(n)?)?))
}

fn new_bounded_semaphore(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (n,): (usize,) = decode_args(b, "BoundedSemaphore")?;
    Ok(ctor(BoundedSemaphore::new(semaphore_value(n)?)?))
}

fn new_condition(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (): () = decode_args(b, "Condition")?;
    Ok(ctor(Condition::new()?))
}

fn new_event(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (): () = decode_args(b, "Event")?;
    Ok(ctor(Event::new()?))
}

fn semaphore_value(n: usize) -> Result<u32> {
    u32::try_from(n)
        .map_err(|_| Error::new(ErrorKind::Value, "semaphore value above SEM_VALUE_MAX"))
}

fn new_barrier(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (n,): (usize,) = decode_args(b, "Barrier")?;
    let parties = u32::try_from(n)
        .map_err(|_| Error::new(ErrorKind::Value, format!("too many parties: {n}")))?;
    Ok(ctor(Barrier::new(parties)?))
}

fn new_value(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (typecode, v): (String, Value) = decode_args(b, "Value")?;
    Ok(ctor(ValueCell::new(&typecode, v)))
}

fn new_array(b: &[u8]) -> Result<Arc<dyn Obj>> {
    let (typecode, items): (String, Vec<Value>) = decode_args(b, "Array")?;
    Ok(ctor(ArrayCell::new(&typecode, items)))
}

/// `(typeid, constructor, proxy name, exposed)` of the SyncManager's types.
pub(crate) type Builtin = (
    &'static str,
    fn(&[u8]) -> Result<Arc<dyn Obj>>,
    &'static str,
    &'static [&'static str],
    &'static str,
);

pub(crate) const BUILTINS: &[Builtin] = &[
    ("list", new_list, "ListProxy", LIST_METHODS, "list"),
    ("dict", new_dict, "DictProxy", DICT_METHODS, "dict"),
    (
        "Namespace",
        new_namespace,
        "NamespaceProxy",
        NAMESPACE_METHODS,
        "Namespace",
    ),
    (
        "Queue",
        new_queue,
        "AutoProxy[Queue]",
        QUEUE_METHODS,
        "Queue",
    ),
    (
        "JoinableQueue",
        new_queue,
        "AutoProxy[JoinableQueue]",
        JOINABLE_QUEUE_METHODS,
        "Queue",
    ),
    ("Lock", new_lock, "AcquirerProxy", ACQUIRER_METHODS, "Lock"),
    (
        "RLock",
        new_rlock,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "RLock",
    ),
    (
        "Semaphore",
        new_semaphore,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "Semaphore",
    ),
    (
        "BoundedSemaphore",
        new_bounded_semaphore,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "BoundedSemaphore",
    ),
    (
        "Condition",
        new_condition,
        "ConditionProxy",
        CONDITION_METHODS,
        "Condition",
    ),
    ("Event", new_event, "EventProxy", EVENT_METHODS, "Event"),
    (
        "Barrier",
        new_barrier,
        "BarrierProxy",
        BARRIER_METHODS,
        "Barrier",
    ),
    ("Value", new_value, "ValueProxy", &["get", "set"], "Value"),
    (
        "Array",
        new_array,
        "ArrayProxy",
        &["__len__", "__getitem__", "__setitem__"],
        "Array",
    ),
    (
        "Pool",
        super::pool_proxy::new_pool,
        "PoolProxy",
        super::pool_proxy::POOL_METHODS,
        "Pool",
    ),
];

pub(crate) fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.0 == name)
}

/// Used by `SyncManager::dict_from` and friends: the values of an iterator of pairs.
pub(crate) fn pairs_to_values<K: Serialize + 'static, V: Serialize + 'static>(
    items: impl IntoIterator<Item = (K, V)>,
) -> Result<Vec<(Value, Value)>> {
    items
        .into_iter()
        .map(|(k, v)| Ok((into_value(k)?, into_value(v)?)))
        .collect()
}

pub(crate) fn list_values<T: Serialize + 'static>(
    items: impl IntoIterator<Item = T>,
) -> Result<Vec<Value>> {
    values_of(items)
}
