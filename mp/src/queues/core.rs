//! The untyped machinery of every queue: a control block and a ring buffer of encoded items in
//! one shared-memory region, a process-shared mutex and condition variables around them, and
//! the side channel for the items' descriptors. See `docs/design/queues.md`.
//!
//! Layout of the region's payload (the region header is the first 64 bytes of the memfd, so
//! the ring starts on a page boundary of the file):
//!
//! ```text
//! [ Ctl ............ | ring: `capacity` bytes of entries ]
//!   RING_OFF bytes
//! entry = [ len: u64 | meta: u64 (0, or descriptor id << 8 | descriptor count) | payload | pad to 8 ]
//! ```
//!
//! The state words (`head`, `tail`, `used`, `count`, `unfinished`) change only under the
//! mutex, inside a *transaction*: the old values are saved to `undo` and `txn` is raised before
//! the first change and lowered after the last. A process that dies holding the mutex leaves
//! either no transaction (the state is consistent: an entry's bytes are written before it is
//! published, and copied out before it is removed) or an open one, which whoever takes the
//! mutex over rolls back.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::futex::{Cond, OwnerDied, RawMutex};
use crate::shm::{self, Region};

use super::chan::FdChan;

/// The flavours of queue (a region of one flavour is never attached as another).
pub(crate) const QUEUE: u32 = 1;
pub(crate) const JOINABLE: u32 = 2;
pub(crate) const SIMPLE: u32 = 3;

/// The region's layout tag: bump when `Ctl` or the entry format changes.
const LAYOUT: u64 = 0x6d70_7175_6575_0001;

const PAGE: usize = 4096;
/// Where the ring starts in the region's payload: the first page of the file holds the
/// region header and the control block.
const RING_OFF: usize = PAGE - shm::HEADER;
/// Bytes of an entry's header.
const ENTRY_HDR: u64 = 16;

/// Default ring size: large, but costs nothing until touched (a memfd is sparse).
pub(crate) const DEFAULT_CAPACITY: usize = 1 << 30;
/// The smallest ring `with_default_capacity` falls back to.
const FALLBACK_CAPACITY: usize = 16 << 20;
/// The smallest ring a queue accepts.
pub(crate) const MIN_CAPACITY: usize = PAGE;

/// The first bytes of the ring are never given back to the kernel: a queue whose consumers
/// keep up works there (the positions return to 0 whenever the queue empties) without page
/// faults. Beyond it, memory is released chunk by chunk as items leave.
const HOT: u64 = 1 << 20;
const CHUNK: u64 = 1 << 20;

/// Indexes of the state words.
const HEAD: usize = 0;
const TAIL: usize = 1;
const USED: usize = 2;
const COUNT: usize = 3;
const UNFINISHED: usize = 4;
const NSTATE: usize = 5;

/// `flags` bits.
const SHUTDOWN: u32 = 1;
const IMMEDIATE: u32 = 2;

/// The longest a waiter sleeps without looking at the queue again: the safety net for a
/// notifier that died between its signal and its wake-up call.
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// The control block at the start of the region. Only atomics: any bit pattern is a valid
/// value, and an all-zero block is an empty, unlocked queue.
#[repr(C)]
#[derive(Debug, Default)]
struct Ctl {
    mutex: RawMutex,
    not_empty: Cond,
    not_full: Cond,
    all_done: Cond,
    txn: AtomicU32,
    flags: AtomicU32,
    st: [AtomicU64; NSTATE],
    undo: [AtomicU64; NSTATE],
    /// The id of the last descriptor datagram sent (never rolled back: ids stay unique).
    fd_seq: AtomicU64,
    flavor: AtomicU32,
    _pad: AtomicU32,
    maxsize: AtomicU64,
    capacity: AtomicU64,
    type_hash: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Ctl>() <= RING_OFF);

/// How long an operation may wait.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Not at all (`put_nowait`, `get_nowait`).
    Never,
    /// Until this instant (`put_timeout`, `get_timeout`).
    Until(Instant),
    /// As long as it takes (`put`, `get`).
    Forever,
}

