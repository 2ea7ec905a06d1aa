//! Pipe and Connection (CONFORMANCE section 3), in-process and with children under every
//! start method.

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

fn bounded_recv_bytes(c: &Connection) -> mp::Result<Vec<u8>> {
    assert!(c.poll_timeout(LONG)?, "nothing arrived in time");
    c.recv_bytes()
}

// ----- children -----

#[mp::task]
fn echo(conn: Connection) -> mp::Result<()> {
    // Stops on "quit" (under fork the child also holds the parent's end, so no EOF).
    loop {
        let b = conn.recv_bytes()?;
        if b == b"quit" {
            return Ok(());
        }
        conn.send_bytes(&b)?;
    }
}

#[mp::task]
fn send_value(conn: Connection) -> mp::Result<()> {
    conn.send(&(42, None::<i32>, "hello".to_string()))
}

#[mp::test]
fn objects_and_bytes_round_trip_through_children() {
    for method in mp::get_all_start_methods() {
        let (a, b) = Pipe(true).unwrap();
        let p = mp::Process::builder(echo, (b,))
            .start_method(method)
            .build();
        p.start().unwrap();
        assert!(a.fileno().unwrap() >= 0);
        for msg in [&b""[..], b"x", &[7u8; 100_000]] {
            a.send_bytes(msg).unwrap();
            assert_eq!(bounded_recv_bytes(&a).unwrap(), msg, "{method}");
        }
        // A 16 MiB message round-trips intact.
        let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
        a.send_bytes(&big).unwrap();
        assert!(bounded_recv_bytes(&a).unwrap() == big, "{method}");
        a.send_bytes(b"quit").unwrap();
        assert_eq!(join(&p), Some(0), "{method}");

        let (a, b) = Pipe(true).unwrap();
        let p = mp::Process::builder(send_value, (b,))
            .start_method(method)
            .build();
        p.start().unwrap();
        assert!(a.poll_timeout(LONG).unwrap());
        let v: (i32, Option<i32>, String) = a.recv().unwrap();
        assert_eq!(v, (42, None, "hello".to_string()));
        assert_eq!(join(&p), Some(0));
    }
}

#[mp::task]
fn recv_one_then_exit(conn: Connection) -> mp::Result<()> {
    let s: String = conn.recv()?;
    conn.send(&s.len())
}

#[mp::test]
fn parent_may_close_the_childs_end_right_after_start() {
    for method in mp::get_all_start_methods() {
        let (a, b) = Pipe(true).unwrap();
        let p = mp::Process::builder(recv_one_then_exit, (b,))
            .start_method(method)
            .build();
        p.start().unwrap(); // the child's end moved into the process and is closed here
        a.send("four").unwrap();
        assert!(a.poll_timeout(LONG).unwrap());
        assert_eq!(a.recv::<usize>().unwrap(), 4);
        assert_eq!(join(&p), Some(0), "{method}");
    }
}

#[test]
fn peer_closed_everywhere_gives_eof_while_flags_stay() {
    let (a, b) = Pipe(true).unwrap();
    drop(b);
    assert_eq!(a.recv::<u8>().unwrap_err().kind(), ErrorKind::Eof);
    assert_eq!(a.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    assert!(a.readable() && a.writable());
    assert!(a.poll().unwrap()); // EOF counts as ready
}

#[test]
fn send_bytes_of_arrays_and_recv_bytes_into_at_byte_offsets() {
    let (a, b) = Pipe(true).unwrap();
    let arr1: Vec<i32> = (0..5).collect();
    a.send_bytes(&arr1).unwrap();
    let mut arr2 = [0i32; 10];
    let count = b.recv_bytes_into(&mut arr2, 0).unwrap();
    assert_eq!(count, 5 * 4);
    assert_eq!(arr2, [0, 1, 2, 3, 4, 0, 0, 0, 0, 0]);
    // A byte offset, even into a typed buffer.
    a.send_bytes(&arr1).unwrap();
    let mut arr3 = [0i32; 10];
    assert_eq!(b.recv_bytes_into(&mut arr3, 3 * 4).unwrap(), 20);
    assert_eq!(arr3, [0, 0, 0, 0, 1, 2, 3, 4, 0, 0]);
    // Offset past the end.
    assert_eq!(
        b.recv_bytes_into(&mut arr3, 41).unwrap_err().kind(),
        ErrorKind::Value
    );
}

#[test]
fn buffer_too_short_carries_and_consumes_the_whole_message() {
    let (a, b) = Pipe(true).unwrap();
    for size in [10usize, 100_000] {
        let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
        a.send_bytes(&msg).unwrap();
        a.send_bytes(b"next").unwrap();
        let mut small = [0u8; 8];
        let err = b.recv_bytes_into(&mut small, 2).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferTooShort);
        assert_eq!(err.into_payload().unwrap(), msg);
        assert_eq!(b.recv_bytes().unwrap(), b"next");
    }
}

