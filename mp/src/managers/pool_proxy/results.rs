//! The proxies of a manager pool's results: [`AsyncResultProxy`], [`MapResultProxy`] and
//! [`IMapProxy`].

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::cells::{AsyncResultCell, IMAP_METHODS, IMapCell, RESULT_METHODS};
use super::{decode_chunks, decode_one, not_bytes, secs};
use crate::error::{ErrorKind, Result};
use crate::managers::Value;
use crate::managers::proxy::{BaseProxy, Proxy};
use crate::reduction;

// Names the docs link to.
#[cfg(doc)]
use super::PoolProxy;

macro_rules! result_proxy_common {
    ($name:ident, $str:literal, $referent:ty, $exposed:expr) => {
        impl<V: 'static> Proxy for $name<V> {
            type Referent = $referent;
            const NAME: &'static str = $str;
            const EXPOSED: &'static [&'static str] = $exposed;
            fn from_base(base: BaseProxy) -> Self {
                $name {
                    base,
                    _v: PhantomData,
                }
            }
            fn base(&self) -> &BaseProxy {
                &self.base
            }
        }

        impl<V> Clone for $name<V> {
            fn clone(&self) -> Self {
                $name {
                    base: self.base.clone(),
                    _v: PhantomData,
                }
            }
        }

        impl<V> fmt::Debug for $name<V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.base, f)
            }
        }

        impl<V> fmt::Display for $name<V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.base, f)
            }
        }

        impl<V> Serialize for $name<V> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.base.serialize(s)
            }
        }

        impl<'de, V> Deserialize<'de> for $name<V> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                BaseProxy::deserialize(d).map(|base| $name {
                    base,
                    _v: PhantomData,
                })
            }
        }

        impl<V> From<&$name<V>> for Value {
            fn from(p: &$name<V>) -> Value {
                Value::Proxy(p.base.to_ref())
            }
        }

        impl<V> $name<V> {
            /// The base proxy: Python's `_callmethod`, `_getvalue`, `_exposed_` and the
            /// token.
            ///
            /// # Examples
            ///
            /// ```
            /// # #[mp::main] fn main() -> mp::Result<()> {
            /// #[mp::task]
            /// fn one() -> u8 { 1 }
            /// let m = mp::Manager()?;
            /// let r = m.pool(1)?.apply_async(one, ())?;
            /// assert_eq!(r.base().token().typeid(), "AsyncResult");
            /// # Ok(()) }
            /// ```
            pub fn base(&self) -> &BaseProxy {
                &self.base
            }

            /// Whether the call has completed, without blocking: Python's `ready()`.
            ///
            /// # Errors
            ///
            /// The manager cannot be reached (for every method; not repeated below).
            ///
            /// # Examples
            ///
            /// See [`PoolProxy`].
            pub fn ready(&self) -> Result<bool> {
                self.base.call("ready", vec![])
            }

            /// Whether the call completed without error: Python's `successful()`.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Value`] if the result is not ready yet.
            ///
            /// # Examples
            ///
            /// See [`PoolProxy`].
            pub fn successful(&self) -> Result<bool> {
                self.base.call("successful", vec![])
            }

            /// Waits until the result is ready: Python's `wait()`.
            ///
            /// # Examples
            ///
            /// See [`AsyncResultProxy`].
            pub fn wait(&self) -> Result<()> {
                self.base.call::<bool>("wait", vec![]).map(drop)
            }

            /// Waits at most `timeout`; returns whether the result is ready: Python's
            /// `wait(timeout)`.
            ///
            /// # Examples
            ///
            /// See [`AsyncResultProxy`].
            pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
                self.base.call("wait", vec![secs(timeout)])
            }
        }
    };
}

/// A proxy for the result of [`PoolProxy::apply_async`]: Python's `AsyncResult` proxy.
///
/// Unlike [`mp::AsyncResult`](crate::AsyncResult), [`get`](AsyncResultProxy::get) can be
/// called again (the manager keeps the result, as Python shares it), from any process holding
/// a clone of the proxy.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// #[mp::task]
/// fn nap(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
///
/// let m = mp::Manager()?;
/// let pool = m.pool(1)?;
/// let r = pool.apply_async(nap, (300,))?;
/// assert!(!r.ready()?);
/// assert_eq!(r.successful().unwrap_err().kind(), mp::ErrorKind::Value);
/// assert_eq!(r.get_timeout(Duration::from_millis(1)).unwrap_err().kind(), mp::ErrorKind::Timeout);
/// r.wait()?;
/// assert!(r.wait_timeout(Duration::ZERO)?);
/// assert_eq!(r.get()?, 300);
/// assert_eq!(r.get()?, 300);
/// # Ok(()) }
/// ```
pub struct AsyncResultProxy<V = Value> {
    base: BaseProxy,
    _v: PhantomData<fn() -> V>,
}

result_proxy_common!(
    AsyncResultProxy,
    "AsyncResultProxy",
    AsyncResultCell,
    RESULT_METHODS
);

impl<V: DeserializeOwned> AsyncResultProxy<V> {
    /// Waits for the value: Python's `get()`.
    ///
    /// # Errors
    ///
    /// The task's failure ([`ErrorKind::Remote`], [`ErrorKind::WorkerLost`],
    /// [`ErrorKind::ShutDown`] after `terminate`...).
    ///
    /// # Examples
    ///
    /// See [`AsyncResultProxy`].
    pub fn get(&self) -> Result<V> {
        decode_one(self.base.call::<Value>("get", vec![])?)
    }

    /// Like [`get`](AsyncResultProxy::get), waiting at most `timeout`: Python's
    /// `get(timeout)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if the result is not ready in time, or what `get` returns.
    ///
    /// # Examples
    ///
    /// See [`AsyncResultProxy`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<V> {
        decode_one(self.base.call::<Value>("get", vec![secs(timeout)])?)
    }
}

