//! Queues between processes of every start method: many producers and consumers, queues
//! handed down to grandchildren, handles travelling inside items, queues travelling through
//! connections and other queues.

mod queues_util;

use std::collections::HashMap;

use mp::queues::TryPutError;
use mp::{Connection, ErrorKind, JoinableQueue, Process, Queue, SimpleQueue, StartMethod};
use queues_util::{LONG, join_ok, start, start_daemon};

fn methods() -> Vec<StartMethod> {
    mp::get_all_start_methods()
}

// ----- many producers, many consumers -----

#[mp::task]
fn produce(q: Queue<Option<(u32, u32)>>, id: u32, n: u32) -> mp::Result<()> {
    for seq in 0..n {
        q.put(Some((id, seq)))?;
    }
    Ok(())
}

#[mp::task]
fn consume(q: Queue<Option<(u32, u32)>>, results: Queue<Vec<(u32, u32)>>) -> mp::Result<()> {
    let mut got = Vec::new();
    while let Some(item) = q.get_timeout(LONG)? {
        got.push(item);
    }
    results.put(got)?;
    Ok(())
}

/// Every item arrives exactly once, and each consumer sees each producer's items in the order
/// they were put (FIFO per producer).
fn check_streams(streams: &[Vec<(u32, u32)>], producers: u32, n: u32) {
    let mut seen: HashMap<u32, Vec<u32>> = HashMap::new();
    for stream in streams {
        let mut last: HashMap<u32, u32> = HashMap::new();
        for &(id, seq) in stream {
            if let Some(&prev) = last.get(&id) {
                assert!(seq > prev, "producer {id}: {seq} after {prev}");
            }
            last.insert(id, seq);
            seen.entry(id).or_default().push(seq);
        }
    }
    assert_eq!(seen.len() as u32, producers);
    for (id, mut seqs) in seen {
        seqs.sort_unstable();
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "producer {id}");
    }
}

#[mp::test]
fn two_producers_two_consumers() {
    const N: u32 = 2000;
    for method in methods() {
        let q = Queue::new(0).unwrap();
        let results = Queue::new(0).unwrap();
        let producers: Vec<_> = (0..2)
            .map(|id| start(method, produce, (q.clone(), id, N)))
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| start(method, consume, (q.clone(), results.clone())))
            .collect();
        for p in &producers {
            join_ok(p, method);
        }
        for _ in &consumers {
            q.put(None).unwrap();
        }
        let streams: Vec<_> = consumers
            .iter()
            .map(|_| results.get_timeout(LONG).unwrap())
            .collect();
        for p in &consumers {
            join_ok(p, method);
        }
        check_streams(&streams, 2, N);
    }
}

/// A bounded queue between processes: producers wait for room, nothing is lost.
#[mp::test]
fn bounded_queue_backpressure() {
    const N: u32 = 500;
    for method in methods() {
        let q = Queue::new(3).unwrap();
        let results = Queue::new(0).unwrap();
        let producers: Vec<_> = (0..3)
            .map(|id| start(method, produce, (q.clone(), id, N)))
            .collect();
        let consumer = start(method, consume, (q.clone(), results.clone()));
        for p in &producers {
            join_ok(p, method);
        }
        q.put(None).unwrap();
        let stream = results.get_timeout(LONG).unwrap();
        join_ok(&consumer, method);
        check_streams(&[stream], 3, N);
        assert!(q.qsize() == 0 && !q.full());
    }
}

#[mp::task]
fn simple_produce(q: SimpleQueue<(u32, u32)>, id: u32, n: u32) -> mp::Result<()> {
    for seq in 0..n {
        q.put((id, seq))?;
    }
    Ok(())
}

#[mp::test]
fn simple_queue_many_producers() {
    const N: u32 = 1000;
    for method in methods() {
        let q = SimpleQueue::new().unwrap();
        let producers: Vec<_> = (0..3)
            .map(|id| start(method, simple_produce, (q.clone(), id, N)))
            .collect();
        let stream: Vec<_> = (0..3 * N).map(|_| q.get_timeout(LONG).unwrap()).collect();
        for p in &producers {
            join_ok(p, method);
        }
        check_streams(&[stream], 3, N);
        assert!(q.empty().unwrap());
    }
}

// ----- JoinableQueue producers and consumers -----

#[mp::task]
fn joinable_consumer(q: JoinableQueue<String>, done: Queue<String>) -> mp::Result<()> {
    loop {
        let job = q.get()?;
        done.put(format!("{job} done"))?;
        q.task_done()?;
    }
}

#[mp::task]
fn joinable_producer(q: JoinableQueue<String>, name: String) -> mp::Result<()> {
    for i in 0..10 {
        q.put(format!("{name}-{i}"))?;
    }
    // Blocks until every item (of every producer) was taken and marked done.
    q.join()?;
    Ok(())
}

