//! Pipe and Listener/Client benchmarks (BASELINE.md rows 2 and 3), beside
//! `benches/python/connection_pipe.py` (same ids, same work).
//!
//! `cargo bench -p mp-benches --bench connection_pipe`
//!
//! Each figure is the time of one operation: one round trip, one message, one connection.
//! `_pinned` figures run both processes on CPU 0 (the VM's cross-CPU wake-up otherwise
//! dominates, see BASELINE.md).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mp::Pipe;
use mp::connection::{Client, Connection, Listener};

/// Round trips of a u64 through an echoing child.
fn roundtrip_u64(c: &mut Criterion, pinned: bool) {
    let old = pinned.then(mp_benches::pin_to_cpu0);
    let (a, b) = Pipe(true).unwrap();
    let p = mp_benches::fork(move || {
        while let Ok(v) = b.recv::<u64>() {
            if v == u64::MAX {
                break;
            }
            b.send(&v).unwrap();
        }
    });
    let mut g = c.benchmark_group("pipe");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let name = if pinned {
        "roundtrip_u64_pinned"
    } else {
        "roundtrip_u64"
    };
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let t = Instant::now();
            for i in 0..iters {
                a.send(&i).unwrap();
                let v: u64 = a.recv().unwrap();
                debug_assert_eq!(v, i);
            }
            t.elapsed()
        })
    });
    g.finish();
    a.send(&u64::MAX).unwrap();
    mp_benches::finish(p);
    if let Some(old) = old {
        mp_benches::unpin(&old);
    }
}

fn roundtrip_pinned(c: &mut Criterion) {
    roundtrip_u64(c, true);
}

/// The floor `pipe/roundtrip_u64_pinned` is compared with: the same round trip of 8 bytes
/// with bare `send`/`recv` (`write`/`read`) system calls and no framing, serialization or
/// checks, between the same two processes pinned to CPU 0. `raw_socketpair` uses a
/// `SOCK_SEQPACKET` socketpair (what `Pipe` is made of); `raw_pipe` two `pipe(2)`s (faster
/// in the kernel, but unable to carry handles).
fn raw_roundtrip(c: &mut Criterion, name: &str, socket: bool) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let old = mp_benches::pin_to_cpu0();
    let mut a = [0; 2];
    let mut b = [0; 2];
    // SAFETY: arrays of two descriptors for the kernel to fill; checked below.
    let ok = unsafe {
        if socket {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                a.as_mut_ptr(),
            ) == 0
        } else {
            libc::pipe2(a.as_mut_ptr(), libc::O_CLOEXEC) == 0
                && libc::pipe2(b.as_mut_ptr(), libc::O_CLOEXEC) == 0
        }
    };
    assert!(ok, "socketpair/pipe");
    // SAFETY: fresh descriptors, owned from here on.
    let own = |fd| unsafe { OwnedFd::from_raw_fd(fd) };
    // (parent reads, parent writes, child reads, child writes)
    let (pr, pw, cr, cw) = if socket {
        let (x, y) = (own(a[0]), own(a[1]));
        (x.try_clone().unwrap(), x, y.try_clone().unwrap(), y)
    } else {
        (own(b[0]), own(a[1]), own(a[0]), own(b[1]))
    };
    let p = mp_benches::fork(move || {
        let mut buf = [0u8; 8];
        loop {
            // SAFETY: reads into / writes from a live 8-byte buffer.
            let n = unsafe { libc::read(cr.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
            if n != 8 || buf == [0xff; 8] {
                break;
            }
            // SAFETY: as above.
            unsafe { libc::write(cw.as_raw_fd(), buf.as_ptr().cast(), 8) };
        }
    });
    let mut g = c.benchmark_group("pipe");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let t = Instant::now();
            for i in 0..iters {
                let mut buf = i.to_le_bytes();
                // SAFETY: writes from / reads into a live 8-byte buffer.
                unsafe {
                    libc::write(pw.as_raw_fd(), buf.as_ptr().cast(), 8);
                    libc::read(pr.as_raw_fd(), buf.as_mut_ptr().cast(), 8);
                }
                debug_assert_eq!(u64::from_le_bytes(buf), i);
            }
            t.elapsed()
        })
    });
    g.finish();
    // SAFETY: writes from a live 8-byte buffer.
    unsafe { libc::write(pw.as_raw_fd(), [0xffu8; 8].as_ptr().cast(), 8) };
    mp_benches::finish(p);
    mp_benches::unpin(&old);
}

