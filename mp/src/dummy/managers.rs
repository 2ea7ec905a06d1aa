//! `Manager()` on threads: Python's `multiprocessing.dummy.Manager()`, with the API of
//! [`mp::managers`](crate::managers).
//!
//! In CPython, `multiprocessing.dummy.Manager()` returns the `dummy` module itself: its
//! `dict()` is a plain dict, its `Queue()` a thread queue, and "proxies" are the objects. Here
//! [`Manager()`] returns a [`SyncManager`] whose methods have the names and signatures of
//! [`mp::SyncManager`](crate::SyncManager)'s, and return in-process objects with the methods
//! and return types of mp's proxies: [`DictProxy`], [`ListProxy`], [`NamespaceProxy`],
//! [`QueueProxy`], [`LockProxy`]... Code written against `mp::Manager()` compiles against
//! `mp::dummy::Manager()` by changing its `use` lines:
//!
//! ```
//! // use mp::{Manager, Process};
//! // use mp::managers::{DictProxy, ListProxy, Value};
//! use mp::dummy::{Manager, Process};
//! use mp::dummy::managers::{DictProxy, ListProxy, Value};
//!
//! #[mp::task]
//! fn f(d: DictProxy, l: ListProxy) -> mp::Result<()> {
//!     d.set(1, "1")?;
//!     d.set("2", 2)?;
//!     d.set(0.25, Value::None)?;
//!     l.reverse()
//! }
//!
//! # fn main() -> mp::Result<()> {
//! let manager = Manager()?;
//! let d: DictProxy = manager.dict()?;
//! let l: ListProxy = manager.list_from(0..10)?;
//! let p = Process::new(f, (d.clone(), l.clone()));
//! p.start()?;
//! p.join()?;
//! assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
//! assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! Each object is the referent mp's manager server would hold — a `list` of [`Value`]s, a
//! [`Dict`], a [`managers::Queue`](crate::managers::Queue), a
//! [`managers::Lock`](crate::managers::Lock)... — kept in this process behind an `Arc`, and
//! each method call runs the server's own code for it, in the calling thread, with no socket
//! and no encoding in between. So the results, the Python `repr`s, the errors and their
//! messages are those of mp's proxies; cloning a proxy gives another handle on the same
//! object, as with mp (where a clone is another reference to the server's object).
//!
//! Values are mp's dynamic [`Value`]s, converted from and to the proxies' type parameters
//! with [`to_value`] and [`from_value`] as mp's proxies do: `DictProxy<String, i64>` is typed,
//! `DictProxy` alone (`DictProxy<Value, Value>`) holds anything, `1 == 1.0 == True` as keys,
//! and sorting follows Python's order. A proxy can be stored in another container
//! (`outer.append(&inner)`): the container then holds the object itself, and reading it back
//! (`outer.get_as::<DictProxy>(0)`) gives a proxy on the same object, as CPython's nested
//! proxies do.
//!
//! # Python → Rust
//!
//! | Python | `mp::dummy` |
//! |---|---|
//! | `from multiprocessing.dummy import Manager`; `m = Manager()` | [`let m = mp::dummy::Manager()?;`](Manager) |
//! | `m.dict()`, `m.list(range(10))`, `m.Namespace()` | [`m.dict()?`](SyncManager::dict), [`m.list_from(0..10)?`](SyncManager::list_from), [`m.namespace()?`](SyncManager::namespace) |
//! | `m.Queue()`, `m.JoinableQueue()` | [`m.queue::<T>(0)?`](SyncManager::queue), [`m.joinable_queue::<T>(0)?`](SyncManager::joinable_queue) |
//! | `m.Lock()`, `m.RLock()`, `m.Semaphore(n)`, `m.BoundedSemaphore(n)`, `m.Condition()`, `m.Event()`, `m.Barrier(n)` | [`m.lock()?`](SyncManager::lock), [`m.rlock()?`](SyncManager::rlock), [`m.semaphore(n)?`](SyncManager::semaphore), [`m.bounded_semaphore(n)?`](SyncManager::bounded_semaphore), [`m.condition()?`](SyncManager::condition), [`m.event()?`](SyncManager::event), [`m.barrier(n)?`](SyncManager::barrier) |
//! | `m.Value('d', 0.0)`, `m.Array('i', [1, 2])` | [`m.value("d", 0.0)?`](SyncManager::value), [`m.array("i", [1, 2])?`](SyncManager::array) |
//! | `d[k] = v`, `d[k]`, `l.append(x)`, `ns.x = 1` | [`d.set(k, v)?`](DictProxy::set), [`d.get_item(&k)?`](DictProxy::get_item), [`l.append(x)?`](ListProxy::append), [`ns.set("x", 1)?`](NamespaceProxy::set) |
//! | `m.shutdown()` | [`m.shutdown()?`](SyncManager::shutdown): nothing to stop |
//!
//! # Differences from mp's managers
//!
//! * There is no server: [`start`](SyncManager::start), [`connect`](SyncManager::connect) and
//!   [`shutdown`](SyncManager::shutdown) succeed and do nothing (the objects work before
//!   `start` and after `shutdown`, as the objects of CPython's dummy module do), and
//!   [`address`](SyncManager::address) is `None`.
//! * No `BaseManager`, `register` or `#[mp::proxy]` types: CPython's dummy module has no
//!   `BaseManager` either. A proxy holds its object in memory, so it cannot cross to another
//!   process: it travels through `mp::dummy` connections and is a task argument of
//!   `mp::dummy` processes and pools (see [`mp::dummy`](super#handles)).
//! * Blocking methods (a queue's `get`, a lock's `acquire`, `Condition::wait`,
//!   `Barrier::wait`) block the calling thread, as the server's threads do for their clients;
//!   an `RLock` or a `Condition` belongs to the thread that acquired it.
//! * A container that holds a proxy on itself (`l.append(&l)`) is a reference cycle: it stays
//!   in memory until the item is removed (mp's server keeps such cycles until shutdown).
//! * A proxy inside a [`Value`] that goes through mp's binary codec (a `Value` sent whole
//!   through a connection) keeps only its token: reading it back is a clear error. Send the
//!   proxy itself (or put the `Value` in a managed container or queue, which keeps it whole).

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::connection::Address;
use crate::error::{Error, ErrorKind, Result};
use crate::managers::{Proxy, Referent, Shared, into_value, value_into};
use crate::space::handle::{self, Handle};

pub use crate::managers::{Dict, ProxyRef, Slice, Token, Value, from_value, to_value};

// ---------------------------------------------------------------------------------------------
// Conversions (mp's proxies' own, `crate::managers::{into_value, value_into}`)
// ---------------------------------------------------------------------------------------------

fn values_of<T: Serialize + 'static>(items: impl IntoIterator<Item = T>) -> Result<Vec<Value>> {
    items.into_iter().map(into_value).collect()
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

/// Python's index of a sequence of `len` items (negative counts from the end), or the
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

fn key_error(k: &Value) -> Error {
    Error::new(ErrorKind::Key, k.to_string())
}

fn secs(d: Duration) -> Value {
    Value::Float(d.as_secs_f64())
}

/// The address written into the tokens of dummy objects: nothing listens there, so an mp
/// proxy made from one fails to connect instead of reaching something else.
fn dummy_address() -> Address {
    Address::Abstract(b"mp-dummy-manager".to_vec())
}

// ---------------------------------------------------------------------------------------------
// The objects
// ---------------------------------------------------------------------------------------------

/// One object of a dummy manager: the referent mp's server would hold, in this process.
struct Obj<R: Referent>(Shared<R>);

impl<R: Referent> Clone for Obj<R> {
    fn clone(&self) -> Self {
        Obj(self.0.clone())
    }
}

impl<R: Referent> Obj<R> {
    fn new(referent: R) -> Obj<R> {
        Obj(Shared::new(referent))
    }

    fn cell(&self) -> &RwLock<R> {
        &self.0.0.cell
    }

