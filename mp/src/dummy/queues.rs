//! Thread queues with the API of [`mp::queues`](crate::queues): Python's `queue.Queue`, which
//! `multiprocessing.dummy` exports as `Queue` and `JoinableQueue`.
//!
//! They are the local flavour of mp's queues. Items are moved into the queue and out of it:
//! nothing is serialized, so any `Send` type can be an item. The errors are mp's own types
//! ([`PutError`], [`TryPutError`], [`GetError`], [`TryGetError`]), which hand the item back, so
//! code matching on them works with both.
//!
//! ```
//! let q = mp::dummy::Queue::new(0)?;
//! q.put(vec![1, 2])?;
//! assert_eq!(q.get()?, [1, 2]);
//! # Ok::<(), mp::Error>(())
//! ```

pub use crate::queues::local::{JoinableQueue, Queue, SimpleQueue};
pub use crate::queues::{GetError, PutError, TryGetError, TryPutError};
pub use crate::queues::{JoinableQueueIn, Local, QueueIn, SimpleQueueIn};
