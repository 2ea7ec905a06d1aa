//! The private protocol between a pool and its workers: length-prefixed frames over a Unix
//! stream socket, with descriptors passed as `SCM_RIGHTS` alongside.
//!
//! A frame is `len: u32 LE` (of what follows), then a fixed header `kind: u8, seq: u64 LE,
//! nfds: u32 LE, aux: u32 LE`, then (for a task) `aux` bytes of task name, then the body. The
//! descriptors of a frame travel in the `sendmsg` that carries its first byte; Linux delivers
//! them in order and never past the data they came with, so the reader keeps them in a FIFO and
//! a frame takes its `nfds` from the front when it is parsed.
//!
//! Both ends are the same build of the same program, so the format needs no versioning; lengths
//! read from the wire still never drive an allocation larger than the bytes that arrived.

use std::collections::VecDeque;
use std::io;
use std::ops::Range;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::Arc;

use crate::sys;

/// Parent to worker: run a chunk.
pub(super) const TASK: u8 = 1;
/// Parent to worker: exit after the tasks before this one.
pub(super) const STOP: u8 = 2;
/// Worker to parent: the initializer ran; tasks start now.
pub(super) const READY: u8 = 10;
/// Worker to parent: a chunk's encoded values.
pub(super) const OK: u8 = 11;
/// Worker to parent: a chunk failed (an encoded `WireFailure`).
pub(super) const ERR: u8 = 12;
/// Worker to parent: the initializer failed (an encoded `WireFailure`); the worker exits.
pub(super) const INIT_FAILED: u8 = 13;

const HEADER: usize = 1 + 8 + 4 + 4;
/// Reads grow the buffer by at most this much beyond what has arrived.
const READ_STEP: usize = 1 << 20;

/// Builds a frame.
pub(super) fn frame(kind: u8, seq: u64, nfds: u32, name: &str, body: &[u8]) -> io::Result<Vec<u8>> {
    let len = HEADER + name.len() + body.len();
    let len32 = u32::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a pool message is limited to 4 GiB; this chunk encodes to {len} bytes"),
        )
    })?;
    let mut v = Vec::with_capacity(4 + len);
    v.extend_from_slice(&len32.to_le_bytes());
    v.push(kind);
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&nfds.to_le_bytes());
    v.extend_from_slice(&(name.len() as u32).to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(body);
    Ok(v)
}

/// Builds a frame with an `aux` field (the run time of a result, in microseconds).
pub(super) fn frame_aux(
    kind: u8,
    seq: u64,
    nfds: u32,
    aux: u32,
    body: &[u8],
) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(4 + HEADER + body.len());
    if append_frame(&mut v, kind, seq, nfds, aux, body) {
        Ok(v)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a pool message is limited to 4 GiB",
        ))
    }
}

/// Appends a frame without a name; false if it is too large for the format.
pub(super) fn append_frame(
    v: &mut Vec<u8>,
    kind: u8,
    seq: u64,
    nfds: u32,
    aux: u32,
    body: &[u8],
) -> bool {
    let Ok(len32) = u32::try_from(HEADER + body.len()) else {
        return false;
    };
    v.extend_from_slice(&len32.to_le_bytes());
    v.push(kind);
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&nfds.to_le_bytes());
    v.extend_from_slice(&aux.to_le_bytes());
    v.extend_from_slice(body);
    true
}

/// A parsed frame; its name and body are ranges into the reader's buffer.
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) kind: u8,
    pub(super) seq: u64,
    pub(super) aux: u32,
    pub(super) fds: Vec<OwnedFd>,
    name: Range<usize>,
    body: Range<usize>,
}

/// Buffered frame reader over a socket (blocking or not).
#[derive(Debug)]
pub(super) struct Reader {
    buf: Vec<u8>,
    start: usize,
    fds: VecDeque<OwnedFd>,
    /// The peer closed its end.
    pub(super) eof: bool,
}

