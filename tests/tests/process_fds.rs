//! Descriptors and children: what a child inherits, and passing descriptors between
//! processes (`reduction.send_handle`/`recv_handle`).

use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use mp::{Connection, ErrorKind, Process, StartMethod};
use mp_tests::{join, methods, recv};

#[mp::task]
fn count_fds(conn: Connection) {
    conn.send(&mp_tests::open_fds()).unwrap();
}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[mp::test]
fn child_fd_count_does_not_grow_with_siblings() {
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let measure = || {
            let (a, b) = mp::Pipe(true).unwrap();
            let p = Process::builder(count_fds, (b,))
                .start_method(m)
                .start()
                .unwrap();
            let fds: Vec<i32> = recv(&a);
            assert_eq!(join(&p), Some(0));
            fds
        };
        let alone = measure();
        let siblings: Vec<Process> = (0..10)
            .map(|_| {
                Process::builder(sleep_ms, (60_000,))
                    .start_method(m)
                    .start()
                    .unwrap()
            })
            .collect();
        let crowded = measure();
        for s in &siblings {
            s.kill().unwrap();
        }
        for s in &siblings {
            join(s);
        }
        assert_eq!(alone.len(), crowded.len(), "{m}: {alone:?} vs {crowded:?}");
        // stdio and the one connection it was given (plus the listing handle at most).
        assert!(alone.len() <= 5, "{m}: {alone:?}");
    }
}

#[mp::task]
fn write_through_handle(conn: Connection, text: String) {
    let fd = mp::reduction::recv_handle(&conn).unwrap();
    let mut f = std::fs::File::from(fd);
    f.write_all(text.as_bytes()).unwrap();
    conn.send(&f.as_raw_fd()).unwrap();
}

fn temp_file(tag: &str) -> (std::fs::File, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("mp-handle-{}-{tag}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    (f, path)
}

#[mp::test]
fn send_handle_to_a_child() {
    for m in methods() {
        let (mut file, path) = temp_file(m.as_str());
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(write_through_handle, (b, format!("via {m}")))
            .start_method(m)
            .start()
            .unwrap();
        mp::reduction::send_handle(&a, &file).unwrap();
        let _child_fd: i32 = recv(&a);
        assert_eq!(join(&p), Some(0));
        let mut s = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut s).unwrap();
        assert_eq!(s, format!("via {m}"));
        let _ = std::fs::remove_file(path);
    }
}

#[mp::task]
fn send_back_high_fd(conn: Connection) {
    // Receive a descriptor, move it above 256 and send it back.
    let fd = mp::reduction::recv_handle(&conn).unwrap();
    // SAFETY: duplicating a descriptor we own to a free number above 256.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 300) };
    assert!(high > 256);
    // SAFETY: `high` is a fresh descriptor owned by nobody else.
    let high = unsafe { OwnedFd::from_raw_fd(high) };
    drop(fd);
    mp::reduction::send_handle(&conn, &high).unwrap();
    conn.send(&high.as_raw_fd()).unwrap();
}

#[mp::test]
fn large_fd_transfer() {
    for m in methods() {
        let (mut file, path) = temp_file(&format!("large-{m}"));
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(send_back_high_fd, (b,))
            .start_method(m)
            .start()
            .unwrap();
        mp::reduction::send_handle(&a, &file).unwrap();
        assert!(a.poll_timeout(mp_tests::TIMEOUT).unwrap());
        let back = mp::reduction::recv_handle(&a).unwrap();
        let high: i32 = recv(&a);
        assert!(high > 256);
        assert_eq!(join(&p), Some(0));
        let mut f = std::fs::File::from(back);
        f.write_all(b"round trip").unwrap();
        let mut s = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut s).unwrap();
        assert_eq!(s, "round trip");
        let _ = std::fs::remove_file(path);
    }
}

#[mp::task]
fn send_plain_bytes(conn: Connection) {
    conn.send_bytes(b"no descriptor here").unwrap();
}

#[mp::test]
fn missing_fd_is_a_runtime_error() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(send_plain_bytes, (b,))
            .start_method(m)
            .start()
            .unwrap();
        assert!(a.poll_timeout(mp_tests::TIMEOUT).unwrap());
        let e = mp::reduction::recv_handle(&a).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Runtime, "{e}");
        assert_eq!(join(&p), Some(0));
    }
}

#[mp::task]
fn write_to(handle: mp::reduction::Handle, text: String) {
    let mut f = std::fs::File::from(handle.into_owned_fd());
    f.write_all(text.as_bytes()).unwrap();
}

#[mp::test]
fn a_file_can_be_a_task_argument() {
    // `reduction::Handle` is serializable: the descriptor travels with the arguments under
    // every start method (duplicated by fork, passed with SCM_RIGHTS otherwise).
    for m in methods() {
        let (mut file, path) = temp_file(&format!("arg-{m}"));
        let handle = mp::reduction::Handle::new(file.try_clone().unwrap().into());
        let p = Process::builder(write_to, (handle, format!("argument under {m}")))
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(join(&p), Some(0));
        let mut s = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut s).unwrap();
        assert_eq!(s, format!("argument under {m}"));
        let _ = std::fs::remove_file(path);
    }
}
