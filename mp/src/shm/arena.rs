//! Arenas: thousands of small shared objects in a few descriptors, as CPython's
//! `multiprocessing.heap` serves `Value` and `Array`.
//!
//! An arena is a memfd of [`ARENA_SIZE`] bytes, mapped once per process that uses it. Locks,
//! values and the other primitives live in *blocks* of it, of power-of-two sizes from 128 bytes
//! to 64 KiB (a larger object gets an arena of its own). A process keeps one descriptor per
//! arena it maps, whatever the number of objects in it, and a message that carries a thousand
//! objects of one arena carries that descriptor once.
//!
//! **Who frees a block.** Every block counts its references across processes (`refs` in its
//! header): a [`Block`] handle owns one; a message that carries the block to another process
//! owns one for its receiver from the moment it is encoded (given back if it is not sent); a
//! fork child is lent one per live handle of its parent. When the count drops to zero, the
//! block goes onto its arena's free list, and the process that made the arena reuses it for the
//! next object of that size. Only that process takes blocks off the list (any process may put
//! them on), so the list needs no lock and has no ABA hazard. A process killed while it holds
//! references leaks those blocks (never a block still in use elsewhere); an arena's memory goes
//! back to the system when no process maps it any more.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::atfork::ForkLock;
use crate::error::{Error, ErrorKind, Result};
use crate::{reduction, sys};

/// Bytes of a small-object arena.
pub(crate) const ARENA_SIZE: usize = 1 << 20;
/// The arena's header page.
const ARENA_HDR: usize = 4096;
/// Bytes of a block's header; the payload follows, 64-byte aligned.
pub(crate) const BLOCK_HDR: usize = 64;
/// Block sizes: `128 << class`, for classes `0..CLASSES` (128 bytes to 64 KiB).
const CLASSES: usize = 10;
const MIN_BLOCK: usize = 128;
/// The class of a block that has an arena of its own.
const DEDICATED: u32 = u32::MAX;

const ARENA_MAGIC: u32 = 0x6d70_6172; // "mpar"
const BLOCK_MAGIC: u32 = 0x6d70_626b; // "mpbk"

/// The first bytes of an arena.
#[repr(C)]
struct ArenaHeader {
    magic: AtomicU32,
    _pad: AtomicU32,
    /// Bytes of the arena.
    size: AtomicU64,
    /// Free-list heads, one per class: `tag << 32 | offset / 64` (0: empty).
    free: [AtomicU64; CLASSES],
}

/// The first bytes of a block.
#[repr(C)]
struct BlockHeader {
    magic: AtomicU32,
    /// What lives in the block (`shm::kind`).
    kind: AtomicU32,
    /// Layout hash of what lives in it.
    layout: AtomicU64,
    /// References across processes.
    refs: AtomicU32,
    /// Size class, or [`DEDICATED`].
    class: AtomicU32,
    /// Next free block (`offset / 64`), while on a free list.
    next: AtomicU64,
    /// Payload bytes the object asked for.
    len: AtomicU64,
    _reserved: [AtomicU64; 3],
}

const _: () = assert!(std::mem::size_of::<BlockHeader>() == BLOCK_HDR);
const _: () = assert!(std::mem::size_of::<ArenaHeader>() <= ARENA_HDR);

/// An arena mapped in this process.
pub(crate) struct ArenaMap {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
    /// `(st_dev, st_ino)` of the memfd: the arena's identity in every process.
    id: (u64, u64),
}

// SAFETY: the mapping is shared memory valid as long as the map lives; what is in it is used
// through atomics or under the objects' own locks.
unsafe impl Send for ArenaMap {}
// SAFETY: as above.
unsafe impl Sync for ArenaMap {}

impl Drop for ArenaMap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what was mapped.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl fmt::Debug for ArenaMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArenaMap")
            .field("fd", &self.fd.as_raw_fd())
            .field("len", &self.len)
            .finish()
    }
}

fn identity(fd: BorrowedFd<'_>) -> Result<((u64, u64), usize)> {
    // SAFETY: `stat` is plain data; fstat fills it.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(Error::os("fstat", std::io::Error::last_os_error()));
        }
        Ok(((st.st_dev, st.st_ino), st.st_size as usize))
    }
}

