//! Descriptor readiness through the program's own reactor: tokio's when the future runs inside
//! a tokio runtime (feature `tokio`), async-io's otherwise (feature `async-io`).
//!
//! A wait registers a *duplicate* of the object's descriptor: the original is shared with its
//! blocking methods (and with other processes), so it is never registered, never switched to
//! non-blocking mode and never closed by a reactor. [`ready`] registers for one wait;
//! [`Registered`] keeps the registration for the object's next waits (a connection's).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

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
        Err(no_runtime())
    }
}

#[cfg(not(feature = "async-io"))]
fn no_runtime() -> Error {
    Error::new(
        crate::ErrorKind::Runtime,
        "an mp future that waits on a descriptor must run inside a tokio runtime \
         (or enable mp's `async-io` feature to run it on any executor)",
    )
}

#[cfg(feature = "tokio")]
async fn with_tokio(fd: OwnedFd, interest: Interest) -> Result<()> {
    use tokio::io::Interest as I;
    let want = match interest {
        Interest::Readable => I::READABLE,
        Interest::Writable => I::WRITABLE,
    };
    let afd = register_tokio(fd, want)?;
    let r = match interest {
        Interest::Readable => afd.readable().await.map(drop),
        Interest::Writable => afd.writable().await.map(drop),
    };
    r.map_err(|e| Error::os("tokio", e))
}

/// Registers `fd` with the current tokio runtime's reactor.
#[cfg(feature = "tokio")]
fn register_tokio(
    fd: OwnedFd,
    want: tokio::io::Interest,
) -> Result<tokio::io::unix::AsyncFd<OwnedFd>> {
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
    registered.map_err(|e| Error::os("cannot register a descriptor with tokio", e.into_parts().1))
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

/// A registration kept across waits: the duplicate descriptor stays in the reactor, so that a
/// wait costs no `dup`/`epoll_ctl`/`close`. Re-registered when the wait runs under another
/// tokio runtime than the last; dropped (and the duplicate closed) by [`Registered::clear`].
#[derive(Default)]
pub(crate) struct Registered {
    slot: Mutex<Option<Arc<Reg>>>,
}

enum Reg {
    #[cfg(feature = "tokio")]
    Tokio {
        runtime: tokio::runtime::Id,
        fd: tokio::io::unix::AsyncFd<OwnedFd>,
    },
    #[cfg(feature = "async-io")]
    AsyncIo(async_io::Async<OwnedFd>),
    /// Without a reactor feature nothing registers (`get` fails first).
    #[cfg(not(any(feature = "tokio", feature = "async-io")))]
    #[allow(dead_code)]
    Never(std::convert::Infallible),
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registered = self.slot.lock().map(|s| s.is_some()).unwrap_or(false);
        f.debug_struct("Registered")
            .field("registered", &registered)
            .finish()
    }
}

impl Registered {
    /// Waits until `fd` (the object's descriptor, the same at every call) is ready for
    /// `interest`. The caller looks again afterwards: readiness may be stale.
    pub(crate) async fn ready(&self, fd: RawFd, interest: Interest) -> Result<()> {
        let reg = self.get(fd)?;
        #[cfg(not(any(feature = "tokio", feature = "async-io")))]
        let _ = interest;
        match &*reg {
            #[cfg(feature = "tokio")]
            Reg::Tokio { fd, .. } => {
                let r = match interest {
                    Interest::Readable => fd.readable().await.map(|mut g| g.clear_ready()),
                    Interest::Writable => fd.writable().await.map(|mut g| g.clear_ready()),
                };
                // Cleared at once: the caller's own check decides, and a later edge wakes
                // the next wait.
                r.map_err(|e| Error::os("tokio", e))
            }
            #[cfg(feature = "async-io")]
            Reg::AsyncIo(a) => match interest {
                Interest::Readable => a.readable().await,
                Interest::Writable => a.writable().await,
            }
            .map_err(|e| Error::os("async-io", e)),
            #[cfg(not(any(feature = "tokio", feature = "async-io")))]
            Reg::Never(never) => match *never {},
        }
    }

    fn get(&self, fd: RawFd) -> Result<Arc<Reg>> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(feature = "tokio")]
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if let Some(reg) = slot.as_ref()
                && matches!(&**reg, Reg::Tokio { runtime, .. } if *runtime == handle.id())
            {
                return Ok(Arc::clone(reg));
            }
            let want = tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE;
            let reg = Arc::new(Reg::Tokio {
                runtime: handle.id(),
                fd: register_tokio(duplicate(fd)?, want)?,
            });
            *slot = Some(Arc::clone(&reg));
            return Ok(reg);
        }
        #[cfg(feature = "async-io")]
        {
            #[allow(irrefutable_let_patterns)]
            if let Some(reg) = slot.as_ref()
                && let Reg::AsyncIo(_) = &**reg
            {
                return Ok(Arc::clone(reg));
            }
            let a = async_io::Async::new_nonblocking(duplicate(fd)?)
                .map_err(|e| Error::os("cannot register a descriptor with async-io", e))?;
            let reg = Arc::new(Reg::AsyncIo(a));
            *slot = Some(Arc::clone(&reg));
            Ok(reg)
        }
        #[cfg(not(feature = "async-io"))]
        {
            let _ = (&mut slot, fd);
            Err(no_runtime())
        }
    }

    /// Drops the registration: the object's descriptor is being closed.
    pub(crate) fn clear(&self) {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
