//! Python's `multiprocessing`, rebuilt in Rust.
//!
//! `mp` gives Rust programs processes, pipes, queues, locks, shared memory, pools and managers
//! with the API that Python programmers know, plus what Rust adds: argument tuples checked
//! against the target at compile time, no interpreter, and no resources left behind when a
//! process dies.
//!
//! # Hello, world!
//!
//! ```
//! #[mp::task]
//! fn f(name: String) {
//!     println!("hello {name}");
//! }
//!
//! #[mp::main]
//! fn main() -> mp::Result<()> {
//!     let p = mp::Process::new(f, ("bob".to_string(),));
//!     p.start()?;
//!     p.join()?;
//!     assert_eq!(p.exitcode(), Some(0));
//!     Ok(())
//! }
//! ```
//!
//! # Python → Rust
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
//! | `get_context('fork')` | [`get_context("fork")?`](get_context) |
//! | `Pipe()`, `conn.send(x)`, `conn.recv()` | [`Pipe(true)?`](Pipe), [`conn.send(&x)?`](Connection::send), [`conn.recv::<T>()?`](Connection::recv) |
//! | `conn.send_bytes(b)`, `conn.recv_bytes()` | [`conn.send_bytes(b)?`](Connection::send_bytes), [`conn.recv_bytes()?`](Connection::recv_bytes) |
//! | `connection.Listener(address, authkey=k)`, `Client(address, authkey=k)` | [`Listener::builder().address(a).authkey(k).bind()?`](Listener::builder), [`Client::builder(a).authkey(k).connect()?`](Client::builder) |
//! | `connection.wait(objects, timeout)` | [`connection::wait(&objects, timeout)?`](connection::wait()) |
//! | `reduction.send_handle`, `recv_handle` | [`reduction::send_handle`], [`reduction::recv_handle`] |
//! | `log_to_stderr(logging.INFO)` | [`log_to_stderr(log::LevelFilter::Info)`](log_to_stderr) |
//! | `Pool(4)`, `pool.map(f, xs)`, `pool.apply_async(f, args)` | [`Pool::new(4)?`](Pool::new), [`pool.map(f, xs)?`](Pool::map), [`pool.apply_async(f, args)?`](Pool::apply_async) (see [`pool`]) |
//! | `(func, args)` tuples put in a queue | [`TaskRef::new(func)?`](TaskRef::new), which serializes by name |
//! | `Queue(maxsize)`, `q.put(x)`, `q.get()`, `q.get(timeout=t)` | [`Queue::new(maxsize)?`](Queue::new), [`q.put(x)?`](Queue::put), [`q.get()?`](Queue::get), [`q.get_timeout(t)?`](Queue::get_timeout) |
//! | `JoinableQueue()`, `SimpleQueue()`, `queue.Full`/`queue.Empty` | [`JoinableQueue`], [`SimpleQueue`], [`queues::TryPutError::Full`]/[`queues::TryGetError::Empty`] |
//! | `Lock()`, `RLock()`, `Semaphore(n)`, `Condition()`, `Event()`, `Barrier(n)` | [`Lock::new()?`](Lock::new), [`RLock`], [`Semaphore`], [`Condition`], [`Event`], [`Barrier`] (see [`synchronize`]) |
//! | `Value('d', 0.0)`, `Array('i', 10)`, a ctypes `Structure` | [`Value::new(0.0)?`](Value::new), [`Array::<i32>::new(10)?`](Array::new), `#[mp::shared] struct` (see [`sharedctypes`]) |
//! | `shared_memory.SharedMemory(create=True, size=n)`, `ShareableList` | [`shared_memory::SharedMemory::create(n)?`](shared_memory::SharedMemory::create), [`shared_memory::ShareableList`] |
//! | `with Manager() as m: d = m.dict()` | [`let m = mp::Manager()?; let d: DictProxy = m.dict()?;`](managers) |
//! | `manager.Pool(4)`, `SharedMemoryManager()`, `smm.SharedMemory(n)` | [`m.pool(4)?`](managers::SyncManager::pool), [`managers::SharedMemoryManager::new()`], [`smm.shared_memory(n)?`](managers::SharedMemoryManager::shared_memory) |
//! | `BaseManager.register('Maths', MathsClass)`, `proxy._callmethod(..)` | `#[mp::proxy] impl MathsClass {..}`, [`managers::BaseManager::builder().register(..)`](managers::ManagerBuilder::register), [`proxy.base().call_method(..)`](managers::BaseProxy::call_method) |
//!
//! # Start methods
//!
//! As in CPython 3.14 on Linux, the default is `forkserver`; `spawn` and `fork` are the others.
//! Under `fork` any `FnOnce + Send + 'static` closure can be a target; under `spawn` and
//! `forkserver` the target must be a `#[mp::task]` fn (the child finds it by name).
//!
//! # Platforms
//!
//! Linux is supported and tested; other Unix systems are not yet.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bootstrap;
pub mod connection;
pub mod context;
mod error;
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
pub mod shared_memory;
pub mod sharedctypes;
mod shm;
pub mod synchronize;
mod sys;
mod task;

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
