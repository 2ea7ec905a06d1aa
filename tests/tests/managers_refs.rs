//! Reference transfer: a manager proxy moved to another process (as a task argument, through
//! a Connection or a Queue) and dropped by the sender keeps its referent alive until the
//! receiver is done with it, under every start method; no reference leaks in the normal
//! paths nor when a message is not sent.
//!
//! Every test holds `mp_tests::global_lock()`: a fork child holds a reference on every
//! live proxy of this process until it exits, so counting a manager's objects while another
//! test forks would count those too.

use std::time::{Duration, Instant};

use mp::managers::{ListProxy, SyncManager};
use mp::{Connection, Event, Queue, StartMethod};

const LONG: Duration = Duration::from_secs(60);

/// Waits (bounded) until the server holds `n` objects: decrefs are sent without waiting
/// for a reply, so the server may still be processing the last ones.
fn wait_objects(m: &SyncManager, n: usize, what: &str) {
    let t0 = Instant::now();
    loop {
        let now = m.number_of_objects().unwrap();
        if now == n {
            return;
        }
        assert!(
            t0.elapsed() < LONG,
            "{what}: {now} objects, expected {n}: {}",
            m.debug_info().unwrap()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn manager() -> SyncManager {
    SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap()
}

/// Waits for the parent's go, then uses the proxy it was given and reports its length.
#[mp::task]
fn use_list(l: ListProxy<i32>, go: Event, out: Connection) -> mp::Result<()> {
    if !go.wait_timeout(LONG) {
        return Err(mp::Error::new(mp::ErrorKind::Timeout, "no go"));
    }
    l.append(3)?;
    out.send(&l.len()?)?;
    Ok(())
}

/// Receives a proxy from `inbox`, waits for the go, uses it and reports its length.
#[mp::task]
fn recv_list(inbox: Connection, go: Event, out: Connection) -> mp::Result<()> {
    if !inbox.poll_timeout(LONG)? {
        return Err(mp::Error::new(mp::ErrorKind::Timeout, "nothing received"));
    }
    let l: ListProxy<i32> = inbox.recv()?;
    if !go.wait_timeout(LONG) {
        return Err(mp::Error::new(mp::ErrorKind::Timeout, "no go"));
    }
    l.append(3)?;
    out.send(&l.len()?)?;
    Ok(())
}

/// Gets a proxy from `q`, waits for the go, uses it and reports its length.
#[mp::task]
fn get_list(q: Queue<ListProxy<i32>>, go: Event, out: Connection) -> mp::Result<()> {
    let l = q
        .get_timeout(LONG)
        .map_err(|e| mp::Error::new(mp::ErrorKind::Timeout, e.to_string()))?;
    if !go.wait_timeout(LONG) {
        return Err(mp::Error::new(mp::ErrorKind::Timeout, "no go"));
    }
    l.append(3)?;
    out.send(&l.len()?)?;
    Ok(())
}

fn finish(p: &mp::Process, r: &Connection, method: StartMethod) {
    assert!(r.poll_timeout(LONG).unwrap(), "{method}: no reply");
    let len: usize = r.recv().unwrap();
    assert_eq!(len, 3, "{method}");
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0), "{method}");
}

#[mp::test]
fn a_proxy_moved_into_a_process_outlives_the_parents_drop() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    for method in mp::get_all_start_methods() {
        let l: ListProxy<i32> = m.list_from([1, 2]).unwrap();
        let go = Event::new().unwrap();
        let (r, w) = mp::Pipe(false).unwrap();
        // `l` is moved: the parent has no copy left once the process is started.
        let p = mp::Process::builder(use_list, (l, go.clone(), w))
            .start_method(method)
            .start()
            .unwrap();
        // The child's reference keeps the list alive, before the child touched it.
        assert_eq!(m.number_of_objects().unwrap(), base + 1, "{method}");
        go.set();
        finish(&p, &r, method);
        wait_objects(&m, base, &format!("{method}: after the child exited"));
    }
}

