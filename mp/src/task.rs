//! Tasks: the `#[mp::task]` fns that children, pool workers and task references run by name.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::Result;

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
    pub(crate) name: &'static str,
    pub(crate) _sig: PhantomData<fn(A) -> R>,
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

/// The "subclass `Process` and override `run()`" pattern: a serializable value whose `run`
/// is the child's body. Register the impl with `#[mp::task]` so that spawn and forkserver
/// children can find it, and start it with [`Process::from_run`](crate::Process::from_run).
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Greeter { who: String }
///
/// #[mp::task]
/// impl mp::Run for Greeter {
///     fn run(self) {
///         println!("hello {}", self.who);
///     }
/// }
///
/// let p = mp::Process::from_run(Greeter { who: "bob".into() });
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(()) }
/// ```
pub trait Run: Serialize + DeserializeOwned + Send + 'static {
    /// The child's body.
    fn run(self);
    /// Set by `#[mp::task]` on the impl: the registry name.
    #[doc(hidden)]
    const __MP_TASK_NAME: Option<&'static str> = None;
}
