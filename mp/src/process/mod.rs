//! Process objects: Python's `multiprocessing.process`.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::context::{Context, StartMethod};
use crate::error::{Error, Result};
use crate::registry::{self, TaskEntry};
pub use crate::task::Run;

pub(crate) mod thread;
use crate::{popen, reduction, sys};
pub use thread::ThreadProcess;

// ---------------------------------------------------------------------------------------------
// The current process
// ---------------------------------------------------------------------------------------------

/// What a process knows about itself. One is leaked per process; a fork child gets a fresh one
/// prepared by its parent before `fork()` so that the child does no allocation to set it.
#[derive(Debug)]
pub(crate) struct ProcessInfo {
    pub(crate) name: Mutex<String>,
    pub(crate) identity: Vec<u32>,
    pub(crate) authkey: Mutex<Vec<u8>>,
    pub(crate) daemon: bool,
    pub(crate) parent: Option<(i32, String)>,
    pub(crate) start_method: Option<StartMethod>,
    pub(crate) counter: AtomicU32,
}

impl ProcessInfo {
    fn main() -> ProcessInfo {
        ProcessInfo {
            name: Mutex::new("MainProcess".into()),
            identity: Vec::new(),
            // The key `connection` uses if it is asked for before this exists.
            authkey: Mutex::new(crate::connection::initial_process_authkey()),
            daemon: false,
            parent: None,
            start_method: None,
            counter: AtomicU32::new(1),
        }
    }

    pub(crate) fn child(
        name: String,
        identity: Vec<u32>,
        authkey: Vec<u8>,
        daemon: bool,
        parent: (i32, String),
        method: StartMethod,
    ) -> ProcessInfo {
        ProcessInfo {
            name: Mutex::new(name),
            identity,
            authkey: Mutex::new(authkey),
            daemon,
            parent: Some(parent),
            start_method: Some(method),
            counter: AtomicU32::new(1),
        }
    }

    pub(crate) fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn authkey(&self) -> Vec<u8> {
        self.authkey
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

static CURRENT: AtomicPtr<ProcessInfo> = AtomicPtr::new(std::ptr::null_mut());

/// This process's info.
/// Tells the modules below this one where to read what only this one knows: the name in log
/// lines, the key of `authenticate(true)`.
fn register_sources() {
    crate::logging::set_process_name_source(|| info().name());
    crate::connection::set_process_authkey_source(|| info().authkey());
}

pub(crate) fn info() -> &'static ProcessInfo {
    let p = CURRENT.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: pointers stored in CURRENT come from `Box::into_raw` and are never freed.
        return unsafe { &*p };
    }
    static MAIN: OnceLock<ProcessInfo> = OnceLock::new();
    let main = MAIN.get_or_init(|| {
        register_sources();
        ProcessInfo::main()
    });
    let _ = CURRENT.compare_exchange(
        std::ptr::null_mut(),
        main as *const ProcessInfo as *mut ProcessInfo,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    // SAFETY: as above; either our pointer or one installed concurrently, both 'static.
    unsafe { &*CURRENT.load(Ordering::Acquire) }
}

/// Installs the info of a freshly started child. Async-signal-safe (one atomic store).
pub(crate) fn set_info(p: *mut ProcessInfo) {
    register_sources();
    CURRENT.store(p, Ordering::Release);
}

/// Clears this process's daemon flag so that it may start children of its own: what a
/// manager's server does (CPython's manager processes are not daemonic, so a manager can run
/// a `Pool`). How the process was started does not change: it still dies with its parent.
pub(crate) fn clear_daemon_flag() {
    let me = info();
    if !me.daemon {
        return;
    }
    let copy = ProcessInfo {
        name: Mutex::new(me.name()),
        identity: me.identity.clone(),
        authkey: Mutex::new(me.authkey()),
        daemon: false,
        parent: me.parent.clone(),
        start_method: me.start_method,
        counter: AtomicU32::new(me.counter.load(Ordering::Relaxed)),
    };
    // The old info stays allocated (infos are never freed): threads holding it are fine.
    set_info(Box::into_raw(Box::new(copy)));
}

/// The process running this code: Python's `current_process()`.
///
/// # Examples
///
/// ```
/// let me = mp::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id() as i32);
/// assert!(me.is_alive() && !me.daemon() && me.exitcode().is_none());
/// assert_eq!(me.authkey().len(), 32);
/// ```
pub fn current_process() -> CurrentProcess {
    CurrentProcess { info: info() }
}

/// The running process as seen from inside: what [`current_process`] returns.
#[derive(Clone, Copy)]
pub struct CurrentProcess {
    info: &'static ProcessInfo,
}

impl CurrentProcess {
    /// The process name (`MainProcess`, `Process-1`, `Process-1:2`, `SpawnPoolWorker-3`...).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::current_process().name(), "MainProcess");
    /// ```
    pub fn name(&self) -> String {
        self.info.name()
    }

