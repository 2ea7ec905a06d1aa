//! The thread backend of [`ProcessIn`](super::ProcessIn): a thread with the API of
//! [`mp::Process`](crate::Process), Python's `multiprocessing.dummy.DummyProcess`, and the
//! thread's view of itself (`mp::dummy::current_process`).

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::{ChildInfo, ProcessBuilderIn, ProcessIn, ProcessOutput, Run, Target};
use crate::context::StartMethod;
use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use crate::thread::JoinHandle;

// Names the docs link to.
#[cfg(doc)]
use super::Process;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The current thread
// ---------------------------------------------------------------------------------------------

/// What a thread knows about itself.
struct ThreadInfo {
    name: Arc<Mutex<String>>,
    daemon: bool,
    /// The kernel thread id.
    ident: i32,
    /// The threads this thread started (Python's `_children`).
    children: Mutex<Vec<Arc<Rec>>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<ThreadInfo>>> = const { RefCell::new(None) };
}

/// Numbers `Thread-N` names (one counter per process, as `threading`'s).
static THREAD_COUNTER: AtomicU32 = AtomicU32::new(1);
/// Numbers `Dummy-N` names of threads not started by `mp::dummy`.
static FOREIGN_COUNTER: AtomicU32 = AtomicU32::new(1);

fn current_info() -> Arc<ThreadInfo> {
    let make = || {
        let name = if sys::is_main_thread() {
            "MainThread".to_string()
        } else {
            match crate::thread::current_name() {
                Some(n) => n,
                None => format!("Dummy-{}", FOREIGN_COUNTER.fetch_add(1, Ordering::Relaxed)),
            }
        };
        Arc::new(ThreadInfo {
            name: Arc::new(Mutex::new(name)),
            daemon: !sys::is_main_thread(),
            ident: sys::gettid() as i32,
            children: Mutex::new(Vec::new()),
        })
    };
    match CURRENT.try_with(|c| c.borrow_mut().get_or_insert_with(make).clone()) {
        Ok(info) => info,
        // The thread's locals are being torn down: describe it without caching.
        Err(_) => make(),
    }
}

/// Names the owner in thread primitives' reprs (see [`crate::space`]).
#[linkme::distributed_slice(crate::space::THREAD_NAMES)]
static THREAD_NAME: fn() -> String = || current_process().name();

/// The thread running this code: Python's `multiprocessing.dummy.current_process()`
/// (`threading.current_thread()`).
///
/// # Examples
///
/// ```
/// let me = mp::dummy::current_process();
/// assert!(me.is_alive() && me.exitcode().is_none());
/// assert_eq!(me.pid(), std::process::id() as i32);
/// ```
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        info: current_info(),
    }
}

/// The running thread as seen from inside: what [`current_process`] returns. The
/// counterpart of [`mp::CurrentProcess`](crate::CurrentProcess).
#[derive(Clone)]
pub struct CurrentProcess {
    info: Arc<ThreadInfo>,
}

impl CurrentProcess {
    /// The thread's name: `MainThread`, `Thread-N` for a [`Process`] (or the name it was
    /// given), the std name of a thread started otherwise (`Dummy-N` if it has none).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = std::thread::Builder::new().name("worker".into())
    ///     .spawn(|| mp::dummy::current_process().name()).unwrap();
    /// assert_eq!(t.join().unwrap(), "worker");
    /// ```
    pub fn name(&self) -> String {
        lock(&self.info.name).clone()
    }