    /// Runs a method of the referent, as the server does for a proxy's request.
    fn call<X: DeserializeOwned + 'static>(&self, method: &str, args: Vec<Value>) -> Result<X> {
        value_into(R::dispatch(self.cell(), method, Value::Tuple(args))?)
    }

    /// Reads the referent directly (the fast paths of the proxies' hot methods, which do
    /// what the referent's `dispatch` does without building an argument tuple).
    fn read(&self) -> RwLockReadGuard<'_, R> {
        self.cell().read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, R> {
        self.cell().write().unwrap_or_else(|e| e.into_inner())
    }

    /// Python's `id()` of the object (its address, as in CPython).
    fn id(&self) -> u64 {
        Arc::as_ptr(&self.0.0) as *const () as usize as u64
    }

    fn to_ref(&self, typeid: &str, proxytype: &str) -> ProxyRef {
        ProxyRef {
            token: Token {
                typeid: typeid.to_owned(),
                address: dummy_address(),
                id: self.id(),
            },
            proxytype: proxytype.to_owned(),
            keep: Some(self.0.erase()),
        }
    }

    /// The object a reference read from a container points to.
    fn from_ref(r: &ProxyRef) -> std::result::Result<Obj<R>, String> {
        let Some(keep) = r.keep.clone() else {
            if *r.address() == dummy_address() {
                return Err(format!(
                    "{r} is a reference to an object of `mp::dummy::Manager()` that was \
                     encoded inside a `Value`, which keeps only its id: send the proxy itself"
                ));
            }
            return Err(format!(
                "{r} is a proxy of an mp manager, not an object of `mp::dummy::Manager()`"
            ));
        };
        keep.into_any()
            .downcast()
            .map(|slot| Obj(Shared(slot)))
            .map_err(|_| format!("{r} is not a `{}` object", R::TYPE_NAME))
    }

    fn weak(&self) -> Weak<dyn Any + Send + Sync> {
        Arc::downgrade(&self.0.0) as Weak<dyn Any + Send + Sync>
    }
}

fn write_repr(f: &mut fmt::Formatter<'_>, proxytype: &str, typeid: &str, id: u64) -> fmt::Result {
    write!(f, "<{proxytype} object, typeid '{typeid}' at {id:#x}>")
}

// ---------------------------------------------------------------------------------------------
// BaseProxy
// ---------------------------------------------------------------------------------------------

/// What every dummy proxy has in common: Python's `_callmethod`, `_getvalue`, `_exposed_` and
/// the token, with the signatures of mp's [`BaseProxy`](crate::managers::BaseProxy).
///
/// Get it with the `base()` method of any proxy.
///
/// # Examples
///
/// ```
/// use mp::dummy::managers::{ListProxy, Value};
/// let manager = mp::dummy::Manager()?;
/// let l: ListProxy<i32> = manager.list_from([3, 1, 2])?;
/// let b = l.base();
/// assert_eq!(b.token().typeid(), "list");
/// assert_eq!(b.proxytype(), "ListProxy");
/// b.call_method("sort", ())?;
/// assert_eq!(b.call_method("__getitem__", (0,))?, Value::from(1));
/// assert_eq!(b.call_method_as::<usize>("__len__", ())?, 3);
/// assert_eq!(b.get_value()?, Value::from(vec![1, 2, 3]));
/// assert_eq!(b.str()?, "[1, 2, 3]");
/// // Not a method a list proxy exposes: Python's RemoteError.
/// assert_eq!(b.call_method("nope", ()).unwrap_err().kind(), mp::ErrorKind::Remote);
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Clone)]
pub struct BaseProxy {
    r: ProxyRef,
    exposed: &'static [&'static str],
}

impl fmt::Debug for BaseProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr())
    }
}

impl fmt::Display for BaseProxy {
    /// The referent's `repr` (Python's `str(proxy)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.str() {
            Ok(s) => f.write_str(&s),
            Err(_) => {
                let r = self.repr();
                write!(f, "{}; '__str__()' failed>", &r[..r.len() - 1])
            }
        }
    }
}

impl BaseProxy {
    fn of<R: Referent>(
        obj: &Obj<R>,
        typeid: &str,
        proxytype: &str,
        exposed: &'static [&'static str],
    ) -> BaseProxy {
        BaseProxy {
            r: obj.to_ref(typeid, proxytype),
            exposed,
        }
    }

    /// The object's token: its typeid, the (dummy) address and its id.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn token(&self) -> &Token {
        &self.r.token
    }

    /// The name of the proxy type (`"DictProxy"`), as mp's proxies report it.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn proxytype(&self) -> &str {
        &self.r.proxytype
    }

    /// The methods [`call_method`](BaseProxy::call_method) may call: Python's `_exposed_`,
    /// the same lists as mp's proxies.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::dummy::Manager()?.event()?;
    /// assert_eq!(e.base().exposed()?, ["is_set", "set", "clear", "wait"]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn exposed(&self) -> Result<Vec<String>> {
        Ok(self.exposed.iter().map(|m| m.to_string()).collect())
    }

    /// Calls a method of the referent by name: Python's `_callmethod(name, args)`. `args` is
    /// a tuple (`()` for none, `(x,)` for one), converted with [`to_value`].
    ///
    /// # Errors
    ///
    /// The referent's error with its kind ([`ErrorKind::Key`], [`ErrorKind::Index`],
    /// [`ErrorKind::Empty`]...); [`ErrorKind::Remote`] for a method that is not exposed.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn call_method(&self, name: &str, args: impl Serialize) -> Result<Value> {
        let args = match to_value(&args)? {
            t @ (Value::Tuple(_) | Value::List(_)) => t,
            Value::None => Value::Tuple(Vec::new()),
            one => Value::Tuple(vec![one]),
        };
        self.call_value(name, args)
    }

    /// [`call_method`](BaseProxy::call_method), converting the result with [`from_value`].
    ///
    /// # Errors
    ///
    /// As `call_method`, plus [`ErrorKind::Type`] if the result is not an `R`.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn call_method_as<R: DeserializeOwned + 'static>(
        &self,
        name: &str,
        args: impl Serialize,
    ) -> Result<R> {
        value_into(self.call_method(name, args)?)
    }

    /// A copy of the referent: Python's `_getvalue()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotImplemented`] for referents that cannot be copied (locks, queues).
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn get_value(&self) -> Result<Value> {
        self.call_value("#GETVALUE", Value::Tuple(Vec::new()))
    }

    /// Python's `str(proxy)`: the referent's `repr`.
    ///
    /// # Errors
    ///
    /// Only the referent's.
    ///
    /// # Examples
    ///
    /// See [`BaseProxy`].
    pub fn str(&self) -> Result<String> {
        match self.call_value("__str__", Value::Tuple(Vec::new()))? {
            Value::Str(s) => Ok(s),
            other => Ok(other.to_string()),
        }
    }

    /// Python's `repr(proxy)`: `<DictProxy object, typeid 'dict' at 0x7f..>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d: mp::dummy::managers::DictProxy = mp::dummy::Manager()?.dict()?;
    /// assert!(d.base().repr().starts_with("<DictProxy object, typeid 'dict' at 0x"));
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn repr(&self) -> String {
        self.r.to_string()
    }

    /// The reference this proxy stores inside a container (it keeps the object alive).
    ///
    /// # Examples
    ///
    /// ```
    /// let d: mp::dummy::managers::DictProxy = mp::dummy::Manager()?.dict()?;
    /// assert_eq!(d.base().to_ref().typeid(), "dict");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn to_ref(&self) -> ProxyRef {
        self.r.clone()
    }

    fn call_value(&self, method: &str, args: Value) -> Result<Value> {
        let Some(obj) = &self.r.keep else {
            return Err(Error::new(ErrorKind::Remote, "the object is gone"));
        };
        match method {
            "__str__" | "__repr__" => return obj.repr().map(Value::Str),
            "#GETVALUE" => return obj.get_value(),
            _ => {}
        }
        if !self.exposed.contains(&method) {
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "method '{method}' of {} object is not in the exposed list {:?}",
                    obj.type_name(),
                    self.exposed
                ),
            ));
        }
        obj.dispatch(method, args)
    }
}

// ---------------------------------------------------------------------------------------------
// Proxy boilerplate
// ---------------------------------------------------------------------------------------------

/// How a proxy travels through a dummy transport: the reference to its object (so that the
/// receiver may read it as a proxy with other type parameters, as with mp's proxies).
#[derive(Clone)]
struct RefHandle(ProxyRef);

impl Handle for RefHandle {
    fn dup(&self) -> Self {
        self.clone()
    }
}

/// What a proxy keeps beside its object: nothing, the proxy's own attributes (a
/// Namespace's `_x`), or a direct handle on a thread lock.
trait ExtraOf<R: Referent> {
    fn of(obj: &Obj<R>) -> Self;
}

impl<R: Referent> ExtraOf<R> for () {
    fn of(_: &Obj<R>) {}
}