/// A proxy for the result of [`PoolProxy::map_async`] and
/// [`PoolProxy::starmap_async`]: Python's `MapResult` proxy.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// let m = mp::Manager()?;
/// let pool = m.pool(2)?;
/// let r = pool.map_async(square, 0..4)?;
/// assert_eq!(r.get_timeout(std::time::Duration::from_secs(60))?, [0, 1, 4, 9]);
/// assert!(r.successful()?);
/// # Ok(()) }
/// ```
pub struct MapResultProxy<V = Value> {
    base: BaseProxy,
    _v: PhantomData<fn() -> V>,
}

result_proxy_common!(
    MapResultProxy,
    "MapResultProxy",
    AsyncResultCell,
    RESULT_METHODS
);

impl<V: DeserializeOwned> MapResultProxy<V> {
    /// Waits for every value: Python's `get()`.
    ///
    /// # Errors
    ///
    /// The first failure among the chunks.
    ///
    /// # Examples
    ///
    /// See [`MapResultProxy`].
    pub fn get(&self) -> Result<Vec<V>> {
        decode_chunks(self.base.call::<Value>("get", vec![])?)
    }

    /// Like [`get`](MapResultProxy::get), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if the result is not ready in time, or what `get` returns.
    ///
    /// # Examples
    ///
    /// See [`MapResultProxy`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<V>> {
        decode_chunks(self.base.call::<Value>("get", vec![secs(timeout)])?)
    }
}

/// A proxy for the iterator of [`PoolProxy::imap`] and [`PoolProxy::imap_unordered`]:
/// Python's `IMapIterator` proxy.
///
/// Each item is a `Result`: a failed chunk yields one `Err` at its position and the iteration
/// goes on, as [`mp::IMapIterator`](crate::IMapIterator) does; if the manager cannot be
/// reached, that error is the last item. Values of a chunk already fetched are buffered in
/// this proxy (with the default chunksize of 1, nothing is).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// #[mp::task]
/// fn square(x: u64) -> u64 { x * x }
/// let m = mp::Manager()?;
/// let pool = m.pool(2)?;
/// let mut it = pool.imap(square, 0..5)?;
/// assert_eq!(it.next_timeout(Duration::from_secs(60)).unwrap()?, 0);
/// let rest: Vec<u64> = it.collect::<mp::Result<_>>()?;
/// assert_eq!(rest, [1, 4, 9, 16]);
/// # Ok(()) }
/// ```
pub struct IMapProxy<V = Value> {
    base: BaseProxy,
    buf: VecDeque<V>,
    /// The manager could not be reached: the iteration is over (after that error).
    done: bool,
}

impl<V: Send + Sync + 'static> Proxy for IMapProxy<V> {
    type Referent = IMapCell;
    const NAME: &'static str = "IMapIteratorProxy";
    const EXPOSED: &'static [&'static str] = IMAP_METHODS;
    fn from_base(base: BaseProxy) -> Self {
        IMapProxy {
            base,
            buf: VecDeque::new(),
            done: false,
        }
    }
    fn base(&self) -> &BaseProxy {
        &self.base
    }
}

impl<V> fmt::Debug for IMapProxy<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.base, f)
    }
}

impl<V> Serialize for IMapProxy<V> {
    /// The proxy only: values this proxy has buffered stay here.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.base.serialize(s)
    }
}

impl<'de, V> Deserialize<'de> for IMapProxy<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        BaseProxy::deserialize(d).map(|base| IMapProxy {
            base,
            buf: VecDeque::new(),
            done: false,
        })
    }
}

impl<V: DeserializeOwned> IMapProxy<V> {
    /// The base proxy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn one(x: u8) -> u8 { x }
    /// let m = mp::Manager()?;
    /// let it = m.pool(1)?.imap(one, [1])?;
    /// assert_eq!(it.base().token().typeid(), "IMapIterator");
    /// # Ok(()) }
    /// ```
    pub fn base(&self) -> &BaseProxy {
        &self.base
    }

    fn next_with(&mut self, timeout: Option<Duration>) -> Option<Result<V>> {
        loop {
            if let Some(v) = self.buf.pop_front() {
                return Some(Ok(v));
            }
            if self.done {
                return None;
            }
            let args = timeout.map(secs).into_iter().collect();
            match self.base.call::<Value>("__next__", args) {
                Ok(Value::Bytes(b)) => match reduction::decode_plain::<Vec<V>>(&b) {
                    Ok(v) => self.buf.extend(v),
                    Err(e) => return Some(Err(e)),
                },
                Ok(other) => return Some(Err(not_bytes(&other))),
                Err(e) if e.kind() == ErrorKind::StopIteration => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    // A task's failure or a timeout is one item; a manager that cannot be
                    // reached ends the iteration (rather than failing forever).
                    if matches!(
                        e.kind(),
                        ErrorKind::Os | ErrorKind::Eof | ErrorKind::Authentication
                    ) {
                        self.done = true;
                    }
                    return Some(Err(e));
                }
            }
        }
    }

    /// The next value, waiting at most `timeout`: Python's `next(timeout)`. `None` at the
    /// end; `Some(Err(e))` with [`ErrorKind::Timeout`] if nothing came in time (ask again).
    ///
    /// # Examples
    ///
    /// See [`IMapProxy`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<V>> {
        self.next_with(Some(timeout))
    }
}

impl<V: DeserializeOwned> Iterator for IMapProxy<V> {
    type Item = Result<V>;
    fn next(&mut self) -> Option<Result<V>> {
        self.next_with(None)
    }
}
