//! Who holds which reference on a manager's objects: this process's proxies, the messages
//! carrying proxies to other processes, and fork children.
//!
//! A proxy owns one reference on its referent and gives it back when it is dropped. Three
//! things make that hold when a proxy leaves the process (see `docs/design/managers.md`,
//! "Reference transfer"):
//!
//! - *Messages.* While a transport encodes a message (a process start, a `Connection`, a
//!   `Queue`: [`message`], called by `reduction::encode`), each proxy inside it asks for one
//!   reference on behalf of the receiver ([`carry`]) and says so in its wire form; at the end
//!   of the encode those references are taken, one request per manager. The receiver adopts
//!   them instead of asking for its own, so the sender may drop its proxy as soon as the
//!   message is on its way. A transport that fails to send hands them back ([`holding`],
//!   [`Carried`]). A message decoded several times (a pool initializer's arguments) is
//!   *pinned* instead ([`pinning`]): the references live as long as the encoded bytes, and
//!   each receiver takes its own.
//! - *Fork.* A fork child is a copy of its parent, proxies included. Before `fork()`, popen
//!   takes one reference per live proxy of this process on behalf of the child
//!   ([`fork_lending`]); the child's proxies then own them (same epoch), and the child gives
//!   back the ones it did not drop when it exits ([`release_all`]).
//! - *Epochs.* A proxy records the epoch of the process that owns its reference. Each process
//!   has its own epoch (a random number), except a fork child that was lent its parent's
//!   references, which keeps its parent's. A proxy whose epoch is not the current one owns
//!   nothing here: it takes a reference before its first use and gives nothing back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use super::protocol::Request;
use super::proxy::{Token, exchange, is_dead, reply_value, request};
use crate::atfork::ForkLock;
use crate::connection::Address;
use crate::error::{Error, Result};

// ---------------------------------------------------------------------------------------------
// Epochs
// ---------------------------------------------------------------------------------------------

/// This process's ownership epoch for proxies (see [`crate::atfork::Epoch`]): a fork child
/// owns nothing of its parent's unless `fork_lending` lent it (and restored the parent's epoch).
static EPOCH: crate::atfork::Epoch = crate::atfork::Epoch::new();
#[linkme::distributed_slice(crate::atfork::EPOCHS)]
static EPOCH_ENTRY: &crate::atfork::Epoch = &EPOCH;

/// The current epoch, choosing one if needed. Never 0.
pub(crate) fn epoch() -> u64 {
    let e = EPOCH.get();
    if e != 0 {
        return e;
    }
    install();
    EPOCH.choose().0
}

/// Whether a proxy whose owner field is `owner` owns its reference in this process.
pub(crate) fn owns(owner: &AtomicU64) -> bool {
    let o = owner.load(Ordering::Acquire);
    o != 0 && o == EPOCH.get()
}

// ---------------------------------------------------------------------------------------------
// The registry of this process's references
// ---------------------------------------------------------------------------------------------

/// The references this process's proxies own, per manager: what a fork child inherits.
struct Registry {
    /// The epoch the table belongs to (a fork child that was not lent anything, or a process
    /// that released everything, finds another epoch and starts afresh).
    epoch: u64,
    managers: Vec<Held>,
}

struct Held {
    address: Address,
    authkey: Arc<[u8]>,
    /// Object id → number of live proxies of this process owning a reference on it.
    ids: HashMap<u64, u64>,
}

crate::fork_lock! {
    /// The outermost of mp's locks held across `fork()` (see [`crate::atfork`]), except when
    /// [`fork_lending`] holds it itself across the fork.
    static REGISTRY: ForkLock<Registry> = ForkLock::with_skip(
        10,
        Registry {
            epoch: 0,
            managers: Vec::new(),
        },
        lending,
    );
}

