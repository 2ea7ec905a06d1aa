//! `wait`: Python's `multiprocessing.connection.wait(object_list, timeout)`.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{ConnectionIn, Link, Listener};
use crate::error::{Error, Result};
use crate::sys;

/// How [`wait`] watches a [`Waitable`].
///
/// # Examples
///
/// ```
/// use mp::connection::{Readiness, Waitable};
/// # fn main() -> mp::Result<()> {
/// let (a, _b) = mp::Pipe(true)?;
/// assert!(matches!(a.readiness()?, Readiness::Fd(fd) if fd == a.fileno()?));
/// let (a, b) = mp::dummy::Pipe(true)?;
/// assert!(matches!(a.readiness()?, Readiness::Now(false)));
/// b.send(&1u8)?;
/// assert!(matches!(a.readiness()?, Readiness::Now(true)));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Ready when this descriptor is readable (a socket, a pipe, a process's sentinel).
    Fd(RawFd),
    /// An object of this process (an `mp::dummy` connection, listener or thread process):
    /// ready now or not. [`wait`] looks again whenever such an object changes.
    Now(bool),
}

/// Something [`wait`] can wait on: it is ready when reading it would not block (a message or
/// end of file on a connection or socket, a pending client on a listener, an exited process).
///
/// Implemented for [`Connection`](super::Connection) and `mp::dummy::Connection`,
/// [`Process`](crate::Process) (its [`sentinel`](crate::Process::sentinel)) and
/// `mp::dummy::Process`, [`Listener`] and the dummy one, std's sockets,
/// descriptors (`OwnedFd`, `BorrowedFd`) and raw descriptor numbers (`RawFd`, Python's
/// integers, e.g. a sentinel), and for references and boxes of them, so that a list can mix
/// kinds as `&dyn Waitable`.
///
/// # Examples
///
/// ```
/// use mp::connection::{Readiness, Waitable};
/// # fn main() -> mp::Result<()> {
/// let (a, _b) = mp::Pipe(true)?;
/// assert_eq!(a.readiness()?, Readiness::Fd(a.fileno()?));
/// # Ok(()) }
/// ```
pub trait Waitable {
    /// What to watch.
    ///
    /// # Errors
    ///
    /// The object cannot be waited on (a closed or write-only connection, a process that was
    /// not started...).
    fn readiness(&self) -> Result<Readiness>;
}

impl<L: Link> Waitable for ConnectionIn<L> {
    fn readiness(&self) -> Result<Readiness> {
        let link = self.check_readable()?;
        match link.ready_now() {
            Some(now) => Ok(Readiness::Now(now)),
            None => link.fileno().map(Readiness::Fd),
        }
    }
}

impl Waitable for Listener {
    fn readiness(&self) -> Result<Readiness> {
        if self.closed() {
            return Err(crate::Error::closed());
        }
        Ok(Readiness::Fd(self.as_raw_fd()))
    }
}

impl Waitable for RawFd {
    fn readiness(&self) -> Result<Readiness> {
        Ok(Readiness::Fd(*self))
    }
}

