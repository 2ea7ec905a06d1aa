//! Where the data of a `Value` or an `Array` lives: the [`Store`] of a space. In the process
//! space, a block of a shared arena with a borrow flag in its header ([`Obj`]); in the thread
//! space, a vector on the heap behind a mutex ([`Heap`]). The fronts (`value.rs`, `array.rs`)
//! are written once over the trait.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use super::{__layout, Shareable};
use crate::error::{Error, ErrorKind, Result};
use crate::futex::{self, Word};
use crate::shm::{self, Block, BlockWire};
#[cfg(not(loom))]
use crate::shm::{pid_alive, tid_alive};
use crate::space::handle::{Handle, handle_serde, thread_token};
use crate::space::{Processes, Space, Threads};

/// A space whose memory can hold `T`s: the process space holds [`Shareable`] types (plain data
/// valid in any process), the thread space any `Send` type. Sealed.
pub trait Holds<T>: Space {
    /// The storage of one object.
    type Store: Store<T>;
}

impl<T: Shareable> Holds<T> for Processes {
    type Store = Obj<T>;
}

impl<T: Send + 'static> Holds<T> for Threads {
    type Store = Heap<T>;
}

/// The storage of one object of `len` `T`s, with a borrow flag: every access holds it.
pub trait Store<T>: Clone + Send + Sync + Serialize + Sized + 'static {
    /// Exclusive access, held while it lives.
    type Excl<'a>
    where
        Self: 'a;
    /// What a transport carries (attached with [`Store::attach`]).
    type Wire: DeserializeOwned;
    fn from_one(value: T, kind: u32) -> Result<Self>;
    fn from_vec(values: Vec<T>, kind: u32) -> Result<Self>;
    fn from_slice(values: &[T], kind: u32) -> Result<Self>
    where
        T: Clone;
    fn zeroed(len: usize, kind: u32) -> Result<Self>
    where
        T: Shareable;
    fn attach(wire: Self::Wire, kind: u32) -> Result<Self>;
    fn len(&self) -> usize;
    fn excl(&self) -> Result<Self::Excl<'_>>;
    fn try_excl(&self) -> Option<Self::Excl<'_>>;
    /// The data, under `x`.
    fn slice<'a>(&'a self, x: &'a Self::Excl<'_>) -> &'a [T];
    fn slice_mut<'a>(&'a self, x: &'a mut Self::Excl<'_>) -> &'a mut [T];
    fn duplicate(&self, kind: u32) -> Result<Self>
    where
        T: Clone;
    fn same(&self, other: &Self) -> bool;

    fn read(&self, i: usize) -> Result<T>
    where
        T: Clone,
    {
        check_index(i, self.len())?;
        let x = self.excl()?;
        Ok(self.slice(&x)[i].clone())
    }

    fn write(&self, i: usize, v: T) -> Result<()> {
        check_index(i, self.len())?;
        let mut x = self.excl()?;
        let old = std::mem::replace(&mut self.slice_mut(&mut x)[i], v);
        drop(x);
        drop(old); // after the flag is released
        Ok(())
    }

    fn read_range(&self, r: Range<usize>) -> Result<Vec<T>>
    where
        T: Clone,
    {
        check_range(&r, self.len())?;
        let x = self.excl()?;
        Ok(self.slice(&x)[r].to_vec())
    }

    fn write_range(&self, start: usize, values: &[T]) -> Result<()>
    where
        T: Clone,
    {
        let end = start
            .checked_add(values.len())
            .ok_or_else(|| Error::new(ErrorKind::Index, "slice out of range"))?;
        check_range(&(start..end), self.len())?;
        let mut x = self.excl()?;
        self.slice_mut(&mut x)[start..end].clone_from_slice(values);
        Ok(())
    }

    fn fill(&self, v: T) -> Result<()>
    where
        T: Clone,
    {
        let mut x = self.excl()?;
        self.slice_mut(&mut x).fill(v);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The shared object: header (borrow flag, length) + data
// ---------------------------------------------------------------------------------------------

/// Where the data starts in the region's payload.
const DATA: usize = 64;

#[repr(C)]
struct ObjHeader {
    flag: BorrowFlag,
    _reserved: AtomicU32,
    /// Number of elements.
    len: AtomicU64,
}

/// The borrow flag of a shared object: who accesses its data now. Process-shared, so it
/// survives its holder's death: a waiter takes it over once the holder is gone.
#[repr(C)]
struct BorrowFlag {
    /// The tid of the thread borrowing the data, 0 if none (the futex word).
    tid: Word,
    /// The pid of that thread's process (stored just after `tid` is taken).
    pid: Word,
    waiters: Word,
}

const FIRST_CHECK: Duration = Duration::from_millis(20);
const MAX_CHECK: Duration = Duration::from_millis(500);
#[cfg(not(loom))]
const FLAG_SPINS: u32 = 100;
/// Under the model checker a spin only multiplies the interleavings to explore.
#[cfg(loom)]
const FLAG_SPINS: u32 = 0;

/// Whether a holder is gone: its process and the thread in the flag's word (the model's
/// table of processes under the model checker).
#[cfg(not(loom))]
fn holder_gone(pid: i32, tid: i32) -> bool {
    !pid_alive(pid) && !tid_alive(tid)
}

#[cfg(loom)]
fn holder_gone(pid: i32, tid: i32) -> bool {
    use crate::futex::loom_model::alive;
    !alive(pid) && !alive(tid)
}

impl BorrowFlag {
    /// Takes the flag if it is free.
    #[inline]
    fn try_take(&self, pid: i32, tid: i32) -> bool {
        let ok = self
            .tid
            .compare_exchange(0, tid as u32, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if ok {
            self.pid.store(pid as u32, Ordering::Relaxed);
        }
        ok
    }

    /// Takes the flag, waiting for another holder; takes it over from a dead one.
    #[inline]
    fn take(&self, pid: i32, tid: i32) -> Result<()> {
        if self.try_take(pid, tid) {
            return Ok(());
        }
        self.take_slow(pid, tid)
    }

    #[cold]
    fn take_slow(&self, pid: i32, tid: i32) -> Result<()> {
        let mut interval = FIRST_CHECK;
        let mut spins = 0u32;
        loop {
            let cur = self.tid.load(Ordering::Acquire);
            if cur == 0 {
                if self.try_take(pid, tid) {
                    return Ok(());
                }
                continue;
            }
            if cur == tid as u32 && self.pid.load(Ordering::Relaxed) == pid as u32 {
                return Err(Error::new(
                    ErrorKind::Runtime,
                    "the shared data is already borrowed by this thread: a guard of it is \
                     still alive (drop it before accessing the data again)",
                ));
            }
            if spins < FLAG_SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let woke = futex::sleep_on(&self.tid, cur, interval);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if !woke {
                let holder = self.pid.load(Ordering::Relaxed) as i32;
                // `holder` may be stale: a taker stores its pid just after its compare-and-
                // swap on `tid`. So the thread in the word we swap on must be gone too: a
                // live taker whose pid is not written yet is never taken over (the model
                // `loom_a_dead_borrower_never_makes_two_borrowers`).
                if holder != 0 && holder != pid && holder_gone(holder, cur as i32) {
                    // The holder died mid-access: take the flag over.
                    if self
                        .tid
                        .compare_exchange(cur, tid as u32, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        self.pid.store(pid as u32, Ordering::Relaxed);
                        return Ok(());
                    }
                }
                interval = (interval * 2).min(MAX_CHECK);
            }
        }
    }

    fn release(&self) {
        self.pid.store(0, Ordering::Relaxed);
        self.tid.store(0, Ordering::SeqCst);
        futex::sc_point();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake_word(&self.tid, 1);
        }
    }
}

const fn obj_layout<T: Shareable>(kind: &str) -> u64 {
    __layout::u64(__layout::str(__layout::START, kind), T::LAYOUT)
}

/// A region holding an element count and `len` elements of `T`.
pub struct Obj<T> {
    region: Arc<Block>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T> Clone for Obj<T> {
    fn clone(&self) -> Self {
        Obj {
            region: self.region.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

/// Exclusive access to an object's data; released on drop.
pub struct Excl<'a> {
    flag: &'a BorrowFlag,
}

impl Drop for Excl<'_> {
    #[inline]
    fn drop(&mut self) {
        self.flag.release();
    }
}

fn kind_name(kind: u32) -> &'static str {
    if kind == shm::kind::ARRAY {
        "mp::Array v1"
    } else {
        "mp::Value v1"
    }
}

impl<T: Shareable> Obj<T> {
    fn new(len: usize, kind: u32) -> Result<Obj<T>> {
        const {
            assert!(
                std::mem::align_of::<T>() <= DATA,
                "shared types must be at most 64-byte aligned"
            )
        };
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(DATA))
            .ok_or_else(|| Error::value("shared array too large"))?;
        let region = shm::alloc(bytes, kind, obj_layout::<T>(kind_name(kind)))?;
        let obj = Obj {
            region: Arc::new(region),
            len,
            _t: PhantomData,
        };
        obj.hdr().len.store(len as u64, Ordering::Release);
        Ok(obj)
    }

    fn attach(wire: BlockWire, kind: u32) -> Result<Obj<T>> {
        let region = Block::attach(wire, kind, obj_layout::<T>(kind_name(kind)))?;
        if region.data_len() < DATA {
            return Err(Error::value("cannot attach shared memory: it is too small"));
        }
        // SAFETY: the payload has room for the header (checked above), 64-byte aligned.
        let hdr: &ObjHeader = unsafe { region.at(0) };
        let len = hdr.len.load(Ordering::Acquire);
        let fits = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_mul(std::mem::size_of::<T>()))
            .and_then(|b| b.checked_add(DATA))
            .is_some_and(|b| b <= region.data_len());
        if !fits || (kind == shm::kind::VALUE && len != 1) {
            return Err(Error::value(
                "cannot attach shared memory: its length does not match its size",
            ));
        }
        Ok(Obj {
            region: Arc::new(region),
            len: len as usize,
            _t: PhantomData,
        })
    }

    #[inline]
    fn hdr(&self) -> &ObjHeader {
        // SAFETY: every object region has a 64-byte header of atomics at offset 0.
        unsafe { self.region.at(0) }
    }

    #[inline]
    fn ptr(&self) -> *mut T {
        // SAFETY: DATA is within the payload (checked at creation and attach); the result is
        // 64-byte aligned, enough for T.
        unsafe { self.region.data().add(DATA).cast::<T>() }
    }

    /// Takes the borrow flag, waiting for another holder; takes it over from a dead one.
    #[inline]
    fn excl(&self) -> Result<Excl<'_>> {
        let flag = &self.hdr().flag;
        let (pid, tid) = futex::ids();
        flag.take(pid, tid)?;
        Ok(Excl { flag })
    }

    /// Takes the borrow flag only if it is free.
    fn try_excl(&self) -> Option<Excl<'_>> {
        let flag = &self.hdr().flag;
        let (pid, tid) = futex::ids();
        flag.try_take(pid, tid).then_some(Excl { flag })
    }

    fn read(&self, i: usize) -> Result<T> {
        check_index(i, self.len)?;
        let _x = self.excl()?;
        // SAFETY: in bounds; exclusive access under the borrow flag; any bit pattern written
        // through `T` in any process is a valid `T` (Shareable).
        Ok(unsafe { self.ptr().add(i).read() })
    }

    fn write(&self, i: usize, v: T) -> Result<()> {
        check_index(i, self.len)?;
        let _x = self.excl()?;
        // SAFETY: as in `read`.
        unsafe { self.ptr().add(i).write(v) };
        Ok(())
    }

    fn read_range(&self, r: Range<usize>) -> Result<Vec<T>> {
        check_range(&r, self.len)?;
        let _x = self.excl()?;
        // SAFETY: in bounds, exclusive access.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr().add(r.start), r.len()) }.to_vec())
    }

    fn write_range(&self, start: usize, values: &[T]) -> Result<()> {
        let end = start
            .checked_add(values.len())
            .ok_or_else(|| Error::new(ErrorKind::Index, "slice out of range"))?;
        check_range(&(start..end), self.len)?;
        let _x = self.excl()?;
        // SAFETY: in bounds, exclusive access; `values` is ours, not in the region.
        unsafe {
            std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr().add(start), values.len())
        };
        Ok(())
    }

    fn fill(&self, v: T) -> Result<()> {
        let _x = self.excl()?;
        // SAFETY: exclusive access to `len` elements.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }.fill(v);
        Ok(())
    }

    /// A new region with a copy of the data.
    fn duplicate(&self, kind: u32) -> Result<Obj<T>> {
        let new = Obj::<T>::new(self.len, kind)?;
        let _x = self.excl()?;
        // SAFETY: both in bounds; distinct regions; exclusive access to the source.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(), new.ptr(), self.len) };
        Ok(new)
    }

    fn with_data(len: usize, kind: u32, values: &[T]) -> Result<Obj<T>> {
        let obj = Obj::new(len, kind)?;
        // SAFETY: fresh region, nobody else can see it yet; `values.len() <= len`.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), obj.ptr(), values.len().min(len)) };
        Ok(obj)
    }

    fn same(&self, other: &Obj<T>) -> bool {
        Arc::ptr_eq(&self.region, &other.region) || self.region.same(&other.region)
    }
}

