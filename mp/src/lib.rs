//! Python's `multiprocessing`, rebuilt in Rust.
//!
//! `mp` gives Rust programs what Python programmers know from `multiprocessing`, under the same
//! names and with the same behaviour: processes started by fork, spawn or a fork server, pipes
//! and connections, queues, locks and the other synchronization primitives, shared values and
//! shared memory, process pools, and managers. To this Rust adds its checks and its speed: the
//! argument tuple of a target is checked against its parameters at compile time, messages are
//! typed, a child needs no interpreter to start, and nothing is left behind when a process dies
//! (a lock held by a dead process is reported instead of hanging its waiters; a pool survives a
//! worker that crashes).
//!
//! # Adding it
//!
//! The package is `multiprocess` on crates.io (the name `mp` belongs to another crate); its
//! library is named `mp`, so code writes `mp::Pool` and `#[mp::main]`:
//!
//! ```toml
//! [dependencies]
//! multiprocess = "0.1"                                     # imported as `mp`
//! # multiprocess = { version = "0.1", features = ["tokio"] }  # with async/await
//! ```
//!
//! # Hello, world!
//!
//! ```
//! use mp::{Connection, Process};
//!
//! #[mp::task]
//! fn greet(name: String, out: Connection) -> mp::Result<()> {
//!     out.send(&format!("hello {name}"))
//! }
//!
//! #[mp::main]
//! fn main() -> mp::Result<()> {
//!     let (rx, tx) = mp::Pipe(false)?;
//!     let p = Process::new(greet, ("bob".to_string(), tx));
//!     p.start()?; // a new process, started by the default start method (forkserver)
//!     let greeting: String = rx.recv()?;
//!     p.join()?;
//!     assert_eq!(greeting, "hello bob");
//!     assert_eq!(p.exitcode(), Some(0));
//!     Ok(())
//! }
//! ```
//!
//! `#[mp::main]` is the `if __name__ == '__main__':` guard, and `#[mp::task]` registers `greet`
//! so that a child started from a fresh copy of the program can find it by name.
//!
//! # Python → Rust
//!
//! One `mp` module per `multiprocessing` module, under the same name; the main types are also at
//! the crate root (`mp::Process`, `mp::Queue`, `mp::Pool`…).
//!
//! | Python module | mp |
//! |---|---|
//! | `multiprocessing` | [`mp`](crate) |
//! | `multiprocessing.context` | [`context`]: [`StartMethod`], [`Context`], [`get_context`], [`set_start_method`] |
//! | `multiprocessing.process` | [`process`]: [`Process`], [`current_process`], [`parent_process`], [`active_children`] |
//! | `multiprocessing.connection` | [`connection`]: [`Connection`], [`Pipe`], [`Listener`], [`Client`], [`connection::wait()`] |
//! | `multiprocessing.queues` | [`queues`]: [`Queue`], [`JoinableQueue`], [`SimpleQueue`] |
//! | `multiprocessing.synchronize` | [`synchronize`]: [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Event`], [`Barrier`] |
//! | `multiprocessing.sharedctypes` | [`sharedctypes`]: [`Value`], [`Array`], [`RawValue`], [`RawArray`] |
//! | `multiprocessing.shared_memory` | [`shared_memory`]: [`SharedMemory`](shared_memory::SharedMemory), [`ShareableList`](shared_memory::ShareableList) |
//! | `multiprocessing.pool` | [`pool`]: [`Pool`], [`AsyncResult`], [`IMapIterator`] |
//! | `multiprocessing.managers` | [`managers`]: [`Manager()`](Manager), [`SyncManager`], `BaseManager`, proxies (see [Managers](#managers)) |
//! | `multiprocessing.dummy` | [`dummy`]: the same API on threads (see [Dummy](#dummy)) |
//! | `multiprocessing.util` (`get_logger`, `log_to_stderr`) | [`logging`]: [`get_logger`], [`log_to_stderr`] |
//! | `multiprocessing.reduction` | [`reduction`]: [`send_handle`](reduction::send_handle), [`recv_handle`](reduction::recv_handle) |
//! | `multiprocessing.resource_tracker` | [`resource_tracker`] |
//! | exceptions (`ProcessError`, `TimeoutError`, `AuthenticationError`…) | [`Error`] and its [`ErrorKind`] |
//!
//! The main names; `docs/python-mapping.md` maps every name that Python's documentation
//! mentions, with an example each.
//!
//! | Python | mp |
//! |---|---|
//! | `if __name__ == '__main__':` | `#[mp::main]` on `fn main` (or [`init()`] first thing in `main`) |
//! | a module-level function used as a target | `#[mp::task] fn f(..)` |
//! | `class P(Process): def run(self)` | `#[mp::task] impl mp::Run for P` + [`Process::from_run`] |
//! | `Process(target=f, args=(a, b))` | [`Process::new(f, (a, b))`](Process::new) |
//! | `Process(target=f, name='w', daemon=True)` | [`Process::builder(f, args).name("w").daemon(true)`](Process::builder) |
//! | `p.start()`, `p.join()`, `p.join(t)` | [`p.start()?`](Process::start), [`p.join()?`](Process::join), [`p.join_timeout(t)?`](Process::join_timeout) |
//! | `p.is_alive()`, `p.exitcode`, `p.pid` | [`p.is_alive()`](Process::is_alive), [`p.exitcode()`](Process::exitcode), [`p.pid()`](Process::pid) |
//! | `p.terminate()`, `p.kill()`, `p.close()` | [`p.terminate()?`](Process::terminate), [`p.kill()?`](Process::kill), [`p.close()?`](Process::close) |
//! | `current_process()`, `parent_process()` | [`current_process()`], [`parent_process()`] |
//! | `active_children()`, `cpu_count()` | [`active_children()`], [`cpu_count()`] |
//! | `p.interrupt()`, `p.sentinel`, `p.daemon = True` | [`p.interrupt()?`](Process::interrupt), [`p.sentinel()?`](Process::sentinel), [`p.set_daemon(true)?`](Process::set_daemon) |
//! | `set_executable(path)`, `freeze_support()` | [`set_executable(path)`](set_executable), [`freeze_support()`] (a no-op) |
//! | `set_start_method('spawn')` | [`set_start_method("spawn", false)?`](set_start_method) |
//! | `get_start_method()`, `get_all_start_methods()` | [`get_start_method()`], [`get_all_start_methods()`] |
//! | `get_context('fork')`, `ctx.Process(..)`, `ctx.Queue()`, `ctx.Pool(2)` | [`get_context("fork")?`](get_context), [`ctx.process(..)`](Context::process), [`ctx.queue(0)?`](Context::queue), [`ctx.pool(2)?`](Context::pool) |
//! | `Pipe()`, `conn.send(x)`, `conn.recv()` | [`Pipe(true)?`](Pipe), [`conn.send(&x)?`](Connection::send), [`conn.recv::<T>()?`](Connection::recv) |
//! | `conn.send_bytes(b)`, `conn.recv_bytes()`, `conn.poll(t)` | [`conn.send_bytes(b)?`](Connection::send_bytes), [`conn.recv_bytes()?`](Connection::recv_bytes), [`conn.poll_timeout(t)?`](Connection::poll_timeout) |
//! | `connection.Listener(address, authkey=k)`, `Client(address, authkey=k)` | [`Listener::builder().address(a).authkey(k).bind()?`](Listener::builder), [`Client::builder(a).authkey(k).connect()?`](Client::builder) |
//! | `connection.wait(objects, timeout)` | [`connection::wait(&objects, timeout)?`](connection::wait()) |
//! | `reduction.send_handle`, `recv_handle` | [`reduction::send_handle`], [`reduction::recv_handle`] |
//! | `Queue(maxsize)`, `q.put(x)`, `q.get()`, `q.get(timeout=t)` | [`Queue::new(maxsize)?`](Queue::new), [`q.put(x)?`](Queue::put), [`q.get()?`](Queue::get), [`q.get_timeout(t)?`](Queue::get_timeout) |
//! | `JoinableQueue()`, `SimpleQueue()`, `queue.Full`/`queue.Empty` | [`JoinableQueue`], [`SimpleQueue`], [`queues::TryPutError::Full`]/[`queues::TryGetError::Empty`] |
//! | `Lock()`, `RLock()`, `Semaphore(n)`, `Condition()`, `Event()`, `Barrier(n)` | [`Lock::new()?`](Lock::new), [`RLock`], [`Semaphore`], [`Condition`], [`Event`], [`Barrier`] (see [`synchronize`]) |
//! | `with lock:` | [`let _g = lock.lock()?;`](Lock::lock) |
//! | `Value('d', 0.0)`, `Array('i', 10)`, a ctypes `Structure` | [`Value::new(0.0)?`](Value::new), [`Array::<i32>::new(10)?`](Array::new), `#[mp::shared] struct` (see [`sharedctypes`]) |
//! | `with v.get_lock(): v.value += 1` | [`*v.lock()? += 1`](Value::lock) |
//! | `shared_memory.SharedMemory(create=True, size=n)`, `ShareableList` | [`shared_memory::SharedMemory::create(n)?`](shared_memory::SharedMemory::create), [`shared_memory::ShareableList`] |
//! | `Pool(4)`, `pool.map(f, xs)`, `pool.apply_async(f, args)` | [`Pool::new(4)?`](Pool::new), [`pool.map(f, xs)?`](Pool::map), [`pool.apply_async(f, args)?`](Pool::apply_async) (see [`pool`]) |
//! | `pool.imap(f, xs)`, `it.next(timeout)`, `res.get(timeout)` | [`pool.imap(f, xs)?`](Pool::imap), [`it.next_timeout(t)`](IMapIterator::next_timeout), [`res.get_timeout(t)?`](AsyncResult::get_timeout) |
//! | `(func, args)` tuples put in a queue | [`TaskRef::new(func)`](TaskRef::new), which serializes by name |
//! | `with Manager() as m: d = m.dict()` | [`let m = mp::Manager()?; let d: DictProxy = m.dict()?;`](managers) |
//! | `manager.Pool(4)`, `SharedMemoryManager()`, `smm.SharedMemory(n)` | [`m.pool(4)?`](managers::SyncManager::pool), [`managers::SharedMemoryManager::new()`], [`smm.shared_memory(n)?`](managers::SharedMemoryManager::shared_memory) |
//! | `BaseManager.register('Maths', MathsClass)`, `proxy._callmethod(..)` | `#[mp::proxy] impl MathsClass {..}`, [`managers::BaseManager::builder().register(..)`](managers::ManagerBuilder::register), [`proxy.base().call_method(..)`](managers::BaseProxy::call_method) |
//! | `multiprocessing.dummy` (`from multiprocessing.dummy import Pool, Process, Queue`) | [`mp::dummy`](dummy) (`use mp::dummy::{Pool, Process, Queue};`): the same API on threads |
//! | `multiprocessing.dummy.Manager()` (the dummy module itself) | [`mp::dummy::Manager()?`](dummy::Manager): mp's `SyncManager` methods and proxies, objects in this process |
//! | `log_to_stderr(logging.INFO)` | [`log_to_stderr(log::LevelFilter::Info)`](log_to_stderr) |
//! | `multiprocessing.TimeoutError`, `EOFError`, `RemoteError` | [`ErrorKind::Timeout`], [`ErrorKind::Eof`], [`ErrorKind::Remote`] |
//!
//! Where Rust forces a change, mp changes the same way everywhere: keyword arguments become
//! builders (`Process::builder`, `Pool::builder`, `Listener::builder`); `block=True,
//! timeout=None` becomes three methods (`get`, `get_nowait`, `get_timeout(Duration)`), as do
//! `put`, `acquire`, `join`, `poll` and `wait`; attributes become methods (`p.exitcode()`,
//! `v.set(x)?`); `with` blocks become scopes (dropping a `Pool` terminates it, a guard releases
//! its lock); exceptions become [`Result`]s; messages are typed.
//!
//! # Processes and start methods
//!
//! A [`Process`] runs a target with an argument tuple in a child process ([`process`]). Under
//! the `fork` start method the child is a copy of the parent and any `FnOnce + Send + 'static`
//! closure can be the target; under `spawn` (a fresh copy of the program) and `forkserver` (a
//! fork of a single-threaded server started on first use) the target must be a `#[mp::task]`
//! fn, found by name. As in CPython 3.14 on Linux the default is `forkserver`;
//! [`get_all_start_methods`] lists all three, [`set_start_method`] changes the default and a
//! [`Context`] (from [`get_context`]) fixes the method of what it makes. Objects (queues, locks,
//! values…) are not tied to a start method: any child can use them. A child's stdin is
//! `/dev/null`; a panic in a child prints `Process <name>:` and the panic, and gives exit code
//! 1; a child killed by a signal has the exit code `-signal`. When `main` returns, daemonic
//! children are terminated and the others joined. See `docs/start-methods.md`.
//!
//! # Tasks and the registry
//!
//! `#[mp::task]` on a free fn (or on an `impl mp::Run for T`, Python's "subclass `Process`")
//! keeps the fn callable as it is and registers it under a stable name
//! (`module_path::name`) with the code that decodes its arguments and encodes its result. A
//! spawn or forkserver child, a pool worker, a barrier action, a manager's server: each finds
//! the fn it must run by that name in the same binary (see [`Task`] and
//! [`registered_tasks`]). A [`TaskRef`] is a reference to a task that travels by name: Python's
//! `(mul, (i, 7))` tuples in a queue. A fn without `#[mp::task]` given where a task is needed is
//! a compile error (a pool) or a clear error of [`Process::start`] (spawn, forkserver).
//!
//! # Pipes and connections
//!
//! [`Pipe`] returns two [`Connection`]s. [`send`](Connection::send) and
//! [`recv`](Connection::recv) move any serde value, including handles (connections, queues,
//! locks, file descriptors…) that arrive usable in the other process;
//! [`send_bytes`](Connection::send_bytes) and [`recv_bytes`](Connection::recv_bytes) move raw
//! bytes in CPython's framing. [`Listener`] and [`Client`] connect unrelated processes over
//! Unix or TCP sockets with CPython's HMAC handshake, so a Rust program and a Python program can
//! talk; [`connection::wait()`] waits on several connections, sockets and process sentinels at
//! once. See [`connection`].
//!
//! # Queues
//!
//! [`Queue`], [`JoinableQueue`] and [`SimpleQueue`] are typed multi-producer, multi-consumer
//! FIFO queues in shared memory ([`queues`]). There is no feeder thread: `put` copies the item
//! before it returns, so a process can put and exit at once (the "joining processes that use
//! queues" deadlock of CPython cannot happen), and `qsize` is exact. `put_nowait` and
//! `get_nowait` fail with errors that hand the item back ([`queues::TryPutError`],
//! [`queues::TryGetError`]).
//!
//! # Synchronization
//!
//! [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Event`] and
//! [`Barrier`] live in shared memory and have Python's semantics exactly (a `Lock` may be
//! released by another process; releasing an unlocked one is an [`ErrorKind::Value`] error).
//! When a process dies holding a lock, waiters get [`ErrorKind::OwnerDied`] instead of waiting
//! forever. See [`synchronize`].
//!
//! # Shared memory
//!
//! [`Value`] and [`Array`] (with a lock), [`RawValue`] and [`RawArray`] (without) hold plain
//! data in anonymous shared memory: numbers, `bool`, fixed-size arrays and `#[mp::shared]`
//! structs (Python's ctypes `Structure`), checked at compile time ([`sharedctypes`]).
//! [`shared_memory::SharedMemory`] and [`shared_memory::ShareableList`] are named segments that
//! unrelated processes attach by name; a [`resource_tracker`] unlinks those that a crashed
//! program leaves behind.
//!
//! # Pools
//!
//! A [`Pool`] runs `#[mp::task]` fns in worker processes: [`apply`](Pool::apply),
//! [`apply_async`](Pool::apply_async) with callbacks, [`map`](Pool::map),
//! [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered), [`starmap`](Pool::starmap)
//! and their `_async` forms, typed end to end. A task's panic or `Err` comes back as an
//! [`ErrorKind::Remote`] error carrying the worker's message ([`pool::RemoteTraceback`]), and a
//! worker that dies while running a task ([`ErrorKind::WorkerLost`]) is replaced, where CPython
//! hangs. See [`pool`].
//!
//! # Managers
//!
//! [`managers`] holds objects in a server process that other processes, of any start method or
//! on other machines, use through proxies: [`Manager()`](Manager) starts a [`SyncManager`] with
//! Python's `dict`, `list`, `Namespace`, `Queue`, `Lock`… types;
//! [`managers::BaseManager::builder()`](managers::BaseManager::builder) makes custom and remote
//! managers (TCP with an authkey), and `#[mp::proxy]` on an `impl` block
//! generates a typed proxy for a type of your own (Python's `BaseManager.register`). Requests
//! are plain data, never code.
//!
//! Managers also speak CPython's manager protocol, on the same address as their own: a Python
//! `BaseManager` or `SyncManager` client `connect()`s to an mp manager served over TCP and uses
//! its objects through Python's proxies, and an mp client `connect()`s to a Python manager's
//! server. Only Python's plain data crosses (`None`, `bool`, `int`, `float`, `str`, `bytes`,
//! `tuple`, `list`, `dict`, `set`, proxies); pickles are decoded without running any code
//! (see `docs/python-mapping.md`).
//!
//! # Dummy
//!
//! [`dummy`] is Python's `multiprocessing.dummy`: the same types and methods backed by threads,
//! so that code written against `mp` runs on threads by changing its `use` line. They are not
//! twins: each is mp's own type over another backend. `mp::dummy::Lock` is [`mp::Lock`](Lock)'s
//! engine with its state on the heap (the [`space::Threads`] memory space, see [`space`]);
//! `mp::dummy::Queue` is [`queues::QueueIn`] over the [`queues::Local`] flavour;
//! `mp::dummy::Connection` is [`connection::ConnectionIn`] over the [`connection::InMemory`]
//! link; `mp::dummy::Process` and `Pool` are [`process::ProcessIn`] and [`pool::PoolIn`] over
//! threads; and `mp::dummy::Manager()` is [`managers::SyncManagerIn`] over the
//! [`managers::InProcess`] host.
//!
//! # async/await
//!
//! With the feature `tokio` or `async-io`, processes, connections, listeners, queues, locks,
//! semaphores, events and pool results can be awaited: `p.join_async().await`,
//! `conn.recv_async::<T>().await`, `q.get_async().await`, `pool.apply_async(f, args)?.await`,
//! and `pool.imap(..)` is a `Stream`. No thread is parked per waiting future: descriptors go to
//! the program's reactor, shared-memory objects to one futex bridge thread per process. See
//! the `mp::aio` module (present with those features) for the whole table and the cancel-safety
//! rules, and the `async_tcp_pool` example.
//!
//! # Testing
//!
//! `#[mp::test]` is `#[test]` for code that starts processes: spawn and forkserver children of
//! a test binary find their task before libtest starts, so tests run under `cargo test` and
//! `cargo nextest run` with any filter. Put it above `#[tokio::test]` for an async test.
//!
//! ```
//! #[mp::task]
//! fn double(x: u32) -> u32 { x * 2 }
//!
//! #[mp::test]
//! fn doubles_in_a_pool() {
//!     let pool = mp::Pool::new(2).unwrap();
//!     assert_eq!(pool.map(double, [1, 2]).unwrap(), [2, 4]);
//! }
//! # fn main() {}
//! ```
//!
//! Bound every wait in a test (`join_timeout`, `get_timeout`, `poll_timeout`) so that a hang
//! fails the test instead of stalling the run.
//!
//! # Logging
//!
//! mp reports lifecycle events (a child starting and exiting, the exit handler, pool workers
//! being replaced) through the `log` crate with the target `multiprocessing`. They reach the
//! logger the program installed (`RUST_LOG=multiprocessing=info` with env_logger) with no call
//! to mp; [`get_logger`]`().set_level` filters them on top, as in Python, and
//! [`log_to_stderr`] prints them as CPython does:
//! `[INFO/Process-1] child process calling self.run()`. See [`logging`].
//!
//! # Errors
//!
//! Every fallible call returns [`Result<T>`](Result), whose [`Error`] has a [`kind`](Error::kind)
//! naming the Python exception it stands for ([`ErrorKind::Timeout`] for
//! `multiprocessing.TimeoutError`, [`ErrorKind::Eof`] for `EOFError`,
//! [`ErrorKind::Authentication`], [`ErrorKind::BufferTooShort`] with the message in
//! [`Error::payload`]…) and a message. Operations on queues have their own error types that
//! give the item back. mp never panics on bad input from a user or a peer.
//!
//! # Feature flags
//!
//! - `macros` (default): the attributes `#[mp::main]`, `#[mp::task]`, `#[mp::test]` and
//!   `#[mp::shared]` (from the `multiprocess-macros` crate). Without it, [`init()`] replaces
//!   `#[mp::main]`, but no fn can be registered as a task: processes can run closures under the
//!   fork start method only, and pools have nothing to run.
//! - `pickle`: `Connection::send_pickle`, `recv_pickle` and `recv_pickle_value` exchange
//!   Python objects (pickles) with a CPython peer.
//! - `tokio`, `async-io`: async/await (`mp::aio`) with descriptor waits on tokio's reactor or on
//!   async-io's (smol, any executor); either implies `async`, the executor-independent part
//!   (queues, locks, pool results).
//!
//! # Platforms
//!
//! Linux, kernel 5.6 or newer (memfd, pidfd, `close_range`), is supported and tested. Other Unix
//! systems are not supported yet; Windows is out of scope.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
pub mod aio;
mod atfork;
mod bootstrap;
#[doc(hidden)]
pub mod codec;
pub mod connection;
pub mod context;
pub mod dummy;
mod error;
mod exec;
mod forkserver;
mod futex;
pub mod logging;
pub mod managers;
pub mod pool;
mod popen;
pub mod process;
pub mod queues;
pub mod reduction;
mod registry;
pub mod resource_tracker;
#[path = "shared_memory.rs"]
mod shared_memory_segments;
pub mod shared_memory {
    //! Named shared memory that unrelated processes can attach by name: Python's
    //! `multiprocessing.shared_memory` (`SharedMemory`, `ShareableList`).
    //!
    //! | Python | mp |
    //! |---|---|
    //! | `SharedMemory(create=True, size=n)` | [`SharedMemory::create(n)?`](SharedMemory::create) |
    //! | `SharedMemory(name)` | [`SharedMemory::attach(name)?`](SharedMemory::attach) |
    //! | `SharedMemory(name, create=True, size=n, track=False)` | [`SharedMemory::builder().name(name).size(n).track(false).create()?`](SharedMemoryBuilder) |
    //! | `shm.name`, `shm.size` | [`shm.name()`](SharedMemory::name), [`shm.size()`](SharedMemory::size) |
    //! | `shm.buf[a:b] = data`, `bytes(shm.buf[a:b])` | [`shm.write(a, data)?`](SharedMemory::write), [`shm.read_range(a..b)?`](SharedMemory::read_range) |
    //! | `shm.buf[i]` | [`shm.buf()[i]`](SharedMemory::buf) (an `AtomicU8`) |
    //! | `shm.close()`, `shm.unlink()` | [`shm.close()`](SharedMemory::close), [`shm.unlink()?`](SharedMemory::unlink) |
    //! | `ShareableList([1, 'a'])`, `ShareableList(name=n)` | [`ShareableList::new([1.into(), "a".into()])?`](ShareableList::new), [`ShareableList::attach(n)?`](ShareableList::attach) |
    //! | `with SharedMemoryManager() as smm: smm.SharedMemory(n)`, `smm.ShareableList(seq)` | [`let smm = SharedMemoryManager::builder().start()?;`](SharedMemoryManager), [`smm.shared_memory(n)?`](SharedMemoryManager::shared_memory), [`smm.shareable_list(seq)?`](SharedMemoryManager::shareable_list) |
    //!
    //! # The buffer and soundness
    //!
    //! A named segment can be written at any moment by any process that knows its name, mp or
    //! not, with no lock. A Rust `&[u8]` or `&mut [u8]` into it would promise the compiler that
    //! nobody else writes it, which no API can guarantee here. So the safe API only uses atomic
    //! accesses: [`buf`](SharedMemory::buf) is a `&[AtomicU8]`, and the bulk copies
    //! [`read`](SharedMemory::read) and [`write`](SharedMemory::write) move the bytes with relaxed
    //! word-sized atomic loads and stores (as fast as `memcpy` for all practical sizes). Like
    //! Python's `memoryview`, they never tear bytes but give no ordering between processes beyond
    //! what you build yourself (a [`Lock`](crate::Lock), an [`Event`](crate::Event), a message).
    //! For zero-copy access, [`as_slice`](SharedMemory::as_slice) and
    //! [`as_mut_slice`](SharedMemory::as_mut_slice) are `unsafe` and say what the caller promises.
    //!
    //! # Cleanup
    //!
    //! A segment stays in `/dev/shm` until [`unlink`](SharedMemory::unlink). Segments created or
    //! attached with `track` on (the default) are registered with the
    //! [resource tracker](crate::resource_tracker), which unlinks those still registered when
    //! every process of the program has exited, with a warning, as CPython does.

