//! Start methods and contexts: Python's `multiprocessing.context`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::atfork::ForkLock;
use crate::error::{Error, ErrorKind, Result};

/// How a child process is started.
///
/// # Examples
///
/// ```
/// use mp::StartMethod;
/// assert_eq!("spawn".parse::<StartMethod>().unwrap(), StartMethod::Spawn);
/// assert_eq!(StartMethod::Forkserver.as_str(), "forkserver");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// `fork()` the current process and run the target in the copy. Any `FnOnce` closure
    /// can be a target. Only safe when the process has no other threads holding locks the
    /// target needs (see `docs/start-methods.md`).
    Fork,
    /// Re-execute the current binary; the child runs a registered `#[mp::task]`.
    Spawn,
    /// Ask a single-threaded server (started once, from the same binary) to fork the child.
    Forkserver,
}

impl StartMethod {
    /// The Python name of the method.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::StartMethod::Fork.as_str(), "fork");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }

    pub(crate) fn process_prefix(self) -> &'static str {
        match self {
            StartMethod::Fork => "Fork",
            StartMethod::Spawn => "Spawn",
            StartMethod::Forkserver => "ForkServer",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<StartMethod> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            other => Err(Error::value(format!(
                "cannot find context for {other:?}; expected one of \"forkserver\", \"spawn\", \"fork\""
            ))),
        }
    }
}

/// The platform default: forkserver on Linux, as in CPython 3.14.
pub(crate) const DEFAULT_METHOD: StartMethod = StartMethod::Forkserver;

crate::fork_lock! {
    /// The default start method, once chosen (its rank in [`crate::atfork`]: taken inside the
    /// forkserver's locks).
    static CHOSEN: ForkLock<Option<StartMethod>> = ForkLock::new(50, None);
}

/// A start-method context: Python's `get_context(method)`.
///
/// A context created by [`get_context`] with a name is bound to that method; the default
/// context follows [`set_start_method`]. Objects made through any context work with processes
/// of the others.
///
/// # Examples
///
/// ```
/// let ctx = mp::get_context("spawn").unwrap();
/// assert_eq!(ctx.get_start_method(), mp::StartMethod::Spawn);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: Option<StartMethod>,
}

impl fmt::Debug for Context {
    /// The name of Python's context class: `ForkServerContext`, `SpawnContext`,
    /// `ForkContext`, or `DefaultContext`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.method {
            Some(m) => write!(f, "{}Context", m.process_prefix()),
            None => f.write_str("DefaultContext"),
        }
    }
}

/// Returns the context for `method` (`None`: the default context): Python's `get_context`.
///
/// # Errors
///
/// [`ErrorKind::Value`] for a name that is not a start method.
///
/// # Examples
///
/// ```
/// assert!(mp::get_context("fork").is_ok());
/// assert_eq!(mp::get_context("nope").unwrap_err().kind(), mp::ErrorKind::Value);
/// ```
pub fn get_context(method: &str) -> Result<Context> {
    Ok(Context {
        method: Some(method.parse()?),
    })
}

/// The default context (follows [`set_start_method`]).
///
/// # Examples
///
/// ```
/// let ctx = mp::default_context();
/// assert_eq!(ctx.get_start_method(), mp::get_start_method());
/// ```
pub fn default_context() -> Context {
    Context { method: None }
}

impl Context {
    /// A context bound to `method`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = mp::Context::new(mp::StartMethod::Fork);
    /// assert_eq!(ctx.get_start_method(), mp::StartMethod::Fork);
    /// ```
    pub fn new(method: StartMethod) -> Context {
        Context {
            method: Some(method),
        }
    }

    /// The method this context starts processes with.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::get_context("spawn").unwrap().get_start_method().as_str(), "spawn");
    /// ```
    pub fn get_start_method(&self) -> StartMethod {
        self.method.unwrap_or_else(get_start_method)
    }

    /// Python's `ctx.get_context(method)`: `None` gives this context itself (the default
    /// context resolves to the context of the current default method), a name gives that
    /// method's context.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] for a name that is not a start method.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = mp::get_context("spawn").unwrap();
    /// assert_eq!(ctx.get_context(None).unwrap(), ctx);
    /// assert_eq!(ctx.get_context(Some("fork")).unwrap(), mp::get_context("fork").unwrap());
    /// ```
    pub fn get_context(&self, method: Option<&str>) -> Result<Context> {
        match method {
            Some(m) => get_context(m),
            None if self.method.is_some() => Ok(*self),
            None => Ok(Context::new(get_start_method())),
        }
    }