macro_rules! waitable_fds {
    ($($t:ty)*) => {$(
        impl Waitable for $t {
            fn readiness(&self) -> Result<Readiness> {
                Ok(Readiness::Fd(self.as_raw_fd()))
            }
        }
    )*};
}
waitable_fds! { OwnedFd BorrowedFd<'_> UnixStream UnixListener UnixDatagram TcpStream TcpListener UdpSocket }

impl<T: Waitable + ?Sized> Waitable for &T {
    fn readiness(&self) -> Result<Readiness> {
        (**self).readiness()
    }
}

impl<T: Waitable + ?Sized> Waitable for &mut T {
    fn readiness(&self) -> Result<Readiness> {
        (**self).readiness()
    }
}

impl<T: Waitable + ?Sized> Waitable for Box<T> {
    fn readiness(&self) -> Result<Readiness> {
        (**self).readiness()
    }
}

/// Waits until at least one of `objects` is ready, or `timeout` passes; returns the indices
/// of the ready ones, in input order: Python's `connection.wait(object_list, timeout)`.
///
/// `timeout = None` waits without a limit; `Some(Duration::ZERO)` (Python's zero or negative
/// timeout) checks once and returns at once. A connection whose peer closed counts as ready
/// (its `recv` then fails with [`ErrorKind::Eof`](crate::ErrorKind::Eof)); so does a process
/// that exited. Interrupted system calls are resumed with the remaining time. Returning
/// indices (rather than Python's objects) lets the caller remove finished entries from its
/// list.
///
/// # Errors
///
/// An object cannot be waited on, or its descriptor is not open
/// ([`ErrorKind::Os`](crate::ErrorKind::Os), `EBADF`).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use std::time::Duration;
/// use mp::connection::wait;
/// let (r1, w1) = mp::Pipe(false)?;
/// let (r2, w2) = mp::Pipe(false)?;
/// assert!(wait(&[&r1, &r2], Some(Duration::ZERO))?.is_empty());
/// w2.send(&"second")?;
/// assert_eq!(wait(&[&r1, &r2], None)?, vec![1]);
/// drop(w1); // end of file makes r1 ready too
/// assert_eq!(wait(&[&r1, &r2], None)?, vec![0, 1]);
/// # Ok(()) }
/// ```
pub fn wait<W: Waitable>(objects: &[W], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let mut fds = Vec::with_capacity(objects.len());
    let mut in_memory = false;
    for o in objects {
        match o.readiness()? {
            Readiness::Fd(fd) if fd < 0 => {
                return Err(Error::value(format!("invalid handle {fd}")));
            }
            Readiness::Fd(fd) => fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }),
            Readiness::Now(_) => in_memory = true,
        }
    }
    if !in_memory {
        return poll_ready(&mut fds, timeout);
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let _waiting = Waiting::enter();
    // A set with descriptors sleeps in poll(2), woken through an eventfd of its own.
    let wake = if fds.is_empty() {
        None
    } else {
        Some(Wake::register()?)
    };
    loop {
        let seen = *lock(&GENERATION);
        let mut ready = Vec::new();
        let mut polled = poll_ready(&mut fds, Some(Duration::ZERO))?.into_iter();
        let mut next_fd = polled.next();
        let mut fd_index = 0;
        for (i, o) in objects.iter().enumerate() {
            let now = match o.readiness()? {
                Readiness::Now(now) => now,
                Readiness::Fd(_) => {
                    let hit = next_fd == Some(fd_index);
                    if hit {
                        next_fd = polled.next();
                    }
                    fd_index += 1;
                    hit
                }
            };
            if now {
                ready.push(i);
            }
        }
        if !ready.is_empty() || timeout == Some(Duration::ZERO) {
            return Ok(ready);
        }
        let left = match deadline {
            None => None,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(Vec::new()),
            },
        };
        match &wake {
            Some(w) => w.sleep(&fds, left)?,
            None => {
                let mut g = lock(&GENERATION);
                while *g == seen {
                    match deadline {
                        None => g = ACTIVITY.wait(g).unwrap_or_else(|e| e.into_inner()),
                        Some(d) => {
                            let now = Instant::now();
                            if now >= d {
                                return Ok(Vec::new());
                            }
                            g = ACTIVITY
                                .wait_timeout(g, d - now)
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    }
                }
            }
        }
    }
}

/// [`wait`] without a timeout, for async code: waits until at least one of `objects` is
/// ready without blocking the executor, and returns the indices of the ready ones. An empty
/// list gives an empty answer at once. Cancel-safe: waiting consumes nothing. Use the
/// executor's timeout (`tokio::time::timeout`...) for a deadline.
///
/// # Errors
///
/// As [`wait`].
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// use mp::connection::wait_async;
/// let (r1, _w1) = mp::Pipe(false)?;
/// let (r2, w2) = mp::Pipe(false)?;
/// w2.send(&"second")?;
/// assert_eq!(wait_async(&[&r1, &r2]).await?, vec![1]);
/// # Ok::<(), mp::Error>(()) }).unwrap();
/// # }
/// ```
#[cfg(feature = "async")]
pub async fn wait_async<W: Waitable>(objects: &[W]) -> Result<Vec<usize>> {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    loop {
        let ready = wait(objects, Some(Duration::ZERO))?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        let mut each: Vec<Pin<Box<_>>> = objects.iter().map(|o| Box::pin(readable(o))).collect();
        std::future::poll_fn(|cx| {
            for f in &mut each {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    return Poll::Ready(r);
                }
            }
            Poll::Pending
        })
        .await?;
    }
}

