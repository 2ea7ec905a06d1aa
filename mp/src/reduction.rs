//! Serialization of values and of the OS handles inside them.
//!
//! Python's `multiprocessing.reduction` pickles objects and passes file descriptors with
//! `SCM_RIGHTS`. mp does the same with serde: while a value is encoded for a transport that can
//! carry descriptors (a [`Connection`](crate::Connection), a `Queue`, a process
//! start), every handle inside it puts a duplicate of its descriptor into a side table and
//! writes only the table index into the bytes. The transport sends the table in the same
//! message. Encoding a handle anywhere else is a clear error, never a dangling number.
//!
//! [`send_handle`] and [`recv_handle`] pass a bare descriptor, as Python's functions of the same
//! names do.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

thread_local! {
    static SPAWNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static ENCODE_FDS: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static DECODE_FDS: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

// ---------------------------------------------------------------------------------------------
// References carried by messages
// ---------------------------------------------------------------------------------------------

/// The side table of the handles whose objects are counted elsewhere (a manager's proxies:
/// their objects live while some process holds a reference). Their owner registers it once
/// ([`register_transfer`]); the transports ([`encode`], [`holding`], process starts) use it
/// through the functions below and never name the owner. With nothing registered, a process
/// has no such handles and the functions only run what they are given.
///
/// See `docs/design/managers.md`, "Reference transfer", for what each step does.
pub(crate) trait Transfer: Sync {
    /// A transport starts encoding one message on this thread (scopes nest).
    fn begin_message(&self);

    /// ... and finished it. If it `encoded`, takes the references that the handles in it
    /// asked for on behalf of the receiver.
    fn end_message(&self, encoded: bool) -> Result<()>;

    /// Starts collecting the references of the messages encoded on this thread (scopes
    /// nest). `pin`: their bytes will be decoded more than once, so receivers take their own
    /// references and the collected ones only keep the objects alive.
    fn begin_collect(&self, pin: bool);

    /// ... and returns what was collected.
    fn end_collect(&self) -> Carried;

    /// Forks with `fork`, lending the child the references this process holds. `target`: the
    /// task the child runs, if it is a registered one.
    fn fork(&self, target: Option<&str>, fork: &mut dyn FnMut() -> libc::pid_t) -> libc::pid_t;

    /// Gives back every reference this process holds (a fork child that is leaving).
    fn release_all(&self);
}

static TRANSFER: OnceLock<&'static dyn Transfer> = OnceLock::new();

/// Registers the side table (the first registration stays).
pub(crate) fn register_transfer(t: &'static dyn Transfer) {
    let _ = TRANSFER.set(t);
}

/// What an owner of counted references gives a transport to settle once it knows whether
/// its message went out.
pub(crate) trait Settle: Send + Sync {
    /// The message was sent: its receiver owns the references now.
    fn deliver(self: Box<Self>);
}

/// References that encoded messages hold for their receivers: given back when dropped,
/// unless [`settle`](Carried::settle)d as sent.
#[derive(Default)]
pub(crate) struct Carried(Option<Box<dyn Settle>>);

impl Carried {
    /// Wraps an owner's references.
    pub(crate) fn new(s: Box<dyn Settle>) -> Carried {
        Carried(Some(s))
    }

    /// Hands the references to the receiver if the message was `sent`; gives them back if not.
    pub(crate) fn settle(self, sent: bool) {
        if sent && let Some(s) = self.0 {
            s.deliver();
        }
    }
}

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Carried(..)"
        } else {
            "Carried(none)"
        })
    }
}

/// Ends a scope of the side table when what runs in it panics (forgotten otherwise).
struct Unwinding<'a> {
    t: &'a dyn Transfer,
    end: fn(&dyn Transfer),
}

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        (self.end)(self.t);
    }
}

/// Runs `f`, an encode of one message, under the side table (see
/// [`Transfer::begin_message`]).
pub(crate) fn message<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let Some(&t) = TRANSFER.get() else {
        return f();
    };
    t.begin_message();
    let unwinding = Unwinding {
        t,
        end: |t| drop(t.end_message(false)),
    };
    let r = f();
    std::mem::forget(unwinding);
    let taken = t.end_message(r.is_ok());
    let r = r?;
    taken.map(|()| r)
}

fn collect<R>(pin: bool, f: impl FnOnce() -> R) -> (R, Carried) {
    let Some(&t) = TRANSFER.get() else {
        return (f(), Carried::default());
    };
    t.begin_collect(pin);
    let unwinding = Unwinding {
        t,
        end: |t| drop(t.end_collect()),
    };
    let r = f();
    std::mem::forget(unwinding);
    (r, t.end_collect())
}

/// Runs `f` (an encode and its send); returns the references the messages encoded in it
/// carry, to [`settle`](Carried::settle) once it is known whether they were sent.
pub(crate) fn holding<R>(f: impl FnOnce() -> R) -> (R, Carried) {
    collect(false, f)
}