#[mp::test]
fn a_proxy_sent_through_a_connection_outlives_the_senders_drop() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    for method in mp::get_all_start_methods() {
        let go = Event::new().unwrap();
        let (inbox_r, inbox_w) = mp::Pipe(false).unwrap();
        let (r, w) = mp::Pipe(false).unwrap();
        let p = mp::Process::builder(recv_list, (inbox_r, go.clone(), w))
            .start_method(method)
            .start()
            .unwrap();
        let l: ListProxy<i32> = m.list_from([1, 2]).unwrap();
        inbox_w.send(&l).unwrap();
        drop(l);
        // The message's reference keeps the list alive, received or not.
        assert_eq!(m.number_of_objects().unwrap(), base + 1, "{method}");
        go.set();
        finish(&p, &r, method);
        wait_objects(&m, base, &format!("{method}: after the child exited"));
    }
}

#[mp::test]
fn a_proxy_put_on_a_queue_outlives_the_senders_drop() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    for method in mp::get_all_start_methods() {
        let go = Event::new().unwrap();
        let q: Queue<ListProxy<i32>> = Queue::new(0).unwrap();
        let (r, w) = mp::Pipe(false).unwrap();
        let p = mp::Process::builder(get_list, (q.clone(), go.clone(), w))
            .start_method(method)
            .start()
            .unwrap();
        let l: ListProxy<i32> = m.list_from([1, 2]).unwrap();
        q.put(l).unwrap();
        assert_eq!(m.number_of_objects().unwrap(), base + 1, "{method}");
        go.set();
        finish(&p, &r, method);
        wait_objects(&m, base, &format!("{method}: after the child exited"));
    }
}

#[mp::test]
fn a_fork_child_keeps_the_proxies_it_inherited_alive() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    // Proxies the child never touches: it gives their lent references back at exit.
    let others: Vec<ListProxy<i32>> = (0..3).map(|_| m.list().unwrap()).collect();
    let l: ListProxy<i32> = m.list_from([1, 2]).unwrap();
    let go = Event::new().unwrap();
    let (r, w) = mp::Pipe(false).unwrap();
    let child_go = go.clone();
    let p = mp::Process::builder(
        move || -> mp::Result<()> {
            if !child_go.wait_timeout(LONG) {
                return Err(mp::Error::new(mp::ErrorKind::Timeout, "no go"));
            }
            l.append(3)?;
            w.send(&l.len()?)?;
            Ok(())
        },
        (),
    )
    .start_method(StartMethod::Fork)
    .build();
    p.start().unwrap();
    // The closure (and the parent's only `l`) is gone from the parent once started: the
    // child's lent references keep the objects alive.
    assert_eq!(m.number_of_objects().unwrap(), base + 4);
    go.set();
    finish(&p, &r, StartMethod::Fork);
    wait_objects(&m, base + 3, "after the fork child exited");
    drop(others);
    wait_objects(&m, base, "after everything was dropped");
}

#[mp::test]
fn a_thousand_sends_of_a_proxy_leave_nothing_behind() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    let l: ListProxy<i32> = m.list_from([7]).unwrap();
    let (a, b) = mp::Pipe(true).unwrap();
    for _ in 0..1000 {
        a.send(&l).unwrap();
        let got: ListProxy<i32> = b.recv().unwrap();
        assert_eq!(got.len().unwrap(), 1);
    }
    // The same proxy twice in one message, and in two messages before any is received.
    a.send(&(&l, &l)).unwrap();
    a.send(&l).unwrap();
    drop(l);
    let (x, y): (ListProxy<i32>, ListProxy<i32>) = b.recv().unwrap();
    let z: ListProxy<i32> = b.recv().unwrap();
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    x.append(1).unwrap();
    drop(x);
    drop(y);
    assert_eq!(z.len().unwrap(), 2);
    drop(z);
    wait_objects(&m, base, "after 1000 sends");
}

#[mp::test]
fn a_message_that_is_not_sent_gives_its_references_back() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    let l: ListProxy<i32> = m.list().unwrap();
    // A Connection whose peer is gone: the send fails.
    let (a, b) = mp::Pipe(true).unwrap();
    drop(b);
    assert!(a.send(&l).is_err());
    // A full queue: the put fails and hands the item back.
    let q: Queue<ListProxy<i32>> = Queue::new(1).unwrap();
    q.put(l.clone()).unwrap();
    let back = match q.put_nowait(l.clone()) {
        Err(mp::queues::TryPutError::Full(item)) => item,
        other => panic!("expected Full, got {other:?}"),
    };
    drop(back);
    let first = q.get_timeout(LONG).unwrap();
    drop(first);
    drop(q);
    drop(l);
    wait_objects(&m, base, "after failed sends");
}