impl ArenaMap {
    fn create(len: usize) -> Result<Arc<ArenaMap>> {
        let fd = super::memfd(c"mp-arena", len)?;
        let (id, _) = identity(fd.as_fd())?;
        let ptr = super::map_shared(fd.as_fd(), len)?;
        let map = Arc::new(ArenaMap { fd, ptr, len, id });
        let h = map.header();
        h.size.store(len as u64, Ordering::Relaxed);
        h.magic.store(ARENA_MAGIC, Ordering::Release);
        remember(&map);
        Ok(map)
    }

    /// This process's mapping of the arena behind `fd` (mapping it if it has none).
    fn attach(fd: BorrowedFd<'_>) -> Result<Arc<ArenaMap>> {
        let (id, size) = identity(fd)?;
        let mut maps = MAPS.lock();
        maps.retain(|(_, w)| w.strong_count() > 0);
        if let Some(m) = maps
            .iter()
            .find(|(i, _)| *i == id)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(m);
        }
        if !(ARENA_HDR + MIN_BLOCK..=1 << 40).contains(&size) {
            return Err(bad("its size is not an arena's"));
        }
        let fd = sys::dup(fd.as_raw_fd()).map_err(|e| Error::os("dup", e))?;
        let ptr = super::map_shared(fd.as_fd(), size)?;
        let map = Arc::new(ArenaMap {
            fd,
            ptr,
            len: size,
            id,
        });
        let h = map.header();
        if h.magic.load(Ordering::Acquire) != ARENA_MAGIC
            || h.size.load(Ordering::Relaxed) != size as u64
        {
            return Err(bad("it is not an mp arena"));
        }
        maps.push((id, Arc::downgrade(&map)));
        Ok(map)
    }

    fn header(&self) -> &ArenaHeader {
        // SAFETY: every arena starts with its header page, and the header is atomics.
        unsafe { &*self.ptr.as_ptr().cast::<ArenaHeader>() }
    }

    /// The header of the block at `offset`, if a block can be there.
    fn block(&self, offset: usize) -> Option<&BlockHeader> {
        let fits = offset >= ARENA_HDR
            && offset % 64 == 0
            && offset.checked_add(MIN_BLOCK).is_some_and(|e| e <= self.len);
        // SAFETY: in bounds and aligned (checked); the header is atomics.
        fits.then(|| unsafe { &*self.ptr.as_ptr().add(offset).cast::<BlockHeader>() })
    }

    /// Puts the block at `offset` (of `class`) on its free list. Any process may.
    fn push_free(&self, class: usize, offset: usize) {
        let (Some(head), Some(b)) = (self.header().free.get(class), self.block(offset)) else {
            return;
        };
        let units = (offset / 64) as u64;
        let mut h = head.load(Ordering::Acquire);
        loop {
            b.next.store(h & 0xffff_ffff, Ordering::Relaxed);
            let tagged = ((h >> 32).wrapping_add(1) << 32) | units;
            match head.compare_exchange_weak(h, tagged, Ordering::Release, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => h = now,
            }
        }
    }

    /// Takes a block of `class` off the free list. Only the arena's maker calls it (the one
    /// taker: no ABA).
    fn pop_free(&self, class: usize) -> Option<usize> {
        let head = self.header().free.get(class)?;
        let size = MIN_BLOCK << class;
        let mut h = head.load(Ordering::Acquire);
        loop {
            let offset = (h & 0xffff_ffff) as usize * 64;
            if offset == 0 {
                return None;
            }
            // A list another process corrupted is treated as empty.
            let b = self.block(offset).filter(|_| offset + size <= self.len)?;
            let next = b.next.load(Ordering::Relaxed) & 0xffff_ffff;
            let tagged = ((h >> 32).wrapping_add(1) << 32) | next;
            match head.compare_exchange_weak(h, tagged, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(offset),
                Err(now) => h = now,
            }
        }
    }
}

fn bad(why: &str) -> Error {
    Error::new(
        ErrorKind::Value,
        format!("cannot attach shared memory: {why}"),
    )
}

crate::fork_lock! {
    /// The arenas this process maps, by identity (so that an arena is mapped once, whatever
    /// the number of objects of it that arrive).
    #[allow(clippy::type_complexity)]
    static MAPS: ForkLock<Vec<((u64, u64), Weak<ArenaMap>)>> = ForkLock::new(81, Vec::new());
}