    /// Renames the thread (Python's `current_process().name = ...`).
    ///
    /// # Examples
    ///
    /// ```
    /// std::thread::spawn(|| {
    ///     mp::dummy::current_process().set_name("renamed");
    ///     assert_eq!(mp::dummy::current_process().name(), "renamed");
    /// }).join().unwrap();
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        *lock(&self.info.name) = name.into();
    }

    /// The process id (every thread of a process shares it).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::current_process().pid(), std::process::id() as i32);
    /// ```
    pub fn pid(&self) -> i32 {
        sys::getpid()
    }

    /// The thread's kernel id (Python's `native_id`): what tells threads apart, where mp's
    /// [`ident`](crate::CurrentProcess::ident) is the process id.
    ///
    /// # Examples
    ///
    /// ```
    /// let main = mp::dummy::current_process().ident();
    /// let other = std::thread::spawn(|| mp::dummy::current_process().ident()).join().unwrap();
    /// assert_ne!(main, other);
    /// ```
    pub fn ident(&self) -> i32 {
        self.info.ident
    }

    /// Whether the thread is daemonic (the main thread is not; a thread not started by
    /// `mp::dummy` counts as daemonic: nothing waits for it at exit).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() {
    /// let t = std::thread::spawn(|| mp::dummy::current_process().daemon());
    /// assert!(t.join().unwrap());
    /// # }
    /// ```
    pub fn daemon(&self) -> bool {
        self.info.daemon
    }

    /// The process's authentication key ([`mp::current_process().authkey()`](crate::CurrentProcess::authkey)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::current_process().authkey(), mp::current_process().authkey());
    /// ```
    pub fn authkey(&self) -> Vec<u8> {
        crate::process::current_process().authkey()
    }

    /// Replaces the process's authentication key.
    ///
    /// # Examples
    ///
    /// ```
    /// let key = mp::dummy::current_process().authkey();
    /// mp::dummy::current_process().set_authkey(key.clone());
    /// assert_eq!(mp::current_process().authkey(), key);
    /// ```
    pub fn set_authkey(&self, key: Vec<u8>) {
        crate::process::current_process().set_authkey(key)
    }

    /// Always true: the thread asking is running.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mp::dummy::current_process().is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        true
    }

    /// Always `None`: the thread asking has not finished.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::current_process().exitcode(), None);
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        None
    }

    /// Always `None`: a thread has no start method (mp's main process answers `None` too).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mp::dummy::current_process().start_method(), None);
    /// ```
    pub fn start_method(&self) -> Option<StartMethod> {
        None
    }
}

impl fmt::Debug for CurrentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<_DummyThread name='{}' ident={}>",
            self.name(),
            self.ident()
        )
    }
}

#[derive(Default)]
struct RecState {
    /// The thread's kernel id, once it runs.
    tid: Option<i32>,
    /// The exit code, once the target returned.
    exit: Option<i32>,
}

