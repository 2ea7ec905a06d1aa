//! How `mp::dummy` objects cross an in-process transport.
//!
//! mp's handles serialize as descriptors that travel with the message. A `mp::dummy` object
//! is memory of this process: while a value is encoded for a dummy transport (a dummy
//! `Connection`, a pool initializer's arguments), every dummy
//! handle inside it puts a clone of itself into a side table and writes only the table index
//! into the bytes; the table travels with the bytes in memory. Serializing a dummy handle
//! anywhere else (through an mp `Connection` to another process) is a clear error.
//!
//! This is also what lets a `#[mp::task]` fn take dummy handles as arguments: a task's
//! argument tuple must be serializable, and dummy handles are.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

type Kept = Arc<dyn Any + Send + Sync>;

thread_local! {
    static ENCODING: RefCell<Option<Vec<Kept>>> = const { RefCell::new(None) };
    static DECODING: RefCell<Option<Vec<Kept>>> = const { RefCell::new(None) };
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

/// A number that identifies the calling thread for as long as the process lives (never 0,
/// never reused): the owner of a lock, the borrower of a value.
pub(crate) fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    TOKEN.with(|t| {
        let v = t.get();
        if v != 0 {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed);
        t.set(v);
        v
    })
}

/// A value encoded for an in-process transport: the codec's bytes, the descriptors of the mp
/// handles inside it, and the dummy handles inside it (alive while the packet is).
#[allow(missing_debug_implementations)]
pub struct Packet {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
    pub(crate) kept: Vec<Kept>,
}

impl Packet {
    /// Decodes the packet, consuming it.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<T> {
        with_decoding(self.kept, || {
            crate::reduction::decode(&self.bytes, self.fds)
        })
    }

    /// Encodes `value`, collecting the handles inside it.
    pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Packet> {
        let (r, kept) = with_encoding(|| crate::reduction::encode(value));
        let (bytes, fds) = r?;
        Ok(Packet { bytes, fds, kept })
    }

    /// Duplicates the descriptors and clones the handle table, so that the packet can be
    /// decoded once per user (a pool initializer's arguments, once per worker).
    pub(crate) fn try_clone(&self) -> Result<Packet> {
        let fds = self
            .fds
            .iter()
            .map(|f| sys::dup(f.as_raw_fd()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::os("dup", e))?;
        Ok(Packet {
            bytes: self.bytes.clone(),
            fds,
            kept: self.kept.clone(),
        })
    }
}

/// Runs `f` (an encode) with a fresh side table for dummy handles; returns what it collected.
pub(crate) fn with_encoding<R>(f: impl FnOnce() -> R) -> (R, Vec<Kept>) {
    let outer = ENCODING.with(|e| e.borrow_mut().replace(Vec::new()));
    let r = f();
    let kept = ENCODING.with(|e| std::mem::replace(&mut *e.borrow_mut(), outer));
    (r, kept.unwrap_or_default())
}

/// Runs `f` (a decode) with `kept` as the side table of dummy handles.
pub(crate) fn with_decoding<R>(kept: Vec<Kept>, f: impl FnOnce() -> R) -> R {
    let outer = DECODING.with(|d| d.borrow_mut().replace(kept));
    let r = f();
    DECODING.with(|d| *d.borrow_mut() = outer);
    r
}

/// A dummy object that can travel through a dummy transport: each copy is another handle on
/// the same object.
pub(crate) trait Handle: Send + Sync + Sized + 'static {
    /// Another handle on the same object.
    fn dup(&self) -> Self;
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "__mp_dummy_handle")]
struct Index(u32);

fn not_here(what: &str) -> String {
    format!(
        "`{what}` is a thread object of `mp::dummy`: it can travel through `mp::dummy` \
         connections and be a task argument in this process, not cross to another process"
    )
}

/// Puts `item` into the active side table and returns its index there, or says why it cannot
/// travel (no in-process transport is encoding: the bytes would leave the process).
pub(crate) fn keep<H: Any + Send + Sync>(
    item: Arc<H>,
    what: &str,
) -> std::result::Result<u64, String> {
    let index = ENCODING.with(|e| {
        e.borrow_mut().as_mut().map(|v| {
            v.push(item as Kept);
            v.len() - 1
        })
    });
    match index.map(u32::try_from) {
        Some(Ok(i)) => Ok(u64::from(i)),
        Some(Err(_)) => Err("too many handles in one message".to_owned()),
        None => Err(not_here(what)),
    }
}

/// The item at `index` of the active side table.
pub(crate) fn kept(index: u64) -> Option<Kept> {
    let i = usize::try_from(index).ok()?;
    DECODING.with(|t| t.borrow().as_ref().and_then(|v| v.get(i).cloned()))
}

/// Serializes a handle into the active side table (used by dummy types' `Serialize`).
pub(crate) fn serialize<H: Handle, S: Serializer>(
    h: &H,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let i = keep(Arc::new(h.dup()), std::any::type_name::<H>()).map_err(S::Error::custom)?;
    Index(i as u32).serialize(s)
}

/// Takes a handle out of the active side table (used by dummy types' `Deserialize`).
pub(crate) fn deserialize<'de, H: Handle, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<H, D::Error> {
    use serde::de::Error as _;
    let Index(i) = Index::deserialize(d)?;
    let Some(kept) = kept(u64::from(i)) else {
        return Err(D::Error::custom(not_here(std::any::type_name::<H>())));
    };
    match kept.downcast::<H>() {
        Ok(h) => Ok(h.dup()),
        Err(_) => Err(D::Error::custom(format!(
            "the message holds another kind of `mp::dummy` object than `{}`",
            std::any::type_name::<H>()
        ))),
    }
}

/// Implements `Serialize` and `Deserialize` for a dummy handle type through the side table.
macro_rules! handle_serde {
    ($ty:ident $(<$g:ident>)?) => {
        impl$(<$g: Send + 'static>)? ::serde::Serialize for $ty$(<$g>)? {
            fn serialize<S: ::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::space::handle::serialize(self, s)
            }
        }

        impl<'de, $($g: Send + 'static)?> ::serde::Deserialize<'de> for $ty$(<$g>)? {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                $crate::space::handle::deserialize(d)
            }
        }
    };
}
pub(crate) use handle_serde;
