//! Items used by the code that mp's macros generate. Not a public API: anything here can
//! change in any release.

pub use linkme;

pub use crate::process::{Run, Target};
pub use crate::registry::{InvokeError, MP_TASK_REGISTRY, TaskEntry};
pub use crate::sharedctypes::{__layout as layout, Shareable};
pub use crate::task::{Portable, Task};

/// The `Ok` and `Err` types of a `Result`, whatever alias the user wrote it through.
pub trait ResultParts {
    /// The `Ok` type.
    type Ok;
    /// The `Err` type.
    type Err;
    /// The `Result` itself.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> ResultParts for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// Turns a fallible task's `Err` into the message a caller in another process receives.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of a task must implement `Display`",
    label = "its message is what the caller's `RemoteError` carries"
)]
pub trait TaskError {
    /// The message.
    fn message(&self) -> String;
}

impl<E: std::fmt::Display + ?Sized> TaskError for E {
    fn message(&self) -> String {
        self.to_string()
    }
}

/// Splits a fallible task's result.
pub fn split_result<R: ResultParts>(r: R) -> Result<R::Ok, String>
where
    R::Err: TaskError,
{
    r.into_result().map_err(|e| e.message())
}

/// Compile-time check that `T` can be a task argument or value.
pub const fn assert_portable<T: Portable>() {}

/// Compile-time check that `T` can be a task's error.
pub const fn assert_task_error<T: TaskError>() {}

/// What `#[mp::main]` calls before the user's body.
pub fn main_guard() {
    crate::bootstrap::main_guard();
}

/// What `#[mp::test]` calls before the test's body.
pub fn test_guard() {
    crate::bootstrap::test_guard();
}

/// Test hook: the pid of the forkserver this process launched, if any.
pub fn forkserver_pid() -> Option<i32> {
    crate::forkserver::server_pid()
}

/// Test hook: replaces the key this process authenticates to the forkserver with (dropping
/// the cached connection); returns the previous key, or `None` if no server is known yet.
pub fn forkserver_swap_authkey(key: Vec<u8>) -> Option<Vec<u8>> {
    crate::forkserver::swap_authkey(key)
}

/// Test hook: the forkserver's abstract socket name and its key.
pub fn forkserver_address() -> Option<(Vec<u8>, Vec<u8>)> {
    crate::forkserver::address_and_key()
}

/// Test hook: the fingerprint a child compares with its parent's (registry + ELF build id).
pub fn build_id() -> u64 {
    crate::registry::build_id()
}