impl Wait {
    pub(crate) fn timeout(t: Duration) -> Wait {
        match Instant::now().checked_add(t) {
            Some(d) => Wait::Until(d),
            None => Wait::Forever,
        }
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Until(d) => Some(d),
            _ => None,
        }
    }

    fn expired(self) -> bool {
        match self {
            Wait::Never => true,
            Wait::Until(d) => Instant::now() >= d,
            Wait::Forever => false,
        }
    }
}

/// Why an operation did not happen.
#[derive(Debug)]
pub(crate) enum Fail {
    /// No room (put) or no item (get) within the allowed wait.
    Timeout,
    ShutDown,
    Closed,
    Err(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Err(e)
    }
}

/// One process's attachment to a queue.
#[derive(Debug)]
pub struct Core {
    region: Region,
    chan: FdChan,
    cap: u64,
    maxsize: u64,
    /// `close()` was called on this process's handle.
    closed: AtomicBool,
    /// This process put something (CPython: the feeder thread was started).
    used: AtomicBool,
}

/// The queue's mutex, held.
struct Guard<'a> {
    core: &'a Core,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.core.ctl().mutex.unlock();
    }
}

impl Core {
    /// A new queue.
    pub(crate) fn new(
        flavor: u32,
        maxsize: usize,
        capacity: usize,
        type_hash: u64,
    ) -> Result<Core> {
        let cap = capacity
            .max(MIN_CAPACITY)
            .checked_next_multiple_of(PAGE)
            .ok_or_else(|| Error::value("queue capacity overflows"))?;
        let region = Region::new(
            RING_OFF
                .checked_add(cap)
                .ok_or_else(|| Error::value("queue capacity overflows"))?,
            shm::kind::QUEUE,
            LAYOUT,
        )?;
        let chan = FdChan::new()?;
        let core = Core {
            region,
            chan,
            cap: cap as u64,
            maxsize: maxsize as u64,
            closed: AtomicBool::new(false),
            used: AtomicBool::new(false),
        };
        let ctl = core.ctl();
        ctl.flavor.store(flavor, Ordering::Relaxed);
        ctl.maxsize.store(maxsize as u64, Ordering::Relaxed);
        ctl.capacity.store(cap as u64, Ordering::Relaxed);
        ctl.type_hash.store(type_hash, Ordering::Release);
        Ok(core)
    }

