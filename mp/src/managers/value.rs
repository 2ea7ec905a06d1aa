//! Dynamic values: what a manager's containers hold.
//!
//! Python's containers are heterogeneous (`{0.25: None, 1: '1', '2': 2}`), and a manager's
//! server compares, hashes, sorts, counts and prints what they hold without knowing any Rust
//! type. [`Value`] is that data model; typed proxies (`DictProxy<String, i64>`) convert their
//! arguments into it with [`to_value`] and their results out of it with [`from_value`], like
//! `serde_json::Value` does.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::proxy::Token;
use super::server::Obj;
use crate::connection::Address;
use crate::error::{Error, ErrorKind, Result};

mod de_impl;
mod ser_impl;

pub use de_impl::from_value;
pub use ser_impl::to_value;

/// How deeply values may nest (lists in lists...): deeper ones are refused when decoded or
/// converted, so that a hostile message cannot exhaust the stack.
pub const MAX_DEPTH: usize = 200;

/// A Python value: what a managed `dict`, `list`, `Queue` or `Namespace` holds.
///
/// Equality, hashing and ordering follow Python: `1 == 1.0 == True`, a `list` never equals a
/// `tuple`, dicts compare regardless of order, `1 < 'a'` has no answer
/// ([`py_cmp`](Value::py_cmp) returns `None`, where Python raises `TypeError`). The one
/// deviation: a `NaN` float equals itself, so that `Eq` and `Hash` stay lawful.
///
/// [`Display`](fmt::Display) prints Python's `repr`.
///
/// # Examples
///
/// ```
/// use mp::managers::{Dict, Value};
/// let mut d = Dict::new();
/// d.insert(1.into(), "1".into()).unwrap();
/// d.insert("2".into(), 2.into()).unwrap();
/// d.insert(0.25.into(), Value::None).unwrap();
/// assert_eq!(Value::Dict(d).to_string(), "{1: '1', '2': 2, 0.25: None}");
/// assert_eq!(Value::from(1), Value::from(1.0));
/// assert_eq!(Value::from(vec![1, 2]).to_string(), "[1, 2]");
/// assert_eq!(Value::from((1, "a")).to_string(), "(1, 'a')");
/// ```
#[derive(Clone, Default)]
pub enum Value {
    /// Python's `None`.
    #[default]
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` (Python's are unbounded; this one holds 128 bits: `2 ** 94` fits).
    Int(i128),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict` (insertion-ordered, as Python's).
    Dict(Dict),
    /// A proxy stored inside a value: a reference to an object of a manager.
    Proxy(ProxyRef),
    /// A `slice` (what `l[2:7]` passes to `__getitem__`).
    Slice(Box<Slice>),
    /// A `set` (or `frozenset`): distinct hashable items, in the order first added. Build
    /// one with [`Value::set`].
    Set(Vec<Value>),
}

/// Python's `slice(start, stop, step)`.
///
/// # Examples
///
/// ```
/// use mp::managers::Value;
/// assert_eq!(Value::slice(2, 7).to_string(), "slice(2, 7, None)");
/// assert_eq!(Value::slice(None, -1).to_string(), "slice(None, -1, None)");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Slice {
    /// The first index (`None`: from the start, or the end for a negative step).
    pub start: Option<i64>,
    /// The index to stop before.
    pub stop: Option<i64>,
    /// The step (`None`: 1).
    pub step: Option<i64>,
}

