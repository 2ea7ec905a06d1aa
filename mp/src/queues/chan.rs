//! The side channel that carries the descriptors of queued items.
//!
//! Shared memory cannot hold a file descriptor, so the handles inside an item (a
//! [`Connection`](crate::Connection), another queue, a lock...) travel beside it: one datagram
//! per item on a socketpair that every holder of the queue shares, sent and received while the
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

/// A connected pair of datagram sockets: items' descriptors go in at `tx` and come out at `rx`.
#[derive(Debug)]
pub(crate) struct FdChan {
    pub(crate) tx: OwnedFd,
    pub(crate) rx: OwnedFd,
}

impl FdChan {
    pub(crate) fn new() -> Result<FdChan> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid 2-element array for the kernel to fill.
        sys::cvt(unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        })
        .map_err(|e| Error::os("socketpair", e))?;
        // SAFETY: two fresh descriptors that nobody else owns.
        let (tx, rx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: a valid pointer to an int of the right size. Failure only leaves the
        // default buffer size, which is fine.
        unsafe {
            libc::setsockopt(
                tx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&SNDBUF as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(FdChan { tx, rx })
    }

    /// Sends `fds` (any number of them) tagged with `id`. `Ok(false)` if the socket buffer is
    /// full.
    pub(crate) fn send(&self, id: u64, fds: &[RawFd]) -> Result<bool> {
        debug_assert!(!fds.is_empty());
        let tag = id.to_le_bytes();
        let r = sys::fdpass::sendmsg(
            self.tx.as_raw_fd(),
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
            fd: self.tx.as_raw_fd(),
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
                self.rx.as_raw_fd(),
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
        let got = sys::fdpass::recvmsg(self.rx.as_raw_fd(), &mut iov, libc::MSG_DONTWAIT).map_err(
            |e| match e.kind() {
                io::ErrorKind::InvalidData => lost("a malformed datagram"),
                _ => Error::os("recvmsg", e),
            },
        )?;
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
