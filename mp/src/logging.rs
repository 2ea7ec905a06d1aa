//! Logging: Python's `multiprocessing.get_logger()` and `log_to_stderr()`, through the `log`
//! crate.
//!
//! mp reports lifecycle events (a child starting and exiting, the exit handler joining
//! children, pool workers being replaced) as `log` records with the target `multiprocessing`.
//! They reach whatever `log` logger the program installed, filtered by that logger alone
//! (`RUST_LOG=multiprocessing=info` with env_logger, a tracing subscriber through its `log`
//! bridge), without any call to mp first: the level of [`get_logger`] starts unset, as a Python
//! logger's `NOTSET`. Setting it ([`Logger::set_level`], [`log_to_stderr`]) filters mp's
//! records on top, as in Python. [`log_to_stderr`] installs a logger that prints
//! `[LEVEL/ProcessName] message` to stderr, as CPython's does, if the program has none.
//! Children inherit the level, and the stderr logger if the parent installed it.
//!
//! # Examples
//!
//! ```
//! // A program's own logger receives mp's records (target "multiprocessing") as they are.
//! struct Print;
//! impl log::Log for Print {
//!     fn enabled(&self, m: &log::Metadata<'_>) -> bool { m.target() == "multiprocessing" }
//!     fn log(&self, r: &log::Record<'_>) { eprintln!("{}: {}", r.target(), r.args()) }
//!     fn flush(&self) {}
//! }
//! log::set_logger(&Print).unwrap();
//! log::set_max_level(log::LevelFilter::Info);
//! assert!(mp::get_logger().enabled(log::Level::Info)); // no mp call needed
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The `log` target of mp's own records.
pub const TARGET: &str = "multiprocessing";

/// mp's level as a `LevelFilter` number, or [`UNSET`].
static LEVEL: AtomicUsize = AtomicUsize::new(UNSET);
/// No level set: the program's logger alone decides (Python's `NOTSET`).
const UNSET: usize = usize::MAX;
static STDERR_INSTALLED: AtomicBool = AtomicBool::new(false);

/// mp's logger: Python's `multiprocessing` logger, as returned by [`get_logger`].
///
/// # Examples
///
/// ```
/// let logger = mp::get_logger();
/// logger.set_level(log::LevelFilter::Debug);
/// assert_eq!(logger.level(), log::LevelFilter::Debug);
/// # logger.set_level(log::LevelFilter::Off);
/// ```
#[derive(Debug)]
pub struct Logger {
    _private: (),
}

static LOGGER: Logger = Logger { _private: () };

fn filter_from(n: usize) -> LevelFilter {
    match n {
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => LevelFilter::Off,
    }
}

impl Logger {
    /// Sets the level below which mp's records are dropped (Python's `logger.setLevel`).
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().set_level(log::LevelFilter::Info);
    /// # mp::get_logger().set_level(log::LevelFilter::Off);
    /// ```
    pub fn set_level(&self, level: LevelFilter) {
        LEVEL.store(level as usize, Ordering::Relaxed);
        if level > log::max_level() {
            log::set_max_level(level);
        }
    }

    /// The effective level (Python's `getEffectiveLevel()`): the one set, or while none is,
    /// the `log` crate's global maximum (what the program's logger lets through).
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().set_level(log::LevelFilter::Error);
    /// assert_eq!(mp::get_logger().level(), log::LevelFilter::Error);
    /// # mp::get_logger().set_level(log::LevelFilter::Off);
    /// ```
    pub fn level(&self) -> LevelFilter {
        match LEVEL.load(Ordering::Relaxed) {
            UNSET => log::max_level(),
            n => filter_from(n),
        }
    }

    /// Whether a level was set (by [`set_level`](Logger::set_level) or [`log_to_stderr`]);
    /// until then the program's logger alone filters mp's records.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().set_level(log::LevelFilter::Warn);
    /// assert!(mp::get_logger().level_is_set());
    /// # mp::get_logger().set_level(log::LevelFilter::Off);
    /// ```
    pub fn level_is_set(&self) -> bool {
        LEVEL.load(Ordering::Relaxed) != UNSET
    }