/// The impls every proxy type shares: `Clone`, `Debug`, `Display`, serde (a `Value::Proxy`
/// for `to_value`, a handle for dummy transports), `From<&P> for Value`, `base()`.
macro_rules! proxy_common {
    ($name:ident [$($t:ident),*], $referent:ty, $typeid:literal, $mp:ty) => {
        impl<$($t),*> $name<$($t),*> {
            fn from_obj(obj: Obj<$referent>) -> Self {
                $name {
                    extra: ExtraOf::of(&obj),
                    obj,
                    base: OnceLock::new(),
                    _t: PhantomData,
                }
            }

            fn proxytype() -> &'static str {
                <$mp as Proxy>::NAME
            }

            fn to_ref(&self) -> ProxyRef {
                self.obj.to_ref($typeid, Self::proxytype())
            }

            fn from_value_ref(v: Value) -> std::result::Result<Self, String> {
                match v {
                    Value::Proxy(r) => Obj::from_ref(&r).map(Self::from_obj),
                    other => Err(format!(
                        "expected a proxy, found a {}: {other}",
                        other.type_name()
                    )),
                }
            }

            /// The base proxy: Python's `_callmethod`, `_getvalue`, `_exposed_` and the
            /// token.
            ///
            /// # Examples
            ///
            /// See [`BaseProxy`].
            pub fn base(&self) -> &BaseProxy {
                self.base.get_or_init(|| {
                    BaseProxy::of(
                        &self.obj,
                        $typeid,
                        Self::proxytype(),
                        <$mp as Proxy>::EXPOSED,
                    )
                })
            }
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                $name {
                    obj: self.obj.clone(),
                    base: OnceLock::new(),
                    extra: self.extra.clone(),
                    _t: PhantomData,
                }
            }
        }

        impl<$($t),*> fmt::Debug for $name<$($t),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_repr(f, Self::proxytype(), $typeid, self.obj.id())
            }
        }

        impl<$($t),*> fmt::Display for $name<$($t),*> {
            /// The referent's `repr` (Python's `str(proxy)`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match <$referent as Referent>::repr(self.obj.cell()) {
                    Ok(s) => f.write_str(&s),
                    Err(_) => {
                        let r = format!("{self:?}");
                        write!(f, "{}; '__str__()' failed>", &r[..r.len() - 1])
                    }
                }
            }
        }

        impl<$($t: 'static),*> Serialize for $name<$($t),*> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    // `to_value`: the reference itself, keeping the object.
                    Value::Proxy(self.to_ref()).serialize(s)
                } else {
                    handle::serialize(&RefHandle(self.to_ref()), s)
                }
            }
        }

        impl<'de, $($t: 'static),*> Deserialize<'de> for $name<$($t),*> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                if d.is_human_readable() {
                    // `from_value`: a reference read from a container.
                    let v = Value::deserialize(d)?;
                    Self::from_value_ref(v).map_err(serde::de::Error::custom)
                } else {
                    let RefHandle(r) = handle::deserialize(d)?;
                    Self::from_value_ref(Value::Proxy(r)).map_err(serde::de::Error::custom)
                }
            }
        }

        impl<$($t),*> From<&$name<$($t),*>> for Value {
            fn from(p: &$name<$($t),*>) -> Value {
                Value::Proxy(p.to_ref())
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

/// A managed `list` on threads, with the methods of mp's
/// [`ListProxy`](crate::managers::ListProxy).
///
/// The items are [`Value`]s; `T` is what this proxy converts them to and from (`ListProxy`
/// alone is `ListProxy<Value>`, heterogeneous like Python's). Indices may be negative, as in
/// Python. Clones are handles on the same list.
///
/// # Examples
///
/// ```
/// use mp::dummy::managers::ListProxy;
/// let manager = mp::dummy::Manager()?;
/// let l: ListProxy<i64> = manager.list_from((0..10).map(|i| i * i))?;
/// assert_eq!(l.to_string(), "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
/// assert_eq!(l.get(4)?, 16);
/// assert_eq!(l.get(-1)?, 81);
/// assert_eq!(l.slice(2..5)?, [4, 9, 16]);
/// assert_eq!(l.get(20).unwrap_err().kind(), mp::ErrorKind::Index);
/// l.reverse()?;
/// assert_eq!(l.copy()?[0], 81);
/// let same = l.clone();
/// same.append(100)?;
/// assert_eq!(l.len()?, 11);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct ListProxy<T = Value> {
    obj: Obj<Vec<Value>>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ListProxy[T], Vec<Value>, "list", crate::managers::ListProxy);

impl<T: Serialize + DeserializeOwned + 'static> ListProxy<T> {
    /// `len(l)`.
    ///
    /// # Errors
    ///
    /// None for a list (the `Result` is mp's signature; likewise below where only the
    /// manager's errors are listed).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<u8> = m.list_from([1, 2])?;
    /// assert_eq!(l.len()?, 2);
    /// assert!(!l.is_empty()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn len(&self) -> Result<usize> {
        Ok(self.obj.read().len())
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
    /// [`ErrorKind::Index`] ("list index out of range"); [`ErrorKind::Type`] if the item is
    /// not a `T`.
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
    /// use mp::dummy::managers::{DictProxy, ListProxy};
    /// let m = mp::dummy::Manager()?;
    /// let outer: ListProxy = m.list()?;
    /// outer.append(&m.dict::<String, i32>()?)?;
    /// let inner: DictProxy<String, i32> = outer.get_as(0)?;
    /// inner.set("a", 1)?;
    /// assert_eq!(outer.get_as::<DictProxy<String, i32>>(0)?.to_string(), "{'a': 1}");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_as<U: DeserializeOwned + 'static>(&self, i: isize) -> Result<U> {
        let item = {
            let l = self.obj.read();
            l[index_in(i, l.len(), "list")?].clone()
        };
        value_into(item)
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
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2])?;
    /// l.set(-1, 5)?;
    /// assert_eq!(l.copy()?, [1, 5]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set(&self, i: isize, value: impl Into<T>) -> Result<()> {
        let v = into_value(value.into())?;
        let old = {
            let mut l = self.obj.write();
            let j = index_in(i, l.len(), "list assignment")?;
            std::mem::replace(&mut l[j], v)
        };
        drop(old); // after the lock is released
        Ok(())
    }

    /// `l[range]` as a `Vec` (Python's `l[2:5]` is `l.slice(2..5)`, `l[-3:]` is
    /// `l.slice(-3..)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if an item is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn slice(&self, range: impl RangeBounds<isize>) -> Result<Vec<T>> {
        self.obj.call("__getitem__", vec![range_to_slice(range)])
    }

    /// `l[range] = items`.
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// l.set_slice(..2, [9])?;
    /// assert_eq!(l.copy()?, [9, 3]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn set_slice(
        &self,
        range: impl RangeBounds<isize>,
        items: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        self.obj.call(
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
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// l.del(0)?;
    /// l.del_slice(1..)?;
    /// assert_eq!(l.copy()?, [2]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn del(&self, i: isize) -> Result<()> {
        self.obj.call("__delitem__", vec![Value::from(i)])
    }

    /// `del l[range]`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`del`](ListProxy::del).
    pub fn del_slice(&self, range: impl RangeBounds<isize>) -> Result<()> {
        self.obj.call("__delitem__", vec![range_to_slice(range)])
    }

    /// `l.append(x)`. `x` may be a proxy (`&other_list`): the list then holds that object.
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::dummy::managers::ListProxy;
    /// let m = mp::dummy::Manager()?;
    /// let (a, b): (ListProxy, ListProxy) = (m.list()?, m.list()?);
    /// a.append(&b)?;
    /// b.append("hello")?;
    /// assert!(a.to_string().starts_with("[<ListProxy object, typeid 'list' at 0x"));
    /// assert_eq!(a.get_as::<ListProxy>(0)?.to_string(), "['hello']");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn append(&self, x: impl Into<T>) -> Result<()> {
        let v = into_value(x.into())?;
        self.obj.write().push(v);
        Ok(())
    }

    /// `l.extend(items)` (also Python's `l += items`).
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list()?;
    /// l.extend([1, 2])?;
    /// assert_eq!(l.copy()?, [1, 2]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        self.obj
            .call("extend", vec![Value::List(values_of(items)?)])
    }

    /// `l.insert(i, x)`.
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 3])?;
    /// l.insert(1, 2)?;
    /// assert_eq!(l.copy()?, [1, 2, 3]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn insert(&self, i: isize, x: impl Into<T>) -> Result<()> {
        self.obj
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
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// assert_eq!(l.pop()?, 3);
    /// assert_eq!(l.pop_at(0)?, 1);
    /// l.pop()?;
    /// assert_eq!(l.pop().unwrap_err().kind(), mp::ErrorKind::Index);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn pop(&self) -> Result<T> {
        self.obj.call("pop", vec![])
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
        self.obj.call("pop", vec![Value::from(i)])
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
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2, 1])?;
    /// l.remove(&1)?;
    /// assert_eq!(l.copy()?, [2, 1]);
    /// assert_eq!(l.remove(&7).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn remove<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<()> {
        self.obj.call("remove", vec![to_value(x)?])
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
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<String> = m.list_from(["a", "b"])?;
    /// assert_eq!(l.index(&"b")?, 1);
    /// assert_eq!(l.count(&"a")?, 1);
    /// assert!(l.contains(&"a")?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn index<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<usize> {
        self.obj.call("index", vec![to_value(x)?])
    }

    /// `l.count(x)`.
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// See [`index`](ListProxy::index).
    pub fn count<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<usize> {
        self.obj.call("count", vec![to_value(x)?])
    }

    /// `x in l`.
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// See [`index`](ListProxy::index).
    pub fn contains<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<bool> {
        self.obj.call("__contains__", vec![to_value(x)?])
    }

    /// `l.reverse()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn reverse(&self) -> Result<()> {
        self.obj.call("reverse", vec![])
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
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<f64> = m.list_from([2.5, 1.0, 3.0])?;
    /// l.sort()?;
    /// assert_eq!(l.copy()?, [1.0, 2.5, 3.0]);
    /// l.sort_reverse()?;
    /// assert_eq!(l.get(0)?, 3.0);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn sort(&self) -> Result<()> {
        self.obj.call("sort", vec![])
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
        self.obj.call("sort", vec![Value::Bool(true)])
    }

    /// `l.clear()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1])?;
    /// l.clear()?;
    /// assert!(l.is_empty()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.obj.call("clear", vec![])
    }

    /// A copy of the list (Python's `l[:]` or `l.copy()`): a plain `Vec`, not a proxy.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if an item is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn copy(&self) -> Result<Vec<T>> {
        self.obj.call("copy", vec![])
    }

    /// `l *= n` (the proxy stays the same object).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2])?;
    /// l.imul(2)?;
    /// assert_eq!(l.copy()?, [1, 2, 1, 2]);
    /// assert_eq!(l.mul(0)?, []);
    /// assert_eq!(l.add([3])?, [1, 2, 1, 2, 3]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn imul(&self, n: usize) -> Result<()> {
        self.obj.call("__imul__", vec![Value::from(n)])
    }

    /// `l * n`: a plain `Vec`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if an item is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`imul`](ListProxy::imul).
    pub fn mul(&self, n: usize) -> Result<Vec<T>> {
        self.obj.call("__mul__", vec![Value::from(n)])
    }

    /// `l + items`: a plain `Vec`.
    ///
    /// # Errors
    ///
    /// Conversion errors.
    ///
    /// # Examples
    ///
    /// See [`imul`](ListProxy::imul).
    pub fn add(&self, items: impl IntoIterator<Item = T>) -> Result<Vec<T>> {
        self.obj
            .call("__add__", vec![Value::List(values_of(items)?)])
    }

    /// Iterates by index, as Python iterates a `ListProxy` (through `__getitem__`, so later
    /// changes to the list are seen; it ends at the first index past the end).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let l: mp::dummy::managers::ListProxy<i32> = m.list_from([1, 2, 3])?;
    /// let v: Vec<i32> = l.iter().collect::<mp::Result<_>>()?;
    /// assert_eq!(v, [1, 2, 3]);
    /// # Ok::<(), mp::Error>(())
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