    /// Renames this process (Python's `current_process().name = ...`).
    ///
    /// # Examples
    ///
    /// ```
    /// mp::current_process().set_name("Main");
    /// assert_eq!(mp::current_process().name(), "Main");
    /// # mp::current_process().set_name("MainProcess");
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        *self.info.name.lock().unwrap_or_else(|e| e.into_inner()) = name.into();
    }

    /// The process id (`ident` in Python).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::current_process().pid(), std::process::id() as i32);
    /// ```
    pub fn pid(&self) -> i32 {
        sys::getpid()
    }

    /// Same as [`pid`](CurrentProcess::pid).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::current_process().ident(), mp::current_process().pid());
    /// ```
    pub fn ident(&self) -> i32 {
        self.pid()
    }

    /// Whether this process is daemonic.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::current_process().daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.info.daemon
    }

    /// The authentication key: 32 random bytes in the main process, inherited by children.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::current_process().authkey().len(), 32);
    /// ```
    pub fn authkey(&self) -> Vec<u8> {
        self.info.authkey()
    }

    /// Replaces the authentication key.
    ///
    /// # Examples
    ///
    /// ```
    /// let old = mp::current_process().authkey();
    /// mp::current_process().set_authkey(b"abc".to_vec());
    /// assert_eq!(mp::current_process().authkey(), b"abc");
    /// # mp::current_process().set_authkey(old);
    /// ```
    pub fn set_authkey(&self, key: Vec<u8>) {
        *self.info.authkey.lock().unwrap_or_else(|e| e.into_inner()) = key;
    }

    /// Always true: the process asking is running.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::current_process().is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        true
    }

    /// Always `None`: the process asking has not exited.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::current_process().exitcode(), None);
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        None
    }

    /// The start method this process was started with (`None` in the main process).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::current_process().start_method(), None);
    /// ```
    pub fn start_method(&self) -> Option<StartMethod> {
        self.info.start_method
    }
}

impl fmt::Debug for CurrentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<_MainProcess name='{}' pid={}>",
            self.name(),
            self.pid()
        )
    }
}

/// The parent of the current process, seen from a child: what [`parent_process`] returns.
#[derive(Debug)]
pub struct ParentProcess {
    pid: i32,
    name: String,
    pidfd: Option<OwnedFd>,
}

/// The parent process, or `None` in the main process: Python's `parent_process()`.
///
/// # Examples
///
/// ```
/// assert!(mp::parent_process().is_none());
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    let (pid, name) = info().parent.clone()?;
    let pidfd = sys::pidfd_open(pid).ok();
    Some(ParentProcess { pid, name, pidfd })
}

impl ParentProcess {
    /// The parent's pid.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::parent_process().map(|p| p.pid()).is_none());
    /// ```
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The parent's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::parent_process().map(|p| p.name().to_string()).is_none());
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the parent is still running.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::parent_process().map(|p| p.is_alive()).is_none());
    /// ```
    pub fn is_alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !sys::poll_readable(fd.as_raw_fd(), Some(Duration::ZERO)).unwrap_or(true),
            None => false,
        }
    }

    /// Waits up to `timeout` for the parent to exit; returns whether it did.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::parent_process().is_none());
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        match &self.pidfd {
            Some(fd) => sys::poll_readable(fd.as_raw_fd(), Some(timeout)).unwrap_or(true),
            None => true,
        }
    }

    /// A descriptor that becomes readable when the parent exits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::parent_process().and_then(|p| p.sentinel()).is_none());
    /// ```
    pub fn sentinel(&self) -> Option<RawFd> {
        self.pidfd.as_ref().map(|f| f.as_raw_fd())
    }
}

// ---------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------

/// A callable that can be a process target with an argument tuple `Args`.
///
/// Implemented for every `FnOnce(A, B, ...) -> R + Send + 'static` up to 12 arguments: the
/// tuple given to [`Process::new`] must match the fn's parameters at compile time. Under the
/// spawn and forkserver start methods the target must be a `#[mp::task]` fn.
pub trait Target<Args>: Send + 'static {
    /// What the target returns.
    type Output;
    /// Calls the target.
    fn call(self, args: Args) -> Self::Output;
    /// The registry name of a `#[mp::task]` target; `None` for closures and plain fns.
    #[doc(hidden)]
    fn task_name(&self) -> Option<&'static str> {
        None
    }
}

