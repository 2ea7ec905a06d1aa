//! `dummy::Process`: a thread with the API of [`mp::Process`](crate::Process), Python's
//! `multiprocessing.dummy.DummyProcess`.
//!
//! [`Process`] is mp's process front, [`ProcessIn`](crate::process::ProcessIn), with a thread
//! as its backend ([`ThreadProcess`], where what differs from an OS process is listed).
//!
//! # Examples
//!
//! ```
//! use mp::dummy::Process;
//!
//! #[mp::task]
//! fn f(name: String) {
//!     println!("hello {name}");
//! }
//!
//! let p = Process::new(f, ("bob".to_string(),));
//! p.start()?;
//! p.join()?;
//! assert_eq!(p.exitcode(), Some(0));
//! assert_eq!(mp::dummy::current_process().name(), "MainThread");
//! # Ok::<(), mp::Error>(())
//! ```

pub use crate::process::ThreadProcess;
pub use crate::process::thread::{CurrentProcess, active_children, current_process};

/// A thread with the API of [`mp::Process`](crate::Process): Python's
/// `multiprocessing.dummy.Process`.
pub type Process = crate::process::ProcessIn<ThreadProcess>;

/// Builder for a thread [`Process`]: `name`, `daemon` as for
/// [`mp::ProcessBuilder`](crate::ProcessBuilder) (`context` and `start_method` are accepted
/// and ignored).
pub type ProcessBuilder = crate::process::ProcessBuilderIn<ThreadProcess>;