impl Slice {
    /// Python's `slice.indices(len)`: `(start, stop, step)` clamped to a sequence of `len`
    /// items.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a zero step ("slice step cannot be zero").
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::managers::Slice;
    /// let s = Slice { start: Some(-3), stop: None, step: None };
    /// assert_eq!(s.indices(10)?, (7, 10, 1));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn indices(&self, len: usize) -> Result<(i64, i64, i64)> {
        let len = len as i64;
        let step = self.step.unwrap_or(1);
        if step == 0 {
            return Err(Error::new(ErrorKind::Value, "slice step cannot be zero"));
        }
        let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
        let clamp = |x: Option<i64>, default: i64| match x {
            None => default,
            Some(i) if i < 0 => (i + len).max(lower),
            Some(i) => i.min(upper),
        };
        let start = clamp(self.start, if step < 0 { upper } else { lower });
        let stop = clamp(self.stop, if step < 0 { lower } else { upper });
        Ok((start, stop, step))
    }

    /// The positions a slice selects in a sequence of `len` items, in order.
    ///
    /// # Errors
    ///
    /// As [`indices`](Slice::indices).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::managers::Slice;
    /// let s = Slice { start: None, stop: None, step: Some(-2) };
    /// assert_eq!(s.positions(5)?, [4, 2, 0]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn positions(&self, len: usize) -> Result<Vec<usize>> {
        let (start, stop, step) = self.indices(len)?;
        let mut v = Vec::new();
        let mut i = start;
        while (step > 0 && i < stop) || (step < 0 && i > stop) {
            v.push(i as usize);
            i += step;
        }
        Ok(v)
    }
}

/// A reference to a managed object, as stored inside a [`Value`] (Python's proxy objects
/// inside a managed list or dict).
///
/// It prints like CPython's proxy `repr`: `<ListProxy object, typeid 'list' at 0x7f..>`.
/// Turn it into a working proxy with [`from_value`] (which takes a reference on the object).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{ListProxy, Value};
/// let manager = mp::Manager()?;
/// let a: ListProxy = manager.list()?;
/// let b: ListProxy = manager.list()?;
/// a.append(&b)?;
/// let Value::Proxy(r) = a.get(0)? else { panic!("not a proxy") };
/// assert_eq!(r.typeid(), "list");
/// assert!(r.to_string().starts_with("<ListProxy object, typeid 'list' at 0x"));
/// let b2: ListProxy = mp::managers::from_value(Value::Proxy(r))?;
/// b2.append("hello")?;
/// assert_eq!(b.to_string(), "['hello']");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProxyRef {
    pub(crate) token: Token,
    pub(crate) proxytype: String,
    /// In the server process: the object itself, kept alive while a container holds it.
    pub(crate) keep: Option<Arc<dyn Obj>>,
}

impl ProxyRef {
    /// The typeid of the referent (`"list"`, `"dict"`, or a registered name).
    ///
    /// # Examples
    ///
    /// See [`ProxyRef`].
    pub fn typeid(&self) -> &str {
        &self.token.typeid
    }

    /// The referent's id in its manager.
    ///
    /// # Examples
    ///
    /// See [`ProxyRef`].
    pub fn id(&self) -> u64 {
        self.token.id
    }

    /// The address of the manager that owns the referent.
    ///
    /// # Examples
    ///
    /// See [`ProxyRef`].
    pub fn address(&self) -> &Address {
        &self.token.address
    }

    /// The name of the proxy type (`"ListProxy"`).
    ///
    /// # Examples
    ///
    /// See [`ProxyRef`].
    pub fn proxytype(&self) -> &str {
        &self.proxytype
    }
}

impl PartialEq for ProxyRef {
    fn eq(&self, other: &Self) -> bool {
        self.token.id == other.token.id && self.token.address == other.token.address
    }
}

impl fmt::Display for ProxyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} object, typeid {} at {:#x}>",
            self.proxytype,
            StrRepr(&self.token.typeid),
            self.token.id
        )
    }
}

impl fmt::Debug for ProxyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------------------------
// Dict
// ---------------------------------------------------------------------------------------------