fn raw_roundtrips(c: &mut Criterion) {
    raw_roundtrip(c, "raw_socketpair_roundtrip_pinned", true);
    raw_roundtrip(c, "raw_pipe_roundtrip_pinned", false);
}

/// `n` independent ping-pong pairs of processes at once (2n processes, unpinned: more
/// runnable processes than CPUs). One iteration is one round trip of every pair, so total
/// round trips per second are n / (time per iteration). Same work as
/// `benches/python/connection_pipe.py`'s `pairs`.
fn pairs(c: &mut Criterion) {
    for n in [2usize, 4, 8] {
        let mut ctrls = Vec::new();
        let mut children = Vec::new();
        for _ in 0..n {
            let (a, b) = Pipe(true).unwrap();
            let (c1, c2) = Pipe(true).unwrap();
            children.push(mp_benches::fork(move || {
                while let Ok(v) = b.recv::<u64>() {
                    if v == u64::MAX {
                        break;
                    }
                    b.send(&v).unwrap();
                }
            }));
            children.push(mp_benches::fork(move || {
                while let Ok(iters) = c2.recv::<u64>() {
                    if iters == u64::MAX {
                        a.send(&u64::MAX).unwrap();
                        break;
                    }
                    for i in 0..iters {
                        a.send(&i).unwrap();
                        let v: u64 = a.recv().unwrap();
                        debug_assert_eq!(v, i);
                    }
                    c2.send(&iters).unwrap();
                }
            }));
            ctrls.push(c1);
        }
        let mut g = c.benchmark_group("pipe");
        g.sample_size(10).measurement_time(Duration::from_secs(3));
        g.bench_function(format!("pairs_{n}"), |bench| {
            bench.iter_custom(|iters| {
                let t = Instant::now();
                for c in &ctrls {
                    c.send(&iters).unwrap();
                }
                for c in &ctrls {
                    let done: u64 = c.recv().unwrap();
                    assert_eq!(done, iters);
                }
                t.elapsed()
            })
        });
        g.finish();
        for c in &ctrls {
            c.send(&u64::MAX).unwrap();
        }
        children.into_iter().for_each(mp_benches::finish);
    }
}

fn roundtrip_unpinned(c: &mut Criterion) {
    roundtrip_u64(c, false);
}

/// Messages of `size` bytes to a child that counts them and acknowledges each batch.
fn throughput(
    c: &mut Criterion,
    group: &str,
    name: &str,
    size: usize,
    sender: Connection,
    receiver: Connection,
) {
    let p = mp_benches::fork(move || {
        let mut buf = vec![0u8; size];
        loop {
            let n: u64 = receiver.recv().unwrap();
            if n == 0 {
                break;
            }
            for _ in 0..n {
                let got = receiver.recv_bytes_into(&mut buf, 0).unwrap();
                assert_eq!(got, size);
            }
            receiver.send(&n).unwrap();
        }
    });
    let msg = vec![7u8; size];
    let mut g = c.benchmark_group(group);
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(criterion::Throughput::Bytes(size as u64));
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let t = Instant::now();
            sender.send(&iters).unwrap();
            for _ in 0..iters {
                sender.send_bytes(&msg).unwrap();
            }
            let n: u64 = sender.recv().unwrap();
            assert_eq!(n, iters);
            t.elapsed()
        })
    });
    g.finish();
    sender.send(&0u64).unwrap();
    mp_benches::finish(p);
}

