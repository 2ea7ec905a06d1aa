//! What only socket connections do (CONFORMANCE section 3): descriptors, CPython's framing on
//! stream sockets, a reader polling from another process, killed writers, `EINTR`. The
//! behaviours both links share are one suite: `connection_conformance.rs`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mp::connection::Connection;
use mp::{ErrorKind, Pipe};

const LONG: Duration = Duration::from_secs(60);

fn join(p: &mp::Process) -> Option<i32> {
    p.join_timeout(LONG).unwrap();
    if p.exitcode().is_none() {
        let _ = p.kill();
        p.join_timeout(LONG).unwrap();
        panic!("child did not finish in time");
    }
    p.exitcode()
}

// ----- children -----

#[mp::task]
fn poll_only(conn: Connection, n: u32) -> mp::Result<bool> {
    let mut any = false;
    for _ in 0..n {
        any |= conn.poll()?;
    }
    Ok(any)
}

#[mp::test]
fn a_polling_reader_in_another_process_never_consumes() {
    for method in mp::get_all_start_methods() {
        let (a, b) = Pipe(true).unwrap();
        a.send_bytes(&vec![5u8; 50_000]).unwrap();
        a.send_bytes(b"second").unwrap();
        let p = mp::Process::builder(poll_only, (b.try_clone_for_test(), 1000))
            .start_method(method)
            .build();
        p.start().unwrap();
        assert_eq!(join(&p), Some(0));
        assert_eq!(b.recv_bytes().unwrap(), vec![5u8; 50_000]);
        assert_eq!(b.recv_bytes().unwrap(), b"second");
    }
}

/// The same connection end in two processes (as fork gives): sent through a pipe.
trait TryCloneForTest {
    fn try_clone_for_test(&self) -> Connection;
}
impl TryCloneForTest for Connection {
    fn try_clone_for_test(&self) -> Connection {
        let (x, y) = Pipe(true).unwrap();
        x.send(self).unwrap();
        y.recv().unwrap()
    }
}

#[test]
fn fd_passing_including_large_fds_and_missing_fds() {
    let (a, b) = Pipe(true).unwrap();
    let (mut r, w) = std::io::pipe().unwrap();
    mp::reduction::send_handle(&a, &w).unwrap();
    let got = mp::reduction::recv_handle(&b).unwrap();
    use std::io::{Read, Write};
    std::fs::File::from(got).write_all(b"via fd").unwrap();
    drop(w);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "via fd");
    // A descriptor number above 256.
    let f = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: dup2 onto an unused high number we then own.
    let high = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 300) };
    assert!(high >= 300);
    // SAFETY: a fresh descriptor we own.
    let high = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) };
    mp::reduction::send_handle(&a, &high).unwrap();
    drop(mp::reduction::recv_handle(&b).unwrap());
    // Data without a descriptor.
    a.send_bytes(b"x").unwrap();
    assert_eq!(
        mp::reduction::recv_handle(&b).unwrap_err().kind(),
        ErrorKind::Runtime
    );
}

#[test]
fn connections_and_sockets_travel_through_connections_keeping_direction() {
    let (a, b) = Pipe(true).unwrap();
    let (r, w) = Pipe(false).unwrap();
    a.send(&(r, w)).unwrap();
    let (r2, w2): (Connection, Connection) = b.recv().unwrap();
    assert!(r2.readable() && !r2.writable() && w2.writable() && !w2.readable());
    w2.send(&"through").unwrap();
    assert_eq!(r2.recv::<String>().unwrap(), "through");
    assert!(r2.send(&1).is_err() && w2.recv::<u8>().is_err());
    // A raw socket, as a handle.
    let (s1, s2) = UnixStream::pair().unwrap();
    a.send(&mp::reduction::Handle::new(s1.into())).unwrap();
    let h: mp::reduction::Handle = b.recv().unwrap();
    let mut s1b = UnixStream::from(h.into_owned_fd());
    use std::io::{Read, Write};
    s1b.write_all(b"raw").unwrap();
    drop(s1b);
    let mut got = Vec::new();
    let mut s2 = s2;
    s2.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"raw");
}