fn check_index(i: usize, len: usize) -> Result<()> {
    if i < len {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Index,
            format!("index {i} out of range for length {len}"),
        ))
    }
}

fn check_range(r: &Range<usize>, len: usize) -> Result<()> {
    if r.start <= r.end && r.end <= len {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Index,
            format!("slice {}..{} out of range for length {len}", r.start, r.end),
        ))
    }
}

impl<T> Serialize for Obj<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.region.serialize(s)
    }
}

/// What a transport carries for an [`Obj`]: its arena block.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub struct ObjWire(BlockWire);

impl<T> std::fmt::Debug for Obj<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Obj")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Excl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Excl")
    }
}

impl std::fmt::Debug for ObjWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjWire")
    }
}

impl<T: Shareable> Store<T> for Obj<T> {
    type Excl<'a> = Excl<'a>;
    type Wire = ObjWire;

    fn from_one(value: T, kind: u32) -> Result<Self> {
        Obj::with_data(1, kind, std::slice::from_ref(&value))
    }

    fn from_vec(values: Vec<T>, kind: u32) -> Result<Self> {
        Obj::with_data(values.len(), kind, &values)
    }

    fn from_slice(values: &[T], kind: u32) -> Result<Self> {
        Obj::with_data(values.len(), kind, values)
    }