/// Runs `f`, an encode whose bytes will be decoded more than once: its handles carry no
/// references (each receiver takes its own); the returned pins keep their objects alive,
/// so keep them as long as the bytes.
pub(crate) fn pinning<R>(f: impl FnOnce() -> R) -> (R, Carried) {
    collect(true, f)
}

/// `fork()` through the side table (see [`Transfer::fork`]).
pub(crate) fn fork_lending(
    target: Option<&str>,
    fork: impl FnOnce() -> libc::pid_t,
) -> libc::pid_t {
    let Some(t) = TRANSFER.get() else {
        return fork();
    };
    let mut fork = Some(fork);
    t.fork(target, &mut || fork.take().map_or(-1, |f| f()))
}

/// Gives back every reference this process holds (see [`Transfer::release_all`]).
pub(crate) fn release_references() {
    if let Some(t) = TRANSFER.get() {
        t.release_all();
    }
}

/// Encodes `value` with the codec. Handles inside it are an error.
pub(crate) fn encode_plain<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| {
        Error::ser(format!(
            "cannot serialize `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Decodes a value that carries no handles. Touches no thread-local state, so it also works
/// in an `atexit` handler, after the thread's locals are gone.
pub(crate) fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, used) = decode_bytes::<T>(bytes).map_err(|e| decode_error::<T>(e))?;
    if used != bytes.len() {
        return Err(trailing::<T>(bytes.len() - used));
    }
    Ok(value)
}

/// The one call into the codec's decoder (every decode goes through here).
fn decode_bytes<T: DeserializeOwned>(
    bytes: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    decode_bounded::<T>(bytes)
}

fn decode_error<T>(e: impl std::fmt::Display) -> Error {
    Error::ser(format!(
        "cannot deserialize `{}`: {e}",
        std::any::type_name::<T>()
    ))
}

fn trailing<T>(n: usize) -> Error {
    Error::ser(format!(
        "cannot deserialize `{}`: {n} trailing bytes",
        std::any::type_name::<T>()
    ))
}

const NO_TRANSPORT_SER: &str = "an mp handle can only be serialized by an mp transport (a \
    Connection, a Queue or a process start), which passes its descriptor along";
const NO_TRANSPORT_DE: &str = "an mp handle can only be deserialized from an mp transport \
    that carried its descriptor";

/// Encodes `value`, collecting duplicates of the descriptors of the handles inside it.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    // Handles inside the message that hold references elsewhere (manager proxies) carry
    // one for the receiver.
    message(|| encode_inner(value))
}