/// Python's `dict` of [`Value`]s: insertion-ordered, keys compared and hashed the Python way.
///
/// # Examples
///
/// ```
/// use mp::managers::{Dict, Value};
/// let mut d = Dict::new();
/// d.insert("a".into(), 1.into())?;
/// d.insert(1.into(), "x".into())?;
/// assert_eq!(d.get(&Value::from(1.0)), Some(&Value::from("x"))); // 1 == 1.0
/// assert!(d.insert(Value::from(vec![1]), Value::None).is_err()); // unhashable
/// assert_eq!(d.len(), 2);
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Dict {
    /// foldhash rather than std's SipHash: a lookup is a few nanoseconds instead of about 20
    /// (seeded per process; Python's own dict hashes an int to itself).
    map: IndexMap<Value, Value, foldhash::fast::RandomState>,
}

impl Dict {
    /// An empty dict.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::managers::Dict::new().is_empty());
    /// ```
    pub fn new() -> Dict {
        Dict::default()
    }

    /// The number of items.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Dict::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::managers::Dict::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert(1.into(), 2.into()).unwrap();
    /// assert_eq!(d.get(&1.into()), Some(&2.into()));
    /// ```
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.map.get(key)
    }

    /// Sets `key` to `value` (keeping the key's place if present), returning the old value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if the key is unhashable (a list, a dict, or a tuple holding one),
    /// as Python's `TypeError: unhashable type: 'list'`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// assert_eq!(d.insert(1.into(), 2.into())?, None);
    /// assert_eq!(d.insert(1.into(), 3.into())?, Some(2.into()));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn insert(&mut self, key: Value, value: Value) -> Result<Option<Value>> {
        key.check_hashable()?;
        Ok(self.map.insert(key, value))
    }

    /// Removes `key`, keeping the order of the others, and returns its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert(1.into(), 2.into()).unwrap();
    /// assert_eq!(d.remove(&1.into()), Some(2.into()));
    /// assert_eq!(d.remove(&1.into()), None);
    /// ```
    pub fn remove(&mut self, key: &Value) -> Option<Value> {
        self.map.shift_remove(key)
    }

    /// Whether `key` is present.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert("k".into(), 0.into()).unwrap();
    /// assert!(d.contains_key(&"k".into()));
    /// ```
    pub fn contains_key(&self, key: &Value) -> bool {
        self.map.contains_key(key)
    }

    /// The items in insertion order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert("b".into(), 1.into()).unwrap();
    /// d.insert("a".into(), 2.into()).unwrap();
    /// let keys: Vec<String> = d.iter().map(|(k, _)| k.to_string()).collect();
    /// assert_eq!(keys, ["'b'", "'a'"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.map.iter()
    }

    /// The keys in insertion order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert(1.into(), 1.into()).unwrap();
    /// assert_eq!(d.keys().count(), 1);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &Value> {
        self.map.keys()
    }

    /// The values in insertion order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert(1.into(), 5.into()).unwrap();
    /// assert_eq!(d.values().next(), Some(&5.into()));
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.map.values()
    }

    /// Removes every item.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert(1.into(), 5.into()).unwrap();
    /// d.clear();
    /// assert!(d.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// The item at `index` in insertion order.
    pub(crate) fn get_index(&self, index: usize) -> Option<(&Value, &Value)> {
        self.map.get_index(index)
    }

    /// Removes and returns the last item (Python's `popitem`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = mp::managers::Dict::new();
    /// d.insert(1.into(), 5.into()).unwrap();
    /// assert_eq!(d.pop_last(), Some((1.into(), 5.into())));
    /// ```
    pub fn pop_last(&mut self) -> Option<(Value, Value)> {
        self.map.pop()
    }
}

impl IntoIterator for Dict {
    type Item = (Value, Value);
    type IntoIter = indexmap::map::IntoIter<Value, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.into_iter()
    }
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&ReprDict(self), f)
    }
}

struct ReprDict<'a>(&'a Dict);

impl fmt::Display for ReprDict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, (k, v)) in self.0.map.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}: {v}")?;
        }
        f.write_char('}')
    }
}

// ---------------------------------------------------------------------------------------------
// Python semantics
// ---------------------------------------------------------------------------------------------

