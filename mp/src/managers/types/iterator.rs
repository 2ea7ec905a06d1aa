//! Generators living in a manager: [`Generator`] and [`IteratorProxy`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, RwLock};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{args_of, lock, read, unknown};
use crate::error::{Error, ErrorKind, Result};
use crate::managers::proxy::{BaseProxy, Proxy, Referent};
use crate::managers::value::Value;

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
    pub(super) it: Mutex<Box<dyn Iterator<Item = Result<Value>> + Send>>,
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