    /// A new queue with the default capacity, or a smaller one if the address space is
    /// limited (`RLIMIT_AS`): the mapping, not the memory, is what fails then.
    pub(crate) fn with_default_capacity(
        flavor: u32,
        maxsize: usize,
        type_hash: u64,
    ) -> Result<Core> {
        let mut capacity = DEFAULT_CAPACITY;
        loop {
            match Core::new(flavor, maxsize, capacity, type_hash) {
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOMEM) && capacity > FALLBACK_CAPACITY =>
                {
                    capacity /= 4;
                }
                other => return other,
            }
        }
    }

    /// Attaches a queue received from another process. `flavors` lists the flavours the
    /// receiving type accepts; `type_hash` identifies its item type.
    pub(crate) fn attach(
        region: OwnedFd,
        chan: OwnedFd,
        flavors: &[u32],
        type_hash: u64,
        type_name: &str,
    ) -> Result<Core> {
        let region = Region::attach(region, shm::kind::QUEUE, LAYOUT)?;
        if region.data_len() < RING_OFF + MIN_CAPACITY {
            return Err(Error::value(
                "cannot attach a queue: its memory is too small",
            ));
        }
        // SAFETY: the region is at least RING_OFF bytes, page-aligned, and Ctl is made of
        // atomics.
        let ctl = unsafe { region.at::<Ctl>(0) };
        let flavor = ctl.flavor.load(Ordering::Relaxed);
        if !flavors.contains(&flavor) {
            return Err(Error::new(
                ErrorKind::Type,
                format!(
                    "cannot attach a {} as a {}",
                    flavor_name(flavor),
                    flavor_name(flavors[0])
                ),
            ));
        }
        if ctl.type_hash.load(Ordering::Acquire) != type_hash {
            return Err(Error::new(
                ErrorKind::Type,
                format!("the queue does not carry items of type `{type_name}`"),
            ));
        }
        let cap = ctl.capacity.load(Ordering::Relaxed);
        if cap < MIN_CAPACITY as u64 || cap > (region.data_len() - RING_OFF) as u64 || cap % 8 != 0
        {
            return Err(Error::value(
                "cannot attach a queue: its capacity is corrupted",
            ));
        }
        let maxsize = ctl.maxsize.load(Ordering::Relaxed);
        Ok(Core {
            region,
            chan: FdChan::attach(chan)?,
            cap,
            maxsize,
            closed: AtomicBool::new(false),
            used: AtomicBool::new(false),
        })
    }

    /// The descriptors that represent the queue in a message: region, then the channel.
    pub(crate) fn fds(&self) -> [std::os::fd::BorrowedFd<'_>; 2] {
        [self.region.as_fd(), self.chan.sock.as_fd()]
    }

    fn ctl(&self) -> &Ctl {
        // SAFETY: checked at creation/attach: the payload holds a Ctl at offset 0, which is
        // 64-byte aligned and made of atomics.
        unsafe { self.region.at::<Ctl>(0) }
    }

    fn ring(&self) -> *mut u8 {
        // SAFETY: RING_OFF + cap <= data_len (checked at creation/attach).
        unsafe { self.region.data().add(RING_OFF) }
    }

    fn get_st(&self, i: usize) -> u64 {
        self.ctl().st[i].load(Ordering::Relaxed)
    }

    fn set_st(&self, i: usize, v: u64) {
        self.ctl().st[i].store(v, Ordering::Relaxed)
    }

    // ----- handle state -----

    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize as usize
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap as usize
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn was_used(&self) -> bool {
        self.used.load(Ordering::Relaxed)
    }

    // ----- lock-free reads -----

    pub(crate) fn qsize(&self) -> usize {
        self.ctl().st[COUNT].load(Ordering::Acquire) as usize
    }

    pub(crate) fn full(&self) -> bool {
        self.maxsize > 0 && self.ctl().st[COUNT].load(Ordering::Acquire) >= self.maxsize
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.ctl().flags.load(Ordering::Acquire) & SHUTDOWN != 0
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.ctl().st[UNFINISHED].load(Ordering::Acquire) as usize
    }

    // ----- locking and recovery -----

    /// Takes the mutex, repairing the queue if its holder died. `Ok(None)` if `wait` ran out.
    fn lock(&self, wait: Wait) -> Result<Option<Guard<'_>>> {
        let deadline = match wait {
            Wait::Until(d) => Some(d),
            // A non-blocking call still waits for the lock: it is only ever held briefly.
            Wait::Never | Wait::Forever => None,
        };
        match self.ctl().mutex.lock(deadline) {
            Ok(true) => Ok(Some(Guard { core: self })),
            Ok(false) => Ok(None),
            Err(dead) => self.recover(dead).map(Some),
        }
    }

    fn lock_forever(&self) -> Result<Guard<'_>> {
        self.lock(Wait::Forever)?
            .ok_or_else(|| Error::new(ErrorKind::Runtime, "queue lock timed out"))
    }

    /// The holder of the mutex died: take the mutex over (or wait for whoever did), and roll
    /// back what the dead process left half done.
    fn recover(&self, dead: OwnerDied) -> Result<Guard<'_>> {
        let ctl = self.ctl();
        loop {
            if ctl.mutex.take_over() {
                let g = Guard { core: self };
                let rolled_back = self.rollback();
                crate::logging::warning!(
                    "process {} died while holding the lock of a queue; the queue was \
                     recovered{}",
                    dead.pid,
                    if rolled_back {
                        " (its unfinished operation was undone)"
                    } else {
                        ""
                    }
                );
                // Whoever sleeps on a condition re-checks it.
                for cv in [&ctl.not_empty, &ctl.not_full, &ctl.all_done] {
                    if cv.signal_all() {
                        cv.wake(true);
                    }
                }
                return Ok(g);
            }
            // Somebody else is recovering it (or already did): queue up behind them.
            match ctl.mutex.lock(None) {
                Ok(_) => return Ok(Guard { core: self }),
                Err(_) => continue,
            }
        }
    }

    /// Waits on `cv` (releasing the mutex meanwhile) until signalled, `wait`'s deadline, or
    /// [`MAX_SLEEP`]; the mutex is held again on return. Callers re-check their condition.
    fn wait_on(&self, g: Guard<'_>, cv: &Cond, wait: Wait) -> Result<Guard<'_>> {
        let seen = cv.begin_sleep();
        drop(g);
        let slice = match wait.deadline() {
            Some(d) => d.saturating_duration_since(Instant::now()).min(MAX_SLEEP),
            None => MAX_SLEEP,
        };
        cv.sleep(seen, slice);
        let g = self.lock_forever()?;
        cv.end_sleep(seen, false);
        Ok(g)
    }

    fn begin(&self) {
        let ctl = self.ctl();
        for i in 0..NSTATE {
            ctl.undo[i].store(ctl.st[i].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        fence(Ordering::Release);
        ctl.txn.store(1, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    fn commit(&self) {
        fence(Ordering::Release);
        self.ctl().txn.store(0, Ordering::Release);
    }

    /// Undoes an open transaction. Returns whether there was one.
    fn rollback(&self) -> bool {
        let ctl = self.ctl();
        if ctl.txn.load(Ordering::Acquire) == 0 {
            return false;
        }
        for i in 0..NSTATE {
            ctl.st[i].store(ctl.undo[i].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        fence(Ordering::Release);
        ctl.txn.store(0, Ordering::Release);
        true
    }

    // ----- the ring -----

    /// The ring bytes an entry with an `len`-byte payload takes.
    fn entry_size(&self, len: usize) -> Result<u64> {
        let size = (len as u64)
            .checked_next_multiple_of(8)
            .and_then(|n| n.checked_add(ENTRY_HDR))
            .filter(|&n| n <= self.cap)
            .ok_or_else(|| {
                Error::value(format!(
                    "an item of {len} bytes does not fit in the queue (its capacity is {} \
                     bytes; see `Queue::with_capacity`)",
                    self.cap
                ))
            })?;
        Ok(size)
    }

    /// Copies `src` into the ring at `pos`, wrapping around the end.
    fn write_at(&self, pos: u64, src: &[u8]) {
        debug_assert!(pos < self.cap && src.len() as u64 <= self.cap);
        let pos = pos as usize;
        let first = src.len().min(self.cap as usize - pos);
        // SAFETY: pos < cap and first <= cap - pos, so [pos, pos + first) is inside the ring;
        // the rest (< cap bytes) goes at the start. The caller holds the mutex and writes only
        // into free space, which no other process reads.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ring().add(pos), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), self.ring(), src.len() - first);
        }
    }

    /// Copies ring bytes at `pos` into `dst`, wrapping around the end.
    fn read_at(&self, pos: u64, dst: &mut [u8]) {
        debug_assert!(pos < self.cap && dst.len() as u64 <= self.cap);
        let pos = pos as usize;
        let first = dst.len().min(self.cap as usize - pos);
        // SAFETY: as in `write_at`, for reads of published entries under the mutex.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ring().add(pos), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.ring(),
                dst.as_mut_ptr().add(first),
                dst.len() - first,
            );
        }
    }

    fn advance(&self, pos: u64, by: u64) -> u64 {
        (pos + by) % self.cap
    }

    /// Reads and checks the header of the entry at `pos`: (payload length, meta, entry size).
    fn entry_at(&self, pos: u64, used: u64) -> Result<(usize, u64, u64)> {
        let mut hdr = [0u8; ENTRY_HDR as usize];
        if pos >= self.cap {
            return Err(corrupted());
        }
        self.read_at(pos, &mut hdr);
        let len = u64::from_le_bytes(hdr[..8].try_into().map_err(|_| corrupted())?);
        let meta = u64::from_le_bytes(hdr[8..].try_into().map_err(|_| corrupted())?);
        let size = len
            .checked_next_multiple_of(8)
            .and_then(|n| n.checked_add(ENTRY_HDR))
            .filter(|&n| n <= used && n <= self.cap)
            .ok_or_else(corrupted)?;
        Ok((len as usize, meta, size))
    }

    /// Gives the memory of the ring range [from, to) (no wrap; clipped to the part beyond the
    /// hot zone) back to the kernel. The range must hold no live entry.
    fn punch(&self, from: u64, to: u64) {
        let from = from.max(HOT);
        let to = to.min(self.cap);
        if from >= to {
            return;
        }
        let off = (PAGE as u64 + from) as libc::off_t;
        // SAFETY: fallocate on the region's own memfd, page-aligned range (HOT, CHUNK and cap
        // are page multiples) inside the ring; nothing live is there.
        let r = unsafe {
            libc::fallocate(
                self.region.as_fd().as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off,
                (to - from) as libc::off_t,
            )
        };
        if r != 0 {
            crate::logging::debug!(
                "cannot release queue memory: {}",
                std::io::Error::last_os_error()
            );
        }
    }

    /// After a get moved the head from `old` to `new` (with `tail` where it is now): release
    /// the chunks the head left behind. With `reset`, the queue became empty and everything
    /// from `old` to `new` went.
    fn release(&self, old: u64, new: u64, tail: u64, reset: bool) {
        if self.cap <= HOT {
            return;
        }
        let floor = |x: u64| x - x % CHUNK;
        let ceil = |x: u64| x.div_ceil(CHUNK).saturating_mul(CHUNK);
        if reset {
            if new >= old {
                self.punch(floor(old), ceil(new));
            } else {
                self.punch(floor(old), self.cap);
                self.punch(0, ceil(new));
            }
            return;
        }
        // The first chunk also holds live bytes if the tail wrapped into it.
        let mut start = floor(old);
        if tail >= start && tail < old {
            start += CHUNK;
        }
        if new >= old {
            self.punch(start, floor(new));
        } else {
            self.punch(start, self.cap);
            self.punch(0, floor(new));
        }
    }

    // ----- operations -----

    fn has_room(&self, size: u64) -> bool {
        let ctl = self.ctl();
        (self.maxsize == 0 || ctl.st[COUNT].load(Ordering::Relaxed) < self.maxsize)
            && self
                .cap
                .saturating_sub(ctl.st[USED].load(Ordering::Relaxed))
                >= size
    }

    /// Puts one encoded item.
    pub(crate) fn put(&self, bytes: &[u8], fds: &[OwnedFd], wait: Wait) -> Result<(), Fail> {
        if self.is_closed() {
            return Err(Fail::Closed);
        }
        let size = self.entry_size(bytes.len())?;
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        self.used.store(true, Ordering::Relaxed);
        let ctl = self.ctl();
        let Some(mut g) = self.lock(wait)? else {
            return Err(Fail::Timeout);
        };
        let mut spun = false;
        loop {
            if ctl.flags.load(Ordering::Relaxed) & SHUTDOWN != 0 {
                return Err(Fail::ShutDown);
            }
            if self.has_room(size) {
                let mut meta = 0;
                if !raw.is_empty() {
                    let id = ctl.fd_seq.fetch_add(1, Ordering::Relaxed) + 1;
                    if !self.chan.send(id, &raw)? {
                        // The channel is full of other items' handles: wait for getters.
                        drop(g);
                        if wait.expired() {
                            return Err(Fail::Timeout);
                        }
                        let left = wait
                            .deadline()
                            .map(|d| d.saturating_duration_since(Instant::now()));
                        self.chan.wait_writable(left)?;
                        g = match self.lock(wait)? {
                            Some(g) => g,
                            None => return Err(Fail::Timeout),
                        };
                        continue;
                    }
                    meta = (id & ((1 << 56) - 1)) << 8 | raw.len().min(super::chan::MANY) as u64;
                }
                let tail = self.get_st(TAIL);
                if tail >= self.cap {
                    return Err(Fail::Err(corrupted()));
                }
                let mut hdr = [0u8; ENTRY_HDR as usize];
                hdr[..8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
                hdr[8..].copy_from_slice(&meta.to_le_bytes());
                self.write_at(tail, &hdr);
                self.write_at(self.advance(tail, ENTRY_HDR), bytes);
                self.begin();
                self.set_st(TAIL, self.advance(tail, size));
                self.set_st(USED, self.get_st(USED) + size);
                self.set_st(UNFINISHED, self.get_st(UNFINISHED) + 1);
                ctl.st[COUNT].fetch_add(1, Ordering::Release);
                self.commit();
                let wake = ctl.not_empty.signal_one();
                drop(g);
                if wake {
                    ctl.not_empty.wake(false);
                }
                return Ok(());
            }
            if wait.expired() {
                return Err(Fail::Timeout);
            }
            if !spun {
                spun = true;
                drop(g);
                spin_until(|| ctl.flags.load(Ordering::Relaxed) != 0 || self.has_room(size));
                g = match self.lock(wait)? {
                    Some(g) => g,
                    None => return Err(Fail::Timeout),
                };
                continue;
            }
            g = self.wait_on(g, &ctl.not_full, wait)?;
        }
    }

    /// Takes one encoded item.
    pub(crate) fn get(&self, wait: Wait) -> Result<(Vec<u8>, Vec<OwnedFd>), Fail> {
        if self.is_closed() {
            return Err(Fail::Closed);
        }
        let ctl = self.ctl();
        let Some(mut g) = self.lock(wait)? else {
            return Err(Fail::Timeout);
        };
        let mut spun = false;
        loop {
            if self.get_st(COUNT) > 0 {
                return self.take(g);
            }
            if ctl.flags.load(Ordering::Relaxed) & SHUTDOWN != 0 {
                return Err(Fail::ShutDown);
            }
            if wait.expired() {
                return Err(Fail::Timeout);
            }
            if !spun {
                spun = true;
                drop(g);
                spin_until(|| {
                    ctl.st[COUNT].load(Ordering::Relaxed) > 0
                        || ctl.flags.load(Ordering::Relaxed) != 0
                });
                g = match self.lock(wait)? {
                    Some(g) => g,
                    None => return Err(Fail::Timeout),
                };
                continue;
            }
            g = self.wait_on(g, &ctl.not_empty, wait)?;
        }
    }

    /// Removes the entry at the head (there is one).
    fn take(&self, g: Guard<'_>) -> Result<(Vec<u8>, Vec<OwnedFd>), Fail> {
        let ctl = self.ctl();
        let head = self.get_st(HEAD);
        let used = self.get_st(USED);
        let (len, meta, size) = self.entry_at(head, used)?;
        let mut buf = vec![0u8; len];
        self.read_at(self.advance(head, ENTRY_HDR), &mut buf);
        let fds = if meta != 0 {
            self.chan.recv(meta >> 8, (meta & 0xff) as usize)
        } else {
            Ok(Vec::new())
        };
        let tail = self.get_st(TAIL);
        let new_head = self.advance(head, size);
        let count = self.get_st(COUNT) - 1;
        self.begin();
        if count == 0 {
            // Empty: start over at the beginning of the ring, which stays warm.
            self.set_st(HEAD, 0);
            self.set_st(TAIL, 0);
            self.set_st(USED, 0);
        } else {
            self.set_st(HEAD, new_head);
            self.set_st(USED, used - size);
        }
        ctl.st[COUNT].store(count, Ordering::Release);
        self.commit();
        self.release(head, new_head, tail, count == 0);
        // All of them: room for one item by count may be room for several by bytes.
        let wake = ctl.not_full.signal_all();
        drop(g);
        if wake {
            ctl.not_full.wake(true);
        }
        Ok((buf, fds?))
    }

    /// Python's `shutdown(immediate)`.
    pub(crate) fn shutdown(&self, immediate: bool) -> Result<(), Fail> {
        if self.is_closed() {
            return Err(Fail::Closed);
        }
        let ctl = self.ctl();
        let g = self.lock_forever()?;
        ctl.flags.fetch_or(
            SHUTDOWN | if immediate { IMMEDIATE } else { 0 },
            Ordering::AcqRel,
        );
        if immediate {
            let count = self.get_st(COUNT);
            let (head, tail) = (self.get_st(HEAD), self.get_st(TAIL));
            // Drop the handles of the discarded items.
            let mut pos = head;
            let mut used = self.get_st(USED);
            for _ in 0..count {
                let Ok((_, meta, size)) = self.entry_at(pos, used) else {
                    break;
                };
                if meta != 0 {
                    let _ = self.chan.recv(meta >> 8, (meta & 0xff) as usize);
                }
                pos = self.advance(pos, size);
                used -= size;
            }
            self.begin();
            let unfinished = self.get_st(UNFINISHED);
            self.set_st(UNFINISHED, unfinished - count.min(unfinished));
            self.set_st(HEAD, 0);
            self.set_st(TAIL, 0);
            self.set_st(USED, 0);
            ctl.st[COUNT].store(0, Ordering::Release);
            self.commit();
            if count > 0 {
                self.release(head, tail, tail, true);
            }
        }
        let wake = [
            ctl.not_empty.signal_all(),
            ctl.not_full.signal_all(),
            immediate && ctl.all_done.signal_all(),
        ];
        drop(g);
        for (cv, w) in [&ctl.not_empty, &ctl.not_full, &ctl.all_done]
            .into_iter()
            .zip(wake)
        {
            if w {
                cv.wake(true);
            }
        }
        Ok(())
    }

    /// Python's `JoinableQueue.task_done()`.
    pub(crate) fn task_done(&self) -> Result<()> {
        let ctl = self.ctl();
        let g = self.lock_forever()?;
        let u = self.get_st(UNFINISHED);
        if u == 0 {
            return Err(Error::value("task_done() called too many times"));
        }
        self.begin();
        ctl.st[UNFINISHED].store(u - 1, Ordering::Release);
        self.commit();
        let wake = u == 1 && ctl.all_done.signal_all();
        drop(g);
        if wake {
            ctl.all_done.wake(true);
        }
        Ok(())
    }

    /// Python's `JoinableQueue.join()`: waits until no task is unfinished. `Ok(false)` if
    /// `wait` ran out first.
    pub(crate) fn join(&self, wait: Wait) -> Result<bool> {
        let ctl = self.ctl();
        let Some(mut g) = self.lock(wait)? else {
            return Ok(false);
        };
        loop {
            if self.get_st(UNFINISHED) == 0 {
                return Ok(true);
            }
            if wait.expired() {
                return Ok(false);
            }
            g = self.wait_on(g, &ctl.all_done, wait)?;
        }
    }

    // ----- async waiters -----

    #[cfg(feature = "async")]
    fn cond(&self, which: super::sealed::Cv) -> &Cond {
        let ctl = self.ctl();
        match which {
            super::sealed::Cv::NotEmpty => &ctl.not_empty,
            super::sealed::Cv::NotFull => &ctl.not_full,
            super::sealed::Cv::AllDone => &ctl.all_done,
        }
    }

    /// Counts an async waiter on `which` (as a sleeper in [`Core::wait_on`] is counted, so
    /// that notifiers bump the condition's word) and returns that word and its value now.
    #[cfg(feature = "async")]
    pub(crate) fn subscribe(&self, which: super::sealed::Cv) -> Result<(&AtomicU32, u32)> {
        let g = self.lock_forever()?;
        let cv = self.cond(which);
        let seen = cv.begin_sleep();
        drop(g);
        Ok((cv.word(), seen))
    }

    /// Uncounts an async waiter. With `pass_on`, a waiter that goes away without acting on a
    /// notification it may have taken (its word moved past `seen`) hands it to another one.
    #[cfg(feature = "async")]
    pub(crate) fn unsubscribe(&self, which: super::sealed::Cv, seen: u32, pass_on: bool) {
        let Ok(g) = self.lock_forever() else {
            return;
        };
        let cv = self.cond(which);
        let wake = cv.end_sleep(seen, pass_on);
        drop(g);
        if wake {
            cv.wake(false);
        }
    }

    /// Takes the mutex and never gives it back, for tests of a holder that dies.
    pub(crate) fn hold_lock_forever(&self) -> Result<()> {
        std::mem::forget(self.lock_forever()?);
        Ok(())
    }
}

fn corrupted() -> Error {
    Error::new(
        ErrorKind::Runtime,
        "the queue's shared memory is corrupted (was it written by something else than mp?)",
    )
}

fn flavor_name(flavor: u32) -> &'static str {
    match flavor {
        QUEUE => "Queue",
        JOINABLE => "JoinableQueue",
        SIMPLE => "SimpleQueue",
        _ => "queue of unknown kind",
    }
}

/// FNV-1a of a type's name: the tag that keeps a `Queue<A>` from being attached as a
/// `Queue<B>`.
pub(crate) fn type_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// ----- spinning -----

/// How long a waiter spins before it sleeps: a peer on another CPU usually answers within
/// this, and sleeping costs a ~30 µs wake-up on each side (see BASELINE.md).
const SPIN: Duration = Duration::from_micros(50);
/// How many times a waiter yields instead, when this process may use a single CPU (spinning
/// would only keep the peer from running).
const YIELDS: u32 = 8;

/// Busy-waits a little for `ready`. Returns whether it became true.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    if single_cpu() {
        for _ in 0..YIELDS {
            if ready() {
                return true;
            }
            // SAFETY: sched_yield takes no arguments and cannot fail in a harmful way.
            unsafe { libc::sched_yield() };
        }
        return ready();
    }
    if !crate::sys::spin::first() {
        // Spinning has not been paying for this thread (see `sys::spin`).
        return ready();
    }
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                crate::sys::spin::ended(true);
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN {
            let r = ready();
            crate::sys::spin::ended(r);
            return r;
        }
    }
}

