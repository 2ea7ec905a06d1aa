//! Pipe and Connection (CONFORMANCE section 3), written once for both links: the suite in
//! `conformance!` is compiled against `mp` (a socketpair; children under every start method)
//! and against `mp::dummy` (in-memory channels; thread processes) by changing only its `use`
//! lines (see `parity/mod.rs`). What only one link does is tested beside it:
//! `connection_pipe.rs` (descriptors, CPython's framing on streams, killed writers) and
//! `dummy_connection.rs` (moved values, the in-process listener).

mod parity;

macro_rules! conformance {
    ($name:ident, $($api:ident)::+, $util:ident) => {
        mod $name {
            use std::time::{Duration, Instant};

            use mp::ErrorKind;
            use $($api)::+::{Connection, Pipe};

            use crate::parity::$util::{LONG, join_ok, methods, start};

            fn bounded_recv_bytes(c: &Connection) -> mp::Result<Vec<u8>> {
                assert!(c.poll_timeout(LONG)?, "nothing arrived in time");
                c.recv_bytes()
            }

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
                for method in methods() {
                    let (a, b) = Pipe(true).unwrap();
                    let p = start(method, echo, (b,));
                    for msg in [&b""[..], b"x", &[7u8; 100_000]] {
                        a.send_bytes(msg).unwrap();
                        assert_eq!(bounded_recv_bytes(&a).unwrap(), msg, "{method}");
                    }
                    // A 16 MiB message round-trips intact.
                    let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
                    a.send_bytes(&big).unwrap();
                    assert!(bounded_recv_bytes(&a).unwrap() == big, "{method}");
                    a.send_bytes(b"quit").unwrap();
                    join_ok(&p, method);

                    let (a, b) = Pipe(true).unwrap();
                    let p = start(method, send_value, (b,));
                    assert!(a.poll_timeout(LONG).unwrap());
                    let v: (i32, Option<i32>, String) = a.recv().unwrap();
                    assert_eq!(v, (42, None, "hello".to_string()));
                    join_ok(&p, method);
                }
            }

            #[mp::task]
            fn recv_one_then_exit(conn: Connection) -> mp::Result<()> {
                let s: String = conn.recv()?;
                conn.send(&s.len())
            }

            #[mp::test]
            fn parent_may_close_the_childs_end_right_after_start() {
                for method in methods() {
                    let (a, b) = Pipe(true).unwrap();
                    let p = start(method, recv_one_then_exit, (b,)); // the child's end moved into it
                    a.send("four").unwrap();
                    assert!(a.poll_timeout(LONG).unwrap());
                    assert_eq!(a.recv::<usize>().unwrap(), 4);
                    join_ok(&p, method);
                }
            }

            /// A message read as another type is an error, not another value (mp's codec
            /// carries a fingerprint of the value's shape); bulk numbers cross intact.
            #[test]
            fn a_message_read_as_another_type_is_an_error() {
                let (a, b) = Pipe(true).unwrap();
                a.send(&299i32).unwrap();
                assert_eq!(b.recv::<usize>().unwrap_err().kind(), ErrorKind::Serialization);
                // Bytes of the right length, another shape: the fingerprint says so.
                a.send(&299i32).unwrap();
                let err = b.recv::<u32>().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Serialization);
                assert!(err.message().contains("another type"), "{err}");
                a.send(&(1u8, "x".to_string())).unwrap();
                assert_eq!(b.recv::<(u8, u8)>().unwrap_err().kind(), ErrorKind::Serialization);
                a.send(&Some(5u64)).unwrap();
                assert_eq!(b.recv::<u64>().unwrap_err().kind(), ErrorKind::Serialization);
                // The right type still arrives, borrowed and owned forms alike.
                a.send("text").unwrap();
                assert_eq!(b.recv::<String>().unwrap(), "text");
                let floats: Vec<f64> = (0..100_000).map(|i| i as f64 * 0.5).collect();
                a.send(&floats[..]).unwrap();
                assert_eq!(b.recv::<Vec<f64>>().unwrap(), floats);
            }

            #[test]
            fn peer_closed_everywhere_gives_eof_while_flags_stay() {
                let (a, b) = Pipe(true).unwrap();
                drop(b);
                assert_eq!(a.recv::<u8>().unwrap_err().kind(), ErrorKind::Eof);
                assert_eq!(a.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
                assert!(a.readable() && a.writable());
                assert!(a.poll().unwrap()); // EOF counts as ready
                // Sending to a closed peer is EPIPE.
                let err = a.send_bytes(b"x").unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Os);
                assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
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
                    a.try_clone().unwrap_err(),
                ] {
                    assert_eq!(err.kind(), ErrorKind::Os);
                    assert_eq!(err.message(), "handle is closed");
                }
                a.close(); // harmless
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
                for method in methods() {
                    let (r1, w1) = Pipe(false).unwrap();
                    let (r2, w2) = Pipe(false).unwrap();
                    let p = start(method, use_two_ends, (r1, w2));
                    w1.send("hi").unwrap();
                    assert!(r2.poll_timeout(LONG).unwrap());
                    assert_eq!(r2.recv::<String>().unwrap(), "hi!");
                    join_ok(&p, method);
                }
            }
        }
    };
}

conformance!(socket, mp, processes);
conformance!(memory, mp::dummy, threads);
