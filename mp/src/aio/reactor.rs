//! Descriptor readiness through the program's own reactor: tokio's when the future runs inside
//! a tokio runtime (feature `tokio`), async-io's otherwise (feature `async-io`).
//!
//! Each wait registers a duplicate of the descriptor and drops it when it ends: the object's
//! own descriptor is shared with its blocking methods (and with other processes), so it is
//! never registered, never switched to non-blocking mode and never closed by a reactor.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Readable,
    Writable,
}

fn duplicate(fd: RawFd) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(Error::value(format!("invalid handle {fd}")));
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number; a bad one fails with EBADF.
    let raw = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::os("dup", io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Waits until `fd` is readable (or writable): end of file, a hang-up and an error count as
/// ready, as they do for `poll(2)`, so that the caller's next operation reports them.
pub(crate) async fn ready(fd: RawFd, interest: Interest) -> Result<()> {
    let fd = duplicate(fd)?;
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        return with_tokio(fd, interest).await;
    }
    #[cfg(feature = "async-io")]
    {
        with_async_io(fd, interest).await
    }
    #[cfg(not(feature = "async-io"))]
    {
        let _ = (fd, interest);
        Err(Error::new(
            crate::ErrorKind::Runtime,
            "an mp future that waits on a descriptor must run inside a tokio runtime \
             (or enable mp's `async-io` feature to run it on any executor)",
        ))
    }
}

#[cfg(feature = "tokio")]
async fn with_tokio(fd: OwnedFd, interest: Interest) -> Result<()> {
    use tokio::io::Interest as I;
    let want = match interest {
        Interest::Readable => I::READABLE,
        Interest::Writable => I::WRITABLE,
    };
    // A runtime built without its I/O driver makes tokio panic here: an error instead.
    let registered = std::panic::catch_unwind(move || {
        // SAFETY: `fd` is an open descriptor that the `AsyncFd` owns for its whole life.
        unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, want) }
    })
    .map_err(|_| {
        Error::new(
            crate::ErrorKind::Runtime,
            "the tokio runtime has no I/O driver: build it with `enable_io()` or `enable_all()`",
        )
    })?;
    let afd = registered
        .map_err(|e| Error::os("cannot register a descriptor with tokio", e.into_parts().1))?;
    let r = match interest {
        Interest::Readable => afd.readable().await.map(drop),
        Interest::Writable => afd.writable().await.map(drop),
    };
    r.map_err(|e| Error::os("tokio", e))
}

#[cfg(feature = "async-io")]
async fn with_async_io(fd: OwnedFd, interest: Interest) -> Result<()> {
    // `new_nonblocking`: the duplicate shares its file status flags with the object's own
    // descriptor, which must stay blocking.
    let a = async_io::Async::new_nonblocking(fd)
        .map_err(|e| Error::os("cannot register a descriptor with async-io", e))?;
    let r = match interest {
        Interest::Readable => a.readable().await,
        Interest::Writable => a.writable().await,
    };
    r.map_err(|e| Error::os("async-io", e))
}
