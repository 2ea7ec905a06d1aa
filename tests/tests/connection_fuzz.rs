//! Random and truncated frames fed to the reader, on stream sockets and on packet pipes, and
//! random bytes fed to the handshake: every outcome is a message or a clear error; no panic,
//! no hang, no allocation beyond what arrived. (`fuzz/` has the cargo-fuzz targets.)

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::connection::{Connection, answer_challenge, deliver_challenge};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A frame-ish byte string: valid frames, corrupted lengths, truncations, garbage.
fn random_input(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(5) {
        let len = match rng.below(4) {
            0 => rng.below(16),
            1 => rng.below(70_000),
            2 => rng.next() & 0xffff_ffff,
            _ => u64::MAX - rng.below(3),
        };
        match rng.below(4) {
            0 => {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
            }
            _ => out.extend_from_slice(&(len as u32).to_be_bytes()),
        }
        let body = len.min(rng.below(80_000));
        out.extend((0..body).map(|_| rng.next() as u8));
    }
    if rng.below(3) == 0 {
        let cut = rng.below(out.len() as u64 + 1) as usize;
        out.truncate(cut);
    }
    out
}

fn packet_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(
        // SAFETY: a valid array for the kernel to fill.
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        },
        0
    );
    let sz: libc::c_int = 4 << 20;
    for fd in fds {
        // SAFETY: valid option pointer.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&sz as *const libc::c_int).cast(),
                4,
            )
        };
    }
    // SAFETY: fresh descriptors we own.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn drain(c: &Connection, cap: Option<u64>) -> Vec<mp::Error> {
    c.set_max_message_size(cap);
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "reader hung");
        match c.recv_bytes() {
            Ok(_) => continue,
            Err(e) => {
                errors.push(e);
                break;
            }
        }
    }
    errors
}

fn check(errors: &[mp::Error]) {
    for e in errors {
        assert!(
            matches!(e.kind(), ErrorKind::Eof | ErrorKind::Os),
            "unexpected error kind: {e:?}"
        );
    }
}

#[test]
fn random_frames_on_stream_sockets() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let input = random_input(&mut rng);
        let (mut w, r) = UnixStream::pair().unwrap();
        let c = Connection::from_fd(r.into(), true, true).unwrap();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
        check(&drain(&c, Some(1 << 20)));
        drop(c); // unblocks the writer if the reader stopped early
        writer.join().unwrap();
    }
}

#[test]
fn random_records_on_packet_pipes() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..300 {
        let input = random_input(&mut rng);
        let (w, r) = packet_pair();
        let c = Connection::from_fd(r, true, true).unwrap();
        // Cut the input into records of random sizes (as a hostile peer could).
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(100_000) as usize).min(rest.len());
            // SAFETY: sending from a live slice.
            let sent = unsafe {
                libc::send(
                    std::os::fd::AsRawFd::as_raw_fd(&w),
                    rest.as_ptr().cast(),
                    n,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if sent < 0 {
                break; // buffer full: the reader sees a truncated stream, which is fine
            }
            rest = &rest[n..];
        }
        drop(w);
        check(&drain(&c, Some(1 << 20)));
    }
}

#[test]
fn truncations_of_valid_frames_are_eof_or_eof_in_message() {
    let mut frame = 1000u32.to_be_bytes().to_vec();
    frame.extend(vec![9u8; 1000]);
    for cut in 0..frame.len() {
        let (mut w, r) = UnixStream::pair().unwrap();
        let c = Connection::from_fd(r.into(), true, true).unwrap();
        w.write_all(&frame[..cut]).unwrap();
        drop(w);
        let err = c.recv_bytes().unwrap_err();
        if cut == 0 {
            assert_eq!(err.kind(), ErrorKind::Eof);
        } else {
            assert_eq!(err.message(), "got end of file during message", "cut {cut}");
        }
    }
}

#[test]
fn random_handshake_messages_fail_cleanly() {
    let mut rng = Rng(42);
    for i in 0..400 {
        let (a, b) = mp::Pipe(true).unwrap();
        let mut msg: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
        if i % 3 == 0 {
            let mut c = b"#CHALLENGE#".to_vec();
            if i % 2 == 0 {
                c.extend_from_slice(b"{sha256}");
            }
            c.extend_from_slice(&msg);
            msg = c;
        }
        b.send_bytes(&msg).unwrap();
        b.send_bytes(&msg).unwrap();
        drop(b);
        // Neither side may panic or hang; a random peer never authenticates.
        assert!(answer_challenge(&a, b"key").is_err());
        let (a, b) = mp::Pipe(true).unwrap();
        b.send_bytes(&msg).unwrap();
        drop(b);
        assert!(deliver_challenge(&a, b"key").is_err());
    }
}

#[test]
fn announced_lengths_inside_values_do_not_allocate() {
    // A typed message whose string claims 2^60 bytes: an error, not an abort.
    let (a, b) = mp::Pipe(true).unwrap();
    let mut bytes = vec![0x05]; // u32 5
    bytes.push(0xff); // varint marker for a u64 length
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    bytes.extend_from_slice(b"abc");
    a.send_bytes(&bytes).unwrap();
    let err = b.recv::<(u32, String)>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization, "{err}");
    // Real data of every size still decodes (sent from a thread: bigger than the buffer).
    let big = "x".repeat(3 << 20);
    let nums: Vec<u128> = vec![0; 100_000];
    let (big2, nums2) = (big.clone(), nums.clone());
    let t = std::thread::spawn(move || {
        a.send(&(7u32, big2)).unwrap();
        a.send(&nums2).unwrap();
    });
    assert_eq!(b.recv::<(u32, String)>().unwrap(), (7, big));
    assert_eq!(b.recv::<Vec<u128>>().unwrap(), nums);
    t.join().unwrap();
}