/// A started thread.
struct Rec {
    info: Arc<ThreadInfo>,
    state: Mutex<RecState>,
    cv: Condvar,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Rec {
    fn exitcode(&self) -> Option<i32> {
        lock(&self.state).exit
    }

    /// Waits for the target to return; false if `deadline` passed first.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut st = lock(&self.state);
        while st.exit.is_none() {
            match deadline {
                None => st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    st = self
                        .cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        drop(st);
        // The thread is past its target: reap it (it is about to end).
        if let Some(h) = lock(&self.handle).take() {
            let _ = h.join();
        }
        true
    }

    fn is_me(&self) -> bool {
        lock(&self.state).tid == Some(sys::gettid() as i32)
    }
}

type Body = Box<dyn FnOnce() -> std::result::Result<(), String> + Send>;

static NON_DAEMON: Mutex<Vec<Weak<Rec>>> = Mutex::new(Vec::new());

/// As Python's `threading._shutdown` (and mp's exit handler for processes): the process waits
/// for its non-daemonic threads before it exits.
extern "C" fn join_non_daemon_threads() {
    let _ = panic::catch_unwind(|| {
        let recs: Vec<Weak<Rec>> = std::mem::take(&mut *lock(&NON_DAEMON));
        for r in recs.iter().filter_map(Weak::upgrade) {
            if !r.is_me() {
                r.wait(None);
            }
        }
    });
}

fn register_non_daemon(rec: &Arc<Rec>) {
    static ATEXIT: Once = Once::new();
    ATEXIT.call_once(|| {
        // SAFETY: registering a plain extern "C" fn with atexit.
        unsafe { libc::atexit(join_non_daemon_threads) };
    });
    let mut list = lock(&NON_DAEMON);
    list.retain(|w| w.upgrade().is_some_and(|r| r.exitcode().is_none()));
    list.push(Arc::downgrade(rec));
}

/// A thread: the backend of `mp::dummy::Process` (Python's `DummyProcess`, a
/// `threading.Thread`).
///
/// The target is any `FnOnce + Send + 'static` closure or a `#[mp::task]` fn, called directly
/// in the new thread: the arguments are moved, never serialized. The exit code is `None` until
/// the thread has started and finished, then 0, or 1 if the target panicked or returned `Err`
/// (printed to stderr as `Exception in thread <name>:`). As in CPython, only the thread that
/// created the object may start it, and the process waits for its non-daemonic threads when
/// it exits (`main` returning); daemonic ones are abandoned.
///
/// A thread cannot be stopped from outside: like CPython's `DummyProcess`, which has no
/// `terminate`, `kill` or `interrupt`, a thread process has none, so code that needs them does
/// not compile against `mp::dummy`:
///
/// ```compile_fail
/// let p = mp::dummy::Process::new(|| {}, ());
/// p.terminate(); // no such method: threads cannot be killed
/// ```
///
/// Neither does it have a `sentinel` (a thread has no descriptor); `mp::dummy::connection::wait`
/// accepts such a process directly. `pid` is the process id (every thread has the same) and
/// `ident` the thread's kernel id.
///
/// # Examples
///
/// ```
/// let p: mp::process::ProcessIn<mp::process::ThreadProcess> =
///     mp::dummy::Process::new(|x: u32| assert_eq!(x, 7), (7,));
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// assert!(format!("{p:?}").starts_with("<DummyProcess(Thread-"));
/// # Ok::<(), mp::Error>(())
/// ```
#[derive(Debug)]
pub struct ThreadProcess {
    _private: (),
}

/// What a thread's start needs besides its target: who may start it.
#[derive(Debug)]
pub struct ThreadSpawn {
    creator: ThreadId,
    creator_name: String,
}

/// The target of a thread process and its name, until the start.
pub struct ThreadBody {
    run: Body,
    target: &'static str,
}

impl fmt::Debug for ThreadBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ThreadBody").field(&self.target).finish()
    }
}

/// A started thread process.
pub struct ThreadChild(Arc<Rec>);

impl fmt::Debug for ThreadChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ThreadChild")
            .field(&lock(&self.0.state).tid)
            .finish()
    }
}

impl super::sealed::Backend for ThreadProcess {
    type Body = ThreadBody;
    type Child = ThreadChild;
    type Spawn = ThreadSpawn;
    const KIND: &'static str = "DummyProcess";
    const CLOSE_RUNNING: &'static str =
        "Cannot close a process while it is still running. You should first call join().";