macro_rules! impl_target {
    ($($a:ident)*) => {
        impl<Func, Ret, $($a,)*> Target<($($a,)*)> for Func
        where
            Func: FnOnce($($a),*) -> Ret + Send + 'static,
        {
            type Output = Ret;
            #[allow(non_snake_case)]
            fn call(self, args: ($($a,)*)) -> Ret {
                let ($($a,)*) = args;
                self($($a),*)
            }
        }
    };
}
impl_target!();
impl_target!(A1);
impl_target!(A1 A2);
impl_target!(A1 A2 A3);
impl_target!(A1 A2 A3 A4);
impl_target!(A1 A2 A3 A4 A5);
impl_target!(A1 A2 A3 A4 A5 A6);
impl_target!(A1 A2 A3 A4 A5 A6 A7);
impl_target!(A1 A2 A3 A4 A5 A6 A7 A8);
impl_target!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
impl_target!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
impl_target!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
impl_target!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

/// How a target's return value maps to the child's exit code: `()` and plain values give 0,
/// `Ok` gives 0, `Err(e)` prints `e` to the child's stderr and gives 1.
pub trait ProcessOutput {
    /// `Err(message)` makes the child exit with code 1 after printing the message.
    fn into_exit(self) -> std::result::Result<(), String>;
}

impl ProcessOutput for () {
    fn into_exit(self) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl<T, E: fmt::Display> ProcessOutput for std::result::Result<T, E> {
    fn into_exit(self) -> std::result::Result<(), String> {
        self.map(drop).map_err(|e| e.to_string())
    }
}

macro_rules! impl_output_ok {
    ($($t:ty)*) => ($(impl ProcessOutput for $t {
        fn into_exit(self) -> std::result::Result<(), String> { Ok(()) }
    })*)
}
impl_output_ok! { bool u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64 char String }

impl<T> ProcessOutput for Vec<T> {
    fn into_exit(self) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl<T> ProcessOutput for Option<T> {
    fn into_exit(self) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl crate::connection::Waitable for Process {
    fn readiness(&self) -> Result<crate::connection::Readiness> {
        self.sentinel().map(crate::connection::Readiness::Fd)
    }
}

/// What a `Process` holds until it starts: the target and its arguments, type-erased.
pub(crate) trait Erased: Send {
    fn entry(&self) -> Option<&'static TaskEntry>;
    fn target_name(&self) -> &'static str;
    fn encode_args(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)>;
    fn run(self: Box<Self>) -> std::result::Result<(), String>;
}

struct FnTarget<F, A> {
    f: F,
    args: A,
}

impl<F, A> Erased for FnTarget<F, A>
where
    F: Target<A>,
    F::Output: ProcessOutput,
    A: Serialize + Send + 'static,
{
    fn entry(&self) -> Option<&'static TaskEntry> {
        self.f.task_name().and_then(registry::lookup)
    }
    fn target_name(&self) -> &'static str {
        std::any::type_name::<F>()
    }
    fn encode_args(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        reduction::encode_for_child(&self.args)
    }
    fn run(self: Box<Self>) -> std::result::Result<(), String> {
        let this = *self;
        this.f.call(this.args).into_exit()
    }
}

struct RunTarget<T>(T);

impl<T: Run> Erased for RunTarget<T> {
    fn entry(&self) -> Option<&'static TaskEntry> {
        T::__MP_TASK_NAME.and_then(registry::lookup)
    }
    fn target_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn encode_args(&self) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        reduction::encode_for_child(&(&self.0,))
    }
    fn run(self: Box<Self>) -> std::result::Result<(), String> {
        self.0.run();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------------------------

/// A process object: Python's `multiprocessing.Process`.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task]
/// fn f(name: String) {
///     println!("hello {name}");
/// }
///
/// let p = mp::Process::new(f, ("bob".to_string(),));
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(()) }
/// ```
///
/// The same front runs its target in a thread with [`ThreadProcess`] as the backend
/// (`mp::dummy::Process`, Python's `DummyProcess`): one implementation of the API, two ways
/// to run; [`terminate`](Process::terminate), [`kill`](Process::kill),
/// [`interrupt`](Process::interrupt) and [`sentinel`](Process::sentinel) exist only for an OS
/// process.
pub struct ProcessIn<B: Backend = OsProcess> {
    name: Arc<Mutex<String>>,
    daemon: Mutex<bool>,
    spawn: B::Spawn,
    state: Mutex<State<B>>,
}

