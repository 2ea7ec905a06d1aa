//! Managers and proxies: Python's `multiprocessing.managers`.
//!
//! A manager is a server (normally a process of its own) holding objects that other
//! processes use through *proxies*: every method call on a proxy is a request to the server,
//! which runs the method on the real object (the *referent*) and sends the result back. The
//! server listens on a socket (a Unix socket by default, TCP when given an address), so
//! processes of any start method, and programs on other machines, can share its objects;
//! every connection is authenticated with the manager's key.
//!
//! # Python → Rust
//!
//! | Python | mp |
//! |---|---|
//! | `with Manager() as m:` | [`let m = mp::Manager()?;`](crate::Manager) (shut down on drop) |
//! | `m.dict()`, `m.list(range(10))` | [`m.dict()?`](SyncManager::dict), [`m.list_from(0..10)?`](SyncManager::list_from) |
//! | `m.Namespace()`, `m.Queue()`, `m.Lock()`, `m.Value('d', 0.0)`... | [`m.namespace()?`](SyncManager::namespace), [`m.queue::<T>(0)?`](SyncManager::queue), [`m.lock()?`](SyncManager::lock), [`m.value("d", 0.0)?`](SyncManager::value)... |
//! | `d[k] = v`, `d[k]`, `del d[k]`, `k in d` | [`d.set(k, v)?`](DictProxy::set), [`d.get_item(&k)?`](DictProxy::get_item), [`d.remove(&k)?`](DictProxy::remove), [`d.contains(&k)?`](DictProxy::contains) |
//! | `l[i]`, `l[2:5]`, `l.append(x)` | [`l.get(i)?`](ListProxy::get), [`l.slice(2..5)?`](ListProxy::slice), [`l.append(x)?`](ListProxy::append) |
//! | `print(d)` / `repr(d)` | `println!("{d}")` / `println!("{d:?}")` |
//! | `proxy._callmethod(name, args)`, `proxy._getvalue()` | [`proxy.base().call_method(name, args)?`](BaseProxy::call_method), [`proxy.base().get_value()?`](BaseProxy::get_value) |
//! | `class MathsClass: ...` + `MyManager.register('Maths', MathsClass)` | `#[mp::proxy] impl MathsClass {..}` + a `#[mp::task] fn maths() -> Shared<MathsClass>` + [`.register::<MathsClassProxy, _>("Maths", maths)`](ManagerBuilder::register) |
//! | `register('Foo2', Foo, exposed=('g', '_h'))` | `#[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))] impl Foo {..}` |
//! | `register('get_queue', callable=lambda: queue)` | [`.register_with::<QueueProxy, _, _>("get_queue", move \|()\| queue.clone())`](ManagerBuilder::register_with) (fork or `serve_forever` only) |
//! | client side `register('get_queue')` | [`.register_remote::<QueueProxy>("get_queue")`](ManagerBuilder::register_remote) |
//! | `m = MyManager(address=('127.0.0.1', 5000), authkey=b'abc')` | [`BaseManager::builder().address(("127.0.0.1", 5000)).authkey(b"abc")`](BaseManager::builder) |
//! | `m.start()`, `m.connect()`, `m.shutdown()` | [`m.start()?`](BaseManager::start), [`m.connect()?`](BaseManager::connect), [`m.shutdown()?`](BaseManager::shutdown) |
//! | `m.get_server().serve_forever()` | [`m.get_server()?.serve_forever()?`](Server::serve_forever) |
//! | `m.Maths()` | [`m.create::<MathsClassProxy, _>("Maths", ())?`](BaseManager::create) |
//! | `p = m.Pool(4)`, `p.map(f, xs)`, `p.apply_async(f, args).get()` | [`let p = m.pool(4)?;`](SyncManager::pool), [`p.map(f, xs)?`](PoolProxy::map), [`p.apply_async(f, args)?.get()?`](PoolProxy::apply_async) |
//! | `for k in d:` (`iter(d)`) | [`for k in d.iter()? { let k = k?; }`](DictProxy::iter) |
//! | `with SharedMemoryManager() as smm: smm.SharedMemory(n)` | [`let smm = SharedMemoryManager::builder().start()?; smm.shared_memory(n)?`](SharedMemoryManager) |
//!
//! # How a registered type reaches the server process
//!
//! The server must be able to make the objects its clients ask for. A typeid's callable is
//! either a `#[mp::task]` fn returning [`Shared<T>`] (found by name in the server's
//! registry, so it works under every start method and in a server started by another
//! program), or a closure, which only a server sharing this process's memory can run: one
//! started with the fork start method, or [`Server::serve_forever`] in this process. Starting
//! a spawn or forkserver server with a closure registered is a clear error.
//!
//! # Dynamic values
//!
//! Managed containers hold [`Value`]s: Python's heterogeneous data (`None`, `bool`, `int`,
//! `float`, `str`, `bytes`, `list`, `tuple`, `dict`, proxies). The proxies' type parameters
//! say what to convert them to and from ([`to_value`], [`from_value`]): `DictProxy<String,
//! i64>` is typed, `DictProxy` alone (`DictProxy<Value, Value>`) is Python's.
//!
//! # Security
//!
//! Requests are plain data ([`protocol`]): no code runs because of what arrives on the wire,
//! unlike CPython's pickles. Sizes are capped ([`ManagerBuilder::max_message_size`]), values
//! may nest at most [`MAX_DEPTH`] levels, and a malformed request gets an error reply and
//! never stops the server.

