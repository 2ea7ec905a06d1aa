//! The shared-memory flavour of the queues ([`Shm`]): items are encoded with mp's codec into a
//! ring in an anonymous shared-memory region (`core.rs`), their handles travel beside them
//! (`chan.rs`), and a queue handle crosses to other processes as its two descriptors.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::core::{Core, Fail, JOINABLE, QUEUE, SIMPLE, Wait, type_hash};
use super::{
    JoinableQueue, Queue, QueueIn, SimpleQueue, SimpleQueueIn, TryGetError, TryPutError, lost_wait,
    sealed,
};
use crate::connection::{Fd, OwnedFdDe};
use crate::error::{Error, ErrorKind, Result};
use crate::reduction;

/// The flavour of [`mp::Queue`](crate::Queue) and its kin: a ring of encoded items in shared
/// memory, usable by every process that holds the queue. Items must serialize.
#[derive(Debug)]
pub struct Shm;

fn hash_of<T>() -> u64 {
    type_hash(std::any::type_name::<T>())
}

fn fail_to_error(f: Fail) -> Error {
    match f {
        Fail::Timeout => lost_wait(),
        Fail::Closed => Error::value("queue is closed"),
        Fail::ShutDown => Error::new(ErrorKind::ShutDown, "queue is shut down"),
        Fail::Err(e) => e,
    }
}

impl sealed::FlavourImpl for Shm {
    type Core<T> = Core;

    fn create<T>(kind: u32, maxsize: usize, capacity: Option<usize>) -> Result<Core> {
        match capacity {
            None => Core::with_default_capacity(kind, maxsize, hash_of::<T>()),
            Some(c) => Core::new(kind, maxsize, c, hash_of::<T>()),
        }
    }

    fn qsize<T>(c: &Core) -> usize {
        c.qsize()
    }

    fn full<T>(c: &Core) -> bool {
        c.full()
    }

    fn maxsize<T>(c: &Core) -> usize {
        c.maxsize()
    }

    fn capacity<T>(c: &Core) -> usize {
        c.capacity()
    }

    fn close<T>(c: &Core) {
        c.close();
    }

    fn is_closed<T>(c: &Core) -> bool {
        c.is_closed()
    }

    fn was_used<T>(c: &Core) -> bool {
        c.was_used()
    }

    fn shutdown<T>(c: &Core, immediate: bool) -> Result<()> {
        c.shutdown(immediate).map_err(fail_to_error)
    }

    fn is_shutdown<T>(c: &Core) -> bool {
        c.is_shutdown()
    }

    fn task_done<T>(c: &Core) -> Result<()> {
        c.task_done()
    }

    fn join<T>(c: &Core, wait: Wait) -> Result<bool> {
        c.join(wait)
    }

    fn unfinished<T>(c: &Core) -> usize {
        c.unfinished()
    }

    #[cfg(feature = "async")]
    fn subscribe<T>(
        c: &Core,
        which: super::sealed::Cv,
    ) -> Result<(&std::sync::atomic::AtomicU32, u32)> {
        c.subscribe(which)
    }

    #[cfg(feature = "async")]
    fn unsubscribe<T>(c: &Core, which: super::sealed::Cv, seen: u32, pass_on: bool) {
        c.unsubscribe(which, seen, pass_on);
    }
}

impl<T: Serialize + DeserializeOwned> sealed::CarriesImpl<T> for Shm {
    fn put(core: &Core, item: T, wait: Wait) -> std::result::Result<(), TryPutError<T>> {
        // References carried for the receiver by handles in `item` (manager proxies) are given
        // back if the item is not put.
        let (encoded, carried) = reduction::holding(|| reduction::encode(&item));
        let (bytes, fds) = match encoded {
            Ok(x) => x,
            Err(e) => return Err(TryPutError::Failed(item, e)),
        };
        let put = core.put(&bytes, &fds, wait);
        carried.settle(put.is_ok());
        match put {
            Ok(()) => Ok(()),
            Err(Fail::Timeout) => Err(TryPutError::Full(item)),
            Err(Fail::Closed) => Err(TryPutError::Closed(item)),
            Err(Fail::ShutDown) => Err(TryPutError::ShutDown(item)),
            Err(Fail::Err(e)) => Err(TryPutError::Failed(item, e)),
        }
    }

    fn get(core: &Core, wait: Wait) -> std::result::Result<T, TryGetError> {
        match core.get(wait) {
            Ok((bytes, fds)) => reduction::decode(&bytes, fds).map_err(TryGetError::Failed),
            Err(Fail::Timeout) => Err(TryGetError::Empty),
            Err(Fail::Closed) => Err(TryGetError::Closed),
            Err(Fail::ShutDown) => Err(TryGetError::ShutDown),
            Err(Fail::Err(e)) => Err(TryGetError::Failed(e)),
        }
    }
}

fn serialize_core<S: Serializer>(core: &Core, s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    if core.is_closed() {
        return Err(S::Error::custom("queue is closed"));
    }
    let [region, chan] = core.fds();
    (Fd(region), Fd(chan)).serialize(s)
}

fn deserialize_core<'de, D: Deserializer<'de>, T>(
    d: D,
    kinds: &[u32],
) -> std::result::Result<Core, D::Error> {
    let (region, chan): (OwnedFdDe, OwnedFdDe) = Deserialize::deserialize(d)?;
    Core::attach(
        region.0,
        chan.0,
        kinds,
        hash_of::<T>(),
        std::any::type_name::<T>(),
    )
    .map_err(serde::de::Error::custom)
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_core(&self.core, s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Queue<T>, D::Error> {
        deserialize_core::<D, T>(d, &[QUEUE, JOINABLE]).map(QueueIn::from_core)
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_core(&self.queue.core, s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let core = deserialize_core::<D, T>(d, &[JOINABLE])?;
        Ok(JoinableQueue {
            queue: QueueIn::from_core(core),
        })
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_core(&self.core, s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        deserialize_core::<D, T>(d, &[SIMPLE]).map(SimpleQueueIn::from_core)
    }
}
