//! The `WithThreads` variants of CPython's connection tests (CONFORMANCE sections 3, 4, 5 and
//! 17), ported to `mp::dummy::connection`.
//!
//! Source: `Lib/test/_test_multiprocessing.py` of python/cpython (`_TestConnection`,
//! `_TestPoll`, `_TestListenerClient`, `TestWait`), and `Lib/multiprocessing/dummy/
//! connection.py`, main branch at 00811485ee5f. Copyright (c) 2001-2024 Python Software
//! Foundation; All Rights Reserved; used under the PSF License Agreement. Only the behaviours
//! are ported, not the code.
//!
//! Tweaks: the peers are `mp::dummy::Process`es (threads); messages follow mp's `Connection`
//! (EOF once the peer is closed, `duplex=False` ends are one-way, `BufferTooShort` carries the
//! message), where CPython's dummy connection is a bare pair of queues; the listener's address
//! is an in-process name.

use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::dummy::connection::{Address, Client, FAMILIES, Listener, wait};
use mp::dummy::{Connection, Pipe, Process, Queue};

const LONG: Duration = Duration::from_secs(60);

/// `send`/`recv` use mp's codec: a `send` can be read by `recv_bytes` as the encoded bytes,
/// and a `send_bytes` of encoded bytes by `recv` (as in mp).
#[test]
fn codec_is_mps() -> mp::Result<()> {
    let (a, b) = Pipe(true)?;
    a.send(&(7u32, "x".to_string()))?;
    let raw = b.recv_bytes()?;
    let (mpa, mpb) = mp::Pipe(true)?;
    mpa.send(&(7u32, "x".to_string()))?;
    assert_eq!(raw, mpb.recv_bytes()?);
    a.send_bytes(&raw)?;
    assert_eq!(b.recv::<(u32, String)>()?, (7, "x".to_string()));
    // A wrong type is a serialization error, and the message is consumed.
    a.send(&"text")?;
    assert_eq!(
        b.recv::<bool>().unwrap_err().kind(),
        ErrorKind::Serialization
    );
    assert!(!b.poll()?);
    Ok(())
}

/// Handles travel through a dummy connection: dummy ones as themselves, mp's as descriptors.
#[test]
fn handles_travel() -> mp::Result<()> {
    let (a, b) = Pipe(true)?;
    let q = Queue::<u32>::new(0)?;
    let (x, y) = Pipe(true)?;
    a.send(&(q.clone(), y))?;
    let (q2, y2): (Queue<u32>, Connection) = b.recv()?;
    q2.put(5)?;
    assert_eq!(q.get()?, 5);
    y2.send_bytes(b"through the sent end")?;
    assert_eq!(x.recv_bytes()?, b"through the sent end");
    // An mp queue (a descriptor) too.
    let mq = mp::Queue::<u8>::new(0)?;
    a.send(&mq)?;
    b.recv::<mp::Queue<u8>>()?.put(9)?;
    assert_eq!(mq.get()?, 9);
    // A dummy handle cannot cross to another process: an mp transport refuses it.
    let (ma, _mb) = mp::Pipe(true)?;
    let e = ma.send(&q).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization);
    assert!(e.to_string().contains("mp::dummy"), "{e}");
    Ok(())
}

/// `send_value` moves any `Send` value (CPython's dummy `send` does that with every object).
#[test]
fn send_value() -> mp::Result<()> {
    let (a, b) = Pipe(true)?;
    a.send_value(std::rc::Rc::new(5).to_string())?;
    assert_eq!(b.recv_value::<String>()?, "5");
    a.send_value(vec![1u8])?;
    assert_eq!(
        b.recv_value::<String>().unwrap_err().kind(),
        ErrorKind::Type
    );
    a.send_value(1u8)?;
    assert_eq!(b.recv_bytes().unwrap_err().kind(), ErrorKind::Type);
    a.send_bytes(b"x")?;
    assert_eq!(b.recv_value::<u8>().unwrap_err().kind(), ErrorKind::Type);
    Ok(())
}

