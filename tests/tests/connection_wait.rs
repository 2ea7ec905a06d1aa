//! `connection::wait` (CONFORMANCE section 4).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mp::connection::{Connection, Waitable, wait};
use mp::{ErrorKind, Pipe};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn returns_the_ready_subset_and_eof_counts() {
    let (r1, w1) = Pipe(false).unwrap();
    let (r2, w2) = Pipe(false).unwrap();
    let (r3, _w3) = Pipe(false).unwrap();
    let readers = [&r1, &r2, &r3];
    assert!(wait(&readers, Some(Duration::ZERO)).unwrap().is_empty());
    w2.send(&2).unwrap();
    assert_eq!(wait(&readers, Some(LONG)).unwrap(), vec![1]);
    drop(w1);
    assert_eq!(wait(&readers, Some(LONG)).unwrap(), vec![0, 1]);
    assert_eq!(r1.recv::<i32>().unwrap_err().kind(), ErrorKind::Eof);
    assert_eq!(r2.recv::<i32>().unwrap(), 2);
}

#[test]
fn plain_sockets_are_ready_on_data_and_eof() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let (c, d) = UnixStream::pair().unwrap();
    assert!(wait(&[&b, &d], Some(Duration::ZERO)).unwrap().is_empty());
    a.write_all(b"x").unwrap();
    assert_eq!(wait(&[&b, &d], Some(LONG)).unwrap(), vec![0]);
    drop(c);
    assert_eq!(wait(&[&b, &d], Some(LONG)).unwrap(), vec![0, 1]);
}

#[test]
fn timeout_with_nothing_ready_returns_empty_after_the_time() {
    let (_a, b) = Pipe(true).unwrap();
    let t0 = Instant::now();
    assert!(
        wait(&[&b], Some(Duration::from_millis(300)))
            .unwrap()
            .is_empty()
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(290),
        "{:?}",
        t0.elapsed()
    );
    // Zero (Python's negative too) returns at once.
    let t0 = Instant::now();
    assert!(wait(&[&b], Some(Duration::ZERO)).unwrap().is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn none_blocks_until_something_is_ready() {
    let (a, b) = Pipe(true).unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        a.send_bytes(b"late").unwrap();
        a
    });
    let t0 = Instant::now();
    assert_eq!(wait(&[&b], None).unwrap(), vec![0]);
    assert!(t0.elapsed() >= Duration::from_millis(90));
    assert_eq!(b.recv_bytes().unwrap(), b"late");
    drop(t.join().unwrap());
}

#[mp::task]
fn exit_after_message(r: Connection) -> mp::Result<()> {
    r.recv::<()>()
}