#[mp::test]
fn joinable_queue_producers_and_consumers() {
    for method in methods() {
        let q = JoinableQueue::new(0).unwrap();
        let done = Queue::new(0).unwrap();
        let consumers: Vec<_> = (0..2)
            .map(|_| start_daemon(method, joinable_consumer, (q.clone(), done.clone())))
            .collect();
        let producers: Vec<_> = ["nana", "aqua", "peko"]
            .into_iter()
            .map(|name| start(method, joinable_producer, (q.clone(), name.to_string())))
            .collect();
        for p in &producers {
            join_ok(p, method);
        }
        assert_eq!(q.unfinished_tasks(), 0);
        let mut all: Vec<String> = (0..30).map(|_| done.get_timeout(LONG).unwrap()).collect();
        all.sort();
        assert_eq!(all.len(), 30);
        assert!(all.iter().all(|s| s.ends_with(" done")));
        for p in &consumers {
            p.terminate().unwrap();
            p.join_timeout(LONG).unwrap();
            assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
        }
    }
}

// ----- grandchildren -----

#[mp::task]
fn grandchild_put(q: Queue<(u32, String)>) -> mp::Result<()> {
    q.put((2, mp::current_process().name()))?;
    Ok(())
}

#[mp::task]
fn child_with_grandchild(q: Queue<(u32, String)>, method: StartMethod) -> mp::Result<()> {
    q.put((1, mp::current_process().name()))?;
    let p = Process::builder(grandchild_put, (q.clone(),))
        .start_method(method)
        .build();
    p.start()?;
    p.join_timeout(LONG)?;
    if p.exitcode() != Some(0) {
        return Err(mp::Error::new(
            ErrorKind::Process,
            format!("grandchild exited with {:?}", p.exitcode()),
        ));
    }
    Ok(())
}

#[mp::test]
fn queue_passed_to_grandchildren() {
    for method in methods() {
        let q = Queue::new(0).unwrap();
        let p = start(method, child_with_grandchild, (q.clone(), method));
        join_ok(&p, method);
        let (a, b) = (q.get_timeout(LONG).unwrap(), q.get_timeout(LONG).unwrap());
        assert_eq!(a.0, 1);
        assert_eq!(b.0, 2);
        assert!(
            b.1.starts_with(&a.1) && b.1.len() > a.1.len(),
            "{a:?} {b:?}"
        );
    }
}

/// Under fork a closure can capture the queue (no serialization at all).
#[mp::test]
fn queue_captured_by_fork_closures() {
    let q = Queue::new(0).unwrap();
    let q2 = q.clone();
    let p = Process::builder(
        move || {
            let q3 = q2.clone();
            let g = Process::builder(move || q3.put("grandchild".to_string()).is_ok(), ())
                .start_method(StartMethod::Fork)
                .build();
            g.start().unwrap();
            g.join_timeout(LONG).unwrap();
            q2.put("child".to_string()).unwrap();
        },
        (),
    )
    .start_method(StartMethod::Fork)
    .build();
    p.start().unwrap();
    join_ok(&p, StartMethod::Fork);
    assert_eq!(q.get_timeout(LONG).unwrap(), "grandchild");
    assert_eq!(q.get_timeout(LONG).unwrap(), "child");
}

// ----- handles inside items -----

#[mp::task]
fn answer_on_queued_connection(q: Queue<Connection>) -> mp::Result<()> {
    let conn = q.get_timeout(LONG)?;
    let n: u32 = conn.recv()?;
    conn.send(&(n * 2))?;
    Ok(())
}

#[mp::task]
fn put_own_pipe_end(q: Queue<Connection>) -> mp::Result<()> {
    let (mine, theirs) = mp::Pipe(true)?;
    q.put(theirs)?;
    mine.send(&"sent before exiting".to_string())?;
    Ok(())
}

#[mp::test]
fn connections_inside_items() {
    for method in methods() {
        // Parent -> child.
        let q = Queue::new(0).unwrap();
        let p = start(method, answer_on_queued_connection, (q.clone(),));
        let (ours, theirs) = mp::Pipe(true).unwrap();
        q.put(theirs).unwrap();
        ours.send(&21u32).unwrap();
        assert!(ours.poll_timeout(LONG).unwrap());
        assert_eq!(ours.recv::<u32>().unwrap(), 42);
        join_ok(&p, method);

        // Child -> parent, after the child exited.
        let p = start(method, put_own_pipe_end, (q.clone(),));
        join_ok(&p, method);
        let conn = q.get_timeout(LONG).unwrap();
        assert!(conn.poll_timeout(LONG).unwrap());
        assert_eq!(conn.recv::<String>().unwrap(), "sent before exiting");
    }
}

#[mp::task]
fn put_into_inner(outer: Queue<Queue<u32>>) -> mp::Result<()> {
    let inner = outer.get_timeout(LONG)?;
    inner.put(42)?;
    Ok(())
}

