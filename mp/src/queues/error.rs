//! The errors of queue operations: Python's `queue.Full`, `queue.Empty`, `queue.ShutDown` and
//! the `ValueError` of a closed queue, as values that hand the item back.

use std::fmt;

use crate::error::{Error, ErrorKind};

const CLOSED: &str = "queue is closed";
const SHUT_DOWN: &str = "queue is shut down";

/// Why [`put`](crate::Queue::put) failed. The item comes back with the error.
///
/// Converts into [`mp::Error`](crate::Error) (dropping the item), so `q.put(x)?` works in a
/// function returning [`mp::Result`](crate::Result).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::queues::PutError;
/// let q = mp::Queue::<String>::new(0)?;
/// q.close();
/// match q.put("lost?".to_string()) {
///     Err(PutError::Closed(item)) => assert_eq!(item, "lost?"),
///     other => panic!("{other:?}"),
/// }
/// # Ok(()) }
/// ```
pub enum PutError<T> {
    /// [`close`](crate::Queue::close) was called on this handle (Python's `ValueError`).
    Closed(T),
    /// The queue was [shut down](crate::Queue::shutdown) (Python's `queue.ShutDown`).
    ShutDown(T),
    /// The item could not be put: it does not serialize, it is larger than the queue, or the
    /// system refused (the error says which).
    Failed(T, Error),
}

/// Why [`put_nowait`](crate::Queue::put_nowait) or [`put_timeout`](crate::Queue::put_timeout)
/// failed. The item comes back with the error.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::queues::TryPutError;
/// let q = mp::Queue::new(1)?;
/// q.put(1)?;
/// let err = q.put_nowait(2).unwrap_err();
/// assert!(matches!(err, TryPutError::Full(2)));
/// assert_eq!(err.kind(), mp::ErrorKind::Full);
/// assert_eq!(err.to_string(), "queue is full");
/// # Ok(()) }
/// ```
pub enum TryPutError<T> {
    /// The queue stayed full (Python's `queue.Full`).
    Full(T),
    /// As [`PutError::Closed`].
    Closed(T),
    /// As [`PutError::ShutDown`].
    ShutDown(T),
    /// As [`PutError::Failed`].
    Failed(T, Error),
}

/// Why [`get`](crate::Queue::get) failed.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::queues::GetError;
/// let q = mp::Queue::<u8>::new(0)?;
/// q.shutdown(false)?;
/// assert!(matches!(q.get(), Err(GetError::ShutDown)));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum GetError {
    /// [`close`](crate::Queue::close) was called on this handle (Python's `ValueError`).
    Closed,
    /// The queue was shut down and is empty (Python's `queue.ShutDown`).
    ShutDown,
    /// The item could not be taken or decoded (it is gone from the queue).
    Failed(Error),
}

/// Why [`get_nowait`](crate::Queue::get_nowait) or [`get_timeout`](crate::Queue::get_timeout)
/// failed.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::queues::TryGetError;
/// let q = mp::Queue::<u8>::new(0)?;
/// let err = q.get_nowait().unwrap_err();
/// assert!(matches!(err, TryGetError::Empty));
/// assert_eq!(mp::Error::from(err).kind(), mp::ErrorKind::Empty);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum TryGetError {
    /// No item came (Python's `queue.Empty`).
    Empty,
    /// As [`GetError::Closed`].
    Closed,
    /// As [`GetError::ShutDown`].
    ShutDown,
    /// As [`GetError::Failed`].
    Failed(Error),
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// q.close();
    /// assert_eq!(q.put(vec![1, 2]).unwrap_err().into_inner(), vec![1, 2]);
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Closed(t) | PutError::ShutDown(t) | PutError::Failed(t, _) => t,
        }
    }

    /// The Python exception this error stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(0)?;
    /// q.shutdown(false)?;
    /// assert_eq!(q.put(1).unwrap_err().kind(), mp::ErrorKind::ShutDown);
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            PutError::Closed(_) => ErrorKind::Value,
            PutError::ShutDown(_) => ErrorKind::ShutDown,
            PutError::Failed(_, e) => e.kind(),
        }
    }
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(1)?;
    /// q.put('a')?;
    /// assert_eq!(q.put_nowait('b').unwrap_err().into_inner(), 'b');
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t)
            | TryPutError::Closed(t)
            | TryPutError::ShutDown(t)
            | TryPutError::Failed(t, _) => t,
        }
    }

    /// The Python exception this error stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(1)?;
    /// q.put(0)?;
    /// let err = q.put_timeout(1, std::time::Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.kind(), mp::ErrorKind::Full);
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            TryPutError::Full(_) => ErrorKind::Full,
            TryPutError::Closed(_) => ErrorKind::Value,
            TryPutError::ShutDown(_) => ErrorKind::ShutDown,
            TryPutError::Failed(_, e) => e.kind(),
        }
    }

    /// Whether the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::new(1)?;
    /// q.put(0)?;
    /// assert!(q.put_nowait(1).unwrap_err().is_full());
    /// # Ok(()) }
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }
}