impl Reader {
    pub(super) fn new() -> Reader {
        Reader {
            buf: Vec::new(),
            start: 0,
            fds: VecDeque::new(),
            eof: false,
        }
    }

    /// The task name of a frame returned by [`Reader::next_frame`].
    pub(super) fn name(&self, f: &Frame) -> &str {
        std::str::from_utf8(&self.buf[f.name.clone()]).unwrap_or("")
    }

    /// The body of a frame returned by [`Reader::next_frame`].
    pub(super) fn body(&self, f: &Frame) -> &[u8] {
        &self.buf[f.body.clone()]
    }

    /// Whether a complete frame is buffered.
    pub(super) fn has_frame(&self) -> bool {
        let avail = self.buf.len() - self.start;
        if avail < 4 {
            return false;
        }
        let s = self.start;
        let len = u32::from_le_bytes(self.buf[s..s + 4].try_into().unwrap_or([0; 4])) as usize;
        avail >= 4 + len
    }

    /// The next complete frame in the buffer. The previous frame's ranges become invalid.
    pub(super) fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let avail = self.buf.len() - self.start;
        if avail < 4 {
            return Ok(None);
        }
        let s = self.start;
        let len = u32::from_le_bytes(self.buf[s..s + 4].try_into().unwrap_or([0; 4])) as usize;
        if len < HEADER {
            return Err(io::Error::other("corrupt pool message: header too short"));
        }
        if avail < 4 + len {
            return Ok(None);
        }
        let h = &self.buf[s + 4..s + 4 + HEADER];
        let kind = h[0];
        let seq = u64::from_le_bytes(h[1..9].try_into().unwrap_or([0; 8]));
        let nfds = u32::from_le_bytes(h[9..13].try_into().unwrap_or([0; 4])) as usize;
        let aux = u32::from_le_bytes(h[13..17].try_into().unwrap_or([0; 4]));
        let name_len = if kind == TASK { aux as usize } else { 0 };
        let name_start = s + 4 + HEADER;
        if name_len > len - HEADER {
            return Err(io::Error::other("corrupt pool message: name too long"));
        }
        if nfds > self.fds.len() {
            return Err(io::Error::other(
                "a pool message arrived without its descriptors",
            ));
        }
        let fds = self.fds.drain(..nfds).collect();
        self.start = s + 4 + len;
        Ok(Some(Frame {
            kind,
            seq,
            aux,
            fds,
            name: name_start..name_start + name_len,
            body: name_start + name_len..s + 4 + len,
        }))
    }

    /// Makes room for at least one more read, dropping consumed bytes.
    fn prepare(&mut self) {
        if self.start > 0 && (self.start == self.buf.len() || self.start > self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // Grow toward the announced frame length, but never more than one step beyond the
        // bytes already here.
        let want = if self.buf.len() - self.start >= 4 {
            let s = self.start;
            let len = u32::from_le_bytes(self.buf[s..s + 4].try_into().unwrap_or([0; 4])) as usize;
            (4 + len)
                .saturating_sub(self.buf.len() - s)
                .clamp(64 * 1024, READ_STEP)
        } else {
            64 * 1024
        };
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
        }
    }

    /// One `recvmsg`: returns the bytes read (0 at EOF). `WouldBlock` on a non-blocking socket
    /// with nothing to read.
    pub(super) fn fill(&mut self, fd: RawFd, nonblocking: bool) -> io::Result<usize> {
        self.prepare();
        let spare = self.buf.spare_capacity_mut();
        let mut iov = [libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        }];
        let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        let got = sys::fdpass::recvmsg(fd, &mut iov, flags)?;
        self.fds.extend(got.fds);
        if got.flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::other("descriptors were truncated in transit"));
        }
        let n = got.bytes;
        // SAFETY: the kernel initialised `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }
}

/// A frame queued for sending, shared with the task record that may send it again.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) bytes: Vec<u8>,
    pub(super) fds: Vec<OwnedFd>,
}

