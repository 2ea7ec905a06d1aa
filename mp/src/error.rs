//! The crate error type.
//!
//! Python raises many exception types from `multiprocessing`; mp has one opaque [`Error`] whose
//! [`kind`](Error::kind) tells them apart, plus operation-specific errors that hand a value back
//! (see [`crate::queues`]).

use std::fmt;
use std::io;

/// What went wrong, in Python's terms.
///
/// # Examples
///
/// ```
/// use mp::ErrorKind;
/// let err = mp::get_context("threads").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Value);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Python's `ValueError`: a bad argument or an operation on a closed/finished object.
    Value,
    /// Python's `RuntimeError`.
    Runtime,
    /// Python's `AssertionError` from misuse (start twice, join before start...).
    Assertion,
    /// Python's `OSError`: an operating-system call failed.
    Os,
    /// Python's `EOFError`: the peer closed the connection before a message started.
    Eof,
    /// Python's `BufferTooShort`: the receiving buffer is too small (see [`Error::message`]).
    BufferTooShort,
    /// Python's `AuthenticationError`.
    Authentication,
    /// Python's `multiprocessing.TimeoutError`.
    Timeout,
    /// Python's `threading.BrokenBarrierError`.
    BrokenBarrier,
    /// Python's `RemoteError`: an error or panic in another process.
    Remote,
    /// A worker process died while running a task (mp only; CPython hangs).
    WorkerLost,
    /// The holder of a lock died while holding it (mp only; CPython hangs).
    OwnerDied,
    /// A value could not be serialized or deserialized.
    Serialization,
    /// A process could not be started (bootstrap failure, unregistered task, wrong binary).
    ProcessStart,
    /// Python's `ProcessError`: a manager or process is in the wrong state.
    Process,
    /// Python's `queue.Empty`.
    Empty,
    /// Python's `queue.Full`.
    Full,
    /// Python's `queue.ShutDown`.
    ShutDown,
    /// Python's `KeyError`.
    Key,
    /// Python's `IndexError`.
    Index,
    /// Python's `TypeError`.
    Type,
    /// Python's `NotImplementedError`.
    NotImplemented,
    /// Python's `StopIteration`: an iterator proxy's referent is exhausted.
    StopIteration,
}

/// The error type of mp.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() {
/// let p = mp::Process::new(|| {}, ());
/// let err = p.join().unwrap_err(); // join before start
/// assert_eq!(err.kind(), mp::ErrorKind::Assertion);
/// # }
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    payload: Option<Vec<u8>>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `std::result::Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Error::new(mp::ErrorKind::Value, "bad thing");
    /// assert_eq!(e.to_string(), "bad thing");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            payload: None,
            source: None,
        }
    }

    /// The kind of this error.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Error::new(mp::ErrorKind::Eof, "eof");
    /// assert_eq!(e.kind(), mp::ErrorKind::Eof);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the source chain.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Error::new(mp::ErrorKind::Value, "x");
    /// assert_eq!(e.message(), "x");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The data carried by the error, where Python's exception carries some: the whole message
    /// of a [`ErrorKind::BufferTooShort`].
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Error::new(mp::ErrorKind::Value, "x");
    /// assert!(e.payload().is_none());
    /// ```
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// Takes the payload out of the error.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Error::new(mp::ErrorKind::Value, "x");
    /// assert!(e.into_payload().is_none());
    /// ```
    pub fn into_payload(self) -> Option<Vec<u8>> {
        self.payload
    }

    pub(crate) fn with_payload(mut self, payload: Vec<u8>) -> Error {
        self.payload = Some(payload);
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// The `errno` of an [`ErrorKind::Os`] error, when one is known.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = mp::Error::from(std::io::Error::from_raw_os_error(libc::EBADF));
    /// assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .and_then(|e| e.raw_os_error())
    }

    pub(crate) fn value(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Value, msg)
    }

    pub(crate) fn assertion(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Assertion, msg)
    }

    pub(crate) fn os(context: impl Into<String>, err: io::Error) -> Error {
        let ctx: String = context.into();
        let msg = if ctx.is_empty() {
            err.to_string()
        } else {
            format!("{ctx}: {err}")
        };
        Error::new(ErrorKind::Os, msg).with_source(err)
    }

    /// An [`ErrorKind::Os`] error from the calling thread's `errno`, with some context.
    pub(crate) fn errno(context: &str) -> Error {
        Error::os(context, io::Error::last_os_error())
    }

    pub(crate) fn closed() -> Error {
        Error::new(ErrorKind::Os, "handle is closed")
    }

    pub(crate) fn ser(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Serialization, msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(p) = &self.payload {
            d.field("payload_len", &p.len());
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::os("", err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::Eof => io::ErrorKind::UnexpectedEof,
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Value | ErrorKind::Type => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}