/// A managed `dict` on threads, with the methods of mp's
/// [`DictProxy`](crate::managers::DictProxy).
///
/// Keys and values are [`Value`]s (compared and hashed as Python does, kept in insertion
/// order); `K` and `V` are what this proxy converts them to and from (`DictProxy` alone is
/// `DictProxy<Value, Value>`, heterogeneous like Python's). Clones are handles on the same
/// dict.
///
/// # Examples
///
/// ```
/// use mp::dummy::managers::{DictProxy, Value};
/// let manager = mp::dummy::Manager()?;
/// let d: DictProxy = manager.dict()?;
/// d.set(1, "1")?;
/// d.set("2", 2)?;
/// d.set(0.25, Value::None)?;
/// assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
/// assert_eq!(d.get_item(&"2")?, Value::from(2));
/// assert_eq!(d.get_item(&1.0)?, Value::from("1")); // 1 == 1.0, as in Python
/// assert_eq!(d.get_item(&"missing").unwrap_err().kind(), mp::ErrorKind::Key);
/// assert_eq!(d.get(&"missing")?, None);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct DictProxy<K = Value, V = Value> {
    obj: Obj<Dict>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn() -> (K, V)>,
}

proxy_common!(DictProxy[K, V], Dict, "dict", crate::managers::DictProxy);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// `len(d)`.
    ///
    /// # Errors
    ///
    /// None for a dict (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict()?;
    /// assert_eq!(d.len()?, 0);
    /// assert!(d.is_empty()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn len(&self) -> Result<usize> {
        Ok(self.obj.read().len())
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
    /// [`ErrorKind::Key`] if the key is missing (the message is its `repr`);
    /// [`ErrorKind::Type`] if the value is not a `V`.
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
    /// use mp::dummy::managers::{DictProxy, Value};
    /// let m = mp::dummy::Manager()?;
    /// let d: DictProxy = m.dict()?;
    /// d.set("inner", &m.dict::<Value, Value>()?)?;
    /// d.get_as::<DictProxy<String, i32>, _>("inner")?.set("x", 1)?;
    /// assert_eq!(d.get_as::<DictProxy, _>("inner")?.to_string(), "{'x': 1}");
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn get_as<U: DeserializeOwned + 'static, Q: Serialize + ?Sized>(
        &self,
        key: &Q,
    ) -> Result<U> {
        let k = to_value(key)?;
        let v = self.obj.read().get(&k).cloned();
        value_into(v.ok_or_else(|| key_error(&k))?)
    }

    /// `d.get(key)`: `None` if missing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if the value is not a `V`.
    ///
    /// # Examples
    ///
    /// See [`DictProxy`].
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>> {
        let k = to_value(key)?;
        let v = self.obj.read().get(&k).cloned();
        match v {
            None | Some(Value::None) => Ok(None),
            Some(v) => value_into(v).map(Some),
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
        let old = self.obj.write().insert(k, v)?;
        drop(old); // after the lock is released
        Ok(())
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
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// d.remove(&"a")?;
    /// assert!(!d.contains(&"a")?);
    /// assert_eq!(d.remove(&"a").unwrap_err().kind(), mp::ErrorKind::Key);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn remove<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<()> {
        self.obj.call("__delitem__", vec![to_value(key)?])
    }

    /// `key in d`.
    ///
    /// # Errors
    ///
    /// Only conversion errors.
    ///
    /// # Examples
    ///
    /// See [`remove`](DictProxy::remove).
    pub fn contains<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool> {
        let k = to_value(key)?;
        Ok(self.obj.read().contains_key(&k))
    }

    /// `list(d.keys())`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if a key is not a `K`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> =
    ///     m.dict_from([("b".to_string(), 1), ("a".to_string(), 2)])?;
    /// assert_eq!(d.keys()?, ["b", "a"]);
    /// assert_eq!(d.values()?, [1, 2]);
    /// assert_eq!(d.items()?, [("b".to_string(), 1), ("a".to_string(), 2)]);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<K>> {
        self.obj.call("keys", vec![])
    }

    /// `list(d.values())`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if a value is not a `V`.
    ///
    /// # Examples
    ///
    /// See [`keys`](DictProxy::keys).
    pub fn values(&self) -> Result<Vec<V>> {
        self.obj.call("values", vec![])
    }

    /// `list(d.items())`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if an item does not convert.
    ///
    /// # Examples
    ///
    /// See [`keys`](DictProxy::keys).
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        self.obj.call("items", vec![])
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
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict()?;
    /// d.update([("a".to_string(), 1), ("b".to_string(), 2)])?;
    /// assert_eq!(d.len()?, 2);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn update(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let pairs = items
            .into_iter()
            .map(|(k, v)| Ok(Value::Tuple(vec![into_value(k)?, into_value(v)?])))
            .collect::<Result<Vec<_>>>()?;
        self.obj.call("update", vec![Value::List(pairs)])
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
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// assert_eq!(d.pop(&"a")?, 1);
    /// assert_eq!(d.pop(&"a").unwrap_err().kind(), mp::ErrorKind::Key);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn pop<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V> {
        self.obj.call("pop", vec![to_value(key)?])
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
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// assert_eq!(d.popitem()?, ("a".to_string(), 1));
    /// assert_eq!(d.popitem().unwrap_err().kind(), mp::ErrorKind::Key);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn popitem(&self) -> Result<(K, V)> {
        self.obj.call("popitem", vec![])
    }

    /// `d.setdefault(key, default)`: the value of `key`, set to `default` first if missing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for an unhashable key.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict()?;
    /// assert_eq!(d.setdefault("a", 1)?, 1);
    /// assert_eq!(d.setdefault("a", 2)?, 1);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn setdefault(&self, key: impl Into<K>, default: impl Into<V>) -> Result<V> {
        self.obj.call(
            "setdefault",
            vec![into_value(key.into())?, into_value(default.into())?],
        )
    }

    /// `d.clear()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// d.clear()?;
    /// assert!(d.is_empty()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.obj.call("clear", vec![])
    }

    /// A copy of the dict (Python's `d.copy()`): its items in insertion order, to collect
    /// into the map type you like.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if an item does not convert.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let m = mp::dummy::Manager()?;
    /// let d: mp::dummy::managers::DictProxy<String, i32> = m.dict_from([("a".to_string(), 1)])?;
    /// let h: HashMap<String, i32> = d.copy()?.into_iter().collect();
    /// assert_eq!(h["a"], 1);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn copy(&self) -> Result<Vec<(K, V)>> {
        self.obj.call("items", vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace
// ---------------------------------------------------------------------------------------------

type Attrs = Arc<Mutex<indexmap::IndexMap<String, Value>>>;

fn attr_error(name: &str) -> Error {
    Error::new(
        ErrorKind::Key,
        format!("'Namespace' object has no attribute '{name}'"),
    )
}

/// The object behind a dummy manager's `Namespace()`: its attributes, answering requests by
/// method name as the manager's [`Namespace`](crate::managers::Namespace) does (a type of
/// its own so that the proxy reads an attribute without building a request).
#[derive(Default)]
struct ThreadNamespace {
    attrs: indexmap::IndexMap<String, Value>,
}

/// mp's view of a [`ThreadNamespace`] (the proxy type name and exposed methods of the
/// manager's `Namespace`).
struct ThreadNamespaceView(crate::managers::BaseProxy);

impl Proxy for ThreadNamespaceView {
    type Referent = ThreadNamespace;
    const NAME: &'static str = <crate::managers::NamespaceProxy as Proxy>::NAME;
    const EXPOSED: &'static [&'static str] = <crate::managers::NamespaceProxy as Proxy>::EXPOSED;
    fn from_base(base: crate::managers::BaseProxy) -> Self {
        ThreadNamespaceView(base)
    }
    fn base(&self) -> &crate::managers::BaseProxy {
        &self.0
    }
}