/// Frames waiting to be written to a non-blocking socket.
#[derive(Debug, Default)]
pub(super) struct OutQueue {
    queue: VecDeque<Arc<Outgoing>>,
    /// Bytes of the front frame already written.
    offset: usize,
}

impl OutQueue {
    pub(super) fn push(&mut self, f: Arc<Outgoing>) {
        self.queue.push_back(f);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Frames not completely written.
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Writes as much as the socket takes without blocking. `Ok(true)` when everything went.
    pub(super) fn flush(&mut self, fd: RawFd) -> io::Result<bool> {
        while !self.queue.is_empty() {
            let mut iovs: Vec<libc::iovec> = Vec::with_capacity(self.queue.len().min(64));
            let mut fds: Vec<RawFd> = Vec::new();
            for (i, f) in self.queue.iter().take(64).enumerate() {
                let off = if i == 0 { self.offset } else { 0 };
                if off == 0 && !f.fds.is_empty() {
                    // Any number of descriptors go in one `sendmsg` (a carrier takes those
                    // over `DIRECT`), but a batch that needs a carrier is cut short so that
                    // the common small batch never pays for one.
                    if i > 0 && fds.len() + f.fds.len() > sys::fdpass::DIRECT {
                        break;
                    }
                    use std::os::fd::AsRawFd;
                    fds.extend(f.fds.iter().map(|x| x.as_raw_fd()));
                }
                iovs.push(libc::iovec {
                    iov_base: f.bytes[off..].as_ptr() as *mut _,
                    iov_len: f.bytes.len() - off,
                });
            }
            let n = sendmsg(fd, &iovs, &fds)?;
            if n == 0 {
                return Ok(false);
            }
            let mut left = n;
            while left > 0 {
                let Some(front) = self.queue.front() else {
                    break;
                };
                let rest = front.bytes.len() - self.offset;
                if left >= rest {
                    left -= rest;
                    self.offset = 0;
                    self.queue.pop_front();
                } else {
                    self.offset += left;
                    left = 0;
                }
            }
        }
        Ok(true)
    }
}

/// Non-blocking `sendmsg` of `iovs` with `fds`; returns the bytes written (0 if it would block).
fn sendmsg(fd: RawFd, iovs: &[libc::iovec], fds: &[RawFd]) -> io::Result<usize> {
    match sys::fdpass::sendmsg(fd, iovs, fds, libc::MSG_DONTWAIT) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// Blocking send of one frame with its descriptors (the worker side).
pub(super) fn send_blocking(fd: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    sys::send_with_fds(fd, bytes, fds)
}

/// Puts a descriptor in non-blocking mode.
pub(super) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments on a descriptor we own.
    let flags = sys::cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    sys::cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// Fuzzing entry point (`fuzz/fuzz_targets/pool_wire.rs`; not an API): parses `data` as bytes
/// that arrived from a peer, frame by frame as the pool does (with the buffer compaction of
/// its reads in between), and checks that a frame built from `data` parses back unchanged.
/// Returns the number of frames found in `data`.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) -> usize {
    let mut r = Reader::new();
    r.buf.extend_from_slice(data);
    let mut n = 0;
    while let Ok(Some(f)) = r.next_frame() {
        let _ = (r.name(&f), r.body(&f), f.kind, f.seq, f.aux);
        n += 1;
        r.prepare();
    }
    // Round trip: a task frame named by the first bytes, its body the rest.
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let name = String::from_utf8_lossy(&data[..split]);
    let body = &data[split..];
    let seq = data.len() as u64;
    if let Ok(bytes) = frame(TASK, seq, 0, &name, body) {
        let mut r = Reader::new();
        r.buf.extend_from_slice(&bytes);
        let f = r
            .next_frame()
            .expect("a built frame parses")
            .expect("a built frame is complete");
        assert_eq!((f.kind, f.seq), (TASK, seq));
        assert_eq!(r.name(&f), name);
        assert_eq!(r.body(&f), body);
    }
    n
}
