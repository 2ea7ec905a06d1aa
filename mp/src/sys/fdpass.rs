//! Descriptor passing: the one `sendmsg`/`recvmsg` pair with `SCM_RIGHTS` that every transport
//! uses (connections, the pool's sockets, a queue's side channel, process starts).
//!
//! Linux takes at most [`MAX_FDS`] (`SCM_MAX_FD`, 253) descriptors per message; CPython's
//! spawn has no such limit because it passes each descriptor by its own route. mp keeps one
//! message per message: a message with more descriptors than fit sends the first
//! [`DIRECT`] of them directly and, as the last, a *carrier*: the read end of a fresh
//! socketpair into which the rest were sent (in batches) before the message itself. A message
//! whose control data holds exactly [`MAX_FDS`] descriptors therefore ends with a carrier,
//! and [`recvmsg`] unpacks it, so callers see every descriptor in order.
//!
//! The message stays atomic: the carrier is full and its write end closed before the one
//! `sendmsg` that makes the message visible, so a reader never sees part of a message and a
//! writer that dies before that call leaves nothing behind (the carrier dies with it). Only
//! messages with more than [`DIRECT`] descriptors pay for the carrier (one socketpair and one
//! `sendmsg` per [`MAX_FDS`] descriptors).

use std::io;
use std::mem::{self, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt_r, seqpacket_pair};

/// Most descriptors one `sendmsg` may carry (Linux `SCM_MAX_FD`).
pub const MAX_FDS: usize = 253;

/// Most descriptors a message carries directly; with more, the last slot holds a carrier.
pub const DIRECT: usize = MAX_FDS - 1;

/// Control buffer for [`MAX_FDS`] descriptors: `CMSG_SPACE(253 * 4)` = 1032 bytes.
const CMSG_WORDS: usize = 130;

/// A control buffer, aligned for `cmsghdr`.
type ControlBuf = MaybeUninit<[u64; CMSG_WORDS]>;

/// What one [`recvmsg`] got.
#[derive(Debug)]
pub struct Received {
    /// Bytes read (0 at end of file).
    pub bytes: usize,
    /// The kernel's `msg_flags` (`MSG_TRUNC`, `MSG_CTRUNC`, ...).
    pub flags: libc::c_int,
    /// The descriptors that came with the bytes, a carrier's already unpacked.
    pub fds: Vec<OwnedFd>,
}

/// An `iovec` over `buf` (read-only use: the kernel only reads it in `sendmsg`).
pub fn iov(buf: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }
}

