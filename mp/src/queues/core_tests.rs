#![cfg(test)]

use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use super::*;

fn core(maxsize: usize, capacity: usize) -> Core {
    Core::new(QUEUE, maxsize, capacity, 7).unwrap()
}

fn put(c: &Core, bytes: &[u8]) {
    c.put(bytes, &[], Wait::Never).unwrap();
}

fn get(c: &Core) -> Vec<u8> {
    c.get(Wait::Never).unwrap().0
}

/// Bytes of the memfd actually backed by memory.
fn resident(c: &Core) -> u64 {
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our own descriptor into a plain-data struct.
    let r = unsafe { libc::fstat(c.region.as_fd().as_raw_fd(), &mut st) };
    assert_eq!(r, 0);
    st.st_blocks as u64 * 512
}

#[test]
fn fifo_across_the_end_of_the_ring() {
    let c = core(0, MIN_CAPACITY);
    // Keep a backlog so that the positions never reset and entries wrap around.
    let mut next_put = 0u32;
    let mut next_get = 0u32;
    let item = |n: u32| -> Vec<u8> { vec![n as u8; (n as usize * 37) % 700] };
    for _ in 0..3 {
        put(&c, &item(next_put));
        next_put += 1;
    }
    for _ in 0..2000 {
        put(&c, &item(next_put));
        next_put += 1;
        assert_eq!(get(&c), item(next_get));
        next_get += 1;
    }
    while next_get < next_put {
        assert_eq!(get(&c), item(next_get));
        next_get += 1;
    }
    assert!(matches!(c.get(Wait::Never), Err(Fail::Timeout)));
    assert_eq!(c.get_st(USED), 0);
}