/// A number as Python compares it.
enum Num {
    I(i128),
    F(f64),
}

impl Value {
    fn num(&self) -> Option<Num> {
        match self {
            Value::Bool(b) => Some(Num::I(*b as i128)),
            Value::Int(i) => Some(Num::I(*i)),
            Value::Float(f) => Some(Num::F(*f)),
            _ => None,
        }
    }

    /// Python's `set(items)`: the distinct items, in the order first seen.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for an item that cannot be hashed (a list, a dict, a set).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::managers::Value;
    /// let s = Value::set([Value::from(1), Value::from(2), Value::from(1.0)])?;
    /// assert_eq!(s.to_string(), "{1, 2}");
    /// assert_eq!(s, Value::set([Value::from(2), Value::from(1)])?);
    /// assert!(Value::set([Value::from(vec![1])]).is_err());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(items: impl IntoIterator<Item = Value>) -> Result<Value> {
        // Hashed, not compared pairwise: a peer's large set must not cost quadratic time.
        let items: Vec<Value> = items.into_iter().collect();
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        let mut keep = Vec::with_capacity(items.len());
        for x in &items {
            x.check_hashable()?;
            keep.push(seen.insert(x));
        }
        Ok(Value::Set(
            items
                .into_iter()
                .zip(keep)
                .filter_map(|(x, k)| k.then_some(x))
                .collect(),
        ))
    }

    /// The Python type name (`'int'`, `'str'`, `'list'`...), as error messages print it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Value::from(1.5).type_name(), "float");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Proxy(_) => "proxy",
            Value::Slice(_) => "slice",
            Value::Set(_) => "set",
        }
    }

    /// Checks that the value can be a dict key (Python's `hash()` succeeds).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for a list or a dict, or a tuple holding one.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::managers::Value;
    /// assert!(Value::from((1, 2)).check_hashable().is_ok());
    /// assert!(Value::from(vec![1]).check_hashable().is_err());
    /// ```
    pub fn check_hashable(&self) -> Result<()> {
        match self {
            Value::List(_) | Value::Dict(_) | Value::Slice(_) | Value::Set(_) => Err(Error::new(
                ErrorKind::Type,
                format!("unhashable type: '{}'", self.type_name()),
            )),
            Value::Tuple(items) => items.iter().try_for_each(Value::check_hashable),
            _ => Ok(()),
        }
    }

    /// Python's ordering (`<`): numbers among themselves, strings, bytes, and lists or
    /// tuples of comparable items (lexicographically). `None` where Python raises
    /// `TypeError`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use mp::managers::Value;
    /// assert_eq!(Value::from(1).py_cmp(&Value::from(1.5)), Some(Ordering::Less));
    /// assert_eq!(Value::from("b").py_cmp(&Value::from("a")), Some(Ordering::Greater));
    /// assert_eq!(Value::from(1).py_cmp(&Value::from("a")), None);
    /// ```
    pub fn py_cmp(&self, other: &Value) -> Option<Ordering> {
        if let (Some(a), Some(b)) = (self.num(), other.num()) {
            return num_cmp(&a, &b);
        }
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            (Value::Bytes(a), Value::Bytes(b)) => Some(a.cmp(b)),
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                for (x, y) in a.iter().zip(b) {
                    if x != y {
                        return x.py_cmp(y);
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            _ => None,
        }
    }

    /// Whether Python would call the value true (`bool(x)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::managers::Value;
    /// assert!(!Value::None.truthy() && !Value::from(0).truthy() && Value::from("x").truthy());
    /// ```
    pub fn truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => !v.is_empty(),
            Value::Dict(d) => !d.is_empty(),
            Value::Proxy(_) | Value::Slice(_) => true,
        }
    }

    /// The integer, if the value is an `int` or a `bool`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Value::from(7).as_int(), Some(7));
    /// ```
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i128),
            _ => None,
        }
    }

    /// The number as a float, if the value is a number.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Value::from(2).as_f64(), Some(2.0));
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self.num()? {
            Num::I(i) => Some(i as f64),
            Num::F(f) => Some(f),
        }
    }

    /// The string, if the value is a `str`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Value::from("x").as_str(), Some("x"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the value is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::managers::Value::None.is_none());
    /// ```
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// A `slice(start, stop)`: `Value::slice(2, 7)` is Python's `2:7`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Value::slice(2, None).to_string(), "slice(2, None, None)");
    /// ```
    pub fn slice(start: impl Into<Option<i64>>, stop: impl Into<Option<i64>>) -> Value {
        Value::Slice(Box::new(Slice {
            start: start.into(),
            stop: stop.into(),
            step: None,
        }))
    }

    /// A `bytes` value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::managers::Value::bytes(b"hi").to_string(), "b'hi'");
    /// ```
    pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(b.into())
    }
}