/// An OS process (the default backend of [`ProcessIn`]): Python's `multiprocessing.Process`.
pub type Process = ProcessIn<OsProcess>;

/// Builder for an OS [`Process`].
pub type ProcessBuilder = ProcessBuilderIn<OsProcess>;

enum State<B: Backend> {
    Initial(B::Body),
    Started(Arc<B::Child>),
    Closed,
}

mod sealed {
    use std::sync::Arc;
    use std::time::Duration;

    use std::sync::Mutex;

    use crate::context::StartMethod;
    use crate::error::{Error, Result};

    /// What an OS process's start needs besides its target.
    #[derive(Debug)]
    pub struct OsSpawn {
        pub(crate) identity: Vec<u32>,
        pub(crate) method: Option<StartMethod>,
    }

    /// An OS process's target, until the start.
    pub struct OsBody(pub(crate) Box<dyn super::Erased>);

    /// A started OS process.
    pub struct OsChild(pub(crate) Arc<crate::popen::Popen>);

    impl std::fmt::Debug for OsBody {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("OsBody")
                .field(&self.0.target_name())
                .finish()
        }
    }

    impl std::fmt::Debug for OsChild {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("OsChild").field(&self.0.pid).finish()
        }
    }

    /// A start's outcome: the child, or the error and the body if it was not consumed.
    pub(crate) type Started<B> =
        std::result::Result<Arc<<B as Backend>::Child>, (Error, Option<<B as Backend>::Body>)>;

    /// How a process object runs its target: the part that differs between an OS process
    /// and a thread (the front, [`ProcessIn`], is written once).
    pub trait Backend: Sized + Send + Sync + 'static {
        /// The target and its arguments until the start.
        type Body: Send + 'static;
        /// What runs after the start.
        type Child: Send + Sync + 'static;
        /// What the start needs besides the target.
        type Spawn: Send + Sync + 'static;
        /// The name in the object's `Debug` form.
        const KIND: &'static str;
        /// `close()` of a running object.
        const CLOSE_RUNNING: &'static str;
        fn body_name(body: &Self::Body) -> &'static str;
        /// The default name and daemon flag, and what the start will need.
        fn prepare(
            name: Option<String>,
            daemon: Option<bool>,
            method: Option<StartMethod>,
        ) -> (String, bool, Self::Spawn);
        /// Checks made before the state is (who may start, whether a child is allowed).
        fn may_start(spawn: &Self::Spawn) -> Result<()>;
        /// Starts; on failure, gives the body back if it was not consumed.
        fn start(
            name: &Arc<Mutex<String>>,
            daemon: bool,
            spawn: &Self::Spawn,
            body: Self::Body,
        ) -> Started<Self>;
        /// Waits for the end (`None`: for ever); errors for a wait that cannot be.
        fn wait(c: &Self::Child, timeout: Option<Duration>) -> Result<()>;
        /// The exit code, once ended.
        fn poll(c: &Self::Child) -> Option<i32>;
        /// Forgets an ended child (reaps what is left of it).
        fn done(c: &Arc<Self::Child>);
        fn pid(c: &Self::Child) -> i32;
        fn ident(c: &Self::Child) -> Option<i32>;
        /// `stopped[..]` of an exit code.
        fn stopped(code: i32) -> String {
            format!("stopped[{code}]")
        }
    }
}

/// Where a process object runs its target: [`OsProcess`] (`mp::Process`) or [`ThreadProcess`]
/// (`mp::dummy::Process`). Sealed: the two are mp's.
///
/// # Examples
///
/// ```
/// fn named<B: mp::process::Backend>(p: &mp::process::ProcessIn<B>) -> String {
///     p.name()
/// }
/// let p = mp::dummy::Process::builder(|| {}, ()).name("worker").build();
/// assert_eq!(named(&p), "worker");
/// ```
pub trait Backend: sealed::Backend {}

impl Backend for OsProcess {}
impl Backend for ThreadProcess {}