fn remember(map: &Arc<ArenaMap>) {
    let mut maps = MAPS.lock();
    maps.retain(|(_, w)| w.strong_count() > 0);
    maps.push((map.id, Arc::downgrade(map)));
}

// ---------------------------------------------------------------------------------------------
// Allocation
// ---------------------------------------------------------------------------------------------

/// The arenas this process made and allocates from.
struct Alloc {
    /// The process they belong to: a fork child makes its own (it must not take blocks off
    /// lists its parent takes from).
    pid: i32,
    /// The arena being filled, and how far.
    current: Option<(Arc<ArenaMap>, usize)>,
    /// Earlier arenas, while something keeps them mapped.
    older: Vec<Weak<ArenaMap>>,
}

crate::fork_lock! {
    static ALLOC: ForkLock<Alloc> = ForkLock::new(
        80,
        Alloc {
            pid: 0,
            current: None,
            older: Vec::new(),
        },
    );
}

fn class_of(total: usize) -> Option<usize> {
    (0..CLASSES).find(|c| MIN_BLOCK << c >= total)
}

/// A new zero-filled block with room for `len` payload bytes, tagged `kind` and `layout`.
pub(crate) fn alloc(len: usize, kind: u32, layout: u64) -> Result<Block> {
    let total = len
        .checked_add(BLOCK_HDR)
        .ok_or_else(|| Error::value("shared object too large"))?;
    let (map, offset, class) = match class_of(total) {
        Some(class) => {
            let (map, offset) = take_block(class)?;
            (map, offset, class as u32)
        }
        None => {
            let size = total
                .checked_add(ARENA_HDR)
                .and_then(|n| n.checked_next_multiple_of(4096))
                .ok_or_else(|| Error::value("shared object too large"))?;
            (ArenaMap::create(size)?, ARENA_HDR, DEDICATED)
        }
    };
    let Some(b) = map.block(offset) else {
        return Err(Error::value("shared memory allocation out of bounds"));
    };
    let size = if class == DEDICATED {
        map.len - offset
    } else {
        MIN_BLOCK << class
    };
    if class != DEDICATED {
        // A reused block holds its last object's bytes.
        // SAFETY: the payload of a block we own exclusively (nobody references a free block).
        unsafe {
            std::ptr::write_bytes(
                map.ptr.as_ptr().add(offset + BLOCK_HDR),
                0,
                size - BLOCK_HDR,
            )
        };
    }
    b.kind.store(kind, Ordering::Relaxed);
    b.layout.store(layout, Ordering::Relaxed);
    b.len.store(len as u64, Ordering::Relaxed);
    b.class.store(class, Ordering::Relaxed);
    b.refs.store(1, Ordering::Relaxed);
    b.magic.store(BLOCK_MAGIC, Ordering::Release);
    Ok(Block::own(map, offset, len))
}