/// A typed 1 MiB `Vec<u8>` through `send`/`recv` (serde + codec), per message.
fn send_vec(c: &mut Criterion) {
    const SIZE: usize = 1 << 20;
    let (sender, receiver) = Pipe(true).unwrap();
    let p = mp_benches::fork(move || {
        loop {
            let n: u64 = receiver.recv().unwrap();
            if n == 0 {
                break;
            }
            for _ in 0..n {
                let v: Vec<u8> = receiver.recv().unwrap();
                assert_eq!(v.len(), SIZE);
            }
            receiver.send(&n).unwrap();
        }
    });
    let msg = vec![7u8; SIZE];
    let mut g = c.benchmark_group("pipe");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(criterion::Throughput::Bytes(SIZE as u64));
    g.bench_function("send_vec_1mib", |bench| {
        bench.iter_custom(|iters| {
            let t = Instant::now();
            sender.send(&iters).unwrap();
            for _ in 0..iters {
                sender.send(&msg).unwrap();
            }
            let n: u64 = sender.recv().unwrap();
            assert_eq!(n, iters);
            t.elapsed()
        })
    });
    g.finish();
    sender.send(&0u64).unwrap();
    mp_benches::finish(p);
}

fn send_bytes(c: &mut Criterion) {
    let (a, b) = Pipe(true).unwrap();
    throughput(c, "pipe", "send_bytes_1mib", 1 << 20, a, b);
    let old = mp_benches::pin_to_cpu0();
    let (a, b) = Pipe(true).unwrap();
    throughput(c, "pipe", "send_bytes_1mib_pinned", 1 << 20, a, b);
    mp_benches::unpin(&old);
    let (a, b) = Pipe(true).unwrap();
    throughput(c, "pipe", "send_bytes_64b", 64, a, b);
}

/// Connect + authenticate + close, against a listener accepting in a thread.
fn connect_auth_with(c: &mut Criterion, name: &str, pinned: bool) {
    let old = pinned.then(mp_benches::pin_to_cpu0);
    let listener = Listener::builder().authkey(b"bench key").bind().unwrap();
    let address = listener.address().clone();
    let server = std::thread::spawn(move || {
        while let Ok(conn) = listener.accept() {
            if conn.recv_bytes().is_ok_and(|b| b == b"stop") {
                break;
            }
        }
    });
    let mut g = c.benchmark_group("listener");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function(name, |bench| {
        bench.iter(|| {
            let conn = Client::builder(&address)
                .authkey(b"bench key")
                .connect()
                .unwrap();
            drop(conn);
        })
    });
    g.finish();
    let conn = Client::builder(&address)
        .authkey(b"bench key")
        .connect()
        .unwrap();
    conn.send_bytes(b"stop").unwrap();
    server.join().unwrap();
    if let Some(old) = old {
        mp_benches::unpin(&old);
    }
}

fn connect_auth(c: &mut Criterion) {
    connect_auth_with(c, "connect_auth", false);
    connect_auth_with(c, "connect_auth_pinned", true);
}

/// Small-message round trips over an accepted connection to an echoing child.
fn socket_roundtrip(c: &mut Criterion, name: &str, address: &str) {
    let old = mp_benches::pin_to_cpu0();
    let listener = Listener::builder()
        .address(address)
        .authkey(b"k")
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let p = mp_benches::fork(move || {
        let conn = Client::builder(&address).authkey(b"k").connect().unwrap();
        while let Ok(b) = conn.recv_bytes() {
            if b.is_empty() {
                break;
            }
            conn.send_bytes(&b).unwrap();
        }
    });
    let conn = listener.accept().unwrap();
    let mut g = c.benchmark_group("listener");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let mut buf = [0u8; 64];
            let t = Instant::now();
            for _ in 0..iters {
                conn.send_bytes(b"ping-ping").unwrap();
                conn.recv_bytes_into(&mut buf, 0).unwrap();
            }
            t.elapsed()
        })
    });
    g.finish();
    conn.send_bytes(b"").unwrap();
    mp_benches::finish(p);
    mp_benches::unpin(&old);
}

fn listener_roundtrips(c: &mut Criterion) {
    let unix = std::env::temp_dir().join(format!("mp-bench-{}.sock", std::process::id()));
    socket_roundtrip(c, "roundtrip_unix_pinned", &unix.to_string_lossy());
    socket_roundtrip(c, "roundtrip_tcp_pinned", "127.0.0.1:0");
}

criterion_group!(
    benches,
    roundtrip_pinned,
    raw_roundtrips,
    roundtrip_unpinned,
    pairs,
    send_bytes,
    send_vec,
    connect_auth,
    listener_roundtrips
);
criterion_main!(benches);