#[test]
fn bytes_limit_full_and_too_large() {
    let c = core(0, MIN_CAPACITY);
    let big = vec![1u8; 1000];
    let mut n = 0;
    while c.put(&big, &[], Wait::Never).is_ok() {
        n += 1;
    }
    assert_eq!(n, MIN_CAPACITY / (1000 + 8 + 16));
    assert!(matches!(c.put(&big, &[], Wait::Never), Err(Fail::Timeout)));
    let t = Instant::now();
    assert!(matches!(
        c.put(&big, &[], Wait::timeout(Duration::from_millis(30))),
        Err(Fail::Timeout)
    ));
    assert!(t.elapsed() >= Duration::from_millis(30));
    get(&c);
    put(&c, &big);
    match c.put(&vec![0u8; MIN_CAPACITY], &[], Wait::Never) {
        Err(Fail::Err(e)) => assert_eq!(e.kind(), ErrorKind::Value),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dead_holder_mid_transaction_is_rolled_back() {
    let c = core(0, MIN_CAPACITY);
    put(&c, b"one");
    put(&c, b"two");
    // A process takes the lock, starts a get and dies in the middle of it.
    assert!(c.ctl().mutex.lock(None).unwrap());
    c.begin();
    c.set_st(HEAD, 1234);
    c.set_st(USED, 5);
    c.ctl().mutex.set_owner_pid_for_tests(0x3fff_fff0);
    let t = Instant::now();
    assert_eq!(get(&c), b"one");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(get(&c), b"two");
    assert_eq!(c.qsize(), 0);
    // The queue works normally afterwards.
    put(&c, b"three");
    assert_eq!(get(&c), b"three");
}

#[test]
fn a_dead_holder_without_transaction_is_harmless() {
    let c = core(1, MIN_CAPACITY);
    put(&c, b"x");
    assert!(c.ctl().mutex.lock(None).unwrap());
    c.ctl().mutex.set_owner_pid_for_tests(0x3fff_fff1);
    // A blocked put (the queue is full) notices and fails in time, not hangs.
    assert!(matches!(
        c.put(b"y", &[], Wait::timeout(Duration::from_millis(200))),
        Err(Fail::Timeout)
    ));
    assert_eq!(get(&c), b"x");
    put(&c, b"y");
    assert_eq!(get(&c), b"y");
}

#[test]
fn memory_follows_the_items() {
    let c = core(0, 256 << 20);
    let base = resident(&c);
    let big = vec![7u8; 32 << 20];
    put(&c, &big);
    put(&c, &big);
    assert!(resident(&c) >= base + (64 << 20) - (1 << 20));
    assert_eq!(get(&c).len(), big.len());
    // The first item's chunks (beyond the hot zone) went back to the kernel.
    assert!(resident(&c) < base + (34 << 20), "{}", resident(&c));
    assert_eq!(get(&c).len(), big.len());
    assert!(resident(&c) <= base + HOT + PAGE as u64, "{}", resident(&c));
}

#[test]
fn memory_is_released_while_a_backlog_streams() {
    let c = core(0, 64 << 20);
    let item = vec![3u8; 4000];
    for _ in 0..10 {
        put(&c, &item);
    }
    // The positions never reset (the queue never empties) and lap the ring twice.
    for _ in 0..(2 * (64 << 20) / 4000) {
        put(&c, &item);
        assert_eq!(get(&c).len(), item.len());
    }
    assert!(resident(&c) < 4 << 20, "{}", resident(&c));
}

#[test]
fn descriptors_travel_with_their_items() {
    let c = core(0, MIN_CAPACITY);
    let (a, b) = crate::sys::socketpair().unwrap();
    c.put(b"with", &[a], Wait::Never).unwrap();
    put(&c, b"without");
    let (bytes, fds) = c.get(Wait::Never).unwrap();
    assert_eq!((bytes.as_slice(), fds.len()), (&b"with"[..], 1));
    crate::sys::write_all(fds[0].as_raw_fd(), b"!").unwrap();
    let mut buf = [0u8; 1];
    let mut sock = std::os::unix::net::UnixStream::from(b);
    std::io::Read::read_exact(&mut sock, &mut buf).unwrap();
    assert_eq!(&buf, b"!");
    assert_eq!(c.get(Wait::Never).unwrap().1.len(), 0);
}

#[test]
fn stale_and_lost_descriptors() {
    let c = core(0, MIN_CAPACITY);
    let (a, _b) = crate::sys::socketpair().unwrap();
    // A putter that died after sending its descriptors but before publishing its entry.
    let id = c.ctl().fd_seq.fetch_add(1, Ordering::Relaxed) + 1;
    assert!(c.chan.send(id, &[a.as_raw_fd()]).unwrap());
    c.put(b"later", &[a.try_clone().unwrap()], Wait::Never)
        .unwrap();
    let (bytes, fds) = c.get(Wait::Never).unwrap();
    assert_eq!((bytes.as_slice(), fds.len()), (&b"later"[..], 1));
    // A getter that died after taking the descriptors but before removing the entry.
    c.put(b"orphan", &[a.try_clone().unwrap()], Wait::Never)
        .unwrap();
    c.put(b"next", &[a.try_clone().unwrap()], Wait::Never)
        .unwrap();
    let meta_id = c.ctl().fd_seq.load(Ordering::Relaxed) - 1;
    c.chan.recv(meta_id, 1).unwrap();
    match c.get(Wait::Never) {
        Err(Fail::Err(e)) => assert_eq!(e.kind(), ErrorKind::Runtime),
        other => panic!("{other:?}"),
    }
    // The entry was consumed and the next one is intact.
    let (bytes, fds) = c.get(Wait::Never).unwrap();
    assert_eq!((bytes.as_slice(), fds.len()), (&b"next"[..], 1));
}

#[test]
fn immediate_shutdown_discards_and_counts_tasks() {
    let c = Core::new(JOINABLE, 0, MIN_CAPACITY, 7).unwrap();
    let (a, _b) = crate::sys::socketpair().unwrap();
    put(&c, b"1");
    c.put(b"2", &[a], Wait::Never).unwrap();
    put(&c, b"3");
    assert_eq!(get(&c), b"1");
    c.shutdown(true).unwrap();
    assert_eq!((c.qsize(), c.unfinished()), (0, 1));
    assert!(matches!(c.get(Wait::Never), Err(Fail::ShutDown)));
    assert!(matches!(c.put(b"4", &[], Wait::Never), Err(Fail::ShutDown)));
    assert!(!c.join(Wait::Never).unwrap());
    c.task_done().unwrap();
    assert!(c.join(Wait::Never).unwrap());
    assert!(c.task_done().is_err());
}

/// Another process scribbled over the queue's memory: a length beyond the ring, a `used` word
/// beyond it, a tail outside it. Each is an error, never a read or write outside the ring
/// (found by the `queue_ring` fuzz target: the length was checked against `used` only).
#[test]
fn corrupt_words_are_errors_not_accesses_outside_the_ring() {
    let c = core(0, MIN_CAPACITY);
    put(&c, b"x");
    c.set_st(USED, u64::MAX / 2);
    c.write_at(0, &(MIN_CAPACITY as u64 * 4).to_le_bytes());
    assert!(matches!(c.get(Wait::Never), Err(Fail::Err(_))));
    c.set_st(USED, 0);
    c.set_st(TAIL, u64::MAX);
    assert!(matches!(c.put(b"y", &[], Wait::Never), Err(Fail::Err(_))));
}
