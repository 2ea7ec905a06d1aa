//! Tasks: the `#[mp::task]` fns that children, pool workers and task references run by name.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::registry;

/// A registered task, as `#[mp::task]` implements it on the item it generates.
///
/// `#[mp::task] fn square(x: u64) -> u64` keeps `square(3)` working (the generated constant
/// dereferences to the fn pointer) and makes `square` a value of a type implementing `Task`,
/// which is how [`Process`](crate::Process), pools and [`TaskRef`] know its name and its types
/// at compile time.
///
/// Not implemented by hand: a child process can only find tasks that the macro registered.
///
/// # Examples
///
/// ```
/// use mp::Task;
///
/// #[mp::task]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// assert_eq!(square(3), 9);
/// assert!(<square as Task>::NAME.ends_with("::square"));
/// assert_eq!(<square as Task>::run((4,)), 16);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an mp task",
    label = "not a `#[mp::task]` fn",
    note = "pools and spawn/forkserver children find the fn they run by name, in the registry \
            that `#[mp::task]` fills: add `#[mp::task]` to the fn"
)]
pub trait Task: Copy + Send + Sync + 'static {
    /// The argument tuple (`(u64,)` for `fn square(x: u64)`): serializable, owned data.
    type Args: Portable;
    /// What the fn returns.
    type Output: 'static;
    /// The value a caller in another process receives: the `Ok` type for a fn returning
    /// `Result`, the return type otherwise. Serializable, owned data.
    type Value: Portable;
    /// The registry name: `module_path!()::name`.
    const NAME: &'static str;
    /// Calls the fn.
    fn run(args: Self::Args) -> Self::Output;
    /// Splits the output into the value or the error message (`Err(e)` becomes `e.to_string()`).
    fn into_value(out: Self::Output) -> std::result::Result<Self::Value, String>;
}

/// A serializable reference to a registered task, typed by its signature: what Python does
/// when it puts `(mul, (i, 7))` in a queue.
///
/// It travels as the task's registry name; the receiving process looks the name up in its
/// own registry (the same binary) and checks that the signature matches.
///
/// # Examples
///
/// ```
/// use mp::TaskRef;
///
/// #[mp::task]
/// fn mul(a: i64, b: i64) -> i64 {
///     a * b
/// }
///
/// #[mp::task]
/// fn plus(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let jobs: Vec<(TaskRef<(i64, i64), i64>, (i64, i64))> =
///     vec![(TaskRef::new(mul), (3, 7)), (TaskRef::new(plus), (3, 8))];
/// let (tx, rx) = mp::Pipe(true)?;
/// tx.send(&jobs)?;
/// let got: Vec<(TaskRef<(i64, i64), i64>, (i64, i64))> = rx.recv()?;
/// let results: Vec<i64> = got.into_iter().map(|(f, args)| f.call(args)).collect::<mp::Result<_>>()?;
/// assert_eq!(results, [21, 11]);
/// # Ok(()) }
/// ```
pub struct TaskRef<A, R> {
    name: &'static str,
    _sig: PhantomData<fn(A) -> R>,
}

impl<A: Send + 'static, R: 'static> TaskRef<A, R> {
    /// A reference to the task `t` (a `#[mp::task]` fn taking `A` and returning `R`).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn hello() {}
    /// let t = mp::TaskRef::new(hello);
    /// assert!(t.name().ends_with("::hello"));
    /// ```
    pub fn new<T: Task<Args = A, Output = R>>(t: T) -> TaskRef<A, R> {
        let _ = t;
        TaskRef {
            name: T::NAME,
            _sig: PhantomData,
        }
    }

    /// Looks a task up by its registry name, checking its signature.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if no task has that name or its signature differs.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn double(x: u32) -> u32 { 2 * x }
    /// let name = mp::TaskRef::new(double).name();
    /// let t = mp::TaskRef::<(u32,), u32>::from_name(name).unwrap();
    /// assert_eq!(t.call((21,)).unwrap(), 42);
    /// assert!(mp::TaskRef::<(u32,), u32>::from_name("nope").is_err());
    /// assert!(mp::TaskRef::<(u8,), u32>::from_name(name).is_err());
    /// ```
    pub fn from_name(name: &str) -> Result<TaskRef<A, R>> {
        let entry = registry::lookup(name)
            .ok_or_else(|| Error::value(format!("no task named `{name}` is registered")))?;
        Self::fn_ptr_of(entry)?;
        Ok(TaskRef {
            name: entry.name,
            _sig: PhantomData,
        })
    }