/// A free block of `class` from this process's arenas, making an arena if none has one.
fn take_block(class: usize) -> Result<(Arc<ArenaMap>, usize)> {
    let size = MIN_BLOCK << class;
    let me = sys::getpid();
    let mut a = ALLOC.lock();
    if a.pid != me {
        // Inherited from the parent across fork: the parent's to allocate from.
        a.pid = me;
        a.current = None;
        a.older = Vec::new();
    }
    if let Some((map, _)) = &a.current
        && let Some(off) = map.pop_free(class)
    {
        return Ok((map.clone(), off));
    }
    a.older.retain(|w| w.strong_count() > 0);
    for w in &a.older {
        if let Some(map) = w.upgrade()
            && let Some(off) = map.pop_free(class)
        {
            return Ok((map, off));
        }
    }
    if let Some((map, used)) = &mut a.current
        && *used + size <= map.len
    {
        let off = *used;
        *used += size;
        return Ok((map.clone(), off));
    }
    let map = ArenaMap::create(ARENA_SIZE)?;
    if let Some((old, _)) = a.current.take() {
        a.older.push(Arc::downgrade(&old));
    }
    a.current = Some((map.clone(), ARENA_HDR + size));
    Ok((map, ARENA_HDR))
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// This process's ownership epoch for blocks (see [`crate::atfork::Epoch`]). Handles record
/// the epoch they own their reference in; a fork child that was not lent its parent's
/// references (mp's own workers, a `fork()` outside mp) has another, so its copies of the
/// parent's handles own nothing and give nothing back.
static EPOCH: crate::atfork::Epoch = crate::atfork::Epoch::new();
#[linkme::distributed_slice(crate::atfork::EPOCHS)]
static EPOCH_ENTRY: &crate::atfork::Epoch = &EPOCH;

fn epoch() -> u64 {
    let e = EPOCH.get();
    if e != 0 {
        return e;
    }
    install();
    // Chosen under the table's lock: what the table lists (a parent's handles, copied by a
    // fork that lent nothing) is not the new epoch's to give back.
    let mut live = LIVE.lock();
    let (e, chose) = EPOCH.choose();
    if chose {
        live.slots.clear();
        live.free.clear();
    }
    e
}

/// The live handles of this process: what a fork child is lent. Slot `i` holds the address
/// of a block header and the handle's epoch.
struct Live {
    slots: Vec<Option<usize>>,
    free: Vec<usize>,
}

thread_local! {
    /// Set while this thread holds [`LIVE`] across a `fork()` of its own.
    static LENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn lending() -> bool {
    LENDING.try_with(|l| l.get()).unwrap_or(false)
}

crate::fork_lock! {
    static LIVE: ForkLock<Live> = ForkLock::with_skip(
        15,
        Live {
            slots: Vec::new(),
            free: Vec::new(),
        },
        lending,
    );
}

/// Set once a process has made or received a block: the transports then keep the scopes
/// that carry references ([`reduction::count_references`]).
static USED: AtomicBool = AtomicBool::new(false);

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        reduction::register_transfer(&BlockRefs);
    });
    if !USED.swap(true, Ordering::AcqRel) {
        reduction::count_references();
    }
}

/// One reference on a block, owned by this handle: given back when it is dropped.
// SAFETY (of the Send/Sync impls below): `data` points into the shared mapping that `map`
// keeps alive; what lives there is used through atomics or under the objects' own locks.
pub(crate) struct Block {
    /// The payload (cached: the hot paths of locks and values reach it with one load).
    data: NonNull<u8>,
    map: Arc<ArenaMap>,
    offset: usize,
    len: usize,
    /// The epoch the reference is owned in (see [`EPOCH`]).
    epoch: u64,
    /// This handle's slot in [`LIVE`].
    slot: usize,
}

// SAFETY: see the struct.
unsafe impl Send for Block {}
// SAFETY: see the struct.
unsafe impl Sync for Block {}

impl Block {
    /// A handle owning a reference that was just taken (made, adopted or incremented).
    fn own(map: Arc<ArenaMap>, offset: usize, len: usize) -> Block {
        let epoch = epoch();
        let addr = map.ptr.as_ptr() as usize + offset;
        let slot = {
            let mut live = LIVE.lock();
            match live.free.pop() {
                Some(i) => {
                    live.slots[i] = Some(addr);
                    i
                }
                None => {
                    live.slots.push(Some(addr));
                    live.slots.len() - 1
                }
            }
        };
        // SAFETY: the block (header and payload) lies inside the mapping, checked by the
        // callers (`alloc`, `attach`).
        let data = unsafe { NonNull::new_unchecked(map.ptr.as_ptr().add(offset + BLOCK_HDR)) };
        Block {
            data,
            map,
            offset,
            len,
            epoch,
            slot,
        }
    }

    fn header(&self) -> &BlockHeader {
        // SAFETY: checked when the block was made or attached; the map outlives `self`.
        unsafe { &*self.map.ptr.as_ptr().add(self.offset).cast::<BlockHeader>() }
    }

    /// The start of the payload, 64-byte aligned.
    #[inline]
    pub(crate) fn data(&self) -> *mut u8 {
        self.data.as_ptr()
    }

    /// The payload size the object asked for.
    #[inline]
    pub(crate) fn data_len(&self) -> usize {
        self.len
    }

