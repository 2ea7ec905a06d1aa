//! mp's own threads, safe to start in a fork child.
//!
//! `std::thread::spawn` is not safe in the fork child of a multi-threaded process: every std
//! thread registers itself, as it starts and as it exits, in a process-wide table guarded by
//! a `Mutex` of std's (the stack-overflow handler's thread info, `stack_overflow::
//! thread_info`). If another thread of the parent was starting or exiting at the moment of
//! `fork()`, the child inherits that mutex locked, and its first `std::thread::spawn` hangs
//! forever, before the new thread runs a line of its closure. The hang was seen as a forked
//! manager server that accepted a connection and never answered it (the serving thread was
//! stuck in std's `set_current_info`).
//!
//! So in a fork child [`spawn`] starts the thread with `pthread_create` itself, which takes
//! none of std's locks; everywhere else it is `std::thread::Builder::spawn`. A raw thread
//! has no std name (its name is kept for [`current_name`] and given to the kernel), and a
//! stack overflow in it is a plain `SIGSEGV` rather than std's message. The same hazard
//! applies to a user's own `std::thread::spawn` in a fork child (see `docs/start-methods.md`).

use std::any::Any;
use std::cell::RefCell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

/// The stack size of a raw thread (std's default for the threads it spawns).
const STACK_SIZE: usize = 2 << 20;

/// The pid of the process that loaded this binary (set by the `.init_array` entry; 0 if it
/// did not run).
static ORIGIN_PID: AtomicI32 = AtomicI32::new(0);

/// Set by the `pthread_atfork` child handler.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Records the loading process (called from the `.init_array` entry, before `main`).
pub(crate) fn record_origin() {
    ORIGIN_PID.store(crate::sys::getpid(), Ordering::Relaxed);
}

/// The `pthread_atfork` child handler's part: async-signal-safe (one atomic store).
pub(crate) fn note_forked() {
    FORKED.store(true, Ordering::Relaxed);
}

/// Whether this process is a fork child (of a parent that may have had other threads).
pub(crate) fn forked() -> bool {
    if FORKED.load(Ordering::Relaxed) {
        return true;
    }
    let origin = ORIGIN_PID.load(Ordering::Relaxed);
    origin != 0 && origin != crate::sys::getpid()
}

/// The process that installed the panic hook (0: none yet).
static HOOK_PID: AtomicI32 = AtomicI32::new(0);

/// Records that this process installs mp's panic hook now (see [`forked_since_hook`]).
pub(crate) fn note_panic_hook() {
    HOOK_PID.store(crate::sys::getpid(), Ordering::Relaxed);
}

/// Whether this process was forked after the panic hook was installed: a fork child of a
/// process that may have had other threads. One of them may have held a lock of std's at the
/// fork (the stderr lock, the backtrace lock of the default panic hook, the test harness's
/// output capture), which then stays locked in the child forever.
pub(crate) fn forked_since_hook() -> bool {
    let pid = HOOK_PID.load(Ordering::Relaxed);
    forked() || (pid != 0 && pid != crate::sys::getpid())
}

/// Writes `msg` to descriptor 2 with `write(2)` itself: no lock of std's is taken.
pub(crate) fn raw_stderr(msg: &str) {
    let _ = crate::sys::write_all(2, msg.as_bytes());
}

/// Prints `msg` on stderr: with `eprint!` normally, with a bare `write(2)` in a fork child
/// (where std's stderr lock may have been left locked by another thread of the parent).
pub(crate) fn print_stderr(msg: &str) {
    if forked_since_hook() {
        raw_stderr(msg);
    } else {
        eprint!("{msg}");
    }
}

thread_local! {
    /// The name of a raw thread (std knows nothing of it).
    static NAME: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The current thread's name: std's, or the one [`spawn`] gave a raw thread.
pub(crate) fn current_name() -> Option<String> {
    if let Some(n) = std::thread::current().name() {
        return Some(n.to_owned());
    }
    NAME.try_with(|n| n.borrow().as_deref().map(str::to_owned))
        .ok()
        .flatten()
}

/// A handle to a thread started by [`spawn`]: joins it, or detaches it when dropped (as
/// std's `JoinHandle`).
pub(crate) struct JoinHandle<T> {
    imp: Imp<T>,
    id: ThreadId,
}

enum Imp<T> {
    Std(std::thread::JoinHandle<T>),
    Raw(Raw<T>),
}

struct Raw<T> {
    tid: libc::pthread_t,
    packet: Arc<Packet<T>>,
    joined: bool,
}

/// What a raw thread leaves for its joiner.
struct Packet<T> {
    result: Mutex<Option<std::thread::Result<T>>>,
}

/// The start handshake of a raw thread: its std `ThreadId`, once it runs.
struct Started {
    id: Mutex<Option<ThreadId>>,
    cv: Condvar,
}

impl<T> JoinHandle<T> {
    /// The thread's std id (what `std::thread::current().id()` says in it).
    pub(crate) fn id(&self) -> ThreadId {
        self.id
    }

    /// Waits for the thread to finish: its result, or the payload of its panic.
    pub(crate) fn join(self) -> std::thread::Result<T> {
        match self.imp {
            Imp::Std(h) => h.join(),
            Imp::Raw(mut r) => {
                // SAFETY: `tid` is a joinable thread of ours that nobody joined or detached
                // (`joined` is false until here, and the handle is consumed).
                let rc = unsafe { libc::pthread_join(r.tid, std::ptr::null_mut()) };
                r.joined = true;
                if rc != 0 {
                    return Err(Box::new(format!(
                        "pthread_join failed: {}",
                        io::Error::from_raw_os_error(rc)
                    )));
                }
                r.packet
                    .result
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_else(|| Err(Box::new("the thread left no result")))
            }
        }
    }
}

impl<T> Drop for Raw<T> {
    fn drop(&mut self) {
        if !self.joined {
            // SAFETY: a joinable thread of ours, neither joined nor detached yet.
            unsafe { libc::pthread_detach(self.tid) };
        }
    }
}

/// Starts a thread named `name` running `f`: std's in a process that was not forked, a raw
/// `pthread_create` one in a fork child (see the module docs).
pub(crate) fn spawn<F, T>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !forked() {
        let h = std::thread::Builder::new().name(name.to_owned()).spawn(f)?;
        let id = h.thread().id();
        return Ok(JoinHandle {
            imp: Imp::Std(h),
            id,
        });
    }
    spawn_raw(name, f)
}

