//! The SyncManager's types: the objects its server holds (list, dict, Namespace, Queue,
//! locks...) and their typed proxies.
//!
//! One submodule per family (`list`, `dict`, `namespace`, `queue`, `lock`, `condition`, `event`,
//! `barrier`, `value`, `iterator`); this one keeps the server-side argument helpers, the proxy
//! boilerplate macros and the table of the SyncManager's typeids.

use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::proxy::{Referent, into_value};
use super::server::{Obj, Slot};
use super::value::{Dict, Slice, Value};
use crate::error::{Error, ErrorKind, Result};

// The families' `super::to_value`, `super::Shared` and `super::server` go through these.
use super::{Shared, server, to_value};

// ---------------------------------------------------------------------------------------------
// Argument helpers (server side)
// ---------------------------------------------------------------------------------------------

pub(in crate::managers) fn args_of(
    args: Value,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Vec<Value>> {
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

pub(in crate::managers) fn timeout_arg(v: Option<&Value>) -> Result<Option<Instant>> {
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

/// Python's index `i` of a sequence of `len` items (negative counts from the end), or the
/// `IndexError` the server gives.
fn index_in(i: isize, len: usize, what: &str) -> Result<usize> {
    let j = if i < 0 {
        i.checked_add_unsigned(len)
    } else {
        Some(i)
    };
    match j {
        Some(j) if j >= 0 && (j as usize) < len => Ok(j as usize),
        _ => Err(Error::new(
            ErrorKind::Index,
            format!("{what} index out of range"),
        )),
    }
}

fn index_of(v: &Value, len: usize, what: &str) -> Result<usize> {
    // (The name is formatted only for an error: this runs on every indexed access.)
    let Some(i) = v.as_int().and_then(|i| i64::try_from(i).ok()) else {
        return Err(Error::new(
            ErrorKind::Type,
            format!("{what} indices must be an integer, not '{}'", v.type_name()),
        ));
    };
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

pub(in crate::managers) fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
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
// The types, one module per referent family
// ---------------------------------------------------------------------------------------------

mod barrier;
mod condition;
mod dict;
mod event;
mod iterator;
mod list;
mod lock;
mod namespace;
mod queue;
mod value;

pub use barrier::{Barrier, BarrierProxy};
pub use condition::{Condition, ConditionProxy};
pub use dict::DictProxy;
pub use event::{Event, EventProxy};
pub use iterator::{Generator, IteratorProxy};
pub use list::ListProxy;
pub use lock::{
    BoundedSemaphore, BoundedSemaphoreProxy, Lock, LockProxy, RLock, RLockProxy, Semaphore,
    SemaphoreProxy,
};
pub use namespace::{Namespace, NamespaceProxy};
pub use queue::{JoinableQueueProxy, Queue, QueueProxy};
pub use value::{ArrayCell, ArrayProxy, ValueCell, ValueProxy};

use barrier::BARRIER_METHODS;
use condition::CONDITION_METHODS;
use dict::DICT_METHODS;
use event::EVENT_METHODS;
use list::LIST_METHODS;
use lock::ACQUIRER_METHODS;
use namespace::NAMESPACE_METHODS;
use queue::{JOINABLE_QUEUE_METHODS, QUEUE_METHODS};

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

/// A builtin referent made from its typeid's arguments: what a server does with a client's
/// `create`, and what an in-process manager does with the same (typed) arguments.
pub trait Create: Referent {
    /// The arguments as they cross the wire (Python's `*args` of the typeid).
    type Args: Serialize + DeserializeOwned;
    fn create(args: Self::Args) -> Result<Self>;
}

/// The server's constructor of `R`: decodes the arguments and makes the object.
fn new_from<R: Create>(b: &[u8]) -> Result<Arc<dyn Obj>> {
    Ok(ctor(R::create(decode_args(b, R::TYPE_NAME)?)?))
}

impl Create for Vec<Value> {
    type Args = (Vec<Value>,);
    fn create((items,): Self::Args) -> Result<Self> {
        Ok(items)
    }
}

impl Create for Dict {
    type Args = (Vec<(Value, Value)>,);
    fn create((items,): Self::Args) -> Result<Self> {
        let mut d = Dict::new();
        for (k, v) in items {
            d.insert(k, v)?;
        }
        Ok(d)
    }
}

impl Create for Namespace {
    type Args = (Vec<(String, Value)>,);
    fn create((items,): Self::Args) -> Result<Self> {
        Ok(Namespace {
            attrs: items.into_iter().collect(),
        })
    }
}

impl Create for Queue {
    type Args = (usize,);
    fn create((maxsize,): Self::Args) -> Result<Self> {
        Ok(Queue::new(maxsize))
    }
}

/// The primitives made without arguments.
macro_rules! create_unit {
    ($($t:ty),*) => {$(
        impl Create for $t {
            type Args = ();
            fn create((): ()) -> Result<Self> {
                <$t>::new()
            }
        }
    )*};
}
create_unit!(Lock, RLock, Condition, Event);

fn count_arg(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::new(ErrorKind::Value, format!("{what}: {n} is too large")))
}

impl Create for Semaphore {
    type Args = (usize,);
    fn create((n,): Self::Args) -> Result<Self> {
        Semaphore::new(count_arg(n, "semaphore value")?)
    }
}

impl Create for BoundedSemaphore {
    type Args = (usize,);
    fn create((n,): Self::Args) -> Result<Self> {
        BoundedSemaphore::new(count_arg(n, "semaphore value")?)
    }
}

impl Create for Barrier {
    type Args = (usize,);
    fn create((n,): Self::Args) -> Result<Self> {
        Barrier::new(count_arg(n, "parties")?)
    }
}

impl Create for ValueCell {
    type Args = (String, Value);
    fn create((typecode, v): Self::Args) -> Result<Self> {
        Ok(ValueCell::new(&typecode, v))
    }
}

impl Create for ArrayCell {
    type Args = (String, Vec<Value>);
    fn create((typecode, items): Self::Args) -> Result<Self> {
        Ok(ArrayCell::new(&typecode, items))
    }
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
    (
        "list",
        new_from::<Vec<Value>>,
        "ListProxy",
        LIST_METHODS,
        "list",
    ),
    ("dict", new_from::<Dict>, "DictProxy", DICT_METHODS, "dict"),
    (
        "Namespace",
        new_from::<Namespace>,
        "NamespaceProxy",
        NAMESPACE_METHODS,
        "Namespace",
    ),
    (
        "Queue",
        new_from::<Queue>,
        "AutoProxy[Queue]",
        QUEUE_METHODS,
        "Queue",
    ),
    (
        "JoinableQueue",
        new_from::<Queue>,
        "AutoProxy[JoinableQueue]",
        JOINABLE_QUEUE_METHODS,
        "Queue",
    ),
    (
        "Lock",
        new_from::<Lock>,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "Lock",
    ),
    (
        "RLock",
        new_from::<RLock>,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "RLock",
    ),
    (
        "Semaphore",
        new_from::<Semaphore>,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "Semaphore",
    ),
    (
        "BoundedSemaphore",
        new_from::<BoundedSemaphore>,
        "AcquirerProxy",
        ACQUIRER_METHODS,
        "BoundedSemaphore",
    ),
    (
        "Condition",
        new_from::<Condition>,
        "ConditionProxy",
        CONDITION_METHODS,
        "Condition",
    ),
    (
        "Event",
        new_from::<Event>,
        "EventProxy",
        EVENT_METHODS,
        "Event",
    ),
    (
        "Barrier",
        new_from::<Barrier>,
        "BarrierProxy",
        BARRIER_METHODS,
        "Barrier",
    ),
    (
        "Value",
        new_from::<ValueCell>,
        "ValueProxy",
        &["get", "set"],
        "Value",
    ),
    (
        "Array",
        new_from::<ArrayCell>,
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

/// Binds CPython's `(*args, **kwds)` to the parameter `names` of a constructor.
fn bind(
    what: &str,
    args: Vec<Value>,
    mut kwds: Vec<(String, Value)>,
    names: &[&str],
) -> Result<Vec<Option<Value>>> {
    if args.len() > names.len() {
        return Err(Error::new(
            ErrorKind::Type,
            format!(
                "{what}() takes at most {} arguments ({} given)",
                names.len(),
                args.len()
            ),
        ));
    }
    let mut out: Vec<Option<Value>> = args.into_iter().map(Some).collect();
    for name in &names[out.len()..] {
        out.push(
            kwds.iter()
                .position(|(k, _)| k == name)
                .map(|i| kwds.swap_remove(i).1),
        );
    }
    if let Some((k, _)) = kwds.first() {
        return Err(Error::new(
            ErrorKind::Type,
            format!("{what}() got an unexpected keyword argument '{k}'"),
        ));
    }
    Ok(out)
}

fn items_of(v: Value, what: &str) -> Result<Vec<Value>> {
    match v {
        Value::List(x) | Value::Tuple(x) | Value::Set(x) => Ok(x),
        Value::Dict(d) => Ok(d.into_iter().map(|(k, _)| k).collect()),
        other => Err(Error::new(
            ErrorKind::Type,
            format!("{what}: '{}' object is not iterable", other.type_name()),
        )),
    }
}

fn usize_of(v: Option<Value>, default: usize, what: &str) -> Result<usize> {
    match v {
        None | Some(Value::None) => Ok(default),
        Some(v) => v
            .as_int()
            .and_then(|i| usize::try_from(i.max(0)).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Type,
                    format!("{what} must be an int, not '{}'", v.type_name()),
                )
            }),
    }
}

/// A builtin referent made from a CPython client's `create(typeid, *args, **kwds)`, with
/// the Python signature of the type (`dict(mapping, **kw)`, `Queue(maxsize=0)`,
/// `Semaphore(value=1)`, `Value(typecode, value, lock=True)`, ...).
pub(crate) fn create_python(
    referent: &str,
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Obj>> {
    let only_none = |v: Option<Value>, what: &str| match v {
        None | Some(Value::None) => Ok(()),
        Some(_) => Err(Error::new(
            ErrorKind::Type,
            format!("{what} cannot cross to an mp manager (only plain data does)"),
        )),
    };
    let take = |names: &[&str]| bind(referent, args.clone(), kwds.clone(), names);
    Ok(match referent {
        "list" => {
            let a = take(&["iterable"])?;
            let items = match a.into_iter().next().flatten() {
                Some(v) => items_of(v, "list()")?,
                None => Vec::new(),
            };
            ctor(items)
        }
        "dict" => {
            let (mut pos, kw) = (args, kwds);
            if pos.len() > 1 {
                return Err(Error::new(
                    ErrorKind::Type,
                    format!("dict expected at most 1 argument, got {}", pos.len()),
                ));
            }
            let mut d = Dict::new();
            if let Some(v) = pos.pop() {
                for (k, x) in dict::pairs_of(v)? {
                    d.insert(k, x)?;
                }
            }
            for (k, x) in kw {
                d.insert(Value::Str(k), x)?;
            }
            ctor(d)
        }
        "Namespace" => {
            if !args.is_empty() {
                return Err(Error::new(
                    ErrorKind::Type,
                    "Namespace() takes keyword arguments only",
                ));
            }
            ctor(Namespace {
                attrs: kwds.into_iter().collect(),
            })
        }
        "Queue" => {
            let a = take(&["maxsize"])?;
            ctor(Queue::new(usize_of(
                a.into_iter().next().flatten(),
                0,
                "maxsize",
            )?))
        }
        "Lock" => {
            take(&[])?;
            ctor(Lock::new()?)
        }
        "RLock" => {
            take(&[])?;
            ctor(RLock::new()?)
        }
        "Event" => {
            take(&[])?;
            ctor(Event::new()?)
        }
        "Condition" => {
            let a = take(&["lock"])?;
            only_none(
                a.into_iter().next().flatten(),
                "Condition(lock): a lock of its own (mp's managed Condition makes its own)",
            )?;
            ctor(Condition::new()?)
        }
        "Semaphore" | "BoundedSemaphore" => {
            let a = take(&["value"])?;
            let n = count_arg(
                usize_of(a.into_iter().next().flatten(), 1, "value")?,
                "value",
            )?;
            if referent == "Semaphore" {
                ctor(Semaphore::new(n)?)
            } else {
                ctor(BoundedSemaphore::new(n)?)
            }
        }
        "Barrier" => {
            let mut a = take(&["parties", "action", "timeout"])?.into_iter();
            let parties = a.next().flatten().ok_or_else(|| {
                Error::new(ErrorKind::Type, "Barrier() missing argument 'parties'")
            })?;
            only_none(a.next().flatten(), "Barrier(action): a function")?;
            only_none(
                a.next().flatten(),
                "Barrier(timeout): a default timeout (pass it to wait() instead)",
            )?;
            ctor(Barrier::new(count_arg(
                usize_of(Some(parties), 0, "parties")?,
                "parties",
            )?)?)
        }
        "Value" => {
            let mut a = take(&["typecode", "value", "lock"])?.into_iter();
            let tc = match a.next().flatten() {
                Some(Value::Str(s)) => s,
                _ => return Err(Error::new(ErrorKind::Type, "Value() needs a typecode str")),
            };
            ctor(ValueCell::new(&tc, a.next().flatten().unwrap_or_default()))
        }
        "Array" => {
            let mut a = take(&["typecode", "sequence", "lock"])?.into_iter();
            let tc = match a.next().flatten() {
                Some(Value::Str(s)) => s,
                _ => return Err(Error::new(ErrorKind::Type, "Array() needs a typecode str")),
            };
            let items = match a.next().flatten() {
                Some(v) => items_of(v, "Array()")?,
                None => Vec::new(),
            };
            ctor(ArrayCell::new(&tc, items))
        }
        other => {
            return Err(Error::new(
                ErrorKind::Type,
                format!(
                    "a CPython client cannot create '{other}' objects (their arguments are \
                     functions or Rust types)"
                ),
            ));
        }
    })
}