    fn zeroed(len: usize, kind: u32) -> Result<Self> {
        Obj::new(len, kind)
    }

    fn attach(wire: ObjWire, kind: u32) -> Result<Self> {
        Obj::attach(wire.0, kind)
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn excl(&self) -> Result<Excl<'_>> {
        Obj::excl(self)
    }

    fn try_excl(&self) -> Option<Excl<'_>> {
        Obj::try_excl(self)
    }

    fn slice<'a>(&'a self, _x: &'a Excl<'_>) -> &'a [T] {
        // SAFETY: the borrow flag is held while `_x` lives: nobody else accesses the data;
        // `len` elements are in bounds.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }

    fn slice_mut<'a>(&'a self, _x: &'a mut Excl<'_>) -> &'a mut [T] {
        // SAFETY: as above, and the `&mut` borrow of the flag makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }

    fn duplicate(&self, kind: u32) -> Result<Self> {
        Obj::duplicate(self, kind)
    }

    fn same(&self, other: &Self) -> bool {
        Obj::same(self, other)
    }

    // The inherent ones: one copy, no clone of the slice.
    #[inline]
    fn read(&self, i: usize) -> Result<T> {
        Obj::read(self, i)
    }

    #[inline]
    fn write(&self, i: usize, v: T) -> Result<()> {
        Obj::write(self, i, v)
    }

    fn read_range(&self, r: Range<usize>) -> Result<Vec<T>> {
        Obj::read_range(self, r)
    }

    fn write_range(&self, start: usize, values: &[T]) -> Result<()> {
        Obj::write_range(self, start, values)
    }

    fn fill(&self, v: T) -> Result<()> {
        Obj::fill(self, v)
    }
}

