//! `wait`: Python's `multiprocessing.connection.wait(object_list, timeout)`.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::time::Duration;

use super::{Connection, Listener};
use crate::error::{Error, Result};
use crate::sys;

/// Something [`wait`] can wait on: it is ready when reading it would not block (a message or
/// end of file on a connection or socket, a pending client on a listener, an exited process).
///
/// Implemented for [`Connection`], [`Process`](crate::Process) (its
/// [`sentinel`](crate::Process::sentinel)),
/// [`Listener`], std's sockets, descriptors (`OwnedFd`, `BorrowedFd`) and raw descriptor
/// numbers (`RawFd`, Python's integers, e.g. a sentinel), and for references and boxes of
/// them, so that a list can mix kinds as `&dyn Waitable`.
///
/// # Examples
///
/// ```
/// use mp::connection::Waitable;
/// # fn main() -> mp::Result<()> {
/// let (a, _b) = mp::Pipe(true)?;
/// assert_eq!(a.wait_fd()?, a.fileno()?);
/// # Ok(()) }
/// ```
pub trait Waitable {
    /// The descriptor to poll for readability.
    ///
    /// # Errors
    ///
    /// The object cannot be waited on (a closed or write-only connection, a process that was
    /// not started...).
    fn wait_fd(&self) -> Result<RawFd>;
}

impl Waitable for Connection {
    fn wait_fd(&self) -> Result<RawFd> {
        self.check_readable()
    }
}

impl Waitable for Listener {
    fn wait_fd(&self) -> Result<RawFd> {
        if self.closed() {
            return Err(crate::Error::closed());
        }
        Ok(self.as_raw_fd())
    }
}

impl Waitable for RawFd {
    fn wait_fd(&self) -> Result<RawFd> {
        Ok(*self)
    }
}

macro_rules! waitable_fds {
    ($($t:ty)*) => {$(
        impl Waitable for $t {
            fn wait_fd(&self) -> Result<RawFd> {
                Ok(self.as_raw_fd())
            }
        }
    )*};
}
waitable_fds! { OwnedFd BorrowedFd<'_> UnixStream UnixListener UnixDatagram TcpStream TcpListener UdpSocket }

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> Result<RawFd> {
        (**self).wait_fd()
    }
}

impl<T: Waitable + ?Sized> Waitable for &mut T {
    fn wait_fd(&self) -> Result<RawFd> {
        (**self).wait_fd()
    }
}

impl<T: Waitable + ?Sized> Waitable for Box<T> {
    fn wait_fd(&self) -> Result<RawFd> {
        (**self).wait_fd()
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
    for o in objects {
        let fd = o.wait_fd()?;
        if fd < 0 {
            return Err(Error::value(format!("invalid handle {fd}")));
        }
        fds.push(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    let n = sys::poll(&mut fds, timeout).map_err(|e| Error::os("wait", e))?;
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