impl Referent for ThreadNamespace {
    type Proxy = ThreadNamespaceView;
    const TYPE_NAME: &'static str = "Namespace";

    fn dispatch(this: &RwLock<Self>, method: &str, args: Value) -> Result<Value> {
        let mut a = match args {
            Value::Tuple(v) | Value::List(v) => v,
            Value::None => Vec::new(),
            one => vec![one],
        };
        let want = match method {
            "__getattribute__" | "__delattr__" => 1,
            "__setattr__" => 2,
            "__dir__" => 0,
            _ => {
                return Err(Error::new(
                    ErrorKind::Remote,
                    format!("'Namespace' object has no method '{method}'"),
                ));
            }
        };
        if a.len() != want {
            return Err(Error::new(
                ErrorKind::Type,
                format!(
                    "{method}() takes {want} positional arguments but {} were given",
                    a.len()
                ),
            ));
        }
        let value = if want == 2 { a.pop() } else { None };
        let name = match a.first() {
            None => String::new(),
            Some(v) => v
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::new(ErrorKind::Type, "attribute name must be string"))?,
        };
        let read = || this.read().unwrap_or_else(|e| e.into_inner());
        match (method, value) {
            ("__getattribute__", _) => read()
                .attrs
                .get(&name)
                .cloned()
                .ok_or_else(|| attr_error(&name)),
            ("__setattr__", Some(v)) => {
                let old = this
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .attrs
                    .insert(name, v);
                drop(old);
                Ok(Value::None)
            }
            ("__delattr__", _) => {
                let old = this
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .attrs
                    .shift_remove(&name);
                old.map(|_| Value::None).ok_or_else(|| attr_error(&name))
            }
            _ => Ok(Value::List(
                read().attrs.keys().cloned().map(Value::Str).collect(),
            )),
        }
    }

    fn repr(this: &RwLock<Self>) -> Result<String> {
        let ns = this.read().unwrap_or_else(|e| e.into_inner());
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
        for (k, v) in this.read().unwrap_or_else(|e| e.into_inner()).attrs.iter() {
            d.insert(Value::Str(k.clone()), v.clone())?;
        }
        Ok(Value::Dict(d))
    }
}

impl ExtraOf<ThreadNamespace> for Attrs {
    fn of(_: &Obj<ThreadNamespace>) -> Attrs {
        Attrs::default()
    }
}

fn lock_attrs(a: &Attrs) -> std::sync::MutexGuard<'_, indexmap::IndexMap<String, Value>> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

/// A managed `Namespace` on threads: named attributes of any type, with the methods of mp's
/// [`NamespaceProxy`](crate::managers::NamespaceProxy).
///
/// Attributes whose name starts with `_` belong to the proxy (and its clones), not to the
/// object, as in Python (`Global._z = 12.3` is not seen through other proxies).
///
/// # Examples
///
/// ```
/// let manager = mp::dummy::Manager()?;
/// let global = manager.namespace()?;
/// global.set("x", 10)?;
/// global.set("y", "hello")?;
/// global.set("_z", 12.3)?; // an attribute of the proxy
/// assert_eq!(global.to_string(), "Namespace(x=10, y='hello')");
/// assert_eq!(global.get::<i32>("x")?, 10);
/// assert_eq!(global.get::<f64>("_z")?, 12.3);
/// assert_eq!(global.get::<i32>("nope").unwrap_err().kind(), mp::ErrorKind::Key);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct NamespaceProxy {
    obj: Obj<ThreadNamespace>,
    base: OnceLock<BaseProxy>,
    extra: Attrs,
    _t: PhantomData<fn()>,
}

proxy_common!(
    NamespaceProxy[],
    ThreadNamespace,
    "Namespace",
    crate::managers::NamespaceProxy
);

impl NamespaceProxy {
    /// `ns.name = value`.
    ///
    /// # Errors
    ///
    /// The value cannot be converted.
    ///
    /// # Examples
    ///
    /// See [`NamespaceProxy`].
    pub fn set<T: Serialize + 'static>(&self, name: &str, value: T) -> Result<()> {
        let v = into_value(value)?;
        if name.starts_with('_') {
            lock_attrs(&self.extra).insert(name.to_owned(), v);
            return Ok(());
        }
        let old = self.obj.write().attrs.insert(name.to_owned(), v);
        drop(old); // after the lock is released
        Ok(())
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
            let v = lock_attrs(&self.extra)
                .get(name)
                .cloned()
                .ok_or_else(|| attr_error(name))?;
            return value_into(v);
        }
        let v = self.obj.read().attrs.get(name).cloned();
        value_into(v.ok_or_else(|| attr_error(name))?)
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
    /// let ns = mp::dummy::Manager()?.namespace()?;
    /// ns.set("x", 1)?;
    /// ns.del("x")?;
    /// assert!(ns.del("x").is_err());
    /// assert!(ns.names()?.is_empty());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn del(&self, name: &str) -> Result<()> {
        if name.starts_with('_') {
            return lock_attrs(&self.extra)
                .shift_remove(name)
                .map(drop)
                .ok_or_else(|| attr_error(name));
        }
        let old = self.obj.write().attrs.shift_remove(name);
        old.map(drop).ok_or_else(|| attr_error(name))
    }

    /// The names of the object's attributes (not the proxy's own `_` ones).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`del`](NamespaceProxy::del).
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self.obj.read().attrs.keys().cloned().collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Queue and JoinableQueue
// ---------------------------------------------------------------------------------------------

/// A managed queue on threads (Python's `queue.Queue`), with the methods of mp's
/// [`QueueProxy`](crate::managers::QueueProxy).
///
/// Items are [`Value`]s, converted from and to `T`. For a queue that moves any `Send` item
/// without converting it, use [`mp::dummy::Queue`](super::Queue).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let manager = mp::dummy::Manager()?;
/// let q = manager.queue::<String>(2)?;
/// q.put("a".into())?;
/// q.put("b".into())?;
/// assert!(q.full()?);
/// assert_eq!(q.put_nowait("c".into()).unwrap_err().kind(), mp::ErrorKind::Full);
/// assert_eq!(q.get()?, "a");
/// assert_eq!(q.get_timeout(Duration::from_secs(5))?, "b");
/// assert_eq!(q.get_nowait().unwrap_err().kind(), mp::ErrorKind::Empty);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct QueueProxy<T = Value> {
    obj: Obj<crate::managers::Queue>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    QueueProxy[T],
    crate::managers::Queue,
    "Queue",
    crate::managers::QueueProxy
);

/// A managed `JoinableQueue` on threads: a [`QueueProxy`] plus `task_done` and `join`, as
/// mp's [`JoinableQueueProxy`](crate::managers::JoinableQueueProxy).
///
/// # Examples
///
/// ```
/// let manager = mp::dummy::Manager()?;
/// let q = manager.joinable_queue::<i32>(0)?;
/// q.put(1)?;
/// assert_eq!(q.get()?, 1);
/// q.task_done()?;
/// q.join()?;
/// assert_eq!(q.task_done().unwrap_err().kind(), mp::ErrorKind::Value);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct JoinableQueueProxy<T = Value> {
    obj: Obj<crate::managers::Queue>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    JoinableQueueProxy[T],
    crate::managers::Queue,
    "JoinableQueue",
    crate::managers::JoinableQueueProxy
);