    /// A reference to a `T` at `offset` in the payload.
    ///
    /// # Safety
    ///
    /// As [`super::Region::at`]: `T` valid for any bit pattern other processes may write,
    /// in bounds of the payload, aligned.
    #[inline]
    pub(crate) unsafe fn at<T>(&self, offset: usize) -> &T {
        debug_assert!(offset + std::mem::size_of::<T>() <= self.data_len());
        debug_assert!(offset % std::mem::align_of::<T>() == 0);
        // SAFETY: guaranteed by the caller.
        unsafe { &*self.data().add(offset).cast::<T>() }
    }

    /// Attaches a block that arrived in a message, checking what lives in it.
    pub(crate) fn attach(wire: BlockWire, kind: u32, layout: u64) -> Result<Block> {
        let BlockWire { map, offset, owned } = wire;
        let Some(h) = map.block(offset) else {
            return Err(bad("the object is out of its arena's bounds"));
        };
        if h.magic.load(Ordering::Acquire) != BLOCK_MAGIC {
            return Err(bad("it is not an mp object"));
        }
        let len = usize::try_from(h.len.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let room = match h.class.load(Ordering::Relaxed) {
            DEDICATED => map.len - offset,
            c if (c as usize) < CLASSES => MIN_BLOCK << c,
            _ => 0,
        };
        if len.checked_add(BLOCK_HDR).is_none_or(|n| n > room) || offset + room > map.len {
            return Err(bad("its size does not match its header"));
        }
        if h.kind.load(Ordering::Relaxed) != kind {
            return Err(bad("it holds another kind of object"));
        }
        if h.layout.load(Ordering::Relaxed) != layout {
            return Err(bad(
                "its layout differs from this build's (a `#[mp::shared]` type changed?)",
            ));
        }
        if !owned {
            // The sender still holds its own reference (the message was pinned): take one.
            let mut n = h.refs.load(Ordering::Acquire);
            loop {
                if n == 0 {
                    return Err(bad("the object was freed"));
                }
                match h
                    .refs
                    .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => break,
                    Err(now) => n = now,
                }
            }
        }
        Ok(Block::own(map, offset, len))
    }

    /// Whether two handles name the same object.
    pub(crate) fn same(&self, other: &Block) -> bool {
        self.map.id == other.map.id && self.offset == other.offset
    }
}

/// Gives back one reference on the block at `offset` of `map`; the last one frees it.
fn release(map: &ArenaMap, offset: usize) {
    let Some(h) = map.block(offset) else {
        return;
    };
    let mut n = h.refs.load(Ordering::Acquire);
    loop {
        if n == 0 {
            // Never below zero (a corrupted count leaks rather than frees twice).
            return;
        }
        match h
            .refs
            .compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break,
            Err(now) => n = now,
        }
    }
    if n == 1 {
        let class = h.class.load(Ordering::Relaxed);
        if (class as usize) < CLASSES {
            map.push_free(class as usize, offset);
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.epoch != EPOCH.get() {
            // A copy inherited by a fork child that owns nothing of its parent's.
            return;
        }
        {
            let mut live = LIVE.lock();
            if let Some(s) = live.slots.get_mut(self.slot)
                && s.take().is_some()
            {
                live.free.push(self.slot);
            } else {
                // Released already (a fork child giving everything back as it leaves).
                return;
            }
        }
        release(&self.map, self.offset);
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("arena", &self.map.fd.as_raw_fd())
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

/// A reference taken for a message's receiver (or a pin that keeps the object alive while
/// the bytes may be decoded): given back unless delivered.
struct Carry {
    map: Arc<ArenaMap>,
    offset: usize,
}

impl reduction::Settle for Carry {
    fn deliver(self: Box<Self>) {
        // The receiver owns the reference now.
        std::mem::forget(*self);
    }
}

impl Drop for Carry {
    fn drop(&mut self) {
        release(&self.map, self.offset);
    }
}

impl Serialize for Block {
    /// Inside a message an mp transport encodes: the arena's descriptor (once per message),
    /// the offset, and whether the message carries a reference for its receiver.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeTuple};
        let Some(pinned) = reduction::carrying() else {
            return Err(S::Error::custom(reduction::NO_TRANSPORT_SER));
        };
        // One more reference, for the receiver (or as the pin of a pinned message).
        self.header().refs.fetch_add(1, Ordering::AcqRel);
        reduction::carry(Box::new(Carry {
            map: self.map.clone(),
            offset: self.offset,
        }));
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&reduction::KeyedFd::new(self.map.id, self.map.fd.as_fd()))?;
        t.serialize_element(&(self.offset as u64))?;
        t.serialize_element(&!pinned)?;
        t.end()
    }
}