    fn fn_ptr_of(entry: &'static registry::TaskEntry) -> Result<fn(A) -> R> {
        let any = (entry.erased)();
        any.downcast_ref::<fn(A) -> R>().copied().ok_or_else(|| {
            Error::new(
                ErrorKind::Type,
                format!(
                    "task `{}` has the signature `{}`, not `{}`",
                    entry.name,
                    (entry.signature)(),
                    std::any::type_name::<fn(A) -> R>()
                ),
            )
        })
    }

    /// The task's registry name.
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn noop() {}
    /// assert!(mp::TaskRef::new(noop).name().contains("noop"));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Calls the task in this process.
    ///
    /// # Errors
    ///
    /// Only if the registry of this process lacks the task (impossible for a reference made
    /// or received in the same build).
    ///
    /// # Examples
    ///
    /// ```
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// assert_eq!(mp::TaskRef::new(add).call((1, 2)).unwrap(), 3);
    /// ```
    pub fn call(&self, args: A) -> Result<R> {
        let entry = registry::lookup(self.name)
            .ok_or_else(|| Error::value(format!("no task named `{}` is registered", self.name)))?;
        let f = Self::fn_ptr_of(entry)?;
        Ok(f(args))
    }
}

impl<A, R> Clone for TaskRef<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for TaskRef<A, R> {}

impl<A, R> PartialEq for TaskRef<A, R> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<A, R> Eq for TaskRef<A, R> {}

impl<A, R> fmt::Debug for TaskRef<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskRef({})", self.name)
    }
}

impl<A, R> Serialize for TaskRef<A, R> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

impl<'de, A: Send + 'static, R: 'static> Deserialize<'de> for TaskRef<A, R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        TaskRef::from_name(&name).map_err(serde::de::Error::custom)
    }
}

/// What a task's argument tuple and value must be: serializable, owned data.
///
/// Implemented for every `Serialize + DeserializeOwned + Send + 'static` type. It has no
/// supertraits on purpose: a type that is not serializable then fails this one bound, which
/// rustc reports once with the message below, instead of one error per missing serde trait.
/// Generic code reaches the codec through its methods.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it is not serializable",
    label = "not `Serialize + DeserializeOwned + Send + 'static`",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or pass plain data"
)]
pub trait Portable: Sized + Send + 'static {
    /// Encodes the value (handles inside it go to the returned descriptor table).
    fn mp_encode(&self) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>)>;
    /// Decodes a value from bytes and the descriptors that came with them.
    fn mp_decode(bytes: &[u8], fds: Vec<std::os::fd::OwnedFd>) -> Result<Self>;
    /// Encodes a sequence of values (the same bytes as encoding a `Vec<Self>`).
    fn mp_encode_seq(items: &[Self]) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>)>;
    /// Decodes a `Vec<Self>`.
    fn mp_decode_seq(bytes: &[u8], fds: Vec<std::os::fd::OwnedFd>) -> Result<Vec<Self>>;
}

// Not recommended: when a type is not `Portable`, rustc reports that once, with the message
// above, instead of listing each missing serde trait as an error of its own.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Portable for T {
    fn mp_encode(&self) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>)> {
        crate::reduction::encode(self)
    }
    fn mp_decode(bytes: &[u8], fds: Vec<std::os::fd::OwnedFd>) -> Result<Self> {
        crate::reduction::decode(bytes, fds)
    }
    fn mp_encode_seq(items: &[Self]) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>)> {
        crate::reduction::encode(items)
    }
    fn mp_decode_seq(bytes: &[u8], fds: Vec<std::os::fd::OwnedFd>) -> Result<Vec<Self>> {
        crate::reduction::decode(bytes, fds)
    }
}
