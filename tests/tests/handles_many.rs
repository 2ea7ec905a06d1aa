//! Any number of handles in one message: a process's arguments, a `Connection` message, a
//! queue item and a pool task may carry more descriptors than one `sendmsg` takes (Linux's
//! `SCM_MAX_FD`, 253), as CPython's spawn passes any number of connections.

use std::time::Duration;

use mp::{Connection, Lock, Pool, Process, Queue};
use mp_tests::{TIMEOUT, join, methods, raise_fd_limit};

const N: usize = 1000;

fn pipes(n: usize) -> (Vec<Connection>, Vec<Connection>) {
    (0..n).map(|_| mp::Pipe(false).unwrap()).unzip()
}

/// Receives `i` on connection `i`, for every `i`.
fn expect_indices(readers: &[Connection]) {
    for (i, r) in readers.iter().enumerate() {
        assert!(
            r.poll_timeout(TIMEOUT).unwrap(),
            "nothing on connection {i}"
        );
        assert_eq!(r.recv::<usize>().unwrap(), i);
    }
}

#[mp::task]
fn send_indices(writers: Vec<Connection>) {
    for (i, w) in writers.iter().enumerate() {
        w.send(&i).unwrap();
    }
}

#[mp::test]
fn a_thousand_connections_in_a_process_s_arguments() {
    raise_fd_limit(16 * 1024);
    for m in methods() {
        let (readers, writers) = pipes(N);
        let p = Process::builder(send_indices, (writers,))
            .start_method(m)
            .start()
            .unwrap();
        expect_indices(&readers);
        assert_eq!(join(&p), Some(0), "{m}");
    }
}

#[mp::task]
fn try_each(locks: Vec<Lock>, report: Connection) {
    let got: Vec<bool> = locks.iter().map(|l| l.try_acquire().unwrap()).collect();
    report.send(&got).unwrap();
}

#[mp::test]
fn a_thousand_locks_in_a_process_s_arguments() {
    raise_fd_limit(16 * 1024);
    for m in methods() {
        let locks: Vec<Lock> = (0..N).map(|_| Lock::new().unwrap()).collect();
        for l in locks.iter().step_by(2) {
            l.acquire().unwrap();
        }
        let (r, w) = mp::Pipe(false).unwrap();
        let p = Process::builder(try_each, (locks.clone(), w))
            .start_method(m)
            .start()
            .unwrap();
        assert!(r.poll_timeout(TIMEOUT).unwrap(), "{m}: no report");
        let got: Vec<bool> = r.recv().unwrap();
        assert_eq!(join(&p), Some(0), "{m}");
        // The child saw the very locks the parent holds: the even ones were taken.
        let want: Vec<bool> = (0..N).map(|i| i % 2 == 1).collect();
        assert_eq!(got, want, "{m}");
        for l in locks.iter().skip(1).step_by(2) {
            assert!(l.locked(), "{m}: the child's acquisitions are visible here");
        }
    }
}

#[mp::test]
fn a_connection_message_with_a_thousand_handles() {
    raise_fd_limit(16 * 1024);
    let (readers, writers) = pipes(N);
    let (a, b) = mp::Pipe(true).unwrap();
    // Around the big message, small ones: the big one arrives whole and in order.
    a.send(&"before").unwrap();
    a.send(&writers).unwrap();
    a.send(&"after").unwrap();
    drop(writers);
    assert_eq!(b.recv::<String>().unwrap(), "before");
    let got: Vec<Connection> = b.recv().unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "after");
    assert_eq!(got.len(), N);
    for (i, w) in got.iter().enumerate() {
        w.send(&i).unwrap();
    }
    expect_indices(&readers);
}

#[mp::task]
fn forward_handles(q: Queue<Vec<Connection>>, back: Queue<Vec<Connection>>) {
    let item = q.get_timeout(Duration::from_secs(60)).unwrap();
    back.put(item).unwrap();
}

#[mp::test]
fn a_queue_item_with_a_thousand_handles() {
    raise_fd_limit(16 * 1024);
    for m in methods() {
        let (readers, writers) = pipes(N);
        let q: Queue<Vec<Connection>> = Queue::new(0).unwrap();
        let back: Queue<Vec<Connection>> = Queue::new(0).unwrap();
        // A small item with handles before and after: the big one's count (over what an
        // entry records) does not confuse its neighbours.
        let (r1, w1) = pipes(1);
        q.put(w1).unwrap();
        q.put(writers).unwrap();
        let small = q.get_timeout(TIMEOUT).unwrap();
        assert_eq!(small.len(), 1);
        let p = Process::builder(forward_handles, (q.clone(), back.clone()))
            .start_method(m)
            .start()
            .unwrap();
        let got = back.get_timeout(TIMEOUT).unwrap();
        assert_eq!(join(&p), Some(0), "{m}");
        assert_eq!(got.len(), N, "{m}");
        for (i, w) in got.iter().enumerate() {
            w.send(&i).unwrap();
        }
        expect_indices(&readers);
        small[0].send(&0usize).unwrap();
        expect_indices(&r1);
    }
}

#[mp::task]
fn send_indices_count(writers: Vec<Connection>) -> usize {
    for (i, w) in writers.iter().enumerate() {
        w.send(&i).unwrap();
    }
    writers.len()
}

#[mp::test]
fn a_pool_task_with_a_thousand_handles() {
    raise_fd_limit(16 * 1024);
    for m in methods() {
        let pool = Pool::builder()
            .processes(2)
            .start_method(m)
            .build()
            .unwrap();
        let (readers, writers) = pipes(N);
        assert_eq!(
            pool.apply(send_indices_count, (writers,)).unwrap(),
            N,
            "{m}"
        );
        expect_indices(&readers);
        // Many tasks with handles in one batch: each gets its own.
        let (readers, writers): (Vec<_>, Vec<_>) = (0..8).map(|_| pipes(100)).unzip();
        let results = pool.map(send_indices_count, writers).unwrap();
        assert_eq!(results, vec![100; 8], "{m}");
        for r in &readers {
            expect_indices(r);
        }
        pool.close().unwrap();
        pool.join().unwrap();
    }
}
