//! async/await: mp's objects awaited from tokio, smol or any executor.
//!
//! With the feature `tokio` or `async-io` (or both), the blocking methods get awaitable
//! twins, named as Python's own async twins in `Pool` are (`apply_async`): a `_async`
//! suffix means "returns something to `.await`".
//!
//! | Python (blocking) | mp blocking | mp async |
//! |---|---|---|
//! | `p.join()` | [`Process::join`](crate::Process::join) | [`Process::join_async`](crate::process::ProcessIn::join_async) |
//! | `conn.recv()` | [`Connection::recv`](crate::Connection::recv) | [`recv_async`](crate::connection::ConnectionIn::recv_async), [`recv_bytes_async`](crate::connection::ConnectionIn::recv_bytes_async) |
//! | `conn.send(x)` | [`Connection::send`](crate::Connection::send) | [`send_async`](crate::connection::ConnectionIn::send_async), [`send_bytes_async`](crate::connection::ConnectionIn::send_bytes_async) |
//! | `listener.accept()` | [`Listener::accept`](crate::Listener::accept) | [`accept_async`](crate::Listener::accept_async) |
//! | `connection.wait(objs)` | [`connection::wait`](crate::connection::wait) | [`connection::wait_async`](crate::connection::wait_async) |
//! | `q.get()`, `q.put(x)` | [`Queue::get`](crate::Queue::get), [`Queue::put`](crate::Queue::put) | [`get_async`](crate::queues::QueueIn::get_async), [`put_async`](crate::queues::QueueIn::put_async) (and on `SimpleQueue`, `JoinableQueue`) |
//! | `jq.join()` | [`JoinableQueue::join`](crate::JoinableQueue::join) | [`join_async`](crate::queues::JoinableQueueIn::join_async) |
//! | `pool.apply_async(f, a).get()` | [`AsyncResult::get`](crate::AsyncResult::get) | `pool.apply_async(f, a)?.await` ([`AsyncResult`](crate::AsyncResult) is `IntoFuture`) |
//! | `for x in pool.imap(f, it)` | [`IMapIterator`](crate::IMapIterator) as an `Iterator` | the same value as a [`Stream`](futures_core::Stream) |
//! | `lock.acquire()`, `with lock:` | [`Lock::acquire`](crate::Lock::acquire), [`Lock::lock`](crate::Lock::lock) | [`acquire_async`](crate::synchronize::LockIn::acquire_async), [`lock_async`](crate::synchronize::LockIn::lock_async) |
//! | `sem.acquire()` | [`Semaphore::acquire`](crate::Semaphore::acquire) | [`acquire_async`](crate::synchronize::SemaphoreIn::acquire_async) (and on `BoundedSemaphore`) |
//! | `event.wait()` | [`Event::wait`](crate::Event::wait) | [`wait_async`](crate::synchronize::EventIn::wait_async) |
//! | `barrier.wait()` | [`Barrier::wait`](crate::Barrier::wait) | [`wait_async`](crate::synchronize::BarrierIn::wait_async) |
//!
//! `RLock` and `Condition` have no async form: they are owned by a thread, and a task moves
//! between threads at its awaits (a task that took an `RLock` on one thread could not release
//! it on another). For them, `spawn_blocking` (a thread for the length of the wait) is the
//! honest form. `Process::start` stays blocking and short: it returns once the
//! child is launched (about 0.1 ms under fork and forkserver; about 1 ms under spawn, which
//! waits for the child's bootstrap to acknowledge), never waiting for the child's work.
//!
//! # No thread per waiting future
//!
//! - **Descriptors** (a connection, a listener, a process's sentinel) are waited on by the
//!   program's own reactor: tokio's inside a tokio runtime, async-io's elsewhere. Each wait
//!   registers a duplicate of the descriptor, so the object stays usable from blocking code
//!   and from other processes meanwhile.
//! - **Shared-memory objects** (queues) have no descriptor: one thread per process sleeps in
//!   `futex_waitv(2)` on the words of every pending wait and wakes the tasks whose word
//!   changed. A thousand pending `get_async` calls cost that one thread.
//! - **Results of a pool** are delivered by the pool's own result thread, which wakes the task
//!   directly.
//!
//! # Cancel safety
//!
//! Dropping one of these futures before it completes loses nothing:
//!
//! | future | dropped before completion leaves |
//! |---|---|
//! | `recv_async`, `recv_bytes_async` | every message in the connection: a message is read only once it has begun to arrive, and then to its end before the future yields again |
//! | `send_async`, `send_bytes_async` | nothing sent: the message is written in one piece once the connection can take data (a message larger than the free buffer space is written by a blocking call, as the blocking `send` does) |
//! | `get_async` | every item in the queue (an item is taken in one step, never half) |
//! | `put_async` | the item not put (it is dropped with the future) |
//! | `join_async` (process, queue) | nothing to undo |
//! | `acquire_async`, `lock_async` (lock, semaphores) | nothing held, nothing taken; a wake-up it may have received is handed to the next waiter |
//! | `wait_async` (event) | nothing to undo |
//! | `wait_async` (barrier) | the barrier whole: the party leaves the round, as in `asyncio.Barrier` |
//! | `AsyncResult` as a future | the result, still in the `AsyncResult`'s slot: the `AsyncResult` is consumed by `.await`, so use [`AsyncResult::wait_async`](crate::AsyncResult::wait_async) to keep it |
//! | `IMapIterator` as a stream | the results not yet yielded |
//!
//! # Blocking parts
//!
//! A future never sleeps in a blocking call waiting for a peer. Two steps do run to their end
//! once started, as they do in the blocking methods: reading the rest of a message whose first
//! bytes arrived (the sender writes each message at once), and the authentication handshake of
//! an accepted or connecting client, which its builder's handshake timeout bounds.
//!
//! # Examples
//!
//! A child computes while the parent's tokio task awaits its queue, its exit and a pool:
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # #[mp::main] fn main() -> mp::Result<()> {
//! use mp::{Pool, Process, Queue};
//!
//! #[mp::task]
//! fn produce(q: Queue<u64>) -> mp::Result<()> {
//!     for i in 0..3 {
//!         q.put(i)?;
//!     }
//!     Ok(())
//! }
//!
//! #[mp::task]
//! fn square(x: u64) -> u64 { x * x }
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     let q = Queue::new(0)?;
//!     let p = Process::builder(produce, (q.clone(),)).start()?;
//!     let mut sum = 0;
//!     for _ in 0..3 {
//!         sum += q.get_async().await?;
//!     }
//!     p.join_async().await?;
//!     assert_eq!((sum, p.exitcode()), (3, Some(0)));
//!
//!     let pool = Pool::new(2)?;
//!     assert_eq!(pool.apply_async(square, (7,))?.await?, 49);
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "tokio"))] fn main() {}
//! ```

pub(crate) mod futex;
pub(crate) mod reactor;

pub(crate) use reactor::Interest;