    pub use crate::managers::SharedMemoryManager;
    pub use crate::shared_memory_segments::*;
}
pub mod sharedctypes;
mod shm;
pub mod space;
pub mod synchronize;
mod sys;
mod task;
mod thread;

#[doc(hidden)]
pub mod __private;

pub use crate::connection::{Client, Connection, Listener, Pipe};
pub use crate::context::{
    Context, StartMethod, cpu_count, default_context, freeze_support, get_all_start_methods,
    get_context, get_start_method, get_start_method_allow_none, set_executable, set_start_method,
};
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::logging::{get_logger, log_to_stderr};
pub use crate::managers::{Manager, SyncManager};
pub use crate::pool::{AsyncResult, IMapIterator, Pool, PoolBuilder};
pub use crate::process::{
    ChildInfo, CurrentProcess, ParentProcess, Process, ProcessBuilder, ProcessOutput, Run, Target,
    active_children, current_process, parent_process,
};
pub use crate::queues::{JoinableQueue, Queue, SimpleQueue};
pub use crate::registry::registered_tasks;
pub use crate::sharedctypes::{Array, RawArray, RawValue, Value};
pub use crate::synchronize::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
pub use crate::task::{Task, TaskRef};

#[cfg(feature = "macros")]
#[doc(inline)]
pub use mp_macros::{main, proxy, shared, task, test};

/// The `__main__` guard without the macro: call it first thing in `main`.
///
/// In a process started by the spawn or forkserver method this runs the child's task and
/// exits (normally that already happened before `main`, see `docs/start-methods.md`); in the
/// main process it checks the task registry and arranges for the exit handler (terminate the
/// daemonic children, join the others) to run when the process exits.
///
/// # Panics
///
/// Panics if two `#[mp::task]` items share a registry name; the message names both.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// mp::init(); // first thing in `main`
/// let p = mp::Process::builder(|| {}, ()).start_method(mp::StartMethod::Fork).build();
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(()) }
/// ```
pub fn init() {
    bootstrap::main_guard();
}