/// Builder for a [`Process`]: Python's keyword arguments `name=` and `daemon=`, plus the
/// start method.
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// #[mp::task] fn noop() {}
/// let p = mp::Process::builder(noop, ()).name("worker").daemon(true).start()?;
/// assert_eq!(p.name(), "worker");
/// assert!(p.daemon());
/// p.join()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct ProcessBuilderIn<B: Backend = OsProcess> {
    body: B::Body,
    name: Option<String>,
    daemon: Option<bool>,
    method: Option<StartMethod>,
}

impl<B: Backend> fmt::Debug for ProcessBuilderIn<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessBuilder")
            .field("target", &B::body_name(&self.body))
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("method", &self.method)
            .finish()
    }
}

impl<B: Backend> ProcessBuilderIn<B> {
    fn with_body(body: B::Body) -> Self {
        ProcessBuilderIn {
            body,
            name: None,
            daemon: None,
            method: None,
        }
    }

    /// Sets the name (default `Process-N`).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::builder(|| {}, ()).name("w").build();
    /// assert_eq!(p.name(), "w");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the daemon flag (default: the creating process's flag).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::builder(|| {}, ()).daemon(true).build();
    /// assert!(p.daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// Starts the process with this context's method.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::builder(|| {}, ()).context(mp::get_context("fork").unwrap()).build();
    /// # drop(p);
    /// ```
    pub fn context(mut self, ctx: Context) -> Self {
        self.method = Some(ctx.get_start_method());
        self
    }

    /// Starts the process with `method`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::builder(|| {}, ()).start_method(mp::StartMethod::Fork).build();
    /// # drop(p);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Builds the (not yet started) process.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::builder(|| {}, ()).build();
    /// assert!(!p.is_alive());
    /// ```
    pub fn build(self) -> ProcessIn<B> {
        let (name, daemon, spawn) = B::prepare(self.name, self.daemon, self.method);
        ProcessIn {
            name: Arc::new(Mutex::new(name)),
            daemon: Mutex::new(daemon),
            spawn,
            state: Mutex::new(State::Initial(self.body)),
        }
    }

    /// Builds and starts the process.
    ///
    /// # Errors
    ///
    /// As [`Process::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task] fn noop() {}
    /// let p = mp::Process::builder(noop, ()).start()?;
    /// p.join()?;
    /// # Ok(()) }
    /// ```
    pub fn start(self) -> Result<ProcessIn<B>> {
        let p = self.build();
        p.start()?;
        Ok(p)
    }
}

impl Process {
    /// A process that will run `target(args...)`. The argument tuple is checked against the
    /// target's parameters at compile time.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let p = mp::Process::new(add, (1, 2));
    /// p.start()?;
    /// p.join()?;
    /// # Ok(()) }
    /// ```
    pub fn new<F, A>(target: F, args: A) -> Process
    where
        F: Target<A>,
        F::Output: ProcessOutput,
        A: Serialize + Send + 'static,
    {
        Process::builder(target, args).build()
    }

    /// A builder for `name`, `daemon` and the start method.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::builder(|x: u8| { let _ = x; }, (1u8,)).name("one").build();
    /// assert_eq!(p.name(), "one");
    /// ```
    pub fn builder<F, A>(target: F, args: A) -> ProcessBuilder
    where
        F: Target<A>,
        F::Output: ProcessOutput,
        A: Serialize + Send + 'static,
    {
        ProcessBuilderIn::with_body(sealed::OsBody(Box::new(FnTarget { f: target, args })))
    }

    /// A process whose body is `obj.run()`: Python's "subclass `Process`" pattern.
    ///
    /// # Examples
    ///
    /// See [`Run`].
    pub fn from_run<T: Run>(obj: T) -> Process {
        Process::builder_from_run(obj).build()
    }

    /// A builder for a [`Run`] object.
    ///
    /// # Examples
    ///
    /// See [`Run`].
    pub fn builder_from_run<T: Run>(obj: T) -> ProcessBuilder {
        ProcessBuilderIn::with_body(sealed::OsBody(Box::new(RunTarget(obj))))
    }

    fn signal(&self, sig: i32) -> Result<()> {
        match self.child()? {
            Some(p) => p.0.send_signal(sig),
            None => Err(Error::assertion("can only signal a started process")),
        }
    }