// ---------------------------------------------------------------------------------------------
// The thread space: a vector behind a mutex
// ---------------------------------------------------------------------------------------------

struct HeapCell<T> {
    /// The thread that holds the data (`thread_token`), 0 for none: a second borrow by the
    /// same thread is an error, not a deadlock.
    borrower: AtomicU64,
    data: Mutex<Vec<T>>,
    len: usize,
}

/// An object of the thread space: its `T`s on the heap, shared by the handles' `Arc`.
pub struct Heap<T> {
    cell: Arc<HeapCell<T>>,
}

impl<T> std::fmt::Debug for Heap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("len", &self.cell.len)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for HeapExcl<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeapExcl")
    }
}

impl<T> Clone for Heap<T> {
    fn clone(&self) -> Self {
        Heap {
            cell: self.cell.clone(),
        }
    }
}

impl<T: Send + 'static> Handle for Heap<T> {
    fn dup(&self) -> Self {
        self.clone()
    }
}

handle_serde!(Heap<T>);

/// Exclusive access to a [`Heap`] object.
pub struct HeapExcl<'a, T> {
    guard: Option<MutexGuard<'a, Vec<T>>>,
    borrower: &'a AtomicU64,
}

impl<T> Drop for HeapExcl<'_, T> {
    fn drop(&mut self) {
        self.borrower.store(0, Ordering::Relaxed);
        drop(self.guard.take());
    }
}