fn num_cmp(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(y)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(y),
        (Num::I(x), Num::F(y)) => int_float_cmp(*x, *y),
        (Num::F(x), Num::I(y)) => int_float_cmp(*y, *x).map(Ordering::reverse),
    }
}

/// Exact comparison of an integer with a float (Python compares them exactly).
fn int_float_cmp(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f == f64::INFINITY {
        return Some(Ordering::Less);
    }
    if f == f64::NEG_INFINITY {
        return Some(Ordering::Greater);
    }
    // Every float beyond ±2^127 is beyond every i128.
    if f >= 1.7014118346046923e38 {
        return Some(Ordering::Less);
    }
    if f < -1.7014118346046923e38 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    let ti = t as i128;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            Some(if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        o => Some(o),
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        if let (Some(a), Some(b)) = (self.num(), other.num()) {
            return match (a, b) {
                (Num::F(x), Num::F(y)) if x.is_nan() && y.is_nan() => true,
                (a, b) => num_cmp(&a, &b) == Some(Ordering::Equal),
            };
        }
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Dict(a), Value::Dict(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
            }
            (Value::Proxy(a), Value::Proxy(b)) => a == b,
            (Value::Slice(a), Value::Slice(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => {
                a.len() == b.len() && {
                    let b: std::collections::HashSet<&Value> = b.iter().collect();
                    a.iter().all(|x| b.contains(x))
                }
            }
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::None => state.write_u8(0),
            Value::Bool(b) => hash_int(*b as i128, state),
            Value::Int(i) => hash_int(*i, state),
            Value::Float(f) => {
                let f = *f;
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38 {
                    hash_int(f as i128, state);
                } else if f.is_nan() {
                    state.write_u8(4);
                    state.write_u64(0x7ff8_0000_0000_0000);
                } else {
                    state.write_u8(4);
                    state.write_u64(f.to_bits());
                }
            }
            Value::Str(s) => {
                state.write_u8(5);
                s.hash(state);
            }
            Value::Bytes(b) => {
                state.write_u8(6);
                b.hash(state);
            }
            Value::List(v) => {
                state.write_u8(7);
                v.hash(state);
            }
            Value::Tuple(v) => {
                state.write_u8(8);
                v.hash(state);
            }
            Value::Dict(d) => {
                // Order-insensitive, like equality.
                state.write_u8(9);
                state.write_usize(d.len());
            }
            Value::Proxy(p) => {
                state.write_u8(10);
                state.write_u64(p.token.id);
            }
            Value::Slice(sl) => {
                state.write_u8(11);
                sl.hash(state);
            }
            Value::Set(v) => {
                // Order-insensitive, like equality.
                state.write_u8(12);
                state.write_usize(v.len());
            }
        }
    }
}

fn hash_int<H: Hasher>(i: i128, state: &mut H) {
    state.write_u8(3);
    state.write_i128(i);
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        self.py_cmp(other)
    }
}

// ---------------------------------------------------------------------------------------------
// repr
// ---------------------------------------------------------------------------------------------