fn encode_inner<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let Ok(outer) = ENCODE_FDS.try_with(|t| t.borrow_mut().replace(Vec::new())) else {
        // This thread's locals are gone (an `atexit` handler): only plain values can go.
        return encode_plain(value).map(|b| (b, Vec::new()));
    };
    let res = bincode::serde::encode_to_vec(value, config());
    let fds = ENCODE_FDS
        .try_with(|t| std::mem::replace(&mut *t.borrow_mut(), outer))
        .ok()
        .flatten()
        .unwrap_or_default();
    let bytes = res.map_err(|e| {
        Error::ser(format!(
            "cannot serialize `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    Ok((bytes, fds))
}

/// [`encode`] for the arguments of a child process being started: while it runs,
/// [`spawning`] is true (so that proxies include their manager's authkey, as CPython's do
/// only while spawning).
pub(crate) fn encode_for_child<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let outer = SPAWNING.with(|s| s.replace(true));
    let r = encode(value);
    SPAWNING.with(|s| s.set(outer));
    r
}

/// Whether the value being encoded is the argument tuple of a child process being started.
pub(crate) fn spawning() -> bool {
    SPAWNING.with(|s| s.get())
}

/// Like [`encode`], but appends the bytes to `buf` (so that a caller can reuse one buffer).
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>> {
    // Manager proxies inside the message carry a reference for the receiver.
    message(|| encode_into_inner(value, buf))
}

fn encode_into_inner<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<Vec<OwnedFd>> {
    let Ok(outer) = ENCODE_FDS.try_with(|t| t.borrow_mut().replace(Vec::new())) else {
        // This thread's locals are gone (an `atexit` handler): only plain values can go.
        buf.extend(encode_plain(value)?);
        return Ok(Vec::new());
    };
    let res = bincode::serde::encode_into_std_write(value, buf, config());
    let fds = ENCODE_FDS
        .try_with(|t| std::mem::replace(&mut *t.borrow_mut(), outer))
        .ok()
        .flatten()
        .unwrap_or_default();
    res.map_err(|e| {
        Error::ser(format!(
            "cannot serialize `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    Ok(fds)
}

/// Decodes a value, handing it the descriptors that arrived with its bytes.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T> {
    if fds.is_empty() {
        return decode_plain(bytes);
    }
    let table = fds.into_iter().map(Some).collect();
    let outer = DECODE_FDS
        .try_with(|t| t.borrow_mut().replace(table))
        .map_err(|_| Error::ser(NO_TRANSPORT_DE))?;
    let res = decode_bytes::<T>(bytes);
    let _ = DECODE_FDS.try_with(|t| *t.borrow_mut() = outer);
    let (value, used) = res.map_err(|e| decode_error::<T>(e))?;
    if used != bytes.len() {
        return Err(trailing::<T>(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes with a limit on what the decoder may allocate, proportional to the input.
///
/// bincode allocates a string or byte buffer as soon as it reads its length, so without a
/// limit a 10-byte message announcing a 2^60-byte string aborts the process. Every value
/// claims at most 16 bytes of memory per input byte (a 1-byte varint decoding to a `u128`),
/// plus whatever serde preallocates with its own cautious caps, so a limit of 16 x the input
/// never refuses real data. bincode's limit is a const generic: the input size picks one of a
/// few buckets (the limit is at most 256 x the input, and at least 1 MiB).
fn decode_bounded<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    use bincode::serde::decode_from_slice as d;
    let need = bytes.len().saturating_mul(16);
    if need <= 1 << 20 {
        d(bytes, config().with_limit::<{ 1 << 20 }>())
    } else if need <= 1 << 24 {
        d(bytes, config().with_limit::<{ 1 << 24 }>())
    } else if need <= 1 << 28 {
        d(bytes, config().with_limit::<{ 1 << 28 }>())
    } else if need <= 1 << 32 {
        d(bytes, config().with_limit::<{ 1 << 32 }>())
    } else if need <= 1 << 36 {
        d(bytes, config().with_limit::<{ 1 << 36 }>())
    } else {
        d(bytes, config().with_limit::<{ usize::MAX }>())
    }
}

/// Serializes a descriptor into the active side table (used by handle types' `Serialize`).
pub(crate) fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let dup = sys::dup(fd.as_raw_fd()).map_err(S::Error::custom)?;
    let index = ENCODE_FDS
        .try_with(|t| match t.borrow_mut().as_mut() {
            Some(v) => {
                v.push(dup);
                Ok(v.len() as u32 - 1)
            }
            None => Err(S::Error::custom(NO_TRANSPORT_SER)),
        })
        .map_err(|_| S::Error::custom(NO_TRANSPORT_SER))??;
    s.serialize_newtype_struct("__mp_fd", &index)
}

/// Takes a descriptor out of the active side table (used by handle types' `Deserialize`).
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    use serde::de::Error as _;
    #[derive(Deserialize)]
    #[serde(rename = "__mp_fd")]
    struct Index(u32);
    let Index(i) = Index::deserialize(d)?;
    DECODE_FDS
        .try_with(|t| match t.borrow_mut().as_mut() {
            Some(v) => v
                .get_mut(i as usize)
                .and_then(Option::take)
                .ok_or_else(|| D::Error::custom(format!("handle #{i} missing from the message"))),
            None => Err(D::Error::custom(NO_TRANSPORT_DE)),
        })
        .map_err(|_| D::Error::custom(NO_TRANSPORT_DE))?
}

/// A file descriptor that can travel inside a message: Python's `reduction.DupFd`.
///
/// Serializing a `Handle` duplicates its descriptor into the message; the receiving process
/// gets its own descriptor for the same open file.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::io::{Read, Write};
/// use mp::reduction::Handle;
/// let (a, b) = mp::Pipe(true)?;
/// let (mut r, w) = std::io::pipe()?;
/// a.send(&Handle::new(w.try_clone()?.into()))?;
/// let h: Handle = b.recv()?;
/// let mut w2 = std::fs::File::from(h.into_owned_fd());
/// w2.write_all(b"hi")?;
/// drop((w, w2));
/// let mut s = String::new();
/// r.read_to_string(&mut s)?;
/// assert_eq!(s, "hi");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Handle(OwnedFd);

impl Handle {
    /// Wraps a descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = std::fs::File::open("/dev/null").unwrap();
    /// let h = mp::reduction::Handle::new(f.into());
    /// # drop(h);
    /// ```
    pub fn new(fd: OwnedFd) -> Handle {
        Handle(fd)
    }

    /// The descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = std::fs::File::open("/dev/null").unwrap();
    /// let fd = mp::reduction::Handle::new(f.into()).into_owned_fd();
    /// # drop(fd);
    /// ```
    pub fn into_owned_fd(self) -> OwnedFd {
        self.0
    }
}

impl AsFd for Handle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Handle {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Handle, D::Error> {
        deserialize_fd(d).map(Handle)
    }
}

// Python's `reduction.send_handle`/`recv_handle` are operations of a connection, which sits
// above this module: they live there.
pub use crate::connection::handles::{recv_handle, send_handle};