/// Polls `fds` (readable); returns the indices of the ready ones.
fn poll_ready(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<Vec<usize>> {
    if fds.is_empty() {
        return Ok(Vec::new());
    }
    let n = sys::poll(fds, timeout).map_err(|e| Error::os("wait", e))?;
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(fds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// In-process activity: what a `wait` over in-memory objects sleeps on
// ---------------------------------------------------------------------------------------------

static WAITERS: AtomicUsize = AtomicUsize::new(0);
static GENERATION: Mutex<u64> = Mutex::new(0);
static ACTIVITY: Condvar = Condvar::new();
/// The eventfds of the waits that also watch descriptors.
static WAKE_FDS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// A thread process ended: its waiters look again.
#[linkme::distributed_slice(crate::space::THREAD_ENDS)]
static ON_THREAD_END: fn() = activity;

/// Something happened that may make an in-memory object ready (a message, a close, a client,
/// a thread's end): wakes the threads in [`wait`]. One atomic load when nobody waits.
pub(crate) fn activity() {
    if WAITERS.load(Ordering::SeqCst) > 0 {
        *lock(&GENERATION) += 1;
        ACTIVITY.notify_all();
        for &fd in lock(&WAKE_FDS).iter() {
            let one = 1u64;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd that its waiter keeps open
            // while it is in the list (removed under this lock before it is closed).
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
        #[cfg(feature = "async")]
        for w in std::mem::take(&mut *lock(&ASYNC_WAKERS)) {
            w.wake();
        }
    }
}

/// Waits until reading `w` would not block, without blocking the executor: its descriptor
/// through the program's reactor, an in-memory object through in-process activity.
#[cfg(feature = "async")]
pub(crate) async fn readable<W: Waitable + ?Sized>(w: &W) -> Result<()> {
    loop {
        let activity = Activity::new();
        match w.readiness()? {
            Readiness::Fd(fd) => {
                return crate::aio::reactor::ready(fd, crate::aio::Interest::Readable).await;
            }
            Readiness::Now(true) => return Ok(()),
            Readiness::Now(false) => activity.await,
        }
    }
}

/// The tasks waiting for in-process activity (see [`Activity`]).
#[cfg(feature = "async")]
static ASYNC_WAKERS: Mutex<Vec<std::task::Waker>> = Mutex::new(Vec::new());

/// A future that is ready at the next in-process [`activity`] after its creation: what an
/// async wait on in-memory objects (an `mp::dummy` pipe, a thread process) sleeps on.
#[cfg(feature = "async")]
pub(crate) struct Activity {
    seen: u64,
    _waiting: Waiting,
}

#[cfg(feature = "async")]
impl Activity {
    /// Counts the caller as a waiter from now on, so that activity after this call (which
    /// the caller has not looked at yet) is not missed.
    pub(crate) fn new() -> Activity {
        let waiting = Waiting::enter();
        Activity {
            seen: *lock(&GENERATION),
            _waiting: waiting,
        }
    }
}

#[cfg(feature = "async")]
impl std::future::Future for Activity {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let g = lock(&GENERATION);
        if *g != self.seen {
            return std::task::Poll::Ready(());
        }
        // Pushed while the generation is locked: `activity` bumps it before it drains.
        let mut wakers = lock(&ASYNC_WAKERS);
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        std::task::Poll::Pending
    }
}

#[cfg(feature = "async")]
impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity")
            .field("seen", &self.seen)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts a thread in [`wait`] over in-memory objects for as long as it lives.
struct Waiting;

impl Waiting {
    fn enter() -> Waiting {
        WAITERS.fetch_add(1, Ordering::SeqCst);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The eventfd a wait over descriptors and in-memory objects sleeps on beside the descriptors.
struct Wake(OwnedFd);

impl Wake {
    fn register() -> Result<Wake> {
        // SAFETY: plain eventfd(2).
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(Error::os("eventfd", std::io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        lock(&WAKE_FDS).push(raw);
        Ok(Wake(fd))
    }

    /// Sleeps until a descriptor of `fds` is readable, in-process activity, or `left` passes.
    fn sleep(&self, fds: &[libc::pollfd], left: Option<Duration>) -> Result<()> {
        let mut all = fds.to_vec();
        all.push(libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        sys::poll(&mut all, left).map_err(|e| Error::os("wait", e))?;
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a live u64 (non-blocking: nothing to read is fine).
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        Ok(())
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        let raw = self.0.as_raw_fd();
        lock(&WAKE_FDS).retain(|&fd| fd != raw);
    }
}