#[mp::test]
fn sentinels_mix_with_connections() {
    for method in mp::get_all_start_methods() {
        let (r, w) = Pipe(false).unwrap();
        let (other_r, _other_w) = Pipe(false).unwrap();
        let p = mp::Process::builder(exit_after_message, (r,))
            .start_method(method)
            .build();
        p.start().unwrap();
        let sentinel = p.sentinel().unwrap();
        let objects: [&dyn Waitable; 3] = [&other_r, &sentinel, &p];
        assert!(
            wait(&objects, Some(Duration::from_millis(50)))
                .unwrap()
                .is_empty()
        );
        w.send(&()).unwrap();
        let t0 = Instant::now();
        assert_eq!(wait(&objects, Some(LONG)).unwrap(), vec![1, 2], "{method}");
        assert!(t0.elapsed() < LONG);
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
}

#[test]
fn bogus_handles_are_errors_not_crashes() {
    let err = wait(&[100_000i32], Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os);
    assert_eq!(
        wait(&[-1i32], Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::Value
    );
    let (mut a, _b) = Pipe(true).unwrap();
    a.close();
    assert_eq!(
        wait(&[&a], Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::Os
    );
    let (_r, w) = Pipe(false).unwrap();
    assert!(wait(&[&w], Some(Duration::ZERO)).is_err()); // write-only end
    let p = mp::Process::new(|| {}, ());
    assert_eq!(
        wait(&[&p], Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::Value
    );
}

#[test]
fn a_listener_is_ready_when_a_client_waits() {
    use mp::connection::{Client, Listener};
    let l = Listener::builder().authenticate(false).bind().unwrap();
    assert!(wait(&[&l], Some(Duration::ZERO)).unwrap().is_empty());
    let _c = Client::builder(l.address())
        .authenticate(false)
        .connect()
        .unwrap();
    assert_eq!(wait(&[&l], Some(LONG)).unwrap(), vec![0]);
}

#[mp::task]
fn foo(w: Connection) -> mp::Result<()> {
    for i in 0..10 {
        w.send(&(i, mp::current_process().name()))?;
    }
    Ok(())
}

/// The wait() example of the Python docs: 4 children, 10 messages each.
#[mp::test]
fn messages_from_many_children() {
    for method in mp::get_all_start_methods() {
        let mut readers = Vec::new();
        let mut procs = Vec::new();
        for _ in 0..4 {
            let (r, w) = Pipe(false).unwrap();
            readers.push(r);
            let p = mp::Process::builder(foo, (w,)).start_method(method).build();
            p.start().unwrap(); // our copy of `w` is closed here
            procs.push(p);
        }
        let deadline = Instant::now() + LONG;
        let mut got = Vec::new();
        // Under fork, the other children inherited the other write ends: stop on count.
        while got.len() < 40 {
            assert!(
                Instant::now() < deadline,
                "{method}: only {} messages",
                got.len()
            );
            for i in wait(&readers, Some(LONG)).unwrap().into_iter().rev() {
                match readers[i].recv::<(i32, String)>() {
                    Ok(m) => got.push(m),
                    Err(e) if e.kind() == ErrorKind::Eof => {
                        readers.remove(i);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        for p in &procs {
            p.join_timeout(LONG).unwrap();
            assert_eq!(p.exitcode(), Some(0));
        }
        got.sort();
        assert_eq!(got.iter().filter(|(i, _)| *i == 9).count(), 4, "{method}");
    }
}

/// One `wait` over descriptors and in-memory objects: an mp pipe, a dummy pipe, a dummy
/// thread process. Each wakes the wait on its own, and a timeout with nothing ready is empty.
#[test]
fn descriptors_and_in_memory_objects_mix_in_one_wait() {
    let (r_os, w_os) = Pipe(false).unwrap();
    let (r_mem, w_mem) = mp::dummy::Pipe(false).unwrap();
    let objects: [&dyn Waitable; 2] = [&r_os, &r_mem];
    let t0 = Instant::now();
    assert!(
        wait(&objects, Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty()
    );
    assert!(t0.elapsed() >= Duration::from_millis(50));
    // An in-memory message sent from another thread wakes a wait that also polls a socket.
    let sender = std::thread::spawn(move || w_mem.send(&1u8).map(|_| w_mem));
    assert_eq!(wait(&objects, Some(LONG)).unwrap(), vec![1]);
    let w_mem = sender.join().unwrap().unwrap();
    assert_eq!(r_mem.recv::<u8>().unwrap(), 1);
    // A socket message wakes it too.
    w_os.send(&2u8).unwrap();
    assert_eq!(wait(&objects, Some(LONG)).unwrap(), vec![0]);
    assert_eq!(r_os.recv::<u8>().unwrap(), 2);
    // End of file counts on both sides.
    drop(w_mem);
    drop(w_os);
    assert_eq!(wait(&objects, Some(LONG)).unwrap(), vec![0, 1]);
    // A thread process is ready once it ended.
    let stop = mp::dummy::Event::new().unwrap();
    let s2 = stop.clone();
    let worker = mp::dummy::Process::new(move || s2.wait(), ());
    worker.start().unwrap();
    let (r3, _w3) = Pipe(false).unwrap();
    let objects: [&dyn Waitable; 2] = [&r3, &worker];
    assert!(wait(&objects, Some(Duration::ZERO)).unwrap().is_empty());
    stop.set();
    assert_eq!(wait(&objects, Some(LONG)).unwrap(), vec![1]);
    worker.join().unwrap();
}