impl<T> Heap<T> {
    fn new(data: Vec<T>) -> Heap<T> {
        Heap {
            cell: Arc::new(HeapCell {
                borrower: AtomicU64::new(0),
                len: data.len(),
                data: Mutex::new(data),
            }),
        }
    }
}

impl<T: Send + 'static> Store<T> for Heap<T> {
    type Excl<'a> = HeapExcl<'a, T>;
    type Wire = Heap<T>;

    fn from_one(value: T, _kind: u32) -> Result<Self> {
        Ok(Heap::new(vec![value]))
    }

    fn from_vec(values: Vec<T>, _kind: u32) -> Result<Self> {
        Ok(Heap::new(values))
    }

    fn from_slice(values: &[T], _kind: u32) -> Result<Self>
    where
        T: Clone,
    {
        Ok(Heap::new(values.to_vec()))
    }

    fn zeroed(len: usize, _kind: u32) -> Result<Self>
    where
        T: Shareable,
    {
        // SAFETY: `Shareable` guarantees that the all-zero bit pattern is a valid `T`.
        Ok(Heap::new(
            (0..len)
                .map(|_| unsafe { std::mem::zeroed::<T>() })
                .collect(),
        ))
    }

    fn attach(wire: Heap<T>, _kind: u32) -> Result<Self> {
        Ok(wire)
    }

    fn len(&self) -> usize {
        self.cell.len
    }

    fn excl(&self) -> Result<HeapExcl<'_, T>> {
        let me = thread_token();
        if self.cell.borrower.load(Ordering::Relaxed) == me {
            return Err(Error::new(
                ErrorKind::Runtime,
                "this thread already holds a guard of this object: use that guard",
            ));
        }
        let guard = self.cell.data.lock().unwrap_or_else(|e| e.into_inner());
        self.cell.borrower.store(me, Ordering::Relaxed);
        Ok(HeapExcl {
            guard: Some(guard),
            borrower: &self.cell.borrower,
        })
    }

    fn try_excl(&self) -> Option<HeapExcl<'_, T>> {
        let guard = self.cell.data.try_lock().ok()?;
        self.cell.borrower.store(thread_token(), Ordering::Relaxed);
        Some(HeapExcl {
            guard: Some(guard),
            borrower: &self.cell.borrower,
        })
    }

    fn slice<'a>(&'a self, x: &'a HeapExcl<'_, T>) -> &'a [T] {
        x.guard.as_deref().map_or(&[], |v| v.as_slice())
    }

    fn slice_mut<'a>(&'a self, x: &'a mut HeapExcl<'_, T>) -> &'a mut [T] {
        x.guard.as_deref_mut().map_or(&mut [], |v| v.as_mut_slice())
    }

    fn duplicate(&self, _kind: u32) -> Result<Self>
    where
        T: Clone,
    {
        let x = self.excl()?;
        Ok(Heap::new(self.slice(&x).to_vec()))
    }

    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

/// Model checking of the borrow flag (`docs/reliability.md`): sleeps that may always time
/// out, so that every check of a dead holder is explored.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::futex::loom_model::{become_process, die};
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32 as LoomU32;

    /// A borrower dies holding the flag; two processes take it over and take it again, twice
    /// each: never two borrowers. Fails (two borrowers) if a takeover trusts the pid word
    /// alone, which a new holder stores just after its swap.
    #[test]
    fn loom_a_dead_borrower_never_makes_two_borrowers() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.max_branches = 20_000;
        b.check(|| {
            let f = Arc::new(BorrowFlag {
                tid: Word::new(0),
                pid: Word::new(0),
                waiters: Word::new(0),
            });
            let inside = Arc::new(LoomU32::new(0));
            become_process(1);
            f.take(1, 1).unwrap();
            die(1);
            let others: Vec<_> = [2, 3]
                .into_iter()
                .map(|pid| {
                    let (f, inside) = (f.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        become_process(pid);
                        for _ in 0..2 {
                            f.take(pid, pid).unwrap();
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two borrowers");
                            inside.fetch_sub(1, Ordering::SeqCst);
                            f.release();
                        }
                    })
                })
                .collect();
            for t in others {
                t.join().unwrap();
            }
        });
    }
}
