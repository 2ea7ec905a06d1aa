//! The manager's `list`: its referent (`Vec<Value>`) and [`ListProxy`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::sync::RwLock;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{
    args_of, bool_arg, index_in, index_of, int_arg, range_to_slice, read, sort_values, unknown,
    values_of, write,
};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent, into_value, value_into};
use crate::managers::value::Value;

pub(super) const LIST_METHODS: &[&str] = &[
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
                            Value::List(x) | Value::Tuple(x) | Value::Set(x) => x,
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
                    Value::List(x) | Value::Tuple(x) | Value::Set(x) => write(this).extend(x),
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
                l[index_in(i, l.len(), "list")?].clone()
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
                let j = index_in(i, l.len(), "list assignment")?;
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