#[test]
fn poll_returns_at_once_or_after_the_timeout() {
    let (a, b) = Pipe(true).unwrap();
    let t0 = Instant::now();
    assert!(!b.poll().unwrap());
    assert!(!b.poll_timeout(Duration::ZERO).unwrap());
    assert!(t0.elapsed() < Duration::from_secs(5));
    let t0 = Instant::now();
    assert!(!b.poll_timeout(Duration::from_millis(200)).unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(190));
    a.send_bytes(b"x").unwrap();
    let t0 = Instant::now();
    assert!(b.poll_timeout(LONG).unwrap());
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn duplex_false_gives_reader_and_writer() {
    let (r, w) = Pipe(false).unwrap();
    assert!(r.readable() && !r.writable());
    assert!(w.writable() && !w.readable());
    assert_eq!(r.send(&1u8).unwrap_err().kind(), ErrorKind::Os);
    assert_eq!(r.send_bytes(b"x").unwrap_err().kind(), ErrorKind::Os);
    assert_eq!(w.recv::<u8>().unwrap_err().kind(), ErrorKind::Os);
    assert_eq!(w.recv_bytes().unwrap_err().kind(), ErrorKind::Os);
    assert_eq!(w.poll().unwrap_err().kind(), ErrorKind::Os);
    w.send(&"one way").unwrap();
    assert_eq!(r.recv::<String>().unwrap(), "one way");
}

#[test]
fn send_bytes_offset_and_size() {
    let (a, b) = Pipe(true).unwrap();
    let msg = b"abcdefghijklmnopqrstuvwxyz";
    a.send_bytes_range(msg, 0, None).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), msg);
    a.send_bytes_range(msg, 5, None).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), &msg[5..]);
    a.send_bytes_range(msg, 7, Some(8)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), &msg[7..15]);
    a.send_bytes_range(msg, 26, None).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    a.send_bytes_range(msg, 26, Some(0)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    a.send_bytes_range(msg, 0, Some(0)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    for (off, size) in [
        (27, None),
        (0, Some(27)),
        (10, Some(17)),
        (usize::MAX, None),
        (1, Some(usize::MAX)),
    ] {
        assert_eq!(
            a.send_bytes_range(msg, off, size).unwrap_err().kind(),
            ErrorKind::Value
        );
    }
    // Offsets count bytes in typed buffers too.
    a.send_bytes_range(&[1u32, 2, 3], 4, Some(4)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), 2u32.to_ne_bytes());
    assert!(!b.poll().unwrap()); // nothing else was sent
}

#[test]
fn closed_connection_fails_with_handle_is_closed() {
    let (mut a, _b) = Pipe(true).unwrap();
    a.close();
    assert!(a.closed());
    for err in [
        a.recv::<u8>().unwrap_err(),
        a.send(&1u8).unwrap_err(),
        a.recv_bytes().unwrap_err(),
        a.poll().unwrap_err(),
        a.fileno().unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Os);
        assert_eq!(err.message(), "handle is closed");
    }
    a.close(); // harmless
    let (r, w) = std::io::pipe().unwrap();
    let err = Connection::from_fd(OwnedFd::from(r), false, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Value);
    drop(w);
}

#[test]
fn empty_messages_are_messages_and_poll_does_not_consume() {
    let (a, b) = Pipe(true).unwrap();
    a.send_bytes(b"").unwrap();
    assert!(b.poll().unwrap() && b.poll().unwrap() && b.poll().unwrap());
    assert_eq!(b.recv_bytes().unwrap(), b"");
    assert!(!b.poll().unwrap());
    for m in [&b"a"[..], b"bc", b"def"] {
        a.send_bytes(m).unwrap();
    }
    assert!(b.poll().unwrap());
    assert_eq!(b.recv_bytes().unwrap(), b"a");
    assert_eq!(b.recv_bytes().unwrap(), b"bc");
    assert_eq!(b.recv_bytes().unwrap(), b"def");
}

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

#[mp::task]
fn use_two_ends(r: Connection, w: Connection) -> mp::Result<()> {
    if r.writable() || w.readable() || r.send(&1).is_ok() {
        return Err(mp::Error::new(ErrorKind::Assertion, "direction lost"));
    }
    let s: String = r.recv()?;
    w.send(&format!("{s}!"))
}

#[mp::test]
fn connections_are_task_arguments_under_every_start_method() {
    for method in mp::get_all_start_methods() {
        let (r1, w1) = Pipe(false).unwrap();
        let (r2, w2) = Pipe(false).unwrap();
        let p = mp::Process::builder(use_two_ends, (r1, w2))
            .start_method(method)
            .build();
        p.start().unwrap();
        w1.send("hi").unwrap();
        assert!(r2.poll_timeout(LONG).unwrap());
        assert_eq!(r2.recv::<String>().unwrap(), "hi!");
        assert_eq!(join(&p), Some(0), "{method}");
    }
}

#[test]
fn bad_message_length_makes_the_connection_unreadable() {
    let (a, b) = Pipe(true).unwrap();
    a.send_bytes(b"123456").unwrap();
    let err = b.recv_bytes_max(5).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os);
    assert!(err.message().contains("bad message length"), "{err}");
    assert!(!b.readable());
    assert!(b.recv_bytes().is_err());
    // Exactly maxlength is fine.
    let (a, b) = Pipe(true).unwrap();
    a.send_bytes(b"12345").unwrap();
    assert_eq!(b.recv_bytes_max(5).unwrap(), b"12345");
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
