//! Raw I/O of connections: framed writes with one `sendmsg`/`writev`, reads that never go past
//! the end of the current message, descriptor passing, and optional deadlines.
//!
//! Three transports share the framing (see `docs/design/wire-format.md`):
//!
//! - [`Transport::Stream`]: a `SOCK_STREAM` socket (Listener/Client, raw sockets). Bytes are a
//!   plain stream: header, then payload, exactly as CPython writes them.
//! - [`Transport::Packet`]: a `SOCK_SEQPACKET` socketpair (what [`Pipe`](super::Pipe) makes).
//!   The same bytes, cut into records that the kernel keeps whole: a message of up to
//!   [`PACKET_SMALL`] bytes (header included) is one record, so a reader gets header and payload
//!   in one call; a larger message is a header record followed by payload records. A reader
//!   never asks for less than a whole record, so nothing is lost to truncation, and never for
//!   more than what is left of the current message, so it never reads into the next one.
//! - [`Transport::Fd`]: anything else (an `os.pipe()` end): `read`/`write`, no descriptors.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::sys::fdpass::iov;
use crate::sys::{self, cvt_r};

/// How a connection's descriptor moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A stream socket.
    Stream,
    /// A seqpacket socket (record boundaries kept by the kernel).
    Packet,
    /// A pipe or other non-socket descriptor.
    Fd,
}

impl Transport {
    /// Finds out what `fd` is.
    pub(crate) fn detect(fd: RawFd) -> Transport {
        if !sys::is_socket(fd) {
            return Transport::Fd;
        }
        if sys::socket_type(fd) == Some(libc::SOCK_SEQPACKET) {
            Transport::Packet
        } else {
            Transport::Stream
        }
    }

    pub(crate) fn carries_fds(self) -> bool {
        self != Transport::Fd
    }
}

/// Largest record (header included) a packet message is sent as in one piece; readers keep a
/// scratch buffer this large.
pub(crate) const PACKET_SMALL: usize = 64 * 1024;
/// Largest payload record a packet sender produces; readers never reserve more than this
/// beyond the bytes that arrived.
pub(crate) const MAX_RECORD: usize = 256 * 1024;
/// Payload record size packet senders start with (halved on `EMSGSIZE`).
static RECORD: AtomicUsize = AtomicUsize::new(128 * 1024);

/// A `SOCK_SEQPACKET` socketpair, both close-on-exec, with room for large records.
pub(crate) fn packet_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let pair = sys::seqpacket_pair()?;
    let fds = [pair.0.as_raw_fd(), pair.1.as_raw_fd()];
    for fd in fds {
        // Best effort: a bigger send buffer lets a writer queue more before it blocks. The
        // kernel caps it at `net.core.wmem_max` (and doubles it).
        let size: libc::c_int = 1 << 20;
        // SAFETY: a valid pointer to an int of the right size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&size as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    Ok(pair)
}

/// Encodes a frame header; returns the buffer and its used length.
pub(crate) fn header(len: usize) -> ([u8; 12], usize) {
    let mut h = [0u8; 12];
    if len > 0x7fff_ffff {
        h[..4].copy_from_slice(&(-1i32).to_be_bytes());
        h[4..12].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 12)
    } else {
        h[..4].copy_from_slice(&(len as i32).to_be_bytes());
        (h, 4)
    }
}

/// One `sendmsg` of `parts` with `fds` attached (any number); returns the bytes written.
fn sendmsg(fd: RawFd, parts: &[&[u8]], fds: &[RawFd]) -> io::Result<usize> {
    let mut iovs = [iov(&[]), iov(&[])];
    let n = parts.len().min(2);
    for (slot, part) in iovs.iter_mut().zip(parts) {
        *slot = iov(part);
    }
    sys::fdpass::sendmsg(fd, &iovs[..n], fds, 0)
}

/// `writev` of two parts (for non-socket descriptors).
fn writev(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    let mut iovs = [iov(&[]), iov(&[])];
    for (slot, part) in iovs.iter_mut().zip(parts) {
        *slot = iov(part);
    }
    // SAFETY: the iovecs describe live slices.
    let n = cvt_r(|| unsafe { libc::writev(fd, iovs.as_ptr(), parts.len().min(2) as i32) })?;
    Ok(n as usize)
}

/// Writes `parts` completely over a byte stream, the descriptors with the first bytes.
fn write_stream(fd: RawFd, t: Transport, parts: [&[u8]; 2], fds: &[RawFd]) -> io::Result<()> {
    let total = parts[0].len() + parts[1].len();
    if total == 0 {
        return Ok(());
    }
    let mut done = 0;
    let mut first = true;
    while done < total {
        let (a, b) = if done < parts[0].len() {
            (&parts[0][done..], parts[1])
        } else {
            (&parts[1][done - parts[0].len()..], &[][..])
        };
        let n = match t {
            Transport::Fd => writev(fd, &[a, b])?,
            _ => sendmsg(fd, &[a, b], if first { fds } else { &[] })?,
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote zero bytes"));
        }
        first = false;
        done += n;
    }
    Ok(())
}

