//! The manager's `Namespace` and [`NamespaceProxy`].

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use indexmap::IndexMap;
use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{args_of, lock, read, unknown, write};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent, into_value, value_into};
use crate::managers::value::{Dict, Value};

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
    pub(super) attrs: IndexMap<String, Value>,
}

pub(super) const NAMESPACE_METHODS: &[&str] =
    &["__getattribute__", "__setattr__", "__delattr__", "__dir__"];

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