/// A clone keeps the channel open: EOF comes only when every handle of the end is closed.
#[test]
fn clones_and_eof() -> mp::Result<()> {
    let (a, b) = Pipe(true)?;
    let a2 = a.try_clone()?;
    drop(a);
    assert!(!b.poll_timeout(Duration::from_millis(20))?);
    a2.send_bytes(b"still here")?;
    assert_eq!(b.recv_bytes()?, b"still here");
    drop(a2);
    assert!(b.poll_timeout(LONG)?, "EOF makes it ready");
    assert_eq!(b.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    Ok(())
}

#[mp::task]
fn client_sends(address: Address, msg: String) -> mp::Result<()> {
    let c = Client::connect(&address)?;
    c.send(&msg)?;
    Ok(())
}

/// `_TestListenerClient.test_listener_client` for `families == [None]`.
#[test]
fn listener_client() -> mp::Result<()> {
    assert_eq!(FAMILIES, [None]);
    let l = Listener::new()?;
    let p = Process::new(client_sends, (l.address().clone(), "hello".to_string()));
    p.start()?;
    let conn = l.accept()?;
    assert_eq!(conn.recv::<String>()?, "hello");
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(l.last_accepted(), None);
    Ok(())
}

/// `_TestListenerClient.test_issue14725` and `test_issue16955`.
#[test]
fn client_before_accept_and_client_poll() -> mp::Result<()> {
    let l = Listener::bind("issue14725")?;
    let c = Client::connect("issue14725")?;
    c.send_bytes(b"hello")?;
    drop(c);
    let conn = l.accept()?;
    assert_eq!(conn.recv_bytes()?, b"hello");
    let c = Client::connect(l.address())?;
    let server = l.accept()?;
    server.send_bytes(b"x")?;
    assert!(c.poll_timeout(Duration::from_secs(1))?);
    Ok(())
}

/// `_TestListener.test_multiple_bind` and `test_context`.
#[test]
fn listener_bind_and_close() -> mp::Result<()> {
    let l = Listener::bind("in-use")?;
    let e = Listener::bind("in-use").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Os);
    assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
    let l2 = Listener::builder().address(l.address()).bind();
    assert!(l2.is_err());
    // Closing from another thread wakes a blocked accept with an error.
    let l = std::sync::Arc::new(l);
    let l3 = l.clone();
    let t = std::thread::spawn(move || l3.accept().map(drop).map_err(|e| e.kind()));
    std::thread::sleep(Duration::from_millis(50));
    l.close();
    assert_eq!(t.join().expect("thread"), Err(ErrorKind::Os));
    assert!(l.closed());
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::Os);
    // The name is free again.
    let again = Listener::bind("in-use")?;
    drop(again);
    let _again = Listener::bind("in-use")?;
    // Nobody listens: connection refused.
    let e = Client::connect("nobody-listens").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Os);
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
    // TCP addresses with port 0 get fresh local addresses, as the system picks a port.
    let t1 = Listener::bind(("127.0.0.1", 0))?;
    let t2 = Listener::bind(("127.0.0.1", 0))?;
    assert_ne!(t1.address(), t2.address());
    Ok(())
}

/// The backlog is bounded: a client waits for room (CPython's dummy: `Queue(backlog)`).
#[test]
fn backlog() -> mp::Result<()> {
    let l = Listener::builder().backlog(2).bind()?;
    let _c1 = Client::connect(l.address())?;
    let _c2 = Client::connect(l.address())?;
    let t = Instant::now();
    let e = Client::builder(l.address())
        .timeout(Some(Duration::from_millis(100)))
        .connect()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(t.elapsed() >= Duration::from_millis(100));
    let _s1 = l.accept()?;
    let _c3 = Client::builder(l.address()).timeout(Some(LONG)).connect()?;
    Ok(())
}

/// `TestWait.test_wait`, `test_wait_timeout`, `test_wait_integer` (processes as objects),
/// `test_neg_timeout`.
#[test]
fn wait_on_objects() -> mp::Result<()> {
    let (r1, w1) = Pipe(false)?;
    let (r2, w2) = Pipe(false)?;
    let t = Instant::now();
    assert!(wait(&[&r1, &r2], Some(Duration::from_millis(100)))?.is_empty());
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(wait(&[&r1, &r2], Some(Duration::ZERO))?.is_empty());
    let p = Process::new(
        move || -> mp::Result<()> {
            std::thread::sleep(Duration::from_millis(50));
            w2.send(&"second")?;
            Ok(())
        },
        (),
    );
    p.start()?;
    assert_eq!(wait(&[&r1, &r2], Some(LONG))?, vec![1]);
    assert_eq!(r2.recv::<String>()?, "second");
    p.join_timeout(LONG)?;
    drop(w1);
    let got = wait(&[&r1, &r2], Some(LONG))?;
    assert_eq!(got, vec![0, 1], "EOF counts as ready");
    // Processes and listeners mix through `&dyn Waitable`.
    use mp::dummy::connection::Waitable;
    let stop = mp::dummy::Event::new()?;
    let s2 = stop.clone();
    let worker = Process::new(move || s2.wait(), ());
    worker.start()?;
    let l = Listener::new()?;
    let objects: [&dyn Waitable; 2] = [&worker, &l];
    assert!(wait(&objects, Some(Duration::from_millis(50)))?.is_empty());
    stop.set();
    assert_eq!(wait(&objects, Some(LONG))?, vec![0]);
    let _c = Client::connect(l.address())?;
    assert_eq!(wait(&objects, Some(LONG))?, vec![0, 1]);
    worker.join()?;
    // A process not started cannot be waited on.
    let idle = Process::new(|| {}, ());
    assert!(wait(&[&idle], Some(Duration::ZERO)).is_err());
    Ok(())
}

/// An in-memory connection has no descriptor: `fileno` is `NotImplemented` (and `Os`, "handle
/// is closed", once closed, as for sockets).
#[test]
fn no_descriptor() -> mp::Result<()> {
    let (mut a, _b) = Pipe(true)?;
    assert_eq!(a.fileno().unwrap_err().kind(), ErrorKind::NotImplemented);
    a.close();
    assert_eq!(a.fileno().unwrap_err().kind(), ErrorKind::Os);
    Ok(())
}