/// A pool initializer using the proxy it was given (an error breaks the pool).
#[mp::task]
fn init_with_list(l: ListProxy<i32>) -> mp::Result<()> {
    l.append(1)
}

#[mp::task]
fn ident(x: i32) -> i32 {
    x
}

#[mp::test]
fn a_proxy_in_pool_initializer_arguments_serves_every_worker() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    for method in mp::get_all_start_methods() {
        let l: ListProxy<i32> = m.list().unwrap();
        // The arguments are decoded once per worker, and workers are replaced after each
        // task: the pool keeps the list alive for all of them after the caller's drop.
        let pool = mp::Pool::builder()
            .processes(2)
            .maxtasksperchild(1)
            .initializer(init_with_list, (l,))
            .context(mp::Context::new(method))
            .build()
            .unwrap();
        assert_eq!(m.number_of_objects().unwrap(), base + 1, "{method}");
        let out = pool
            .map_async(ident, 0..6)
            .unwrap()
            .get_timeout(LONG)
            .unwrap();
        assert_eq!(out, (0..6).collect::<Vec<_>>(), "{method}");
        // Workers leave normally (a terminated worker gives back nothing it holds).
        pool.close().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = pool.join();
            drop(pool);
            let _ = tx.send(r);
        });
        rx.recv_timeout(LONG).expect("join").unwrap();
        wait_objects(&m, base, &format!("{method}: after the pool was dropped"));
    }
}

#[mp::test]
fn a_proxy_in_thread_pool_initializer_arguments_serves_every_thread() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let base = m.number_of_objects().unwrap();
    let l: ListProxy<i32> = m.list().unwrap();
    let pool = mp::dummy::Pool::builder()
        .processes(3)
        .initializer(init_with_list, (l,))
        .build()
        .unwrap();
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    let out = pool
        .map_async(ident, 0..6)
        .unwrap()
        .get_timeout(LONG)
        .unwrap();
    assert_eq!(out, (0..6).collect::<Vec<_>>());
    pool.terminate().unwrap();
    drop(pool);
    wait_objects(&m, base, "after the thread pool was dropped");
}

fn request(conn: &Connection, req: &mp::managers::protocol::Request) {
    let mut buf = Vec::new();
    req.encode(&mut buf).unwrap();
    conn.send_bytes(&buf).unwrap();
}

fn reply(conn: &Connection) -> mp::managers::protocol::Reply {
    assert!(conn.poll_timeout(LONG).unwrap(), "no reply");
    mp::managers::protocol::Reply::decode(&conn.recv_bytes().unwrap()).unwrap()
}

#[mp::test]
fn increfmany_is_all_or_none_and_decrefmany_frees_at_zero() {
    let _serial = mp_tests::global_lock();
    use mp::managers::protocol::{Reply, Request};
    let m = SyncManager::builder()
        .address(("127.0.0.1", 0))
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let conn = mp::connection::Client::builder(m.address().unwrap())
        .authkey(mp::current_process().authkey().as_slice())
        .timeout(Some(LONG))
        .connect()
        .unwrap();
    let a: ListProxy<i32> = m.list().unwrap();
    let b: ListProxy<i32> = m.list().unwrap();
    let (ia, ib) = (a.base().token().id(), b.base().token().id());
    let base = m.number_of_objects().unwrap();
    // One missing object: an error, and no count changed.
    request(
        &conn,
        &Request::IncrefMany {
            refs: vec![(ia, 1), (12345, 1)],
        },
    );
    assert!(matches!(reply(&conn), Reply::Error { .. }));
    // Three more on `a`, one more on `b`.
    request(
        &conn,
        &Request::IncrefMany {
            refs: vec![(ia, 3), (ib, 1)],
        },
    );
    assert!(matches!(reply(&conn), Reply::Return(_)));
    drop(a);
    drop(b);
    // The raw references keep both alive after their proxies are gone (this thread's
    // decrefs and the count travel on the same connection, in order).
    assert_eq!(m.number_of_objects().unwrap(), base);
    request(
        &conn,
        &Request::DecrefMany {
            refs: vec![(ia, 2), (ib, 1)],
        },
    );
    wait_objects(&m, base - 1, "b freed");
    request(
        &conn,
        &Request::DecrefMany {
            refs: vec![(ia, 1)],
        },
    );
    wait_objects(&m, base - 2, "a freed");
    m.shutdown().unwrap();
}
