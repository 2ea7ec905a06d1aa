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
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

thread_local! {
    static SPAWNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static ENCODE_FDS: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    /// The keyed descriptors of the message being encoded, by key: each goes once.
    static ENCODE_KEYS: RefCell<Vec<((u64, u64), u32)>> = const { RefCell::new(Vec::new()) };
    static DECODE_FDS: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
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

    /// The rank (see [`crate::atfork`]) of the lock [`fork`](Transfer::fork) holds across
    /// `fork()`: [`fork_lending`] nests the tables in rank order, outer first, as every other
    /// taker of those locks does.
    fn rank(&self) -> u8;

    /// Forks with `fork`, lending the child the references this process holds. `target`: the
    /// task the child runs, if it is a registered one.
    fn fork(&self, target: Option<&str>, fork: &mut dyn FnMut() -> libc::pid_t) -> libc::pid_t;

    /// Gives back every reference this process holds (a fork child that is leaving).
    fn release_all(&self);
}

/// The registered tables (manager proxies, arena blocks), in registration order.
static TRANSFERS: [OnceLock<&'static dyn Transfer>; 2] = [OnceLock::new(), OnceLock::new()];

/// Registers a side table (once per owner).
pub(crate) fn register_transfer(t: &'static dyn Transfer) {
    for slot in &TRANSFERS {
        if slot.set(t).is_ok() {
            return;
        }
    }
}

fn transfers() -> impl Iterator<Item = &'static dyn Transfer> {
    TRANSFERS.iter().filter_map(|s| s.get().copied())
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
pub(crate) struct Carried(Vec<Box<dyn Settle>>);

impl Carried {
    /// Wraps an owner's references.
    pub(crate) fn new(s: Box<dyn Settle>) -> Carried {
        Carried(vec![s])
    }

    fn absorb(&mut self, other: Carried) {
        self.0.extend(other.0);
    }

    /// Hands the references to the receiver if the message was `sent`; gives them back if not.
    pub(crate) fn settle(self, sent: bool) {
        if sent {
            for s in self.0 {
                s.deliver();
            }
        }
    }
}

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Carried({})", self.0.len())
    }
}

// The scopes of the references that counted handles (arena blocks) take for the receivers of
// the messages encoded on this thread. Kept once a process has such handles
// ([`count_references`]); before that a transport pays nothing for them.

static COUNTING: AtomicBool = AtomicBool::new(false);

/// Turns the scopes on: a counted handle exists in this process.
pub(crate) fn count_references() {
    COUNTING.store(true, Ordering::Release);
}

enum Scope {
    /// A message being encoded: the references taken for its receiver.
    Message { pin: bool, carried: Carried },
    /// Encodes and sends whose references are collected ([`holding`], [`pinning`]).
    Collect { pin: bool, carried: Carried },
}

thread_local! {
    static SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
}

fn innermost_collect_pin(scopes: &[Scope]) -> bool {
    scopes.iter().rev().find_map(|s| match s {
        Scope::Collect { pin, .. } => Some(*pin),
        Scope::Message { .. } => None,
    }) == Some(true)
}

/// In a counted handle's `Serialize`: whether a transport is encoding a message (`None`: no),
/// and whether that message is pinned (decoded more than once: its receivers take their own
/// references; what the handle takes is a pin).
pub(crate) fn carrying() -> Option<bool> {
    SCOPES
        .try_with(|s| {
            s.borrow().iter().rev().find_map(|s| match s {
                Scope::Message { pin, .. } => Some(*pin),
                Scope::Collect { .. } => None,
            })
        })
        .ok()
        .flatten()
}

/// In a counted handle's `Serialize`: a reference taken for the current message's receiver
/// (or as its pin). Without a message (see [`carrying`]) it is given back at once.
pub(crate) fn carry(r: Box<dyn Settle>) {
    let _ = SCOPES.try_with(|s| {
        if let Some(Scope::Message { carried, .. }) = s
            .borrow_mut()
            .iter_mut()
            .rev()
            .find(|s| matches!(s, Scope::Message { .. }))
        {
            carried.0.push(r);
        }
    });
}

fn begin_counted_message() -> bool {
    if !COUNTING.load(Ordering::Acquire) {
        return false;
    }
    SCOPES
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let pin = innermost_collect_pin(&s);
            s.push(Scope::Message {
                pin,
                carried: Carried::default(),
            });
        })
        .is_ok()
}

