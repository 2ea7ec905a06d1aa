//! Under spawn and forkserver a child does not inherit the parent's descriptors, even ones
//! without close-on-exec; under fork it does (CONFORMANCE 1, `TestCloseFds.test_closefd`).
//!
//! One test in its own binary: the descriptor must exist before the forkserver is launched.

use mp::{Process, StartMethod};
use mp_tests::join;

#[mp::task]
fn fd_is_open(fd: i32) {
    // SAFETY: F_GETFD on any integer is harmless.
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
    std::process::exit(if open { 7 } else { 0 });
}

#[mp::test]
fn parent_descriptors_are_not_inherited() {
    let f = std::fs::File::open("/dev/null").unwrap();
    // A duplicate without close-on-exec, at a number nothing else uses.
    // SAFETY: fcntl with integer arguments on a descriptor we own.
    let fd = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::F_DUPFD, 200) };
    assert!(fd >= 200);
    for (m, expected) in [
        (StartMethod::Forkserver, 0),
        (StartMethod::Spawn, 0),
        (StartMethod::Fork, 7),
    ] {
        let p = Process::builder(fd_is_open, (fd,))
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(join(&p), Some(expected), "{m}");
    }
    // SAFETY: closing the duplicate made above.
    unsafe { libc::close(fd) };
}