    fn body_name(body: &ThreadBody) -> &'static str {
        body.target
    }

    fn prepare(
        name: Option<String>,
        daemon: Option<bool>,
        _method: Option<StartMethod>,
    ) -> (String, bool, ThreadSpawn) {
        let me = current_info();
        let name = name.unwrap_or_else(|| {
            format!("Thread-{}", THREAD_COUNTER.fetch_add(1, Ordering::Relaxed))
        });
        let spawn = ThreadSpawn {
            creator: std::thread::current().id(),
            creator_name: lock(&me.name).clone(),
        };
        (name, daemon.unwrap_or(me.daemon), spawn)
    }

    fn may_start(spawn: &ThreadSpawn) -> Result<()> {
        if std::thread::current().id() != spawn.creator {
            return Err(Error::new(
                ErrorKind::Runtime,
                format!(
                    "Parent is {:?} but current_process is {:?}: only the thread that created \
                     a dummy Process may start it",
                    spawn.creator_name,
                    current_process().name()
                ),
            ));
        }
        Ok(())
    }

    fn start(
        name: &Arc<Mutex<String>>,
        daemon: bool,
        _spawn: &ThreadSpawn,
        body: ThreadBody,
    ) -> std::result::Result<Arc<ThreadChild>, (Error, Option<ThreadBody>)> {
        let info = Arc::new(ThreadInfo {
            name: name.clone(),
            daemon,
            ident: 0,
            children: Mutex::new(Vec::new()),
        });
        let rec = Arc::new(Rec {
            info,
            state: Mutex::new(RecState::default()),
            cv: Condvar::new(),
            handle: Mutex::new(None),
        });
        // The body goes through a slot so that it can be put back if the thread cannot start.
        let target = body.target;
        let slot: Arc<Mutex<Option<Body>>> = Arc::new(Mutex::new(Some(body.run)));
        let (r2, s2) = (rec.clone(), slot.clone());
        let thread_name = lock(name).clone();
        let spawned = crate::thread::spawn(&thread_name, move || thread_main(r2, s2));
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => {
                let back = lock(&slot).take().map(|run| ThreadBody { run, target });
                let e = Error::new(
                    ErrorKind::ProcessStart,
                    format!("cannot start a thread: {e}"),
                );
                return Err((e, back));
            }
        };
        *lock(&rec.handle) = Some(handle);
        // As `threading.Thread.start`: wait until the thread runs.
        {
            let mut rs = lock(&rec.state);
            while rs.tid.is_none() {
                rs = rec.cv.wait(rs).unwrap_or_else(|e| e.into_inner());
            }
        }
        current_info().children_push(rec.clone());
        if !daemon {
            register_non_daemon(&rec);
        }
        Ok(Arc::new(ThreadChild(rec)))
    }

    fn wait(c: &ThreadChild, timeout: Option<Duration>) -> Result<()> {
        let r = &c.0;
        if r.is_me() && r.exitcode().is_none() {
            return Err(Error::new(ErrorKind::Runtime, "cannot join current thread"));
        }
        r.wait(timeout.and_then(|t| Instant::now().checked_add(t)));
        Ok(())
    }

    fn poll(c: &ThreadChild) -> Option<i32> {
        c.0.exitcode()
    }

    fn done(c: &Arc<ThreadChild>) {
        // Ended: reaps the thread's handle.
        c.0.wait(None);
    }

    fn pid(_c: &ThreadChild) -> i32 {
        sys::getpid()
    }

    fn ident(c: &ThreadChild) -> Option<i32> {
        lock(&c.0.state).tid
    }
}

impl ProcessIn<ThreadProcess> {
    /// A thread that will run `target(args...)`. The argument tuple is checked against the
    /// target's parameters at compile time; it is moved to the thread, not serialized.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// #[mp::task]
    /// fn add(a: i32, b: i32) -> i32 { a + b }
    /// let p = mp::dummy::Process::new(add, (1, 2));
    /// p.start()?;
    /// p.join()?;
    /// // A closure may capture anything Send, serializable or not:
    /// let data = std::sync::Arc::new(vec![1, 2, 3]);
    /// let q = mp::dummy::Process::new(move || assert_eq!(data.len(), 3), ());
    /// q.start()?;
    /// q.join()?;
    /// assert_eq!(q.exitcode(), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn new<F, A>(target: F, args: A) -> ProcessIn<ThreadProcess>
    where
        F: Target<A>,
        F::Output: ProcessOutput,
        A: Send + 'static,
    {
        ProcessIn::<ThreadProcess>::builder(target, args).build()
    }

    /// A builder for `name` and `daemon`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = mp::dummy::Process::builder(|x: u8| { let _ = x; }, (1u8,)).name("one").build();
    /// assert_eq!(p.name(), "one");
    /// ```
    pub fn builder<F, A>(target: F, args: A) -> ProcessBuilderIn<ThreadProcess>
    where
        F: Target<A>,
        F::Output: ProcessOutput,
        A: Send + 'static,
    {
        ProcessBuilderIn::with_body(ThreadBody {
            target: std::any::type_name::<F>(),
            run: Box::new(move || target.call(args).into_exit()),
        })
    }