/// One `sendmsg(fd, iovs, fds, flags | MSG_NOSIGNAL)`; returns the bytes written. Any number of
/// descriptors: more than [`DIRECT`] go through a carrier (see the module docs). The caller
/// sends the rest of the bytes, if the socket took only part, without descriptors.
pub fn sendmsg(
    fd: RawFd,
    iovs: &[libc::iovec],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<usize> {
    if fds.len() <= DIRECT {
        return sendmsg_raw(fd, iovs, fds, flags);
    }
    let carrier = pack(&fds[DIRECT..])?;
    let mut direct = [0 as RawFd; MAX_FDS];
    direct[..DIRECT].copy_from_slice(&fds[..DIRECT]);
    direct[DIRECT] = carrier.as_raw_fd();
    // The carrier is closed here when the call returns: the kernel holds its own reference
    // for the message in flight.
    sendmsg_raw(fd, iovs, &direct, flags)
}

/// One `sendmsg` with at most [`MAX_FDS`] descriptors attached as they are.
fn sendmsg_raw(
    fd: RawFd,
    iovs: &[libc::iovec],
    fds: &[RawFd],
    flags: libc::c_int,
) -> io::Result<usize> {
    debug_assert!(fds.len() <= MAX_FDS);
    // Only a message with descriptors needs a control buffer, and only its used part is
    // initialised (a message without them costs no memset).
    let mut cbuf = ControlBuf::uninit();
    // SAFETY: msghdr is plain data; all-zero is a valid empty message.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iovs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iovs.len() as _;
    if !fds.is_empty() {
        let bytes = mem::size_of_val(fds);
        // SAFETY: pure computation.
        let space = unsafe { libc::CMSG_SPACE(bytes as u32) } as usize;
        if fds.len() > MAX_FDS || space > mem::size_of_val(&cbuf) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} descriptors do not fit in one message", fds.len()),
            ));
        }
        let base = cbuf.as_mut_ptr().cast::<u8>();
        // SAFETY: `space` bytes fit in the buffer (checked above).
        unsafe { std::ptr::write_bytes(base, 0, space) };
        msg.msg_control = base.cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` zeroed, aligned bytes: room for one header
        // and the descriptors.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(bytes as u32) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), bytes);
        }
    }
    // SAFETY: `msg` describes live buffers that outlive the call.
    let n = cvt_r(|| unsafe { libc::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL) })?;
    Ok(n as usize)
}

/// One `recvmsg(fd, iovs, flags | MSG_CMSG_CLOEXEC)` that takes ownership of the descriptors
/// that arrive, unpacking a carrier. A carrier that does not hold what it announces (a
/// malformed peer) is an `InvalidData` error; the descriptors that did arrive are closed.
pub fn recvmsg(fd: RawFd, iovs: &mut [libc::iovec], flags: libc::c_int) -> io::Result<Received> {
    let mut got = recvmsg_raw(fd, iovs, flags)?;
    if got.fds.len() == MAX_FDS {
        if let Some(carrier) = got.fds.pop() {
            unpack(carrier, &mut got.fds)?;
        }
    }
    Ok(got)
}

fn recvmsg_raw(fd: RawFd, iovs: &mut [libc::iovec], flags: libc::c_int) -> io::Result<Received> {
    // Not zeroed: the kernel writes the control messages and sets `msg_controllen` to what it
    // wrote; only that part is read below.
    let mut cbuf = ControlBuf::uninit();
    // SAFETY: plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iovs.as_mut_ptr();
    msg.msg_iovlen = iovs.len() as _;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&cbuf) as _;
    // SAFETY: `msg` describes live, writable buffers (the caller's iovecs and `cbuf`).
    let n = cvt_r(|| unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_CMSG_CLOEXEC) })?;
    let mut fds = Vec::new();
    if msg.msg_controllen > 0 {
        // SAFETY: the kernel filled the control buffer; we walk it with the CMSG macros and
        // take ownership of every descriptor it installed.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg);
                    let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                    let count = len / mem::size_of::<RawFd>();
                    fds.reserve(count);
                    for i in 0..count {
                        let raw = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                        fds.push(OwnedFd::from_raw_fd(raw));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    Ok(Received {
        bytes: n as usize,
        flags: msg.msg_flags,
        fds,
    })
}

/// Sends `fds` into a fresh carrier and returns its read end. Each batch says how many
/// descriptors the carrier holds in all, so the reader knows when it has them.
fn pack(fds: &[RawFd]) -> io::Result<OwnedFd> {
    let (tx, rx) = seqpacket_pair()?;
    let total = (fds.len() as u64).to_le_bytes();
    for batch in fds.chunks(MAX_FDS) {
        // Never blocks: nobody reads the carrier yet, so a full buffer would be forever.
        sendmsg_raw(tx.as_raw_fd(), &[iov(&total)], batch, libc::MSG_DONTWAIT).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot pass {} handles in one message: {e}",
                    fds.len() + DIRECT
                ),
            )
        })?;
    }
    Ok(rx)
}

/// Reads a carrier's descriptors into `out`. Never blocks: a carrier was filled and closed
/// before the message that brought it was sent.
fn unpack(carrier: OwnedFd, out: &mut Vec<OwnedFd>) -> io::Result<()> {
    if super::socket_type(carrier.as_raw_fd()) != Some(libc::SOCK_SEQPACKET) {
        // Not ours: a foreign sender's 253rd descriptor. Hand it over as it is.
        out.push(carrier);
        return Ok(());
    }
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("handles were lost in transit ({why})"),
        )
    };
    let mut total: Option<u64> = None;
    let mut got: u64 = 0;
    loop {
        let mut head = [0u8; 8];
        let mut v = [libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: head.len(),
        }];
        let r = match recvmsg_raw(carrier.as_raw_fd(), &mut v, libc::MSG_DONTWAIT) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(bad("the carrier was still open"));
            }
            Err(e) => return Err(e),
        };
        if r.bytes == 0 && r.fds.is_empty() {
            break;
        }
        if r.bytes != head.len() || r.flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0 {
            return Err(bad("a malformed carrier message"));
        }
        let announced = u64::from_le_bytes(head);
        if *total.get_or_insert(announced) != announced {
            return Err(bad("the carrier's count changed"));
        }
        got += r.fds.len() as u64;
        if got > announced {
            return Err(bad("more than announced"));
        }
        out.extend(r.fds);
        if got == announced {
            return Ok(());
        }
    }
    match total {
        Some(t) if t != got => Err(bad("fewer than announced")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` pipe write ends and the inode of each (the read ends are closed at once).
    fn pipes(n: usize) -> Vec<(OwnedFd, u64)> {
        (0..n)
            .map(|_| {
                let mut p = [0; 2];
                // SAFETY: a valid 2-element array.
                assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
                // SAFETY: fresh descriptors.
                let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
                drop(r);
                let ino = inode(w.as_raw_fd());
                (w, ino)
            })
            .collect()
    }

    fn inode(fd: RawFd) -> u64 {
        // SAFETY: `stat` is plain data and fstat only writes into it.
        unsafe {
            let mut st: libc::stat = mem::zeroed();
            assert_eq!(libc::fstat(fd, &mut st), 0);
            st.st_ino
        }
    }

    /// Sends `n` pipe ends in one message and checks that the descriptors received are the
    /// same pipes, in order.
    fn round_trip(n: usize) {
        let (a, b) = seqpacket_pair().unwrap();
        let ps = pipes(n);
        let raw: Vec<RawFd> = ps.iter().map(|p| p.0.as_raw_fd()).collect();
        assert_eq!(sendmsg(a.as_raw_fd(), &[iov(b"m")], &raw, 0).unwrap(), 1);
        let mut buf = [0u8; 4];
        let mut v = [libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: 4,
        }];
        let r = recvmsg(b.as_raw_fd(), &mut v, 0).unwrap();
        assert_eq!((r.bytes, &buf[..1]), (1, &b"m"[..]));
        assert_eq!(r.fds.len(), n);
        for (i, (fd, p)) in r.fds.iter().zip(&ps).enumerate() {
            assert_eq!(inode(fd.as_raw_fd()), p.1, "descriptor {i} of {n}");
        }
    }

    /// Lifts the soft descriptor limit towards the hard one: a round trip of 1,000 holds
    /// 2,000 descriptors, over a default soft limit of 1,024.
    fn raise_nofile() {
        // SAFETY: plain data, filled by getrlimit and read by setrlimit.
        unsafe {
            let mut r: libc::rlimit = mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < 8192 {
                r.rlim_cur = r.rlim_max.min(8192);
                libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            }
        }
    }

    #[test]
    fn any_number_of_descriptors_in_order() {
        raise_nofile();
        for n in [
            0,
            1,
            DIRECT - 1,
            DIRECT,
            MAX_FDS,
            MAX_FDS + 1,
            2 * MAX_FDS,
            1000,
        ] {
            round_trip(n);
        }
    }

    #[test]
    fn a_foreign_253rd_descriptor_is_not_a_carrier() {
        let (a, b) = seqpacket_pair().unwrap();
        let ps = pipes(MAX_FDS);
        let raw: Vec<RawFd> = ps.iter().map(|p| p.0.as_raw_fd()).collect();
        sendmsg_raw(a.as_raw_fd(), &[iov(b"m")], &raw, 0).unwrap();
        let mut buf = [0u8; 1];
        let mut v = [iov(&buf)];
        v[0].iov_base = buf.as_mut_ptr().cast();
        assert_eq!(
            recvmsg(b.as_raw_fd(), &mut v, 0).unwrap().fds.len(),
            MAX_FDS
        );
    }

    #[test]
    fn a_short_carrier_is_an_error_not_a_hang() {
        let (a, b) = seqpacket_pair().unwrap();
        let ps = pipes(DIRECT);
        // A carrier that announces 10 descriptors but holds 1, with its write end closed.
        let (ctx, crx) = seqpacket_pair().unwrap();
        let one = [ps[0].0.as_raw_fd()];
        sendmsg_raw(ctx.as_raw_fd(), &[iov(&10u64.to_le_bytes())], &one, 0).unwrap();
        drop(ctx);
        let mut raw: Vec<RawFd> = ps.iter().map(|p| p.0.as_raw_fd()).collect();
        raw.push(crx.as_raw_fd());
        sendmsg_raw(a.as_raw_fd(), &[iov(b"m")], &raw, 0).unwrap();
        let mut buf = [0u8; 1];
        let mut v = [iov(&buf)];
        v[0].iov_base = buf.as_mut_ptr().cast();
        let e = recvmsg(b.as_raw_fd(), &mut v, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // A carrier whose write end is still open: an error at once, not a wait.
        let (ctx, crx) = seqpacket_pair().unwrap();
        sendmsg_raw(ctx.as_raw_fd(), &[iov(&10u64.to_le_bytes())], &one, 0).unwrap();
        raw.pop();
        raw.push(crx.as_raw_fd());
        sendmsg_raw(a.as_raw_fd(), &[iov(b"m")], &raw, 0).unwrap();
        let e = recvmsg(b.as_raw_fd(), &mut v, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        drop(ctx);
    }
}