    /// Sends SIGTERM: Python's `terminate()`. The exit code becomes `-15`. Ignored if the
    /// child has already exited.
    ///
    /// # Errors
    ///
    /// Before `start` or after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let p = mp::Process::builder(|| std::thread::sleep(std::time::Duration::from_secs(10)), ())
    ///     .start_method(mp::StartMethod::Fork).start()?;
    /// p.terminate()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(-15));
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Sends SIGKILL: Python's `kill()`. The exit code becomes `-9`.
    ///
    /// # Errors
    ///
    /// Before `start` or after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let p = mp::Process::builder(|| std::thread::sleep(std::time::Duration::from_secs(10)), ())
    ///     .start_method(mp::StartMethod::Fork).start()?;
    /// p.kill()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(-9));
    /// # Ok(()) }
    /// ```
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends SIGINT: Python's `interrupt()` (3.14). A Rust child with the default SIGINT
    /// disposition exits with `-2`.
    ///
    /// # Errors
    ///
    /// Before `start` or after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// # // A program started in the background by a non-interactive shell ignores SIGINT, and
    /// # // so would its fork child.
    /// # unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    /// let p = mp::Process::builder(|| std::thread::sleep(std::time::Duration::from_secs(10)), ())
    ///     .start_method(mp::StartMethod::Fork).start()?;
    /// p.interrupt()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(-2));
    /// # Ok(()) }
    /// ```
    pub fn interrupt(&self) -> Result<()> {
        self.signal(libc::SIGINT)
    }

    /// A descriptor that becomes readable when the child exits (for `mp::connection::wait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`](crate::ErrorKind::Value) before `start` or after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::Process::new(|| {}, ()).sentinel().is_err());
    /// ```
    pub fn sentinel(&self) -> Result<RawFd> {
        match self.child()? {
            Some(p) => Ok(p.0.sentinel()),
            None => Err(Error::value("process not started")),
        }
    }
}