macro_rules! queue_methods {
    ($name:ident) => {
        impl<T: Serialize + DeserializeOwned + 'static> $name<T> {
            /// `q.put(item)`: waits while the queue is full.
            ///
            /// # Errors
            ///
            /// The item cannot be converted.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn put(&self, item: T) -> Result<()> {
                self.obj.call("put", vec![into_value(item)?])
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
                self.obj.call("put_nowait", vec![into_value(item)?])
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
                self.obj.call(
                    "put",
                    vec![into_value(item)?, Value::Bool(true), secs(timeout)],
                )
            }

            /// `q.get()`: waits for an item.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Type`] if the item is not a `T`.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn get(&self) -> Result<T> {
                self.obj.call("get", vec![])
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
                self.obj.call("get_nowait", vec![])
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
                self.obj.call("get", vec![Value::Bool(true), secs(timeout)])
            }

            /// `q.qsize()`.
            ///
            /// # Errors
            ///
            /// None.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn qsize(&self) -> Result<usize> {
                self.obj.call("qsize", vec![])
            }

            /// `q.empty()`.
            ///
            /// # Errors
            ///
            /// None.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn empty(&self) -> Result<bool> {
                self.obj.call("empty", vec![])
            }

            /// `q.full()`.
            ///
            /// # Errors
            ///
            /// None.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn full(&self) -> Result<bool> {
                self.obj.call("full", vec![])
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
        self.obj.call("task_done", vec![])
    }

    /// `q.join()`: waits until every item put has been marked done.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn join(&self) -> Result<()> {
        self.obj.call("join", vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Lock, RLock, Semaphore, BoundedSemaphore
// ---------------------------------------------------------------------------------------------

macro_rules! acquirer_proxy {
    ($name:ident, $referent:ty, $typeid:literal, $mp:ty, $doc:literal, $example:literal) => {
        #[doc = $doc]
        ///
        /// # Examples
        ///
        #[doc = $example]
        pub struct $name {
            obj: Obj<$referent>,
            base: OnceLock<BaseProxy>,
            extra: (),
            _t: PhantomData<fn()>,
        }

        proxy_common!($name[], $referent, $typeid, $mp);

        impl $name {
            /// `acquire()`: waits until acquired.
            ///
            /// # Errors
            ///
            /// None (the `Result` is mp's signature).
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn acquire(&self) -> Result<()> {
                self.obj.call::<bool>("acquire", vec![]).map(drop)
            }

            /// `acquire(blocking=False)`: whether it was acquired.
            ///
            /// # Errors
            ///
            /// None.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn try_acquire(&self) -> Result<bool> {
                self.obj.call("acquire", vec![Value::Bool(false)])
            }

            /// `acquire(timeout=t)`: whether it was acquired in time.
            ///
            /// # Errors
            ///
            /// None.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                self.obj
                    .call("acquire", vec![Value::Bool(true), secs(timeout)])
            }

            /// `release()`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Runtime`] for a lock that is not held (by this thread, for an
            /// `RLock`); [`ErrorKind::Value`] for a bounded semaphore released above its
            /// bound.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn release(&self) -> Result<()> {
                self.obj.call("release", vec![])
            }

            /// Whether it is held (Python 3.14's `locked()`).
            ///
            /// # Errors
            ///
            /// None.
            ///
            /// # Examples
            ///
            /// See the type's.
            pub fn locked(&self) -> Result<bool> {
                self.obj.call("locked", vec![])
            }
        }
    };
}

// A manager's `Lock` is mp's thread lock (`mp::dummy::Lock`: one atomic operation to acquire
// or release) in the server and here alike: the proxy calls it directly.

impl ExtraOf<crate::managers::Lock> for super::Lock {
    fn of(obj: &Obj<crate::managers::Lock>) -> super::Lock {
        obj.read().clone()
    }
}

/// A managed `Lock` on threads, with the methods of mp's
/// [`LockProxy`](crate::managers::LockProxy): any thread may release it.
///
/// It is an [`mp::dummy::Lock`](super::Lock) underneath: acquiring and releasing it
/// uncontended is one atomic operation each.
///
/// # Examples
///
/// ```
/// let manager = mp::dummy::Manager()?;
/// let l = manager.lock()?;
/// l.acquire()?;
/// assert!(!l.try_acquire()?);
/// l.release()?;
/// assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct LockProxy {
    obj: Obj<crate::managers::Lock>,
    base: OnceLock<BaseProxy>,
    extra: super::Lock,
    _t: PhantomData<fn()>,
}

proxy_common!(LockProxy[], crate::managers::Lock, "Lock", crate::managers::LockProxy);

impl LockProxy {
    /// `acquire()`: waits until acquired.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`LockProxy`].
    pub fn acquire(&self) -> Result<()> {
        self.extra.acquire()
    }

    /// `acquire(blocking=False)`: whether it was acquired.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`LockProxy`].
    pub fn try_acquire(&self) -> Result<bool> {
        self.extra.try_acquire()
    }

    /// `acquire(timeout=t)`: whether it was acquired in time.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = mp::dummy::Manager()?.lock()?;
    /// assert!(l.acquire_timeout(Duration::from_millis(10))?);
    /// assert!(!l.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.extra.acquire_timeout(timeout)
    }

    /// `release()`, from any thread.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if it is not held ("release unlocked lock").
    ///
    /// # Examples
    ///
    /// See [`LockProxy`].
    pub fn release(&self) -> Result<()> {
        self.extra.release()
    }

    /// Whether it is held (Python 3.14's `locked()`).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mp::dummy::Manager()?.lock()?;
    /// assert!(!l.locked()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool> {
        Ok(self.extra.locked())
    }
}

acquirer_proxy!(
    RLockProxy,
    crate::managers::RLock,
    "RLock",
    crate::managers::RLockProxy,
    "A managed `RLock` on threads, with the methods of mp's [`RLockProxy`](crate::managers::RLockProxy): re-entrant, owned by the thread that acquired it.",
    "```
let manager = mp::dummy::Manager()?;
let l = manager.rlock()?;
l.acquire()?;
l.acquire()?;
l.release()?;
l.release()?;
assert_eq!(l.release().unwrap_err().kind(), mp::ErrorKind::Runtime);
# Ok::<(), mp::Error>(())
```"
);
acquirer_proxy!(
    SemaphoreProxy,
    crate::managers::Semaphore,
    "Semaphore",
    crate::managers::SemaphoreProxy,
    "A managed `Semaphore` on threads, with the methods of mp's [`SemaphoreProxy`](crate::managers::SemaphoreProxy).",
    "```
let manager = mp::dummy::Manager()?;
let s = manager.semaphore(1)?;
s.acquire()?;
assert!(!s.try_acquire()?);
s.release()?;
s.release()?; // an unbounded semaphore may go above its start
# Ok::<(), mp::Error>(())
```"
);
acquirer_proxy!(
    BoundedSemaphoreProxy,
    crate::managers::BoundedSemaphore,
    "BoundedSemaphore",
    crate::managers::BoundedSemaphoreProxy,
    "A managed `BoundedSemaphore` on threads, with the methods of mp's [`BoundedSemaphoreProxy`](crate::managers::BoundedSemaphoreProxy).",
    "```
let manager = mp::dummy::Manager()?;
let s = manager.bounded_semaphore(1)?;
s.acquire()?;
s.release()?;
assert_eq!(s.release().unwrap_err().kind(), mp::ErrorKind::Value);
# Ok::<(), mp::Error>(())
```"
);

// ---------------------------------------------------------------------------------------------
// Condition
// ---------------------------------------------------------------------------------------------

/// A managed `Condition` on threads (a condition variable over an `RLock`), with the methods
/// of mp's [`ConditionProxy`](crate::managers::ConditionProxy).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let manager = mp::dummy::Manager()?;
/// let c = manager.condition()?;
/// c.acquire()?;
/// assert!(!c.wait_timeout(Duration::from_millis(10))?); // nobody notifies
/// c.notify(1)?;
/// c.release()?;
/// assert_eq!(c.notify(1).unwrap_err().kind(), mp::ErrorKind::Runtime);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct ConditionProxy {
    obj: Obj<crate::managers::Condition>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn()>,
}

proxy_common!(
    ConditionProxy[],
    crate::managers::Condition,
    "Condition",
    crate::managers::ConditionProxy
);

impl ConditionProxy {
    /// `acquire()`.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn acquire(&self) -> Result<()> {
        self.obj.call::<bool>("acquire", vec![]).map(drop)
    }

    /// `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.obj
            .call("acquire", vec![Value::Bool(true), secs(timeout)])
    }

    /// `release()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread does not hold it.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn release(&self) -> Result<()> {
        self.obj.call("release", vec![])
    }

    /// `wait()`: releases the lock, waits for a notification, takes the lock back.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Runtime`] if this thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn wait(&self) -> Result<()> {
        self.obj.call::<bool>("wait", vec![]).map(drop)
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
        self.obj.call("wait", vec![secs(timeout)])
    }

    /// `wait_for(predicate, timeout)`: waits until `predicate()` is true; returns its last
    /// value.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionProxy::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = mp::dummy::Manager()?.condition()?;
    /// c.acquire()?;
    /// assert!(c.wait_for(|| true, None)?);
    /// assert!(!c.wait_for(|| false, Some(Duration::from_millis(20)))?);
    /// c.release()?;
    /// # Ok::<(), mp::Error>(())
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
        self.obj.call("notify", vec![Value::from(n)])
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
        self.obj.call("notify_all", vec![])
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