    /// Setting the method of a concrete context is an error, as in CPython.
    ///
    /// # Errors
    ///
    /// Always [`ErrorKind::Value`] on a context made by [`get_context`]; on the default
    /// context, as [`set_start_method`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = mp::get_context("spawn").unwrap();
    /// assert!(ctx.set_start_method("fork", true).is_err());
    /// ```
    pub fn set_start_method(&self, method: &str, force: bool) -> Result<()> {
        if self.method.is_some() {
            return Err(Error::value("cannot set start method of concrete context"));
        }
        set_start_method(method, force)
    }

    /// A new [`Process`](crate::Process) started with this context's method.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let ctx = mp::get_context("fork")?;
    /// let p = ctx.process(|| {}, ());
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn process<F, A>(&self, target: F, args: A) -> crate::Process
    where
        F: crate::process::Target<A>,
        A: Serialize + Send + 'static,
        F::Output: crate::process::ProcessOutput,
    {
        crate::Process::builder(target, args).context(*self).build()
    }

    /// A [`Pipe`](crate::Pipe) (contexts share one implementation).
    ///
    /// # Errors
    ///
    /// As [`crate::Pipe`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = mp::get_context("spawn").unwrap().pipe(true).unwrap();
    /// # drop((a, b));
    /// ```
    pub fn pipe(&self, duplex: bool) -> Result<(crate::Connection, crate::Connection)> {
        crate::connection::pipe(duplex)
    }
}

/// Sets the default start method: Python's `set_start_method(method, force)`.
///
/// # Errors
///
/// [`ErrorKind::Runtime`] if it was already set and `force` is false; [`ErrorKind::Value`]
/// for an unknown name.
///
/// # Examples
///
/// ```
/// mp::set_start_method("spawn", true).unwrap();
/// assert!(mp::set_start_method("fork", false).is_err());
/// assert_eq!(mp::get_start_method(), mp::StartMethod::Spawn);
/// ```
pub fn set_start_method(method: &str, force: bool) -> Result<()> {
    let m: StartMethod = method.parse()?;
    let mut chosen = CHOSEN.lock();
    if chosen.is_some() && !force {
        return Err(Error::new(
            ErrorKind::Runtime,
            "context has already been set",
        ));
    }
    *chosen = Some(m);
    Ok(())
}

/// Takes the parent's choice of default start method in a spawn or forkserver child
/// (CPython's `prepare` calls `set_start_method(data['start_method'], force=True)`).
pub(crate) fn inherit_start_method(method: Option<StartMethod>) {
    if method.is_some() {
        *CHOSEN.lock() = method;
    }
}

/// The default start method, fixing it to the platform default if unset: Python's
/// `get_start_method()`.
///
/// # Examples
///
/// ```
/// let m = mp::get_start_method();
/// assert!(mp::get_all_start_methods().contains(&m));
/// ```
pub fn get_start_method() -> StartMethod {
    let mut chosen = CHOSEN.lock();
    *chosen.get_or_insert(DEFAULT_METHOD)
}

/// The default start method, or `None` if unset and `allow_none`: Python's
/// `get_start_method(allow_none=True)`.
///
/// # Examples
///
/// ```
/// let _ = mp::get_start_method_allow_none();
/// ```
pub fn get_start_method_allow_none() -> Option<StartMethod> {
    *CHOSEN.lock()
}

/// Every start method of the platform, the default first: Python's `get_all_start_methods()`.
///
/// # Examples
///
/// ```
/// assert_eq!(mp::get_all_start_methods()[0], mp::StartMethod::Forkserver);
/// ```
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![
        StartMethod::Forkserver,
        StartMethod::Spawn,
        StartMethod::Fork,
    ]
}

/// Sets the binary that spawn and forkserver children run: Python's `set_executable`.
/// It must be a build of the same program (same registered tasks); a child from another
/// build fails at start with a clear error.
///
/// # Examples
///
/// ```
/// mp::set_executable(std::env::current_exe().unwrap());
/// ```
pub fn set_executable(path: impl Into<PathBuf>) {
    crate::exec::set_executable(path.into());
}

/// The number of CPUs: Python's `cpu_count()`. Always at least 1.
///
/// # Examples
///
/// ```
/// assert!(mp::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Python's `freeze_support()`: a no-op in mp (a Rust binary needs no freezing support; the
/// `#[mp::main]` guard does the dispatching).
///
/// # Examples
///
/// ```
/// mp::freeze_support();
/// ```
pub fn freeze_support() {}