impl<B: Backend> ProcessIn<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<B>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn child(&self) -> Result<Option<Arc<B::Child>>> {
        match &*self.lock() {
            State::Initial(_) => Ok(None),
            State::Started(c) => Ok(Some(c.clone())),
            State::Closed => Err(closed_err()),
        }
    }

    /// Starts the child: Python's `start()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Assertion`](crate::ErrorKind::Assertion) when started twice or from a daemonic process;
    /// [`ErrorKind::ProcessStart`](crate::ErrorKind::ProcessStart) when the target is not registered under spawn/forkserver,
    /// or the child dies during its bootstrap; [`ErrorKind::Value`](crate::ErrorKind::Value) after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// let p = mp::Process::builder(|| {}, ()).start_method(mp::StartMethod::Fork).build();
    /// p.start()?;
    /// assert!(p.start().is_err());
    /// p.join()?;
    /// # Ok(()) }
    /// ```
    pub fn start(&self) -> Result<()> {
        let mut st = self.lock();
        match &*st {
            State::Initial(_) => {}
            State::Started(_) => return Err(Error::assertion("cannot start a process twice")),
            State::Closed => return Err(closed_err()),
        }
        // After the state, as CPython's `start` asserts: closed, twice, then the backend's.
        B::may_start(&self.spawn)?;
        let State::Initial(body) = std::mem::replace(&mut *st, State::Closed) else {
            unreachable!("checked above")
        };
        match B::start(&self.name, self.daemon(), &self.spawn, body) {
            Ok(c) => {
                *st = State::Started(c);
                Ok(())
            }
            Err((e, body)) => {
                // Put the target back so that the object stays in its initial state.
                *st = match body {
                    Some(b) => State::Initial(b),
                    None => State::Closed,
                };
                Err(e)
            }
        }
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let c = self
            .child()?
            .ok_or_else(|| Error::assertion("can only join a started process"))?;
        B::wait(&c, timeout)?;
        if B::poll(&c).is_some() {
            B::done(&c);
        }
        Ok(())
    }

    /// Waits for the child to exit: Python's `join()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Assertion`](crate::ErrorKind::Assertion) before `start`; [`ErrorKind::Value`](crate::ErrorKind::Value) after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task] fn noop() {}
    /// let p = mp::Process::builder(noop, ()).start()?;
    /// p.join()?;
    /// p.join()?; // a second join is harmless
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        self.wait(None)
    }

    /// Waits at most `timeout` for the child to exit: Python's `join(timeout)`. Check
    /// [`exitcode`](Process::exitcode) or [`is_alive`](Process::is_alive) afterwards.
    ///
    /// # Errors
    ///
    /// As [`join`](Process::join).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use std::time::Duration;
    /// let p = mp::Process::builder(|| std::thread::sleep(Duration::from_secs(5)), ())
    ///     .start_method(mp::StartMethod::Fork).start()?;
    /// p.join_timeout(Duration::ZERO)?;
    /// assert!(p.is_alive());
    /// p.kill()?;
    /// p.join()?;
    /// # Ok(()) }
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait(Some(timeout))
    }

    /// Waits for the child to exit without blocking the executor: `join` for async code
    /// (feature `async`; an OS process needs `tokio` or `async-io`, whose reactor watches
    /// its sentinel). Cancel-safe: a dropped future leaves the process as it was.
    ///
    /// # Errors
    ///
    /// As [`join`](ProcessIn::join).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task] fn noop() {}
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// rt.block_on(async {
    ///     let p = mp::Process::builder(noop, ()).start()?;
    ///     p.join_async().await?;
    ///     assert_eq!(p.exitcode(), Some(0));
    ///     Ok(())
    /// })
    /// # }
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// ```
    #[cfg(feature = "async")]
    pub async fn join_async(&self) -> Result<()>
    where
        Self: crate::connection::Waitable,
    {
        loop {
            if self.child()?.is_none() {
                // Not started: `join`'s error.
                return self.join_timeout(Duration::ZERO);
            }
            crate::connection::wait::readable(self).await?;
            self.join_timeout(Duration::ZERO)?;
            if !self.is_alive() {
                return Ok(());
            }
        }
    }

    /// Whether the child is running: Python's `is_alive()`. False before `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::new(|| {}, ());
    /// assert!(!p.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        matches!(self.child(), Ok(Some(c)) if B::poll(&c).is_none())
    }

    /// Checked form of [`is_alive`](Process::is_alive): an error after `close`, as in Python.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`](crate::ErrorKind::Value) after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::new(|| {}, ());
    /// assert!(!p.try_is_alive().unwrap());
    /// ```
    pub fn try_is_alive(&self) -> Result<bool> {
        Ok(match self.child()? {
            Some(c) => B::poll(&c).is_none(),
            None => false,
        })
    }

    /// Releases the process's resources: Python's `close()`. Afterwards every method but
    /// `close` and the name accessors is an error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`](crate::ErrorKind::Value) if the child is still running.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// #[mp::task] fn noop() {}
    /// let p = mp::Process::builder(noop, ()).start()?;
    /// p.join()?;
    /// p.close()?;
    /// assert!(p.join().is_err());
    /// p.close()?; // a second close is a no-op
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> Result<()> {
        let mut st = self.lock();
        if let State::Started(c) = &*st {
            if B::poll(c).is_none() {
                return Err(Error::value(B::CLOSE_RUNNING));
            }
            B::done(c);
        }
        *st = State::Closed;
        Ok(())
    }

    /// The name.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::new(|| {}, ());
    /// assert!(p.name().starts_with("Process-"));
    /// ```
    pub fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Renames the process object.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::new(|| {}, ());
    /// p.set_name("x");
    /// assert_eq!(p.name(), "x");
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name.into();
    }

    /// The daemon flag.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!mp::Process::new(|| {}, ()).daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        *self.daemon.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the daemon flag; only before `start`. A daemonic child is terminated when its
    /// parent exits, and in mp also when the parent is killed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Assertion`](crate::ErrorKind::Assertion) after `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::new(|| {}, ());
    /// p.set_daemon(true).unwrap();
    /// assert!(p.daemon());
    /// ```
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        match &*self.lock() {
            State::Initial(_) => {
                *self.daemon.lock().unwrap_or_else(|e| e.into_inner()) = daemon;
                Ok(())
            }
            State::Started(_) => Err(Error::assertion("process has already started")),
            State::Closed => Err(closed_err()),
        }
    }

    /// The child's pid, `None` before `start` (Python's `pid`/`ident`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Process::new(|| {}, ()).pid(), None);
    /// ```
    pub fn pid(&self) -> Option<i32> {
        self.child().ok().flatten().map(|c| B::pid(&c))
    }

    /// Same as [`pid`](Process::pid).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Process::new(|| {}, ()).ident(), None);
    /// ```
    pub fn ident(&self) -> Option<i32> {
        self.child().ok().flatten().and_then(|c| B::ident(&c))
    }

    /// The exit code: `None` while running (or before start), the code after a normal exit,
    /// `-signum` after a signal, 1 after a panic or an `Err` return.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::Process::new(|| {}, ()).exitcode(), None);
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        self.child().ok().flatten().and_then(|c| B::poll(&c))
    }

    /// The authentication key the child gets (the creator's key).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::Process::new(|| {}, ());
    /// assert_eq!(p.authkey(), mp::current_process().authkey());
    /// ```
    pub fn authkey(&self) -> Vec<u8> {
        info().authkey()
    }
}