thread_local! {
    /// Set while this thread holds the registry's lock across `fork()` (so that the atfork
    /// prepare handler does not take it a second time).
    static LENDING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread holds the registry's lock across a `fork()` of its own.
fn lending() -> bool {
    LENDING.try_with(|l| l.get()).unwrap_or(false)
}

/// Locks the registry, for the current epoch.
fn registry() -> crate::atfork::ForkGuard<Registry> {
    // Chosen before the lock is taken: choosing may register atfork handlers, which takes
    // glibc's atfork lock, held by a concurrent fork() that waits for this one.
    epoch();
    let mut reg = REGISTRY.lock();
    let e = epoch();
    if reg.epoch != e {
        reg.managers = Vec::new();
        reg.epoch = e;
    }
    reg
}

impl Registry {
    fn add(&mut self, address: &Address, authkey: &Arc<[u8]>, id: u64) {
        let i = match self.managers.iter().position(|h| h.address == *address) {
            Some(i) => i,
            None => {
                self.managers.push(Held {
                    address: address.clone(),
                    authkey: authkey.clone(),
                    ids: HashMap::new(),
                });
                self.managers.len() - 1
            }
        };
        *self.managers[i].ids.entry(id).or_insert(0) += 1;
    }

    fn remove(&mut self, address: &Address, id: u64) {
        let Some(i) = self.managers.iter().position(|h| h.address == *address) else {
            return;
        };
        let ids = &mut self.managers[i].ids;
        if let Some(n) = ids.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                ids.remove(&id);
            }
        }
        if ids.is_empty() {
            self.managers.swap_remove(i);
        }
    }
}

/// Records that the proxy with `owner` now owns a reference (just taken or adopted). False
/// if it already owned one (another thread took it first): the caller gives its own back.
pub(crate) fn own(token: &Token, authkey: &Arc<[u8]>, owner: &AtomicU64) -> bool {
    let mut reg = registry();
    if owner.load(Ordering::Acquire) == reg.epoch {
        return false;
    }
    reg.add(&token.address, authkey, token.id);
    owner.store(reg.epoch, Ordering::Release);
    true
}

/// A proxy is being dropped: whether it owned a reference (which the caller gives back).
pub(crate) fn disown(token: &Token, owner: &AtomicU64) -> bool {
    if !owns(owner) {
        return false;
    }
    let mut reg = registry();
    if owner.load(Ordering::Acquire) != reg.epoch {
        return false;
    }
    reg.remove(&token.address, token.id);
    owner.store(0, Ordering::Release);
    true
}

// ---------------------------------------------------------------------------------------------
// Taking and giving back references in batches
// ---------------------------------------------------------------------------------------------

/// References on one manager's objects.
struct Group {
    address: Address,
    authkey: Arc<[u8]>,
    refs: Vec<(u64, u64)>,
}

fn group(wants: Vec<(Address, Arc<[u8]>, u64)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (address, authkey, id) in wants {
        let g = match groups.iter().position(|g| g.address == address) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Group {
                    address,
                    authkey,
                    refs: Vec::new(),
                });
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        match g.refs.iter_mut().find(|(i, _)| *i == id) {
            Some((_, n)) => *n += 1,
            None => g.refs.push((id, 1)),
        }
    }
    groups
}

fn incref_group(g: &Group) -> Result<()> {
    let req = match g.refs.as_slice() {
        [(id, 1)] => Request::Incref { id: *id },
        refs => Request::IncrefMany {
            refs: refs.to_vec(),
        },
    };
    reply_value(request(&g.address, &g.authkey, &req)?).map(drop)
}

fn decref_group(g: &Group) {
    if g.refs.is_empty() || is_dead(&g.address) {
        return;
    }
    // (Always the batch form: it has no reply to wait for.)
    let req = Request::DecrefMany {
        refs: g.refs.clone(),
    };
    let mut buf = Vec::new();
    if req.encode(&mut buf).is_ok() {
        let _ = exchange(&g.address, &g.authkey, &buf, false);
    }
}