/// A managed `Event` on threads, with the methods of mp's
/// [`EventProxy`](crate::managers::EventProxy).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let e = mp::dummy::Manager()?.event()?;
/// assert!(!e.is_set()?);
/// assert!(!e.wait_timeout(Duration::from_millis(10))?);
/// e.set()?;
/// e.wait()?;
/// e.clear()?;
/// assert!(!e.is_set()?);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct EventProxy {
    obj: Obj<crate::managers::Event>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn()>,
}

proxy_common!(
    EventProxy[],
    crate::managers::Event,
    "Event",
    crate::managers::EventProxy
);

impl EventProxy {
    /// `is_set()`.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature; likewise below).
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn is_set(&self) -> Result<bool> {
        self.obj.call("is_set", vec![])
    }

    /// `set()`: wakes every waiter.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn set(&self) -> Result<()> {
        self.obj.call("set", vec![])
    }

    /// `clear()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn clear(&self) -> Result<()> {
        self.obj.call("clear", vec![])
    }

    /// `wait()`: waits until the flag is set.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn wait(&self) -> Result<()> {
        self.obj.call::<bool>("wait", vec![]).map(drop)
    }

    /// `wait(timeout)`: whether the flag was set in time.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.obj.call("wait", vec![secs(timeout)])
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier
// ---------------------------------------------------------------------------------------------

/// A managed `Barrier` on threads, with the methods of mp's
/// [`BarrierProxy`](crate::managers::BarrierProxy).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let b = mp::dummy::Manager()?.barrier(2)?;
/// assert_eq!((b.parties()?, b.n_waiting()?, b.broken()?), (2, 0, false));
/// let other = b.clone();
/// let t = std::thread::spawn(move || other.wait());
/// let mine = b.wait()?;
/// let theirs = t.join().unwrap()?;
/// assert_eq!(mine + theirs, 1); // indices 0 and 1
/// // Alone at a barrier for two: the wait times out and breaks it.
/// assert_eq!(
///     b.wait_timeout(Duration::from_millis(10)).unwrap_err().kind(),
///     mp::ErrorKind::BrokenBarrier
/// );
/// assert!(b.broken()?);
/// b.reset()?;
/// assert!(!b.broken()?);
/// # Ok::<(), mp::Error>(())
/// ```
pub struct BarrierProxy {
    obj: Obj<crate::managers::Barrier>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn()>,
}

proxy_common!(
    BarrierProxy[],
    crate::managers::Barrier,
    "Barrier",
    crate::managers::BarrierProxy
);

impl BarrierProxy {
    /// `wait()`: waits for the other parties; returns this party's index (`0..parties`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] if the barrier is or gets broken.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn wait(&self) -> Result<usize> {
        self.obj.call("wait", vec![])
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
        self.obj.call("wait", vec![secs(timeout)])
    }

    /// `abort()`: breaks the barrier.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = mp::dummy::Manager()?.barrier(3)?;
    /// b.abort()?;
    /// assert_eq!(b.wait().unwrap_err().kind(), mp::ErrorKind::BrokenBarrier);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn abort(&self) -> Result<()> {
        self.obj.call("abort", vec![])
    }

    /// `reset()`: back to the empty state.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn reset(&self) -> Result<()> {
        self.obj.call("reset", vec![])
    }

    /// `parties`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn parties(&self) -> Result<usize> {
        self.obj
            .call("__getattribute__", vec![Value::from("parties")])
    }

    /// `n_waiting`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn n_waiting(&self) -> Result<usize> {
        self.obj
            .call("__getattribute__", vec![Value::from("n_waiting")])
    }

    /// `broken`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn broken(&self) -> Result<bool> {
        self.obj
            .call("__getattribute__", vec![Value::from("broken")])
    }
}

// ---------------------------------------------------------------------------------------------
// Value and Array
// ---------------------------------------------------------------------------------------------

/// A managed `Value` on threads, with the methods of mp's
/// [`ValueProxy`](crate::managers::ValueProxy) (the typecode is kept for the `repr` only, as
/// in CPython's manager).
///
/// # Examples
///
/// ```
/// let v = mp::dummy::Manager()?.value("d", 0.5)?;
/// v.set(1.5)?;
/// assert_eq!(v.get()?, 1.5);
/// assert_eq!(v.to_string(), "Value('d', 1.5)");
/// # Ok::<(), mp::Error>(())
/// ```
pub struct ValueProxy<T = Value> {
    obj: Obj<crate::managers::ValueCell>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    ValueProxy[T],
    crate::managers::ValueCell,
    "Value",
    crate::managers::ValueProxy
);

impl<T: Serialize + DeserializeOwned + 'static> ValueProxy<T> {
    /// `v.value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if the value is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`ValueProxy`].
    pub fn get(&self) -> Result<T> {
        self.obj.call("get", vec![])
    }

    /// `v.value = x`.
    ///
    /// # Errors
    ///
    /// The value cannot be converted.
    ///
    /// # Examples
    ///
    /// See [`ValueProxy`].
    pub fn set(&self, x: T) -> Result<()> {
        self.obj.call("set", vec![into_value(x)?])
    }
}

/// A managed `Array` on threads, with the methods of mp's
/// [`ArrayProxy`](crate::managers::ArrayProxy).
///
/// # Examples
///
/// ```
/// let a = mp::dummy::Manager()?.array("i", [1, 2, 3])?;
/// a.set(-1, 30)?;
/// assert_eq!(a.get(0)?, 1);
/// assert_eq!(a.to_vec()?, [1, 2, 30]);
/// assert_eq!(a.len()?, 3);
/// assert_eq!(a.get(3).unwrap_err().kind(), mp::ErrorKind::Index);
/// assert_eq!(a.to_string(), "array('i', [1, 2, 30])");
/// # Ok::<(), mp::Error>(())
/// ```
pub struct ArrayProxy<T = Value> {
    obj: Obj<crate::managers::ArrayCell>,
    base: OnceLock<BaseProxy>,
    extra: (),
    _t: PhantomData<fn() -> T>,
}

proxy_common!(
    ArrayProxy[T],
    crate::managers::ArrayCell,
    "Array",
    crate::managers::ArrayProxy
);

impl<T: Serialize + DeserializeOwned + 'static> ArrayProxy<T> {
    /// `len(a)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn len(&self) -> Result<usize> {
        self.obj.call("__len__", vec![])
    }

    /// `len(a) == 0`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::dummy::Manager()?.array::<i32>("i", [])?;
    /// assert!(a.is_empty()?);
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `a[i]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Index`] ("array index out of range").
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn get(&self, i: isize) -> Result<T> {
        self.obj.call("__getitem__", vec![Value::from(i)])
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
        self.obj
            .call("__setitem__", vec![Value::from(i), into_value(x)?])
    }

    /// `a[:]` as a `Vec`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] if an item is not a `T`.
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.obj.call("__getitem__", vec![range_to_slice(..)])
    }
}

// ---------------------------------------------------------------------------------------------
// SyncManager
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Objects {
    live: Vec<Weak<dyn Any + Send + Sync>>,
    /// Prune the dead entries when `live` reaches this length.
    prune_at: usize,
}

impl Objects {
    fn prune(&mut self) {
        self.live.retain(|w| w.strong_count() > 0);
        self.prune_at = (self.live.len() * 2).max(64);
    }
}

/// The thread-backed twin of [`mp::SyncManager`](crate::SyncManager): the same methods,
/// returning objects that live in this process (see the [module docs](self)).
///
/// Clones are the same manager. There is nothing to start or stop:
/// [`start`](SyncManager::start) and [`shutdown`](SyncManager::shutdown) do nothing and
/// succeed, and the objects work whenever.
///
/// # Examples
///
/// ```
/// use mp::dummy::managers::{ListProxy, SyncManager};
/// let manager = SyncManager::new();
/// manager.start()?; // harmless
/// let l: ListProxy<i32> = manager.list_from([1, 2, 3])?;
/// assert_eq!(manager.number_of_objects()?, 1);
/// manager.shutdown()?; // harmless too
/// assert_eq!(l.pop()?, 3);
/// drop(l);
/// assert_eq!(manager.number_of_objects()?, 0);
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct SyncManager {
    objects: Arc<Mutex<Objects>>,
}

impl fmt::Debug for SyncManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<SyncManager on threads (mp::dummy)>")
    }
}