/// Sends one framed message.
pub(crate) fn send_frame(fd: RawFd, t: Transport, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let (h, hlen) = header(payload.len());
    let head = &h[..hlen];
    if t != Transport::Packet {
        return write_stream(fd, t, [head, payload], fds);
    }
    if hlen + payload.len() <= PACKET_SMALL {
        // One record; a seqpacket send is all or nothing.
        sendmsg(fd, &[head, payload], fds)?;
        return Ok(());
    }
    sendmsg(fd, &[head], fds)?;
    let mut rest = payload;
    while !rest.is_empty() {
        let record = RECORD.load(Ordering::Relaxed);
        let chunk = &rest[..rest.len().min(record)];
        match sendmsg(fd, &[chunk], &[]) {
            Ok(n) => rest = &rest[n..],
            Err(e)
                if record > 4096
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EMSGSIZE | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
            {
                // The send buffer is smaller than we hoped (or memory is tight): use smaller
                // records from now on. The reader does not care about record sizes.
                RECORD.store(record / 2, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Spinning before sleeping in a read (see [`crate::sys::spin`] for when): a reader with
/// nothing to read yet retries without blocking for up to [`spin::WINDOW`], and only then
/// sleeps in the kernel; a writer whose reader spins has nobody to wake either.
mod spin {
    use std::io;
    use std::time::{Duration, Instant};

    use crate::sys::spin::{ended, first};

    /// How long a reader retries before it sleeps.
    pub(super) const WINDOW: Duration = Duration::from_micros(50);

    /// Calls `recv` with `MSG_DONTWAIT` until it gets something or [`WINDOW`] passes, then
    /// blocks in it (at once, while spinning does not pay for this thread).
    pub(super) fn recv<T>(recv: &mut impl FnMut(libc::c_int) -> io::Result<T>) -> io::Result<T> {
        if !first() {
            return recv(0);
        }
        let start = Instant::now();
        loop {
            match recv(libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    ended(true);
                    return other;
                }
            }
            if start.elapsed() > WINDOW {
                ended(false);
                return recv(0);
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
    }
}

/// What went wrong while reading.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// End of file before any byte of the unit.
    Eof,
    /// End of file inside a unit.
    EofInMessage,
    /// The deadline passed.
    Timeout,
    /// A record of a packet transport did not fit (malformed peer).
    Protocol(&'static str),
    /// The system call failed.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// A reader over one descriptor for one message.
pub(crate) struct Reader {
    pub(crate) fd: RawFd,
    pub(crate) transport: Transport,
    pub(crate) deadline: Option<Instant>,
    /// Descriptors that arrived.
    pub(crate) fds: Vec<OwnedFd>,
}

impl Reader {
    fn wait(&self) -> Result<(), ReadError> {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() || !sys::poll_readable(self.fd, Some(left))? {
                return Err(ReadError::Timeout);
            }
        }
        Ok(())
    }

    /// One read call into `buf`: returns (bytes, record truncated).
    ///
    /// # Safety
    ///
    /// `buf` must be valid for writes of `len` bytes.
    unsafe fn read_once(&mut self, buf: *mut u8, len: usize) -> Result<usize, ReadError> {
        self.wait()?;
        if self.transport == Transport::Fd {
            // SAFETY: forwarded from the caller.
            let n = cvt_r(|| unsafe { libc::read(self.fd, buf.cast(), len) })?;
            return Ok(n as usize);
        }
        let mut v = [libc::iovec {
            iov_base: buf.cast(),
            iov_len: len,
        }];
        let fd = self.fd;
        // SAFETY (of the call inside): `v` describes the caller's writable buffer.
        let mut recv = |flags: libc::c_int| sys::fdpass::recvmsg(fd, &mut v, flags);
        let got = if self.deadline.is_none() {
            spin::recv(&mut recv)?
        } else {
            recv(0)?
        };
        self.fds.extend(got.fds);
        let (n, msg_flags) = (got.bytes, got.flags);
        if msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(ReadError::Protocol("handles were truncated in transit"));
        }
        if msg_flags & libc::MSG_TRUNC != 0 {
            return Err(ReadError::Protocol(
                "a record is longer than the rest of its message",
            ));
        }
        Ok(n)
    }

    /// Fills `buf` completely. `started`: whether bytes of this message were read already
    /// (then EOF is [`ReadError::EofInMessage`] even before the first byte of `buf`).
    pub(crate) fn fill(&mut self, buf: &mut [u8], started: bool) -> Result<(), ReadError> {
        // SAFETY: an initialised slice is valid for writes of its length.
        unsafe { self.fill_raw(buf.as_mut_ptr(), buf.len(), started) }
    }

    /// # Safety
    ///
    /// `buf` must be valid for writes of `len` bytes.
    unsafe fn fill_raw(
        &mut self,
        buf: *mut u8,
        len: usize,
        started: bool,
    ) -> Result<(), ReadError> {
        let mut got = 0;
        while got < len {
            // SAFETY: `got < len`, so the rest of the buffer is in bounds.
            let n = unsafe { self.read_once(buf.add(got), len - got)? };
            if n == 0 {
                return Err(if got == 0 && !started {
                    ReadError::Eof
                } else {
                    ReadError::EofInMessage
                });
            }
            got += n;
        }
        Ok(())
    }

    /// Reads the first unit of a message into `scratch` (at least [`PACKET_SMALL`] bytes):
    /// the header, plus, on a packet transport, the payload bytes of the first record.
    /// Returns (payload length, payload bytes already in `scratch[hlen..hlen + k]`, hlen).
    pub(crate) fn begin(&mut self, scratch: &mut [u8]) -> Result<(u64, usize, usize), ReadError> {
        let (got, hlen) = if self.transport == Transport::Packet {
            // SAFETY: `scratch` is a live, writable slice.
            let n = unsafe { self.read_once(scratch.as_mut_ptr(), scratch.len())? };
            if n == 0 {
                return Err(ReadError::Eof);
            }
            if n < 4 {
                return Err(ReadError::Protocol("record shorter than a frame header"));
            }
            (n, 4)
        } else {
            self.fill(&mut scratch[..4], false)?;
            (4, 4)
        };
        let short = i32::from_be_bytes([scratch[0], scratch[1], scratch[2], scratch[3]]);
        let (len, hlen, have) = if short == -1 {
            if self.transport == Transport::Packet {
                if got < 12 {
                    return Err(ReadError::Protocol("truncated 64-bit frame header"));
                }
            } else {
                self.fill(&mut scratch[4..12], true)?;
            }
            let mut ext = [0u8; 8];
            ext.copy_from_slice(&scratch[4..12]);
            let have = if self.transport == Transport::Packet {
                got - 12
            } else {
                0
            };
            (u64::from_be_bytes(ext), 12, have)
        } else if short < 0 {
            return Err(ReadError::Protocol(
                "negative message length in frame header",
            ));
        } else {
            (short as u64, hlen, got - hlen)
        };
        if have as u64 > len {
            return Err(ReadError::Protocol("record longer than its message"));
        }
        Ok((len, have, hlen))
    }

    /// Appends `total - vec.len()` more bytes to `vec`, growing it only as bytes arrive.
    pub(crate) fn fill_vec(&mut self, vec: &mut Vec<u8>, total: usize) -> Result<(), ReadError> {
        while vec.len() < total {
            let left = total - vec.len();
            if vec.capacity() - vec.len() < left.min(MAX_RECORD) {
                // Grow geometrically, but never beyond the message or far beyond what
                // arrived.
                let want = left.min(vec.len().max(MAX_RECORD));
                vec.reserve_exact(want);
            }
            let spare = vec.spare_capacity_mut();
            let room = spare.len().min(left);
            let ptr = spare.as_mut_ptr() as *mut u8;
            // On a packet transport a record is at most MAX_RECORD bytes and at most the rest
            // of the message, so asking for `room` (>= min(left, MAX_RECORD)) never truncates.
            // SAFETY: `ptr` points at `room` bytes of spare capacity.
            let n = unsafe { self.read_once(ptr, room)? };
            if n == 0 {
                return Err(ReadError::EofInMessage);
            }
            // SAFETY: the kernel initialised `n <= room` bytes past the old length.
            unsafe { vec.set_len(vec.len() + n) };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_64_bit_form_only_above_2_gib() {
        let (h, n) = header(0);
        assert_eq!(&h[..n], &[0, 0, 0, 0]);
        let (h, n) = header(0x7fff_ffff);
        assert_eq!(&h[..n], &[0x7f, 0xff, 0xff, 0xff]);
        let (h, n) = header(0x8000_0000);
        assert_eq!(
            &h[..n],
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]
        );
    }

    #[test]
    fn packet_records_keep_messages_whole() {
        let (a, b) = packet_pair().unwrap();
        use std::os::fd::AsRawFd;
        let big = vec![3u8; 3 * PACKET_SMALL];
        send_frame(a.as_raw_fd(), Transport::Packet, b"small", &[]).unwrap();
        send_frame(a.as_raw_fd(), Transport::Packet, &big, &[]).unwrap();
        let mut r = Reader {
            fd: b.as_raw_fd(),
            transport: Transport::Packet,
            deadline: None,
            fds: Vec::new(),
        };
        let mut scratch = vec![0u8; PACKET_SMALL];
        // One record holds header and payload of the small message.
        assert_eq!(r.begin(&mut scratch).unwrap(), (5, 5, 4));
        assert_eq!(&scratch[4..9], b"small");
        // The big one: a header record, then the payload.
        let (len, have, _) = r.begin(&mut scratch).unwrap();
        assert_eq!((len as usize, have), (big.len(), 0));
        let mut v = Vec::new();
        r.fill_vec(&mut v, big.len()).unwrap();
        assert_eq!(v, big);
    }
}