/// Whether this thread may run on one CPU only (affinity; see [`crate::sys::spinning_pays`]).
fn single_cpu() -> bool {
    !crate::sys::spinning_pays()
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

/// Fuzzing entry point (`fuzz/fuzz_targets/queue_ring.rs`; not an API): a queue whose shared
/// memory holds whatever `data` says (its state words from the first 32 bytes, its ring from
/// the rest), as another process could leave it. Getting, putting and shutting down must give
/// items or errors, never a panic or an access outside the ring.
#[doc(hidden)]
pub fn fuzz_ring(data: &[u8]) {
    let Ok(core) = Core::new(QUEUE, 0, MIN_CAPACITY, 0) else {
        return;
    };
    let word = |i: usize| {
        data.get(i * 8..i * 8 + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    core.set_st(HEAD, word(0));
    core.set_st(TAIL, word(1));
    core.set_st(USED, word(2));
    // Bounded: each get of a corrupt queue fails, but a count of 2^64 would loop that long.
    let count = word(3) % 64;
    core.set_st(COUNT, count);
    let ring = data.get(32..).unwrap_or(&[]);
    core.write_at(0, &ring[..ring.len().min(MIN_CAPACITY)]);
    for _ in 0..=count {
        let _ = core.get(Wait::Never);
    }
    let _ = core.put(b"after", &[], Wait::Never);
    let _ = core.get(Wait::Never);
    let _ = core.shutdown(true);
}
