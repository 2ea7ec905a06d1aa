//! Fuzzes the frame decoder of `mp::Connection` on both transports: the input (after a
//! control byte) is written raw into a stream socketpair, or cut into records of a seqpacket
//! socketpair, the writer is closed, and the reader receives until it gets an error. Any
//! panic, hang or runaway allocation is a bug.
#![no_main]

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use mp::connection::Connection;

fn packet_pair() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: a valid array for the kernel to fill.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: fresh descriptors we own.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn drain(c: &Connection, mode: u8) {
    c.set_max_message_size(Some(1 << 20));
    let mut small = [0u8; 16];
    for _ in 0..10_000 {
        let r = match mode % 3 {
            0 => c.recv_bytes().map(|_| ()),
            1 => c.recv_bytes_into(&mut small, 3).map(|_| ()),
            _ => c.recv::<(u32, String)>().map(|_| ()),
        };
        if let Err(e) = r {
            if e.kind() == mp::ErrorKind::Serialization {
                continue; // a frame that is not a (u32, String): the next one is read
            }
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    if control & 1 == 0 {
        let Ok((mut w, r)) = UnixStream::pair() else {
            return;
        };
        let Ok(c) = Connection::from_fd(r.into(), true, true) else {
            return;
        };
        // Inputs are at most -max_len bytes, well under the socket buffer: this never blocks.
        let _ = w.write_all(input);
        drop(w);
        drain(&c, control >> 1);
    } else {
        let Some((w, r)) = packet_pair() else { return };
        let Ok(c) = Connection::from_fd(r, true, true) else {
            return;
        };
        let mut rest = input;
        let mut cut = control as usize % 7 + 1;
        while !rest.is_empty() {
            let n = (cut * 37).min(rest.len());
            // SAFETY: sending from a live slice; non-blocking, so a full buffer just stops.
            let sent = unsafe {
                libc::send(
                    w.as_raw_fd(),
                    rest.as_ptr().cast(),
                    n,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if sent < 0 {
                break;
            }
            rest = &rest[n..];
            cut = cut * 5 % 11 + 1;
        }
        drop(w);
        drain(&c, control >> 1);
    }
});
