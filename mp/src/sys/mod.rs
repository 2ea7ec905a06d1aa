//! The raw system-call layer. Every call funnels through [`cvt`], which turns `-1` into the
//! thread's `errno` and retries `EINTR` where the caller asks for it.

#![allow(unreachable_pub)]

use std::io;
use std::mem;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub mod fdpass;
pub(crate) mod spin;

/// Turns a libc return value into an `io::Result`.
pub fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Retries `f` while it fails with `EINTR`.
pub fn cvt_r<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

pub trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ident)*) => ($(impl IsMinusOne for $t {
        fn is_minus_one(&self) -> bool { *self == -1 }
    })*)
}
impl_is_minus_one! { i8 i16 i32 i64 isize }

/// A connected pair of `AF_UNIX` sockets of `kind`, both close-on-exec.
fn unix_pair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid 2-element array for the kernel to fill.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: the kernel just returned two fresh descriptors that nobody else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected pair of `AF_UNIX` stream sockets, both close-on-exec.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    unix_pair(libc::SOCK_STREAM)
}

/// A connected pair of `AF_UNIX` seqpacket sockets, both close-on-exec: the kernel keeps
/// message boundaries, so a small framed message is read with one call.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    unix_pair(libc::SOCK_SEQPACKET)
}

/// Writes the whole buffer, retrying partial writes and `EINTR`.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes. MSG_NOSIGNAL is not available for
        // pipes, so we use write(2) and rely on SIGPIPE being ignored or on EPIPE.
        let n = cvt_r(|| unsafe { send_or_write(fd, buf) })?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote zero bytes"));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// `send(MSG_NOSIGNAL)` on sockets, falling back to `write` on anything else.
///
/// # Safety
/// `buf` must be valid for reads of `buf.len()` bytes (it is, being a slice).
unsafe fn send_or_write(fd: RawFd, buf: &[u8]) -> isize {
    // SAFETY: forwarded from the caller; pointers come from a live slice.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
        // SAFETY: as above.
        return unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    }
    n
}

/// Sends `data` with `fds` attached as SCM_RIGHTS (any number of them, see [`fdpass`]), then
/// whatever of `data` did not fit.
pub fn send_with_fds(fd: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.is_empty() {
        return write_all(fd, data);
    }
    if data.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "handles need at least one byte",
        ));
    }
    let n = fdpass::sendmsg(fd, &[fdpass::iov(data)], fds, 0)?;
    write_all(fd, &data[n..])
}

/// Waits until `fd` is readable (data, EOF or error) or the timeout passes.
/// `None` waits forever. Returns whether it became ready.
pub fn poll_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfd = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    Ok(poll(&mut pfd, timeout)? > 0)
}

/// `poll(2)` with a deadline, restarting on `EINTR` with the remaining time.
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let deadline = timeout.and_then(crate::sys::deadline_after);
    loop {
        let ms: i32 = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a short timeout does not spin.
                let ms = left.as_micros().div_ceil(1000);
                ms.min(i32::MAX as u128) as i32
            }
        };
        // SAFETY: `fds` is a valid slice of pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r >= 0 {
            for p in fds.iter() {
                if p.revents & libc::POLLNVAL != 0 {
                    return Err(io::Error::from_raw_os_error(libc::EBADF));
                }
            }
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `pidfd_open(2)`: a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32)?;
    // SAFETY: a fresh descriptor; pidfds are close-on-exec by default.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends a signal through a pidfd, which cannot hit a recycled pid.
pub fn pidfd_send_signal(pidfd: RawFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo is allowed.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    } as i32)?;
    Ok(())
}

/// `waitpid` returning the raw status, or `None` if the child is still running (`nohang`).
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<i32>> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is a valid out-pointer.
    let r = cvt_r(|| unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok(if r == 0 { None } else { Some(status) })
}

/// Python's exit code from a raw wait status: the code, or `-signum` after a signal.
pub fn exitcode_from_status(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        // Stopped/continued statuses are never asked for (no WUNTRACED).
        255
    }
}

/// Fills `buf` with random bytes from the kernel.
pub fn random_bytes(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        // The kernel's CSPRNG failing is not recoverable in any useful way; fall back to a
        // time-and-pid mix so that we never hand out all-zero keys.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ (std::process::id() as u128) << 64;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) as u8) ^ (i as u8).wrapping_mul(151);
        }
    }
}