mod base;
mod pickle;
mod pool_proxy;
pub mod protocol;
mod proxy;
mod python;
mod refs;
mod serve;
mod server;
mod shm_manager;
mod sock;
mod sync_manager;
mod types;
mod value;

use base::MState;
pub use base::{BaseManager, ManagerBuilder, ManagerKind};
pub use pool_proxy::{
    AsyncResultCell, AsyncResultProxy, IMapCell, IMapProxy, ManagerPoolBuilder, MapResultProxy,
    PoolCell, PoolProxy, PoolProxyChunked,
};
pub use proxy::{BaseProxy, Proxy, Referent, Shared, Token};
pub use serve::Server;
pub use shm_manager::SharedMemoryManager;
pub use sync_manager::{Host, InProcess, Manager, SyncManager, SyncManagerIn};
pub use types::{
    ArrayCell, ArrayProxy, Barrier, BarrierProxy, BoundedSemaphore, BoundedSemaphoreProxy,
    Condition, ConditionProxy, DictProxy, Event, EventProxy, Generator, IteratorProxy,
    JoinableQueueProxy, ListProxy, Lock, LockProxy, Namespace, NamespaceProxy, Queue, QueueProxy,
    RLock, RLockProxy, Semaphore, SemaphoreProxy, ValueCell, ValueProxy,
};
pub use value::{Dict, MAX_DEPTH, ProxyRef, Slice, Value, from_value, to_value};

/// The fuzz entry of CPython's manager protocol (`fuzz/fuzz_targets/pickle.rs`): whatever
/// bytes arrive, the pickle decoder and the request and reply decoders built on it give a
/// value or an error (never a panic, a stack overflow or an allocation sized by a lying
/// length), and what decodes encodes to bytes that decode to the same. Not a public API.
#[doc(hidden)]
pub fn __fuzz_pickle(data: &[u8]) {
    let _ = python::decode_request(data);
    let _ = python::decode_reply(data);
    if let Ok(p) = pickle::loads(data) {
        let mut a = Vec::new();
        if pickle::dumps(&p, &mut a).is_ok() {
            let again = pickle::loads(&a).expect("an encoded pickle decodes");
            let mut b = Vec::new();
            pickle::dumps(&again, &mut b).expect("it encodes again");
            assert_eq!(a, b, "encoding is stable");
        }
    }
}

/// The default cap on one request or reply (64 MiB).
pub const DEFAULT_MAX_MESSAGE: u64 = 64 << 20;

/// Items used by the code `#[mp::proxy]` generates. Not a public API.
#[doc(hidden)]
pub mod __macro {
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{BaseProxy, Value};
    use crate::error::{Error, ErrorKind, Result};

    pub use serde;

    /// Decodes a method's argument tuple.
    pub fn args<A: DeserializeOwned>(args: Value, method: &str) -> Result<A> {
        super::from_value(args).map_err(|e| {
            Error::new(
                ErrorKind::Type,
                format!("bad arguments for {method}(): {}", e.message()),
            )
        })
    }

    /// Reads the referent.
    pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        l.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the referent.
    pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
        l.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Converts a method's result.
    pub fn ret<R: Serialize + ?Sized>(r: &R) -> Result<Value> {
        super::to_value(r)
    }

    /// Converts a fallible method's result; an `mp::Error` keeps its kind, any other error
    /// becomes an [`ErrorKind::Remote`] error with its message.
    pub fn ret_result<R>(r: R) -> Result<Value>
    where
        R: crate::__private::ResultParts,
        R::Ok: Serialize,
        R::Err: std::fmt::Display + 'static,
    {
        match r.into_result() {
            Ok(v) => super::to_value(&v),
            Err(e) => {
                let any: &dyn std::any::Any = &e;
                Err(match any.downcast_ref::<Error>() {
                    Some(me) => Error::new(me.kind(), me.message().to_owned()),
                    None => Error::new(ErrorKind::Remote, e.to_string()),
                })
            }
        }
    }

    /// The error for a method name the type does not have.
    pub fn unknown_method(ty: &str, method: &str) -> Error {
        Error::new(
            ErrorKind::Remote,
            format!("'{ty}' object has no method '{method}'"),
        )
    }

    /// Calls a method through a proxy.
    pub fn call<R: DeserializeOwned + 'static>(
        base: &BaseProxy,
        method: &str,
        args: Vec<Value>,
    ) -> Result<R> {
        base.call(method, args)
    }

    /// Converts an argument.
    pub fn arg<T: Serialize + 'static>(t: T) -> Result<Value> {
        super::proxy::into_value(t)
    }
}
