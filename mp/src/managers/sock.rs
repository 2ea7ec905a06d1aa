//! Unix-domain `SOCK_SEQPACKET` sockets for local managers.
//!
//! A manager at a Unix address (a path or a Linux abstract name) uses sequenced-packet
//! sockets rather than stream sockets: the kernel keeps message boundaries, so a request is
//! read with one system call (the framing is CPython's, as on [`Pipe`](crate::Pipe)). TCP
//! managers use [`Listener`](crate::Listener) and [`Client`](crate::Client) (streams).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::connection::{Address, Connection};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

fn sockaddr(address: &Address) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (bytes, abstract_): (&[u8], bool) = match address {
        Address::Unix(p) => (p.as_os_str().as_bytes(), false),
        Address::Abstract(n) => (n, true),
        Address::Tcp(_) => return Err(Error::value("not a unix address")),
    };
    let start = usize::from(abstract_);
    // Room for a leading NUL (abstract) or a trailing one (path).
    if bytes.len() + 1 > sa.sun_path.len() {
        return Err(Error::value(format!(
            "unix socket address too long: {address}"
        )));
    }
    if !abstract_ && bytes.contains(&0) {
        return Err(Error::value("unix socket path contains a NUL byte"));
    }
    for (i, b) in bytes.iter().enumerate() {
        sa.sun_path[start + i] = *b as libc::c_char;
    }
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    let len = if abstract_ {
        base + 1 + bytes.len()
    } else {
        base + bytes.len() + 1
    };
    Ok((sa, len as libc::socklen_t))
}

fn socket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::errno("socket"));
    }
    // SAFETY: a fresh descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A listening `SOCK_SEQPACKET` socket. The socket file of a path address is removed on
/// drop by the process that bound it.
#[derive(Debug)]
pub(crate) struct PacketListener {
    fd: OwnedFd,
    path: Option<(PathBuf, i32)>,
}

impl PacketListener {
    pub(crate) fn bind(address: &Address, backlog: i32) -> Result<PacketListener> {
        let (sa, len) = sockaddr(address)?;
        let fd = socket()?;
        // SAFETY: `sa` is a valid sockaddr_un of `len` bytes.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if r != 0 {
            return Err(Error::errno(&format!("bind {address}")));
        }
        // SAFETY: listen on a bound socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
            return Err(Error::errno("listen"));
        }
        let path = match address {
            Address::Unix(p) => Some((p.clone(), sys::getpid())),
            _ => None,
        };
        Ok(PacketListener { fd, path })
    }

    /// Accepts one connection (no handshake: the serving thread does it).
    pub(crate) fn accept(&self) -> Result<Connection> {
        // SAFETY: accept4 on a listening socket we own; no peer address wanted.
        let fd = unsafe {
            libc::accept4(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Error::errno("accept"));
        }
        // SAFETY: a fresh descriptor that we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Connection::from_fd(fd, true, true)
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for PacketListener {
    fn drop(&mut self) {
        if let Some((p, pid)) = &self.path
            && *pid == sys::getpid()
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Connects to a local manager (no handshake).
pub(crate) fn connect(address: &Address) -> Result<Connection> {
    let (sa, len) = sockaddr(address)?;
    let fd = socket()?;
    loop {
        // SAFETY: `sa` is a valid sockaddr_un of `len` bytes.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return Err(Error::os(format!("connect {address}"), e));
    }
    Connection::from_fd(fd, true, true).map_err(|e| Error::new(ErrorKind::Os, e.to_string()))
}