/// Takes the references of `groups`, one request per manager; all or none.
fn take(groups: Vec<Group>) -> Result<Carried> {
    let mut carried = Carried::default();
    for g in groups {
        if let Err(e) = incref_group(&g) {
            // `carried` gives back what was taken from the other managers.
            return Err(Error::new(
                e.kind(),
                format!(
                    "cannot take a reference for a proxy sent to another process: {}",
                    e.message()
                ),
            ));
        }
        carried.groups.push(g);
    }
    Ok(carried)
}

/// References on managed objects that encoded messages hold for their receivers: given back
/// when dropped, unless [`deliver`](Carried::deliver)ed (the message was sent, its receiver
/// owns them now).
#[derive(Default)]
pub(crate) struct Carried {
    groups: Vec<Group>,
}

impl Carried {
    /// The message was sent: its receiver owns the references.
    pub(crate) fn deliver(mut self) {
        self.groups.clear();
    }

    /// [`deliver`](Carried::deliver) if `sent`, otherwise give the references back.
    pub(crate) fn settle(self, sent: bool) {
        if sent {
            self.deliver();
        }
    }

    fn absorb(&mut self, other: Carried) {
        let mut other = other;
        self.groups.append(&mut other.groups);
    }
}

impl Drop for Carried {
    fn drop(&mut self) {
        for g in self.groups.drain(..) {
            decref_group(&g);
        }
    }
}

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: u64 = self
            .groups
            .iter()
            .flat_map(|g| g.refs.iter().map(|r| r.1))
            .sum();
        write!(f, "Carried({n} references)")
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// The message being encoded on this thread.
struct Message {
    pin: bool,
    wants: Vec<(Address, Arc<[u8]>, u64)>,
}

thread_local! {
    /// The messages being encoded on this thread, innermost last.
    static MESSAGES: RefCell<Vec<Message>> = const { RefCell::new(Vec::new()) };
    /// Where the references of the messages encoded on this thread go, innermost last:
    /// (pinned, collected).
    static COLLECT: RefCell<Vec<(bool, Carried)>> = const { RefCell::new(Vec::new()) };
}

/// In a proxy's `Serialize`: if a transport is encoding a message, asks for a reference on
/// behalf of its receiver and returns whether the wire form carries it (false for a pinned
/// message, whose receivers take their own; false outside a transport).
pub(crate) fn carry(token: &Token, authkey: &Arc<[u8]>) -> bool {
    MESSAGES
        .try_with(|m| match m.borrow_mut().last_mut() {
            Some(msg) => {
                msg.wants
                    .push((token.address.clone(), authkey.clone(), token.id));
                !msg.pin
            }
            None => false,
        })
        .unwrap_or(false)
}

/// The proxies' entry in `reduction`'s side table: the transports reach them through it.
struct ProxyRefs;

/// Registers [`ProxyRefs`] with `reduction` (before the first proxy exists).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| crate::reduction::register_transfer(&ProxyRefs));
}

impl crate::reduction::Transfer for ProxyRefs {
    fn begin_message(&self) {
        let pin = COLLECT
            .try_with(|c| c.borrow().last().is_some_and(|(p, _)| *p))
            .unwrap_or(false);
        let _ = MESSAGES.try_with(|m| {
            m.borrow_mut().push(Message {
                pin,
                wants: Vec::new(),
            })
        });
    }

    /// Takes the references its proxies asked for (one request per manager). They go to the
    /// innermost collecting scope of this thread, or, with none, to the receiver at once.
    fn end_message(&self, encoded: bool) -> Result<()> {
        let Ok(Some(msg)) = MESSAGES.try_with(|m| m.borrow_mut().pop()) else {
            return Ok(());
        };
        if !encoded || msg.wants.is_empty() {
            return Ok(());
        }
        let carried = take(group(msg.wants))?;
        let rest = COLLECT
            .try_with(|c| match c.borrow_mut().last_mut() {
                Some((_, acc)) => {
                    acc.absorb(carried);
                    None
                }
                None => Some(carried),
            })
            .unwrap_or(None);
        if let Some(c) = rest {
            c.deliver();
        }
        Ok(())
    }