fn closed_err() -> Error {
    Error::value("process object is closed")
}

impl<B: Backend> fmt::Debug for ProcessIn<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match &*self.lock() {
            State::Initial(_) => "initial".to_string(),
            State::Closed => "closed".to_string(),
            State::Started(c) => match B::poll(c) {
                None => "started".to_string(),
                Some(0) => "stopped".to_string(),
                Some(code) => B::stopped(code),
            },
        };
        write!(
            f,
            "<{}({}, {}{})>",
            B::KIND,
            self.name(),
            status,
            if self.daemon() { " daemon" } else { "" }
        )
    }
}

/// An OS process started with a start method (fork, spawn, forkserver): the backend of
/// [`Process`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// let p: mp::process::ProcessIn<mp::process::OsProcess> = mp::Process::new(|| {}, ());
/// assert_eq!(p.pid(), None); // not started
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct OsProcess {
    _private: (),
}

impl sealed::Backend for OsProcess {
    type Body = sealed::OsBody;
    type Child = sealed::OsChild;
    type Spawn = sealed::OsSpawn;
    const KIND: &'static str = "Process";
    const CLOSE_RUNNING: &'static str = "Cannot close a process while it is still running. You \
                                          should first call join() or terminate().";

    fn body_name(body: &Self::Body) -> &'static str {
        body.0.target_name()
    }

    fn prepare(
        name: Option<String>,
        daemon: Option<bool>,
        method: Option<StartMethod>,
    ) -> (String, bool, sealed::OsSpawn) {
        let me = info();
        let n = me.counter.fetch_add(1, Ordering::Relaxed);
        let mut identity = me.identity.clone();
        identity.push(n);
        let name = name.unwrap_or_else(|| {
            let ids: Vec<String> = identity.iter().map(|i| i.to_string()).collect();
            format!("Process-{}", ids.join(":"))
        });
        (
            name,
            daemon.unwrap_or(me.daemon),
            sealed::OsSpawn { identity, method },
        )
    }

    fn may_start(_spawn: &sealed::OsSpawn) -> Result<()> {
        crate::bootstrap::ensure_linked();
        if info().daemon {
            return Err(Error::assertion(
                "daemonic processes are not allowed to have children",
            ));
        }
        Ok(())
    }

    fn start(
        name: &Arc<Mutex<String>>,
        daemon: bool,
        spawn: &sealed::OsSpawn,
        body: sealed::OsBody,
    ) -> std::result::Result<Arc<sealed::OsChild>, (Error, Option<sealed::OsBody>)> {
        popen::reap_finished();
        let spec = popen::StartSpec {
            name: name.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            identity: spawn.identity.clone(),
            daemon,
            method: spawn.method.unwrap_or_else(crate::get_start_method),
        };
        let child = popen::start(spec, body.0).map_err(|(e, b)| (e, b.map(sealed::OsBody)))?;
        popen::register_child(child.clone());
        Ok(Arc::new(sealed::OsChild(child)))
    }

    fn wait(c: &sealed::OsChild, timeout: Option<Duration>) -> Result<()> {
        c.0.wait(timeout).map(drop)
    }

    fn poll(c: &sealed::OsChild) -> Option<i32> {
        c.0.poll()
    }

    fn done(c: &Arc<sealed::OsChild>) {
        popen::unregister_if_done(&c.0);
    }

    fn pid(c: &sealed::OsChild) -> i32 {
        c.0.pid
    }

    fn ident(c: &sealed::OsChild) -> Option<i32> {
        Some(c.0.pid)
    }

    fn stopped(code: i32) -> String {
        match signal_name(-code) {
            Some(sig) if code < 0 => format!("stopped[{sig}]"),
            _ => format!("stopped[{code}]"),
        }
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// The started children that are still running: Python's `active_children()`. Finished
/// children are reaped as a side effect.
///
/// # Examples
///
/// ```
/// assert!(mp::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<ChildInfo> {
    popen::reap_finished();
    popen::live_children()
        .into_iter()
        .map(|p| ChildInfo {
            pid: p.pid,
            name: p.name.clone(),
            daemon: p.daemon,
        })
        .collect()
}

/// A running child, as listed by [`active_children`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildInfo {
    /// The child's pid.
    pub pid: i32,
    /// The child's name.
    pub name: String,
    /// Whether it is daemonic.
    pub daemon: bool,
}