/// Python's `repr` of a float: the shortest string that reads back the same, in fixed
/// notation for exponents in `-4..16`, with `.0` on whole numbers.
pub(crate) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{x}");
        if s.contains('.') { s } else { s + ".0" }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Python's `repr` of a `str`.
pub(crate) struct StrRepr<'a>(pub(crate) &'a str);

impl fmt::Display for StrRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let quote = if s.contains('\'') && !s.contains('"') {
            '"'
        } else {
            '\''
        };
        f.write_char(quote)?;
        for c in s.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c == quote => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c if (0x80..0xa0).contains(&(c as u32)) => write!(f, "\\x{:02x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char(quote)
    }
}

fn bytes_repr(b: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    f.write_char('b')?;
    f.write_char(quote as char)?;
    for &c in b {
        match c {
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            c if c == quote => {
                f.write_char('\\')?;
                f.write_char(c as char)?;
            }
            0x20..=0x7e => f.write_char(c as char)?,
            c => write!(f, "\\x{c:02x}")?,
        }
    }
    f.write_char(quote as char)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&float_repr(*x)),
            Value::Str(s) => StrRepr(s).fmt(f),
            Value::Bytes(b) => bytes_repr(b, f),
            Value::List(v) => {
                f.write_char('[')?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    x.fmt(f)?;
                }
                f.write_char(']')
            }
            Value::Tuple(v) => {
                f.write_char('(')?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    x.fmt(f)?;
                }
                if v.len() == 1 {
                    f.write_char(',')?;
                }
                f.write_char(')')
            }
            Value::Dict(d) => ReprDict(d).fmt(f),
            Value::Proxy(p) => p.fmt(f),
            Value::Slice(sl) => {
                let o = |x: Option<i64>| x.map_or("None".to_string(), |i| i.to_string());
                write!(f, "slice({}, {}, {})", o(sl.start), o(sl.stop), o(sl.step))
            }
            Value::Set(v) if v.is_empty() => f.write_str("set()"),
            Value::Set(v) => {
                f.write_char('{')?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    x.fmt(f)?;
                }
                f.write_char('}')
            }
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------------------------
// From
// ---------------------------------------------------------------------------------------------

macro_rules! from_int {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::Int(x as i128)
            }
        }
    )*};
}
from_int!(i8 i16 i32 i64 i128 isize u8 u16 u32 u64 usize);