/// What a raw thread's start routine receives.
type Start = Box<dyn FnOnce() + Send>;

extern "C" fn raw_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Box<Start>` leaked by `spawn_raw` for this thread alone.
    let start: Box<Start> = unsafe { Box::from_raw(arg.cast::<Start>()) };
    // Nothing may unwind out of an `extern "C"` fn: the closure catches its own panics, and
    // this catches anything else (a panic while storing the result).
    let _ = panic::catch_unwind(AssertUnwindSafe(move || (*start)()));
    std::ptr::null_mut()
}

fn spawn_raw<F, T>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let packet = Arc::new(Packet {
        result: Mutex::new(None),
    });
    let started = Arc::new(Started {
        id: Mutex::new(None),
        cv: Condvar::new(),
    });
    let name: Arc<str> = name.into();
    let (p2, s2, n2) = (packet.clone(), started.clone(), name.clone());
    let start: Start = Box::new(move || {
        let _ = NAME.try_with(|n| *n.borrow_mut() = Some(n2.clone()));
        set_kernel_name(&n2);
        {
            let mut id = s2.id.lock().unwrap_or_else(|e| e.into_inner());
            *id = Some(std::thread::current().id());
            s2.cv.notify_all();
        }
        drop(s2);
        let r: Result<T, Box<dyn Any + Send>> = panic::catch_unwind(AssertUnwindSafe(f));
        *p2.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    });
    let arg = Box::into_raw(Box::new(start));
    // SAFETY: a zeroed pthread_attr_t is initialised by pthread_attr_init before any use,
    // and destroyed after pthread_create (which copies what it needs).
    let tid = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let rc = libc::pthread_attr_init(&mut attr);
        if rc != 0 {
            drop(Box::from_raw(arg));
            return Err(io::Error::from_raw_os_error(rc));
        }
        let size = STACK_SIZE.max(libc::PTHREAD_STACK_MIN);
        libc::pthread_attr_setstacksize(&mut attr, size);
        let mut tid: libc::pthread_t = std::mem::zeroed();
        let rc = libc::pthread_create(&mut tid, &attr, raw_main, arg.cast());
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            // The thread did not start: the closure is still ours to free.
            drop(Box::from_raw(arg));
            return Err(io::Error::from_raw_os_error(rc));
        }
        tid
    };
    let mut id = started.id.lock().unwrap_or_else(|e| e.into_inner());
    while id.is_none() {
        id = started.cv.wait(id).unwrap_or_else(|e| e.into_inner());
    }
    let id = id.take().unwrap_or_else(|| std::thread::current().id());
    Ok(JoinHandle {
        imp: Imp::Raw(Raw {
            tid,
            packet,
            joined: false,
        }),
        id,
    })
}

/// Gives the kernel the thread's name (as std does; 15 bytes at most), for `ps` and `top`.
fn set_kernel_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name
        .bytes()
        .take(15)
        .take_while(|&b| b != 0)
        .enumerate()
        .map(|(i, b)| buf[i] = b)
        .count();
    buf[n] = 0;
    // SAFETY: `buf` is NUL-terminated and at most 16 bytes, as the call requires.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), buf.as_ptr().cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_and_raw_threads_join_with_their_result_or_panic() {
        let h = spawn("mp-test-std", || 6 * 7).unwrap();
        assert_ne!(h.id(), std::thread::current().id());
        assert_eq!(h.join().unwrap(), 42);
        let h = spawn_raw("mp-test-raw", || {
            (current_name(), std::thread::current().id())
        })
        .unwrap();
        let id = h.id();
        let (name, inner) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("mp-test-raw"));
        assert_eq!(inner, id);
        let h = spawn_raw("mp-test-raw", || -> u8 { panic!("raw boom") }).unwrap();
        let p = h.join().unwrap_err();
        assert_eq!(p.downcast_ref::<&str>(), Some(&"raw boom"));
        // Dropped without a join: detached, and its result is freed with the packet.
        let (tx, rx) = std::sync::mpsc::channel();
        drop(spawn_raw("mp-test-raw", move || tx.send(1).unwrap()).unwrap());
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap(),
            1
        );
    }
}
