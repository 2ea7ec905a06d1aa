//! Thread pools with the API of [`mp::pool`](crate::pool): Python's
//! `multiprocessing.pool.ThreadPool`, which `multiprocessing.dummy.Pool` returns.
//!
//! [`Pool`] is mp's pool front, [`PoolIn`](crate::pool::PoolIn), with worker *threads* as its
//! executor ([`WorkerThreads`]): the same targets as [`mp::Pool`](crate::Pool) — `#[mp::task]` fns —
//! run with [`Task::run`](crate::task::Task::run) called directly, the arguments and values
//! moved, never serialized. Use it for work that waits (I/O, sleeping, calling out) rather
//! than computes, or to run the same program without processes.
//!
//! Errors keep [`mp::Pool`](crate::Pool)'s kinds and messages, so that code handling them is
//! portable: a task's panic or `Err` is an [`ErrorKind::Remote`](crate::ErrorKind::Remote)
//! error whose message is the task's own (`task `f` failed: <the Err's text>`) and whose
//! [`source`](std::error::Error::source) is a [`RemoteTraceback`] naming the worker thread.
//! What differs from worker processes is listed at [`WorkerThreads`].
//!
//! # Examples
//!
//! ```
//! #[mp::task]
//! fn square(x: u64) -> u64 { x * x }
//!
//! let pool = mp::dummy::Pool::new(4)?;
//! assert_eq!(pool.apply(square, (10,))?, 100);
//! assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! let mut it = pool.imap(square, 0..3)?;
//! assert_eq!(it.next().transpose()?, Some(0));
//! pool.close()?;
//! pool.join()?;
//! # Ok::<(), mp::Error>(())
//! ```

pub use crate::pool::{AsyncResult, Chunked, IMapIterator, RemoteTraceback, WorkerThreads};

/// A pool of worker threads: Python's `multiprocessing.pool.ThreadPool`
/// (`multiprocessing.dummy.Pool`), with the API of [`mp::Pool`](crate::Pool).
pub type Pool = crate::pool::PoolIn<WorkerThreads>;

/// Builder for a thread [`Pool`]: `processes`, `initializer`, `maxtasksperchild` as for
/// [`mp::PoolBuilder`](crate::PoolBuilder) (`context` and `start_method` are accepted and
/// ignored).
pub type PoolBuilder = crate::pool::PoolBuilderIn<WorkerThreads>;