/// Ends the innermost message scope: its references go to the innermost collecting scope, or
/// (with none) to the receiver at once; an `encoded == false` message gives them back.
fn end_counted_message(encoded: bool) {
    let _ = SCOPES.try_with(|s| {
        let mut s = s.borrow_mut();
        let Some(Scope::Message { carried, .. }) = s.pop() else {
            return;
        };
        if !encoded {
            return;
        }
        match s.iter_mut().rev().find_map(|x| match x {
            Scope::Collect { carried, .. } => Some(carried),
            Scope::Message { .. } => None,
        }) {
            Some(acc) => acc.absorb(carried),
            None => carried.settle(true),
        }
    });
}

fn begin_counted_collect(pin: bool) -> bool {
    if !COUNTING.load(Ordering::Acquire) {
        return false;
    }
    SCOPES
        .try_with(|s| {
            s.borrow_mut().push(Scope::Collect {
                pin,
                carried: Carried::default(),
            })
        })
        .is_ok()
}

fn end_counted_collect() -> Carried {
    SCOPES
        .try_with(|s| match s.borrow_mut().pop() {
            Some(Scope::Collect { carried, .. }) => carried,
            _ => Carried::default(),
        })
        .unwrap_or_default()
}

/// Ends the scopes of [`message`] or [`collect`] when what runs in them panics (forgotten
/// otherwise).
struct Unwinding {
    counted: bool,
    end: fn(bool),
}

impl Drop for Unwinding {
    fn drop(&mut self) {
        (self.end)(self.counted);
    }
}

/// Runs `f`, an encode of one message, under the side tables (see
/// [`Transfer::begin_message`]).
pub(crate) fn message<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let counted = begin_counted_message();
    if !counted && TRANSFERS[0].get().is_none() {
        return f();
    }
    for t in transfers() {
        t.begin_message();
    }
    let unwinding = Unwinding {
        counted,
        end: |counted| {
            for t in transfers() {
                let _ = t.end_message(false);
            }
            if counted {
                end_counted_message(false);
            }
        },
    };
    let r = f();
    std::mem::forget(unwinding);
    let mut taken = Ok(());
    for t in transfers() {
        let e = t.end_message(r.is_ok());
        if taken.is_ok() {
            taken = e;
        }
    }
    if counted {
        end_counted_message(r.is_ok() && taken.is_ok());
    }
    let r = r?;
    taken.map(|()| r)
}