#[mp::test]
fn queues_inside_queues() {
    for method in methods() {
        let outer = Queue::new(0).unwrap();
        let inner = Queue::new(0).unwrap();
        let p = start(method, put_into_inner, (outer.clone(),));
        outer.put(inner.clone()).unwrap();
        assert_eq!(inner.get_timeout(LONG).unwrap(), 42);
        join_ok(&p, method);
    }
}

/// Many items with handles waiting at once, some of them without.
#[mp::test]
fn many_items_with_handles() {
    let q: Queue<(u32, Option<Connection>)> = Queue::new(0).unwrap();
    let mut peers = Vec::new();
    for i in 0..100u32 {
        if i % 3 == 0 {
            q.put((i, None)).unwrap();
        } else {
            let (a, b) = mp::Pipe(true).unwrap();
            q.put((i, Some(a))).unwrap();
            peers.push((i, b));
        }
    }
    let mut got = HashMap::new();
    for i in 0..100u32 {
        let (n, conn) = q.get_timeout(LONG).unwrap();
        assert_eq!(n, i);
        assert_eq!(conn.is_some(), i % 3 != 0);
        if let Some(c) = conn {
            got.insert(n, c);
        }
    }
    for (i, b) in peers {
        got[&i].send(&i).unwrap();
        assert_eq!(b.recv::<u32>().unwrap(), i);
    }
}

// ----- queues through connections -----

#[mp::task]
fn receive_queue_and_put(conn: Connection) -> mp::Result<()> {
    let q: Queue<String> = conn.recv()?;
    q.put("via a connection".into())?;
    Ok(())
}

#[mp::test]
fn queue_sent_through_a_connection() {
    for method in methods() {
        let (ours, theirs) = mp::Pipe(true).unwrap();
        let p = start(method, receive_queue_and_put, (theirs,));
        let q = Queue::<String>::new(0).unwrap();
        ours.send(&q).unwrap();
        assert_eq!(q.get_timeout(LONG).unwrap(), "via a connection");
        join_ok(&p, method);
    }
}

#[mp::test]
fn wrong_item_type_or_kind_is_refused_on_arrival() {
    let (a, b) = mp::Pipe(true).unwrap();
    a.send(&Queue::<u32>::new(0).unwrap()).unwrap();
    let err = b.recv::<Queue<String>>().unwrap_err();
    assert!(err.to_string().contains("does not carry"), "{err}");

    a.send(&SimpleQueue::<u32>::new().unwrap()).unwrap();
    let err = b.recv::<Queue<u32>>().unwrap_err();
    assert!(err.to_string().contains("SimpleQueue"), "{err}");

    // A JoinableQueue can be received as a plain Queue, not the other way round.
    a.send(&JoinableQueue::<u32>::new(0).unwrap()).unwrap();
    let q = b.recv::<Queue<u32>>().unwrap();
    q.put(1).unwrap();
    a.send(&Queue::<u32>::new(0).unwrap()).unwrap();
    assert!(b.recv::<JoinableQueue<u32>>().is_err());
}

// ----- waking a blocked process -----

#[mp::task]
fn wait_for_item(q: Queue<u64>, ready: Queue<()>, out: Queue<u64>) -> mp::Result<()> {
    ready.put(())?;
    let v = q.get()?;
    out.put(v + 1)?;
    Ok(())
}

#[mp::test]
fn a_blocked_getter_wakes_up() {
    for method in methods() {
        let (q, ready, out) = (
            Queue::new(0).unwrap(),
            Queue::new(0).unwrap(),
            Queue::new(0).unwrap(),
        );
        let p = start_daemon(
            method,
            wait_for_item,
            (q.clone(), ready.clone(), out.clone()),
        );
        ready.get_timeout(LONG).unwrap();
        // Let it go to sleep for real (past the spin), then wake it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        q.put(41).unwrap();
        assert_eq!(out.get_timeout(LONG).unwrap(), 42);
        join_ok(&p, method);
    }
}

// ----- size limits -----

#[mp::test]
fn item_larger_than_the_queue() {
    let q = Queue::with_capacity(0, 64 * 1024).unwrap();
    let item = vec![1u8; 100_000];
    let err = q.put(item).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Value);
    assert!(err.to_string().contains("does not fit"), "{err}");
    assert_eq!(err.into_inner().len(), 100_000);
    // The queue is unharmed.
    q.put(vec![2u8; 10]).unwrap();
    assert_eq!(q.get().unwrap(), vec![2u8; 10]);
}

#[mp::test]
fn ring_full_of_bytes_behaves_like_maxsize() {
    let q = Queue::with_capacity(0, 64 * 1024).unwrap();
    let item = vec![1u8; 10_000];
    let mut n = 0;
    loop {
        match q.put_nowait(item.clone()) {
            Ok(()) => n += 1,
            Err(TryPutError::Full(back)) => {
                assert_eq!(back, item);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(n >= 5, "{n}");
    assert!(
        q.put_timeout(item.clone(), std::time::Duration::from_millis(20))
            .is_err()
    );
    q.get().unwrap();
    q.put_nowait(item).unwrap();
    assert_eq!(q.qsize(), n);
}