/// Raw frames written on stream sockets and packet pipes.
fn raw_stream_pair() -> (UnixStream, Connection) {
    let (x, y) = UnixStream::pair().unwrap();
    (x, Connection::from_fd(y.into(), true, true).unwrap())
}

#[test]
fn eof_inside_a_message_is_a_distinct_error() {
    use std::io::Write;
    for bytes in [
        &b"\x00\x00"[..],
        b"\x00\x00\x00\x0a12345",
        b"\xff\xff\xff\xff\x00\x00",
    ] {
        let (mut x, c) = raw_stream_pair();
        x.write_all(bytes).unwrap();
        drop(x);
        let err = c.recv_bytes().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Os, "{bytes:?}");
        assert_eq!(err.message(), "got end of file during message");
    }
    // The same through recv_bytes_into and recv.
    let (mut x, c) = raw_stream_pair();
    x.write_all(b"\x00\x00\x00\x0a12345").unwrap();
    drop(x);
    let mut buf = [0u8; 64];
    assert_eq!(
        c.recv_bytes_into(&mut buf, 0).unwrap_err().message(),
        "got end of file during message"
    );
}

#[test]
fn the_64_bit_header_is_understood() {
    use std::io::Write;
    let (mut x, c) = raw_stream_pair();
    x.write_all(b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x05hello\x00\x00\x00\x01!")
        .unwrap();
    assert_eq!(c.recv_bytes().unwrap(), b"hello");
    assert_eq!(c.recv_bytes().unwrap(), b"!");
    // Other negative lengths are protocol errors.
    x.write_all(b"\xff\xff\xff\xfe").unwrap();
    assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Os);
}

#[test]
fn stream_sockets_carry_cpython_framing_byte_for_byte() {
    use std::io::Read;
    let (mut x, c) = raw_stream_pair();
    c.send_bytes(b"abc").unwrap();
    c.send_bytes(b"").unwrap();
    let mut got = [0u8; 11];
    x.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"\x00\x00\x00\x03abc\x00\x00\x00\x00");
}

#[mp::task]
fn send_huge(w: Connection, size: usize) -> mp::Result<()> {
    w.send_bytes(&vec![1u8; size])
}

#[mp::test]
fn a_writer_killed_mid_message_never_hangs_the_reader() {
    for method in mp::get_all_start_methods() {
        let (r, w) = Pipe(false).unwrap();
        let p = mp::Process::builder(send_huge, (w, 512 << 20))
            .start_method(method)
            .build();
        p.start().unwrap();
        // The writer blocks once the socket buffer is full: wait for the first bytes, then
        // kill it in the middle of the message.
        assert!(r.poll_timeout(LONG).unwrap());
        p.kill().unwrap();
        assert_eq!(join(&p), Some(-libc::SIGKILL), "{method}");
        let t0 = Instant::now();
        let err = r.recv_bytes().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Os, "{method}: {err}");
        assert_eq!(err.message(), "got end of file during message");
        assert!(t0.elapsed() < LONG);
    }
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

#[test]
fn recv_and_send_resume_after_eintr() {
    // SAFETY: installing a no-op handler without SA_RESTART, so blocking calls see EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    let (a, b) = Pipe(true).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        // SAFETY: pthread_self is always safe.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        b.recv::<String>()
    });
    let tid = rx.recv().unwrap();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(20));
        // SAFETY: signalling a live thread of ours.
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
    }
    a.send("after signals").unwrap();
    assert_eq!(t.join().unwrap().unwrap(), "after signals");
}

/// A socket connection has a descriptor; `Connection(handle, False, False)` is a ValueError.
#[test]
fn a_descriptor_and_from_fd() {
    let (a, _b) = Pipe(true).unwrap();
    assert!(a.fileno().unwrap() >= 0);
    assert_eq!(a.as_raw_fd(), a.fileno().unwrap());
    let (r, w) = std::io::pipe().unwrap();
    let err = Connection::from_fd(OwnedFd::from(r), false, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Value);
    drop(w);
}