    /// A thread whose body is `obj.run()`: Python's "subclass `Thread`/`Process`" pattern,
    /// with the same [`Run`] objects as [`mp::Process::from_run`](crate::Process::from_run).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
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
    /// let p = mp::dummy::Process::from_run(Greeter { who: "bob".into() });
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn from_run<T: Run>(obj: T) -> ProcessIn<ThreadProcess> {
        ProcessIn::<ThreadProcess>::builder_from_run(obj).build()
    }

    /// A builder for a [`Run`] object.
    ///
    /// # Examples
    ///
    /// See [`Process::from_run`].
    pub fn builder_from_run<T: Run>(obj: T) -> ProcessBuilderIn<ThreadProcess> {
        ProcessBuilderIn::with_body(ThreadBody {
            target: std::any::type_name::<T>(),
            run: Box::new(move || {
                obj.run();
                Ok(())
            }),
        })
    }
}

impl crate::connection::Waitable for ProcessIn<ThreadProcess> {
    /// Whether the thread has ended.
    fn readiness(&self) -> Result<crate::connection::Readiness> {
        match self.child()? {
            Some(c) => Ok(crate::connection::Readiness::Now(c.0.exitcode().is_some())),
            None => Err(Error::value("process not started")),
        }
    }
}

impl ThreadInfo {
    fn children_push(&self, rec: Arc<Rec>) {
        let mut c = lock(&self.children);
        c.retain(|r| r.exitcode().is_none());
        c.push(rec);
    }
}

fn thread_main(rec: Arc<Rec>, slot: Arc<Mutex<Option<Body>>>) {
    let body = lock(&slot).take();
    let tid = sys::gettid() as i32;
    let info = Arc::new(ThreadInfo {
        name: rec.info.name.clone(),
        daemon: rec.info.daemon,
        ident: tid,
        children: Mutex::new(Vec::new()),
    });
    let _ = CURRENT.try_with(|c| *c.borrow_mut() = Some(info));
    {
        lock(&rec.state).tid = Some(tid);
        rec.cv.notify_all();
    }
    let code = match body {
        None => 0,
        Some(body) => match panic::catch_unwind(AssertUnwindSafe(body)) {
            Ok(Ok(())) => 0,
            Ok(Err(msg)) => {
                eprintln!("Exception in thread {}:\n{msg}", lock(&rec.info.name));
                1
            }
            // The panic hook has printed it (`thread '<name>' panicked at ...`).
            Err(_) => 1,
        },
    };
    lock(&rec.state).exit = Some(code);
    rec.cv.notify_all();
    for hook in crate::space::THREAD_ENDS {
        hook();
    }
}

/// The threads started by the calling thread that are still running: Python's
/// `multiprocessing.dummy.active_children()`. Each entry's `pid` is the thread's kernel id.
///
/// # Examples
///
/// ```
/// # fn main() -> mp::Result<()> {
/// let stop = mp::dummy::Event::new()?;
/// let s = stop.clone();
/// let p = mp::dummy::Process::builder(move || s.wait(), ()).name("sleeper").start()?;
/// let kids = mp::dummy::active_children();
/// assert!(kids.iter().any(|c| c.name == "sleeper" && Some(c.pid) == p.ident()));
/// stop.set();
/// p.join()?;
/// assert!(mp::dummy::active_children().iter().all(|c| c.name != "sleeper"));
/// # Ok(()) }
/// ```
pub fn active_children() -> Vec<ChildInfo> {
    let me = current_info();
    let mut c = lock(&me.children);
    c.retain(|r| r.exitcode().is_none());
    c.iter()
        .map(|r| ChildInfo {
            pid: lock(&r.state).tid.unwrap_or(0),
            name: lock(&r.info.name).clone(),
            daemon: r.info.daemon,
        })
        .collect()
}
