//! Passing a bare descriptor: Python's `reduction.send_handle`/`recv_handle`, public as
//! [`mp::reduction::send_handle`](crate::reduction::send_handle) and
//! [`mp::reduction::recv_handle`](crate::reduction::recv_handle).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::Connection;
use crate::error::{Error, ErrorKind, Result};

/// Sends a descriptor over a connection: Python's `reduction.send_handle(conn, handle, pid)`.
///
/// # Errors
///
/// Fails if the connection is closed or cannot carry descriptors.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let (a, b) = mp::Pipe(true)?;
/// let f = std::fs::File::open("/dev/null")?;
/// mp::reduction::send_handle(&a, &f)?;
/// let fd = mp::reduction::recv_handle(&b)?;
/// # drop(fd);
/// # Ok(()) }
/// ```
pub fn send_handle(conn: &Connection, fd: &impl AsFd) -> Result<()> {
    conn.send_raw_with_fds(b"\x01", &[fd.as_fd().as_raw_fd()])
}

/// Receives a descriptor sent by [`send_handle`]: Python's `reduction.recv_handle(conn)`.
///
/// # Errors
///
/// A message that carries no descriptor is an [`ErrorKind::Runtime`] error, as in CPython.
///
/// # Examples
///
/// See [`send_handle`].
pub fn recv_handle(conn: &Connection) -> Result<OwnedFd> {
    let (_bytes, mut fds) = conn.recv_raw_with_fds()?;
    if fds.is_empty() {
        return Err(Error::new(
            ErrorKind::Runtime,
            "received data without a file descriptor",
        ));
    }
    Ok(fds.swap_remove(0))
}