impl GetError {
    /// The Python exception this error stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// q.close();
    /// assert_eq!(q.get().unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            GetError::Closed => ErrorKind::Value,
            GetError::ShutDown => ErrorKind::ShutDown,
            GetError::Failed(e) => e.kind(),
        }
    }
}

impl TryGetError {
    /// The Python exception this error stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// assert_eq!(q.get_nowait().unwrap_err().kind(), mp::ErrorKind::Empty);
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            TryGetError::Empty => ErrorKind::Empty,
            TryGetError::Closed => ErrorKind::Value,
            TryGetError::ShutDown => ErrorKind::ShutDown,
            TryGetError::Failed(e) => e.kind(),
        }
    }

    /// Whether no item came.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let q = mp::Queue::<u8>::new(0)?;
    /// assert!(q.get_timeout(std::time::Duration::from_millis(1)).unwrap_err().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty)
    }
}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(e: PutError<T>) -> TryPutError<T> {
        match e {
            PutError::Closed(t) => TryPutError::Closed(t),
            PutError::ShutDown(t) => TryPutError::ShutDown(t),
            PutError::Failed(t, e) => TryPutError::Failed(t, e),
        }
    }
}

impl From<GetError> for TryGetError {
    fn from(e: GetError) -> TryGetError {
        match e {
            GetError::Closed => TryGetError::Closed,
            GetError::ShutDown => TryGetError::ShutDown,
            GetError::Failed(e) => TryGetError::Failed(e),
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            PutError::Failed(_, e) => f.debug_tuple("Failed").field(&"..").field(e).finish(),
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            TryPutError::Failed(_, e) => f.debug_tuple("Failed").field(&"..").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Closed(_) => f.write_str(CLOSED),
            PutError::ShutDown(_) => f.write_str(SHUT_DOWN),
            PutError::Failed(_, e) => write!(f, "cannot put the item: {e}"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("queue is full"),
            TryPutError::Closed(_) => f.write_str(CLOSED),
            TryPutError::ShutDown(_) => f.write_str(SHUT_DOWN),
            TryPutError::Failed(_, e) => write!(f, "cannot put the item: {e}"),
        }
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Closed => f.write_str(CLOSED),
            GetError::ShutDown => f.write_str(SHUT_DOWN),
            GetError::Failed(e) => write!(f, "cannot get an item: {e}"),
        }
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("queue is empty"),
            TryGetError::Closed => f.write_str(CLOSED),
            TryGetError::ShutDown => f.write_str(SHUT_DOWN),
            TryGetError::Failed(e) => write!(f, "cannot get an item: {e}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PutError::Failed(_, e) => Some(e),
            _ => None,
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryPutError::Failed(_, e) => Some(e),
            _ => None,
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl std::error::Error for TryGetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryGetError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

fn simple(kind: ErrorKind, msg: &str) -> Error {
    Error::new(kind, msg)
}

impl<T> From<PutError<T>> for Error {
    fn from(e: PutError<T>) -> Error {
        match e {
            PutError::Closed(_) => simple(ErrorKind::Value, CLOSED),
            PutError::ShutDown(_) => simple(ErrorKind::ShutDown, SHUT_DOWN),
            PutError::Failed(_, e) => e,
        }
    }
}

impl<T> From<TryPutError<T>> for Error {
    fn from(e: TryPutError<T>) -> Error {
        match e {
            TryPutError::Full(_) => simple(ErrorKind::Full, "queue is full"),
            TryPutError::Closed(_) => simple(ErrorKind::Value, CLOSED),
            TryPutError::ShutDown(_) => simple(ErrorKind::ShutDown, SHUT_DOWN),
            TryPutError::Failed(_, e) => e,
        }
    }
}

impl From<GetError> for Error {
    fn from(e: GetError) -> Error {
        match e {
            GetError::Closed => simple(ErrorKind::Value, CLOSED),
            GetError::ShutDown => simple(ErrorKind::ShutDown, SHUT_DOWN),
            GetError::Failed(e) => e,
        }
    }
}

impl From<TryGetError> for Error {
    fn from(e: TryGetError) -> Error {
        match e {
            TryGetError::Empty => simple(ErrorKind::Empty, "queue is empty"),
            TryGetError::Closed => simple(ErrorKind::Value, CLOSED),
            TryGetError::ShutDown => simple(ErrorKind::ShutDown, SHUT_DOWN),
            TryGetError::Failed(e) => e,
        }
    }
}