impl SyncManager {
    /// A manager; it works at once (no server to start).
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn new() -> SyncManager {
        SyncManager::default()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn track<R: Referent>(&self, obj: Obj<R>) -> Obj<R> {
        let mut o = self.objects();
        if o.live.len() >= o.prune_at {
            o.prune();
        }
        o.live.push(obj.weak());
        obj
    }

    fn make<R: Referent>(&self, referent: R) -> Obj<R> {
        self.track(Obj::new(referent))
    }

    /// Python's `start()`: nothing to start, so it does nothing (even twice).
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn start(&self) -> Result<()> {
        Ok(())
    }

    /// Python's `connect()`: nothing to connect to, so it does nothing.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::dummy::managers::SyncManager::new().connect()?;
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn connect(&self) -> Result<()> {
        Ok(())
    }

    /// A thread pool: CPython's `multiprocessing.dummy.Manager().Pool(n)`, which is the
    /// module's own `Pool` (a `ThreadPool`). The same methods as `mp`'s manager
    /// `PoolProxy` (`apply`, `apply_async`, `map`, `starmap`, `imap`, `close`, `join`...).
    ///
    /// # Errors
    ///
    /// `processes == 0` is an [`ErrorKind::Value`] error, as for
    /// `mp`'s manager pool.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// # fn main() -> mp::Result<()> {
    /// let m = mp::dummy::Manager()?;
    /// let pool = m.pool(2)?;
    /// assert_eq!(pool.map(square, 0..4)?, [0, 1, 4, 9]);
    /// assert!(m.pool(0).is_err());
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn pool(&self, processes: usize) -> Result<crate::dummy::Pool> {
        crate::dummy::Pool::new(processes)
    }

    /// A builder for the thread pool of [`pool`](SyncManager::pool).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let m = mp::dummy::Manager()?;
    /// let pool = m.pool_builder().processes(3).build()?;
    /// pool.close()?;
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn pool_builder(&self) -> crate::dummy::PoolBuilder {
        crate::dummy::Pool::builder()
    }

    /// Python's `shutdown()`: nothing to stop, so it does nothing; the objects keep working.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    /// The server's address: `None`, there is no server.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::dummy::Manager()?.address().is_none());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn address(&self) -> Option<Address> {
        None
    }

    /// The server's pid: `None`, there is no server process.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::dummy::Manager()?.pid().is_none());
    /// # Ok::<(), mp::Error>(())
    /// ```
    pub fn pid(&self) -> Option<i32> {
        None
    }

    /// How many objects made by this manager are alive (held by a proxy or a container):
    /// Python's `_number_of_objects()`, for finding leaks.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`SyncManager`].
    pub fn number_of_objects(&self) -> Result<usize> {
        let mut o = self.objects();
        o.prune();
        Ok(o.live.len())
    }

    /// `manager.dict()`: an empty dict.
    ///
    /// # Errors
    ///
    /// None for an empty dict (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`DictProxy`].
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static,
    {
        Ok(DictProxy::from_obj(self.make(Dict::new())))
    }

    /// `manager.dict(items)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Type`] for an unhashable key; conversion errors.
    ///
    /// # Examples
    ///
    /// See [`DictProxy::keys`].
    pub fn dict_from<K, V, A, B>(
        &self,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<DictProxy<K, V>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static,
        A: Into<K>,
        B: Into<V>,
    {
        let mut d = Dict::new();
        for (a, b) in items {
            d.insert(into_value(a.into())?, into_value(b.into())?)?;
        }
        Ok(DictProxy::from_obj(self.make(d)))
    }

    /// `manager.list()`: an empty list.
    ///
    /// # Errors
    ///
    /// None (the `Result` is mp's signature).
    ///
    /// # Examples
    ///
    /// See [`ListProxy::extend`].
    pub fn list<T: Serialize + DeserializeOwned + 'static>(&self) -> Result<ListProxy<T>> {
        Ok(ListProxy::from_obj(self.make(Vec::new())))
    }

    /// `manager.list(items)`: Python's `manager.list(range(10))` is `list_from(0..10)`.
    ///
    /// # Errors
    ///
    /// Conversion errors.
    ///
    /// # Examples
    ///
    /// See [`ListProxy`].
    pub fn list_from<T, I>(&self, items: I) -> Result<ListProxy<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
        I: IntoIterator,
        I::Item: Into<T>,
    {
        let items = values_of::<T>(items.into_iter().map(Into::into))?;
        Ok(ListProxy::from_obj(self.make(items)))
    }

    /// `manager.Namespace()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`NamespaceProxy`].
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        Ok(NamespaceProxy::from_obj(
            self.make(ThreadNamespace::default()),
        ))
    }

    /// `manager.Queue(maxsize)` (`0`: unbounded).
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`QueueProxy`].
    pub fn queue<T: Serialize + DeserializeOwned + 'static>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>> {
        Ok(QueueProxy::from_obj(
            self.make(crate::managers::Queue::new(maxsize)),
        ))
    }

    /// `manager.JoinableQueue(maxsize)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`JoinableQueueProxy`].
    pub fn joinable_queue<T: Serialize + DeserializeOwned + 'static>(
        &self,
        maxsize: usize,
    ) -> Result<JoinableQueueProxy<T>> {
        Ok(JoinableQueueProxy::from_obj(
            self.make(crate::managers::Queue::new(maxsize)),
        ))
    }

    /// `manager.Lock()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`LockProxy`].
    pub fn lock(&self) -> Result<LockProxy> {
        Ok(LockProxy::from_obj(
            self.make(crate::managers::Lock::new()?),
        ))
    }

    /// `manager.RLock()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`RLockProxy`].
    pub fn rlock(&self) -> Result<RLockProxy> {
        Ok(RLockProxy::from_obj(
            self.make(crate::managers::RLock::new()?),
        ))
    }

    /// `manager.Semaphore(value)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`SemaphoreProxy`].
    pub fn semaphore(&self, value: u32) -> Result<SemaphoreProxy> {
        Ok(SemaphoreProxy::from_obj(
            self.make(crate::managers::Semaphore::new(value)?),
        ))
    }

    /// `manager.BoundedSemaphore(value)`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`BoundedSemaphoreProxy`].
    pub fn bounded_semaphore(&self, value: u32) -> Result<BoundedSemaphoreProxy> {
        Ok(BoundedSemaphoreProxy::from_obj(
            self.make(crate::managers::BoundedSemaphore::new(value)?),
        ))
    }

    /// `manager.Condition()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`ConditionProxy`].
    pub fn condition(&self) -> Result<ConditionProxy> {
        Ok(ConditionProxy::from_obj(
            self.make(crate::managers::Condition::new()?),
        ))
    }

    /// `manager.Event()`.
    ///
    /// # Errors
    ///
    /// None.
    ///
    /// # Examples
    ///
    /// See [`EventProxy`].
    pub fn event(&self) -> Result<EventProxy> {
        Ok(EventProxy::from_obj(
            self.make(crate::managers::Event::new()?),
        ))
    }

    /// `manager.Barrier(parties)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] unless `1 <= parties <= 65535`.
    ///
    /// # Examples
    ///
    /// See [`BarrierProxy`].
    pub fn barrier(&self, parties: u32) -> Result<BarrierProxy> {
        Ok(BarrierProxy::from_obj(
            self.make(crate::managers::Barrier::new(parties)?),
        ))
    }

    /// `manager.Value(typecode, value)`.
    ///
    /// # Errors
    ///
    /// The value cannot be converted.
    ///
    /// # Examples
    ///
    /// See [`ValueProxy`].
    pub fn value<T: Serialize + DeserializeOwned + 'static>(
        &self,
        typecode: &str,
        value: T,
    ) -> Result<ValueProxy<T>> {
        let cell = crate::managers::ValueCell::new(typecode, into_value(value)?);
        Ok(ValueProxy::from_obj(self.make(cell)))
    }

    /// `manager.Array(typecode, items)`.
    ///
    /// # Errors
    ///
    /// The items cannot be converted.
    ///
    /// # Examples
    ///
    /// See [`ArrayProxy`].
    pub fn array<T: Serialize + DeserializeOwned + 'static>(
        &self,
        typecode: &str,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>> {
        let cell = crate::managers::ArrayCell::new(typecode, values_of(items)?);
        Ok(ArrayProxy::from_obj(self.make(cell)))
    }
}

/// Python's `multiprocessing.dummy.Manager()`: a [`SyncManager`] whose objects live in this
/// process, with the API of [`mp::Manager()`](crate::Manager). It never fails (the `Result`
/// is mp's signature).
///
/// # Errors
///
/// None.
///
/// # Examples
///
/// ```
/// let manager = mp::dummy::Manager()?;
/// let ns = manager.namespace()?;
/// ns.set("x", 10)?;
/// assert_eq!(ns.get::<i32>("x")?, 10);
/// # Ok::<(), mp::Error>(())
/// ```
#[allow(non_snake_case)]
pub fn Manager() -> Result<SyncManager> {
    Ok(SyncManager::new())
}