fn collect<R>(pin: bool, f: impl FnOnce() -> R) -> (R, Carried) {
    let counted = begin_counted_collect(pin);
    if !counted && TRANSFERS[0].get().is_none() {
        return (f(), Carried::default());
    }
    for t in transfers() {
        t.begin_collect(pin);
    }
    let unwinding = Unwinding {
        counted,
        end: |counted| {
            for t in transfers() {
                drop(t.end_collect());
            }
            if counted {
                drop(end_counted_collect());
            }
        },
    };
    let r = f();
    std::mem::forget(unwinding);
    let mut carried = Carried::default();
    for t in transfers() {
        carried.absorb(t.end_collect());
    }
    if counted {
        carried.absorb(end_counted_collect());
    }
    (r, carried)
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

/// `fork()` through the side tables (see [`Transfer::fork`]), nested in the rank order of
/// the locks they hold across it (whatever order they registered in: a nesting against the
/// ranks could deadlock with a concurrent fork's prepare handler).
pub(crate) fn fork_lending(
    target: Option<&str>,
    fork: impl FnOnce() -> libc::pid_t,
) -> libc::pid_t {
    fn nested(
        tables: &[&'static dyn Transfer],
        target: Option<&str>,
        fork: &mut dyn FnMut() -> libc::pid_t,
    ) -> libc::pid_t {
        match tables.split_first() {
            Some((t, inner)) => t.fork(target, &mut || nested(inner, target, fork)),
            None => fork(),
        }
    }
    let mut tables: Vec<&'static dyn Transfer> = transfers().collect();
    tables.sort_by_key(|t| t.rank());
    let mut fork = Some(fork);
    nested(&tables, target, &mut || fork.take().map_or(-1, |f| f()))
}

/// Gives back every reference this process holds (see [`Transfer::release_all`]).
pub(crate) fn release_references() {
    for t in transfers() {
        t.release_all();
    }
}

/// Encodes `value` with the codec. Handles inside it are an error.
pub(crate) fn encode_plain<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    crate::codec::encode(value).map_err(|e| {
        Error::ser(format!(
            "cannot serialize `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Decodes a value that carries no handles. Touches no thread-local state, so it also works
/// in an `atexit` handler, after the thread's locals are gone.
pub(crate) fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    crate::codec::decode::<T>(bytes).map_err(|e| decode_error::<T>(e))
}

fn decode_error<T>(e: impl std::fmt::Display) -> Error {
    Error::ser(format!(
        "cannot deserialize `{}`: {e}",
        std::any::type_name::<T>()
    ))
}

pub(crate) const NO_TRANSPORT_SER: &str = "an mp handle can only be serialized by an mp transport (a \
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
    let _keys = KeysScope::new();
    let Ok(outer) = ENCODE_FDS.try_with(|t| t.borrow_mut().replace(Vec::new())) else {
        // This thread's locals are gone (an `atexit` handler): only plain values can go.
        return encode_plain(value).map(|b| (b, Vec::new()));
    };
    let res = crate::codec::encode(value);
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
    let _keys = KeysScope::new();
    let Ok(outer) = ENCODE_FDS.try_with(|t| t.borrow_mut().replace(Vec::new())) else {
        // This thread's locals are gone (an `atexit` handler): only plain values can go.
        buf.extend(encode_plain(value)?);
        return Ok(Vec::new());
    };
    let res = crate::codec::encode_into(value, buf);
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
    let res = crate::codec::decode::<T>(bytes);
    let _ = DECODE_FDS.try_with(|t| *t.borrow_mut() = outer);
    res.map_err(|e| decode_error::<T>(e))
}

/// Serializes a descriptor into the active side table (used by handle types' `Serialize`).
pub(crate) fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let index = table_push(fd).map_err(S::Error::custom)?;
    s.serialize_newtype_struct("__mp_fd", &index)
}

/// Puts a duplicate of `fd` into the active side table; returns its index.
fn table_push(fd: BorrowedFd<'_>) -> std::result::Result<u32, String> {
    let dup = sys::dup(fd.as_raw_fd()).map_err(|e| e.to_string())?;
    ENCODE_FDS
        .try_with(|t| match t.borrow_mut().as_mut() {
            Some(v) => {
                v.push(dup);
                Ok(v.len() as u32 - 1)
            }
            None => Err(NO_TRANSPORT_SER.to_string()),
        })
        .map_err(|_| NO_TRANSPORT_SER.to_string())?
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

/// The keys of an encode's side table, set aside for a nested encode and restored after.
struct KeysScope(Vec<((u64, u64), u32)>);

impl KeysScope {
    fn new() -> KeysScope {
        KeysScope(
            ENCODE_KEYS
                .try_with(|k| std::mem::take(&mut *k.borrow_mut()))
                .unwrap_or_default(),
        )
    }
}

impl Drop for KeysScope {
    fn drop(&mut self) {
        let outer = std::mem::take(&mut self.0);
        let _ = ENCODE_KEYS.try_with(|k| *k.borrow_mut() = outer);
    }
}

/// A descriptor that many handles of one message may share (an arena's): it goes into the
/// side table once per message, keyed by the identity of what it names.
pub(crate) struct KeyedFd<'a> {
    key: (u64, u64),
    fd: BorrowedFd<'a>,
}

impl<'a> KeyedFd<'a> {
    pub(crate) fn new(key: (u64, u64), fd: BorrowedFd<'a>) -> KeyedFd<'a> {
        KeyedFd { key, fd }
    }
}

impl Serialize for KeyedFd<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let known = ENCODE_KEYS
            .try_with(|k| {
                k.borrow()
                    .iter()
                    .find(|(key, _)| *key == self.key)
                    .map(|(_, i)| *i)
            })
            .ok()
            .flatten();
        if let Some(index) = known {
            return s.serialize_newtype_struct("__mp_fd", &index);
        }
        let index = table_push(self.fd).map_err(S::Error::custom)?;
        let _ = ENCODE_KEYS.try_with(|k| k.borrow_mut().push((self.key, index)));
        s.serialize_newtype_struct("__mp_fd", &index)
    }
}

/// A [`KeyedFd`] arriving: its index in the side table, which other handles may name too.
pub(crate) struct KeyedFdIn(u32);

impl<'de> Deserialize<'de> for KeyedFdIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyedFdIn, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "__mp_fd")]
        struct Index(u32);
        Index::deserialize(d).map(|Index(i)| KeyedFdIn(i))
    }
}

impl KeyedFdIn {
    /// Runs `f` on the descriptor, which stays in the side table for the others.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(BorrowedFd<'_>) -> R,
    ) -> std::result::Result<R, Error> {
        let i = self.0 as usize;
        DECODE_FDS
            .try_with(|t| match t.borrow().as_ref() {
                Some(v) => match v.get(i).and_then(Option::as_ref) {
                    Some(fd) => Ok(f(fd.as_fd())),
                    None => Err(Error::ser(format!("handle #{i} missing from the message"))),
                },
                None => Err(Error::ser(NO_TRANSPORT_DE)),
            })
            .map_err(|_| Error::ser(NO_TRANSPORT_DE))?
    }
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
