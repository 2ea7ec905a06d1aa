//! The side channel that carries the descriptors of queued items.
//!
//! Shared memory cannot hold a file descriptor, so the handles inside an item (a
//! [`Connection`](crate::Connection), another queue, a lock...) travel beside it: one datagram
//! per item on a datagram socket that every holder of the queue shares, sent and received while the
//! queue's lock is held so that datagrams stay in the order of their entries. Each datagram
//! carries the 56-bit id that its entry records; a datagram left behind by a process that died
//! before it published its entry has an id no entry names, and getters skip it.
//!
//! Both calls are non-blocking (`MSG_DONTWAIT`): a caller holding the queue's lock must never
//! sleep on a socket, since the getters that would make room need that lock.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// Bytes of a datagram: the item's id, little-endian.
const TAG: usize = 8;

/// The largest descriptor count a queue entry records (8 bits): an entry with this count
/// carries this many descriptors or more (the datagram says how many).
pub(crate) const MANY: usize = 0xff;

/// Asked-for send buffer: how many items with handles may wait in a queue before `put` waits
/// for getters (the kernel caps it at `net.core.wmem_max`).
const SNDBUF: libc::c_int = 4 << 20;

/// A datagram socket connected to itself: items' descriptors go in and come out of the same
/// socket, which every holder of the queue shares (one descriptor per queue handle, where a
/// socketpair would need two). Being connected, it takes datagrams from itself only: another
/// socket's `send` to its (abstract, autobound) address is refused by the kernel.
#[derive(Debug)]
pub(crate) struct FdChan {
    pub(crate) sock: OwnedFd,
}

impl FdChan {
    pub(crate) fn new() -> Result<FdChan> {
        let os = |what: &'static str| Error::os(what, io::Error::last_os_error());
        // SAFETY: plain socket(2).
        let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(os("socket"));
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = sock.as_raw_fd();
        // SAFETY: sockaddr_un is plain data; an address of just the family asks the kernel to
        // autobind a unique abstract name.
        let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let family_len = mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
        // SAFETY: a valid address of the given length.
        if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), family_len) } != 0 {
            return Err(os("bind"));
        }
        let mut len = mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: valid out-pointers of the sizes given.
        if unsafe { libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len) }
            != 0
        {
            return Err(os("getsockname"));
        }
        // SAFETY: the address the kernel just gave us, of the length it gave.
        if unsafe { libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) } != 0 {
            return Err(os("connect"));
        }
        // Between bind and connect anyone could send to the name: drop what came.
        let mut junk = [0u8; TAG];
        // SAFETY: reading into a local buffer; non-blocking.
        while unsafe { libc::recv(fd, junk.as_mut_ptr().cast(), TAG, libc::MSG_DONTWAIT) } >= 0 {}
        // SAFETY: a valid pointer to an int of the right size. Failure only leaves the
        // default buffer size, which is fine.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&SNDBUF as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(FdChan { sock })
    }

    /// A channel received from another process: it must be a datagram socket.
    pub(crate) fn attach(sock: OwnedFd) -> Result<FdChan> {
        if sys::socket_type(sock.as_raw_fd()) != Some(libc::SOCK_DGRAM) {
            return Err(Error::value(
                "cannot attach a queue: its handle channel is not a datagram socket",
            ));
        }
        Ok(FdChan { sock })
    }

    /// Sends `fds` (any number of them) tagged with `id`. `Ok(false)` if the socket buffer is
    /// full.
    pub(crate) fn send(&self, id: u64, fds: &[RawFd]) -> Result<bool> {
        debug_assert!(!fds.is_empty());
        let tag = id.to_le_bytes();
        let r = sys::fdpass::sendmsg(
            self.sock.as_raw_fd(),
            &[sys::fdpass::iov(&tag)],
            fds,
            libc::MSG_DONTWAIT,
        );
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(Error::os("cannot pass the handles of a queued item", e)),
        }
    }

    /// Waits until `tx` can take a datagram again, at most `timeout` (`None`: forever).
    pub(crate) fn wait_writable(&self, timeout: Option<std::time::Duration>) -> Result<bool> {
        let mut pfd = [libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }];
        sys::poll(&mut pfd, timeout)
            .map(|n| n > 0)
            .map_err(|e| Error::os("poll", e))
    }

    /// The id of the next datagram, without taking it. `None` if there is none.
    fn peek(&self) -> Result<Option<u64>> {
        let mut tag = [0u8; TAG];
        // SAFETY: `tag` is a valid writable buffer. Without a control buffer a peek installs
        // no descriptors (they stay with the datagram).
        let r = sys::cvt_r(|| unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                tag.as_mut_ptr().cast(),
                TAG,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        });
        match r {
            Ok(n) if n as usize == TAG => Ok(Some(u64::from_le_bytes(tag))),
            Ok(_) => Err(lost("a malformed datagram")),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(Error::os("recv", e)),
        }
    }

    /// Takes the next datagram and its descriptors.
    fn take(&self) -> Result<(u64, Vec<OwnedFd>)> {
        let mut tag = [0u8; TAG];
        let mut iov = [libc::iovec {
            iov_base: tag.as_mut_ptr().cast(),
            iov_len: TAG,
        }];
        let got = sys::fdpass::recvmsg(self.sock.as_raw_fd(), &mut iov, libc::MSG_DONTWAIT)
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => lost("a malformed datagram"),
                _ => Error::os("recvmsg", e),
            })?;
        if got.bytes != TAG || got.flags & libc::MSG_CTRUNC != 0 {
            return Err(lost("a malformed datagram"));
        }
        Ok((u64::from_le_bytes(tag), got.fds))
    }

    /// Receives the `n` descriptors of the entry `id`, dropping what dead putters left before
    /// them. Never blocks: the datagram of a published entry is already in the socket.
    pub(crate) fn recv(&self, id: u64, n: usize) -> Result<Vec<OwnedFd>> {
        loop {
            match self.peek()? {
                // Its datagram was taken by a getter that died before it consumed the entry.
                None => return Err(lost("they are missing")),
                Some(t) if t > id => return Err(lost("they are missing")),
                Some(t) => {
                    let (got, fds) = self.take()?;
                    if got != t {
                        // Another process took the datagram we peeked at: impossible while
                        // we hold the queue lock, unless the queue is misused.
                        return Err(lost("another process took them"));
                    }
                    if t == id {
                        // An entry records at most `MANY` as its count: "that many or more".
                        if fds.len() != n && !(n == MANY && fds.len() > MANY) {
                            return Err(lost("some of them are missing"));
                        }
                        return Ok(fds);
                    }
                    // t < id: left by a putter that died before publishing; drop it.
                }
            }
        }
    }
}

fn lost(why: &str) -> Error {
    Error::new(
        ErrorKind::Runtime,
        format!(
            "the handles of a queued item were lost ({why}): a process probably died while \
             using the queue"
        ),
    )
}