    fn begin_collect(&self, pin: bool) {
        let _ = COLLECT.try_with(|c| c.borrow_mut().push((pin, Carried::default())));
    }

    fn end_collect(&self) -> crate::reduction::Carried {
        let mine = COLLECT
            .try_with(|c| c.borrow_mut().pop())
            .ok()
            .flatten()
            .map(|(_, c)| c)
            .unwrap_or_default();
        if mine.groups.is_empty() {
            return crate::reduction::Carried::default();
        }
        crate::reduction::Carried::new(Box::new(mine))
    }

    fn rank(&self) -> u8 {
        REGISTRY.rank()
    }

    fn fork(&self, target: Option<&str>, fork: &mut dyn FnMut() -> libc::pid_t) -> libc::pid_t {
        fork_lending(target, fork)
    }

    fn release_all(&self) {
        release_all();
    }
}

impl crate::reduction::Settle for Carried {
    fn deliver(self: Box<Self>) {
        Carried::deliver(*self);
    }
}

// ---------------------------------------------------------------------------------------------
// Fork
// ---------------------------------------------------------------------------------------------

/// popen's `fork()`: takes one reference per live proxy of this process on behalf of the
/// child (one request per manager), holds the registry's lock across `fork()` so that the
/// child's copy matches what was taken, and in the child keeps the parent's epoch (its
/// proxies own those references). Without live proxies, or if a manager cannot be reached,
/// it only forks (the child's proxies then take their references on first use).
///
/// mp's own workers (tasks named `mp::...`: pool workers, manager servers) get nothing: they
/// only use proxies that reach them through transports.
fn fork_lending(target: Option<&str>, fork: &mut dyn FnMut() -> libc::pid_t) -> libc::pid_t {
    if target.is_some_and(|name| name.starts_with("mp::")) || EPOCH.get() == 0 {
        return fork();
    }
    let reg = registry();
    if reg.managers.is_empty() {
        drop(reg);
        return fork();
    }
    let epoch = reg.epoch;
    let groups: Vec<Group> = reg
        .managers
        .iter()
        .filter(|h| !is_dead(&h.address))
        .map(|h| Group {
            address: h.address.clone(),
            authkey: h.authkey.clone(),
            refs: h.ids.iter().map(|(&id, &n)| (id, n)).collect(),
        })
        .collect();
    let lent = match take(groups) {
        Ok(c) => c,
        Err(e) => {
            crate::logging::debug!("the fork child's proxies will take their references: {e}");
            drop(reg);
            return fork();
        }
    };
    let _ = LENDING.try_with(|l| l.set(true));
    let pid = fork();
    let _ = LENDING.try_with(|l| l.set(false));
    if pid == 0 {
        // The child: only async-signal-safe work (atomic stores, unlocking a futex).
        EPOCH.set(epoch);
        drop(reg);
        std::mem::forget(lent);
        return 0;
    }
    drop(reg);
    lent.settle(pid > 0);
    pid
}

/// Gives back every reference this process's proxies still own, and owns nothing afterwards:
/// a fork child leaves with `_exit`, so the proxies on its stack (its parent's, copied) are
/// never dropped; CPython's proxies give theirs back at exit too.
pub(crate) fn release_all() {
    if EPOCH.get() == 0 {
        return;
    }
    let managers = {
        let mut reg = registry();
        let m = std::mem::take(&mut reg.managers);
        EPOCH.set(0);
        m
    };
    for h in managers {
        decref_group(&Group {
            address: h.address,
            authkey: h.authkey,
            refs: h.ids.into_iter().collect(),
        });
    }
}