/// A block in transit: deserialize it, then [`Block::attach`] with the expected kind.
pub(crate) struct BlockWire {
    map: Arc<ArenaMap>,
    offset: usize,
    owned: bool,
}

impl<'de> Deserialize<'de> for BlockWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<BlockWire, D::Error> {
        use serde::de::Error as _;
        let (fd, offset, owned) = <(reduction::KeyedFdIn, u64, bool)>::deserialize(d)?;
        let map = fd
            .with(ArenaMap::attach)
            .map_err(D::Error::custom)?
            .map_err(D::Error::custom)?;
        let offset = usize::try_from(offset).map_err(D::Error::custom)?;
        install();
        Ok(BlockWire { map, offset, owned })
    }
}

// ---------------------------------------------------------------------------------------------
// Fork
// ---------------------------------------------------------------------------------------------

/// The blocks' entry in `reduction`'s side table: fork lending and the fork child's release.
struct BlockRefs;

impl reduction::Transfer for BlockRefs {
    fn begin_message(&self) {}

    fn end_message(&self, _encoded: bool) -> Result<()> {
        Ok(())
    }

    fn begin_collect(&self, _pin: bool) {}

    fn end_collect(&self) -> reduction::Carried {
        reduction::Carried::default()
    }

    /// Takes one reference per live handle for the child, holding [`LIVE`] across `fork()` so
    /// that the child's copy of it matches what was taken; the child keeps this process's
    /// epoch (its handles own those references).
    ///
    /// mp's own workers (tasks named `mp::...`: pool workers, manager servers) are lent
    /// nothing: they use only the objects that reach them in messages, and a long-lived server
    /// holding its parent's references would keep their blocks from being reused. Their copies
    /// of the parent's handles own nothing (another epoch).
    fn rank(&self) -> u8 {
        LIVE.rank()
    }

    fn fork(&self, target: Option<&str>, fork: &mut dyn FnMut() -> libc::pid_t) -> libc::pid_t {
        let e = EPOCH.get();
        if e == 0 || target.is_some_and(|name| name.starts_with("mp::")) {
            return fork();
        }
        let live = LIVE.lock();
        let lent: Vec<usize> = live.slots.iter().flatten().copied().collect();
        for &addr in &lent {
            // SAFETY: a live handle keeps its block mapped; headers are atomics.
            unsafe { &*(addr as *const BlockHeader) }
                .refs
                .fetch_add(1, Ordering::AcqRel);
        }
        let _ = LENDING.try_with(|l| l.set(true));
        let pid = fork();
        let _ = LENDING.try_with(|l| l.set(false));
        if pid == 0 {
            // The child: async-signal-safe work only (an atomic store, unlocking a futex).
            EPOCH.set(e);
            drop(live);
            std::mem::forget(lent);
            return 0;
        }
        drop(live);
        if pid < 0 {
            for addr in lent {
                // SAFETY: as above; the handles are still alive (we hold them).
                let h = unsafe { &*(addr as *const BlockHeader) };
                h.refs.fetch_sub(1, Ordering::AcqRel);
            }
        }
        pid
    }

    /// Gives back the reference of every live handle (a fork child leaving with `_exit`,
    /// whose handles are never dropped).
    fn release_all(&self) {
        if EPOCH.get() == 0 {
            return;
        }
        let addrs: Vec<usize> = {
            let mut live = LIVE.lock();
            let a = live.slots.iter_mut().filter_map(Option::take).collect();
            live.free.clear();
            live.slots.clear();
            a
        };
        EPOCH.set(0);
        let maps: Vec<Arc<ArenaMap>> = MAPS
            .lock()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        for addr in addrs {
            // The handles are still alive in this process (never dropped), so their arenas
            // are among this process's mappings.
            if let Some(m) = maps.iter().find(|m| {
                let base = m.ptr.as_ptr() as usize;
                (base..base + m.len).contains(&addr)
            }) {
                release(m, addr - m.ptr.as_ptr() as usize);
            }
        }
    }
}