impl TryFrom<u128> for Value {
    type Error = Error;
    fn try_from(x: u128) -> Result<Value> {
        i128::try_from(x)
            .map(Value::Int)
            .map_err(|_| Error::new(ErrorKind::Value, "integer too large for a managed value"))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Value {
        Value::Float(x as f64)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<char> for Value {
    fn from(c: char) -> Value {
        Value::Str(c.to_string())
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::None
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::None, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Value {
        Value::Dict(d)
    }
}

impl From<ProxyRef> for Value {
    fn from(p: ProxyRef) -> Value {
        Value::Proxy(p)
    }
}

macro_rules! from_tuple {
    ($($n:ident)+) => {
        impl<$($n: Into<Value>),+> From<($($n,)+)> for Value {
            #[allow(non_snake_case)]
            fn from(($($n,)+): ($($n,)+)) -> Value {
                Value::Tuple(vec![$($n.into()),+])
            }
        }
    };
}
from_tuple!(A);
from_tuple!(A B);
from_tuple!(A B C);
from_tuple!(A B C D);

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Value {
        Value::List(iter.into_iter().map(Into::into).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// serde: natural for self-describing formats, the wire codec for binary ones
// ---------------------------------------------------------------------------------------------

/// The newtype name through which `Value` deserializes itself from a [`from_value`]
/// deserializer without losing the list/tuple distinction.
pub(crate) const VALUE_TOKEN: &str = "__mp_value";
/// The newtype name a proxy serializes under.
pub(crate) const PROXY_TOKEN: &str = "__mp_proxy";

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        if !s.is_human_readable() {
            let mut buf = Vec::new();
            codec::encode_value(self, &mut buf, 0).map_err(S::Error::custom)?;
            return s.serialize_bytes(&buf);
        }
        // `to_value` takes the value as it is (keeping tuples, slices and proxies exact);
        // other serializers see the newtype's content.
        let prev = ser_impl::SELF_PTR.with(|p| p.replace(self as *const Value));
        let r = s.serialize_newtype_struct(VALUE_TOKEN, &Natural(self));
        ser_impl::SELF_PTR.with(|p| p.set(prev));
        r
    }
}

/// The self-describing form of a value.
struct Natural<'a>(&'a Value);

impl Serialize for Natural<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
        match self.0 {
            Value::None => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => match i64::try_from(*i) {
                Ok(i) => s.serialize_i64(i),
                Err(_) => s.serialize_i128(*i),
            },
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(x) => s.serialize_str(x),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(v) | Value::Set(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Value::Tuple(v) => {
                let mut t = s.serialize_tuple(v.len())?;
                for x in v {
                    t.serialize_element(x)?;
                }
                t.end()
            }
            Value::Dict(d) => {
                let mut m = s.serialize_map(Some(d.len()))?;
                for (k, v) in d.iter() {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Value::Proxy(p) => s.serialize_newtype_struct(PROXY_TOKEN, &ProxyWire::from_ref(p)),
            Value::Slice(sl) => (sl.start, sl.stop, sl.step).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        if !d.is_human_readable() {
            let bytes = d.deserialize_byte_buf(BytesVisitor)?;
            return codec::decode_value_all(&bytes).map_err(de::Error::custom);
        }
        d.deserialize_newtype_struct(VALUE_TOKEN, ValueVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an encoded mp value")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<Vec<u8>, E> {
        Ok(v)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Vec<u8>, A::Error> {
        let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = a.next_element::<u8>()? {
            v.push(b);
        }
        Ok(v)
    }
}

pub(crate) struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        if let Some(v) = de_impl::take_stash() {
            return Ok(v);
        }
        d.deserialize_any(ValueVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Int(v as i128))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> std::result::Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Int(v as i128))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> std::result::Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large for a managed value"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Value, A::Error> {
        let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(4096));
        while let Some(x) = a.next_element::<Value>()? {
            v.push(x);
        }
        Ok(Value::List(v))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> std::result::Result<Value, A::Error> {
        let mut d = Dict::new();
        while let Some((k, v)) = a.next_entry::<Value, Value>()? {
            d.insert(k, v).map_err(de::Error::custom)?;
        }
        Ok(Value::Dict(d))
    }
}

/// How a proxy travels inside a serialized value.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct ProxyWire {
    pub(crate) typeid: String,
    pub(crate) address: Address,
    pub(crate) id: u64,
    pub(crate) proxytype: String,
    pub(crate) exposed: Option<Vec<String>>,
    /// Only while a child process is being started (as CPython does).
    pub(crate) authkey: Option<Vec<u8>>,
    /// The sender took a reference for the receiver, which adopts it (see `refs`).
    pub(crate) owned: bool,
}

impl ProxyWire {
    pub(crate) fn from_ref(p: &ProxyRef) -> ProxyWire {
        ProxyWire {
            typeid: p.token.typeid.clone(),
            address: p.token.address.clone(),
            id: p.token.id,
            proxytype: p.proxytype.clone(),
            exposed: None,
            authkey: None,
            owned: false,
        }
    }

    pub(crate) fn into_ref(self) -> ProxyRef {
        let mut token = Token {
            typeid: self.typeid,
            address: self.address,
            id: self.id,
        };
        super::proxy::remap_token(&mut token);
        let keep = super::server::resolve_keep(&token);
        ProxyRef {
            token,
            proxytype: self.proxytype,
            keep,
        }
    }
}

pub(crate) mod codec;