/// Sets or clears `FD_CLOEXEC`.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    if new != flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) })?;
    }
    Ok(())
}

/// Duplicates a descriptor (close-on-exec).
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl with an integer argument.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Whether `fd` is an open descriptor.
pub fn fd_is_valid(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer is harmless.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// The calling thread's kernel thread id.
pub fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Returns `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Whether the calling thread is the process's main thread.
pub fn is_main_thread() -> bool {
    gettid() == getpid() as i64
}

/// Reaps any exited child without blocking: `Some((pid, raw status))`, or `None`.
pub fn waitpid_any() -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let r = cvt_r(|| unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) })?;
    Ok(if r == 0 { None } else { Some((r, status)) })
}

fn sigchld_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

/// Blocks SIGCHLD in the calling (single) thread and returns a signalfd that reports it.
pub fn block_sigchld_signalfd() -> io::Result<OwnedFd> {
    let set = sigchld_set();
    // SAFETY: valid signal set pointers.
    cvt(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })?;
    // SAFETY: a fresh signalfd for a valid set.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: the kernel just returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads every pending record from a non-blocking signalfd.
pub fn drain_signalfd(fd: RawFd) {
    // Not zeroed: only the kernel writes it, and nothing reads it.
    let mut buf = mem::MaybeUninit::<[libc::signalfd_siginfo; 8]>::uninit();
    // SAFETY: reading into a local buffer of that size; the fd is non-blocking.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), mem::size_of_val(&buf)) } > 0 {}
}

/// Unblocks SIGCHLD and SIGINT with one call (a forkserver child, whose server blocked both).
pub fn unblock_sigchld_sigint() {
    let mut set = sigchld_set();
    // SAFETY: adding to a set we own, then changing this thread's mask.
    unsafe {
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Sets `SO_RCVTIMEO` (`None`: no timeout).
pub fn set_rcvtimeo(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    let tv = match timeout {
        Some(t) => libc::timeval {
            tv_sec: t.as_secs() as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        },
        None => libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
    };
    // SAFETY: a valid pointer to a timeval of the right size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// A socket's type (`SOCK_STREAM`, `SOCK_SEQPACKET`...), or `None` if `fd` is not a socket.
pub fn socket_type(fd: RawFd) -> Option<libc::c_int> {
    let mut ty: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid out-pointers of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(ty)
}

/// Whether `fd` is a socket.
pub fn is_socket(fd: RawFd) -> bool {
    // SAFETY: `stat` is plain data (all-zero is valid) and fstat only writes into it.
    unsafe {
        let mut st: libc::stat = mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    }
}

/// Spins while `counter` still reads `seen`, for at most 50 us (and not past `deadline`).
pub(crate) fn spin_until_changed(
    counter: &std::sync::atomic::AtomicU64,
    seen: u64,
    deadline: Option<std::time::Instant>,
) {
    let start = std::time::Instant::now();
    let mut until = start + std::time::Duration::from_micros(50);
    if let Some(d) = deadline {
        until = until.min(d);
    }
    let mut i = 0u32;
    while counter.load(std::sync::atomic::Ordering::Acquire) == seen {
        i += 1;
        if i % 64 == 0 && std::time::Instant::now() >= until {
            return;
        }
        std::hint::spin_loop();
    }
}

/// Whether spinning a little before sleeping can pay off for this thread: it may run on more
/// than one CPU (on one CPU, spinning only keeps the peer it waits for from running). On a VM
/// waking a sleeper on another CPU costs ~30 us; a waiter still spinning when the answer comes
/// avoids it. The answer is cached per thread for 50 ms (the affinity can change).
pub(crate) fn spinning_pays() -> bool {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    const RECHECK: Duration = Duration::from_millis(50);
    thread_local! {
        static CACHE: Cell<Option<(Instant, bool)>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    if let Some(Some((at, v))) = CACHE.try_with(Cell::get).ok()
        && now.duration_since(at) < RECHECK
    {
        return v;
    }
    // SAFETY: cpu_set_t is plain data; sched_getaffinity only writes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    // SAFETY: reads the set the kernel filled.
    let v = r == 0 && unsafe { libc::CPU_COUNT(&set) } > 1;
    let _ = CACHE.try_with(|c| c.set(Some((now, v))));
    v
}

/// The deadline `timeout` from now; `None` (no deadline: wait for ever) when it does not fit
/// in an `Instant` (`Duration::MAX`, which `Instant + Duration` would panic on).
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