    /// Whether a record of `level` would be emitted.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().set_level(log::LevelFilter::Warn);
    /// assert!(mp::get_logger().enabled(log::Level::Error));
    /// assert!(!mp::get_logger().enabled(log::Level::Info));
    /// # mp::get_logger().set_level(log::LevelFilter::Off);
    /// ```
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level()
    }

    /// Emits a record through mp's logger (Python's `logger.log(level, msg)`).
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().log(log::Level::Info, format_args!("doing {}", 1));
    /// ```
    pub fn log(&self, level: Level, args: std::fmt::Arguments<'_>) {
        if self.enabled(level) {
            log::log!(target: TARGET, level, "{args}");
        }
    }

    /// Python's `logger.debug(msg)`.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().debug("details");
    /// ```
    pub fn debug(&self, msg: impl std::fmt::Display) {
        self.log(Level::Debug, format_args!("{msg}"));
    }

    /// Python's `logger.info(msg)`.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().info("something happened");
    /// ```
    pub fn info(&self, msg: impl std::fmt::Display) {
        self.log(Level::Info, format_args!("{msg}"));
    }

    /// Python's `logger.warning(msg)`: with [`log_to_stderr`] at `Warn` or below, prints
    /// `[WARNING/MainProcess] msg`.
    ///
    /// # Examples
    ///
    /// ```
    /// let logger = mp::log_to_stderr(log::LevelFilter::Warn);
    /// logger.warning("doomed"); // [WARNING/MainProcess] doomed
    /// # logger.set_level(log::LevelFilter::Off);
    /// ```
    pub fn warning(&self, msg: impl std::fmt::Display) {
        self.log(Level::Warn, format_args!("{msg}"));
    }

    /// Python's `logger.error(msg)`.
    ///
    /// # Examples
    ///
    /// ```
    /// mp::get_logger().error("it broke");
    /// ```
    pub fn error(&self, msg: impl std::fmt::Display) {
        self.log(Level::Error, format_args!("{msg}"));
    }
}

/// mp's logger: Python's `multiprocessing.get_logger()`.
///
/// # Examples
///
/// ```
/// assert_eq!(mp::get_logger().level(), mp::get_logger().level());
/// ```
pub fn get_logger() -> &'static Logger {
    &LOGGER
}

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if metadata.target() == TARGET {
            metadata.level() <= LOGGER.level()
        } else {
            metadata.level() <= log::max_level()
        }
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "SUBDEBUG",
        };
        let line = format!("[{level}/{}] {}\n", process_name(), record.args());
        crate::thread::print_stderr(&line);
    }

    fn flush(&self) {}
}

static STDERR_LOGGER: StderrLogger = StderrLogger;

/// Where log lines get the current process's name: registered by `process`, which knows it
/// (this module sits below it). Until then, this is the main process.
static PROCESS_NAME: std::sync::OnceLock<fn() -> String> = std::sync::OnceLock::new();

/// Registers the source of the process name in log lines (the first registration stays).
pub(crate) fn set_process_name_source(name: fn() -> String) {
    let _ = PROCESS_NAME.set(name);
}

fn process_name() -> String {
    PROCESS_NAME
        .get()
        .map_or_else(|| "MainProcess".to_string(), |name| name())
}

/// Prints mp's records (and, if no other logger is installed, every `log` record) to stderr
/// as `[LEVEL/ProcessName] message`: Python's `log_to_stderr(level)`.
///
/// If the program already installed a `log` logger, that one keeps receiving the records and
/// only the level is set.
///
/// # Examples
///
/// ```
/// let logger = mp::log_to_stderr(log::LevelFilter::Info);
/// assert_eq!(logger.level(), log::LevelFilter::Info);
/// # logger.set_level(log::LevelFilter::Off);
/// ```
pub fn log_to_stderr(level: LevelFilter) -> &'static Logger {
    if log::set_logger(&STDERR_LOGGER).is_ok() {
        STDERR_INSTALLED.store(true, Ordering::Relaxed);
    }
    LOGGER.set_level(level);
    &LOGGER
}

/// What a child inherits: (level, whether the stderr logger was installed).
pub(crate) fn inherited() -> (usize, bool) {
    (
        LEVEL.load(Ordering::Relaxed),
        STDERR_INSTALLED.load(Ordering::Relaxed),
    )
}

/// Sets up logging in a spawned or forkserver child as its parent had it.
pub(crate) fn child_init(level: usize, stderr: bool) {
    if stderr {
        log_to_stderr(filter_from(level));
    } else if level != UNSET {
        LOGGER.set_level(filter_from(level));
    }
}

/// Logs at debug level with mp's target.
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::logging::get_logger().enabled(log::Level::Debug) {
            log::debug!(target: $crate::logging::TARGET, $($arg)*);
        }
    };
}

/// Logs at info level with mp's target.
macro_rules! info {
    ($($arg:tt)*) => {
        if $crate::logging::get_logger().enabled(log::Level::Info) {
            log::info!(target: $crate::logging::TARGET, $($arg)*);
        }
    };
}

/// Logs at warning level with mp's target.
#[allow(unused_macros)]
macro_rules! warning {
    ($($arg:tt)*) => {
        if $crate::logging::get_logger().enabled(log::Level::Warn) {
            log::warn!(target: $crate::logging::TARGET, $($arg)*);
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {debug, info, warning};
