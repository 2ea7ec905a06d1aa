//! The forkserver: restarted transparently when it dies, authenticated with its own random
//! key (CONFORMANCE 2, `test_forkserver_sigkill`, `test_forkserver_auth_is_enabled`,
//! `test_forkserver_without_auth_fails`).
//!
//! The tests share this binary's forkserver, so they hold the global lock.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

use mp::{ErrorKind, Process, StartMethod};
use mp_tests::{TIMEOUT, global_lock, join, wait_pid_gone};

#[mp::task]
fn noop() {}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn start_noop() -> mp::Result<Option<i32>> {
    let p = Process::builder(noop, ())
        .start_method(StartMethod::Forkserver)
        .start()?;
    Ok(join(&p))
}

#[mp::test]
fn restarted_after_it_dies() {
    let _g = global_lock();
    for sig in [libc::SIGKILL, libc::SIGTERM] {
        assert_eq!(start_noop().unwrap(), Some(0));
        let server = mp::__private::forkserver_pid().expect("this process launched the server");
        // A child running while the server dies completes, and reports its own exit code
        // (CPython allows 0 or 255 here; mp gets the child's code).
        let running = Process::builder(sleep_ms, (300,))
            .start_method(StartMethod::Forkserver)
            .start()
            .unwrap();
        // SAFETY: killing the server this process launched.
        unsafe { libc::kill(server, sig) };
        assert!(wait_pid_gone(server, TIMEOUT));
        let code = join(&running);
        assert_eq!(code, Some(0));
        // The next start launches a new server.
        assert_eq!(start_noop().unwrap(), Some(0));
        let new = mp::__private::forkserver_pid().unwrap();
        assert_ne!(new, server);
    }
    // SIGINT does not kill the server (as in CPython, it is meant for the program).
    let server = mp::__private::forkserver_pid().unwrap();
    // SAFETY: signalling the server this process launched.
    unsafe { libc::kill(server, libc::SIGINT) };
    assert!(!wait_pid_gone(server, Duration::from_millis(200)));
    assert_eq!(start_noop().unwrap(), Some(0));
    assert_eq!(mp::__private::forkserver_pid(), Some(server));
}

#[mp::test]
fn authenticated_with_its_own_key() {
    let _g = global_lock();
    assert_eq!(start_noop().unwrap(), Some(0));
    let (name, key) = mp::__private::forkserver_address().unwrap();
    assert!(key.len() > 15);
    assert_ne!(key, mp::current_process().authkey());

    // A client with the right key passes the mutual handshake.
    let addr = SocketAddr::from_abstract_name(&name).unwrap();
    let conn = mp::Connection::from_fd(UnixStream::connect_addr(&addr).unwrap().into(), true, true)
        .unwrap();
    mp::connection::answer_challenge(&conn, &key).unwrap();
    mp::connection::deliver_challenge(&conn, &key).unwrap();
    drop(conn);

    // A client with a wrong key is refused.
    let conn = mp::Connection::from_fd(UnixStream::connect_addr(&addr).unwrap().into(), true, true)
        .unwrap();
    let e = mp::connection::answer_challenge(&conn, b"wrong key").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    drop(conn);

    // Starting a process with a wrong key fails with an authentication error...
    let good = mp::__private::forkserver_swap_authkey(b"wrong".to_vec()).unwrap();
    let e = start_noop().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    // ...and works again once the key is restored.
    mp::__private::forkserver_swap_authkey(good);
    assert_eq!(start_noop().unwrap(), Some(0));
}
