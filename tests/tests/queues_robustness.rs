//! What CPython's queues cannot promise and mp's do: a process may put and exit at once (its
//! items survive, its exit never waits for a reader: the "joining processes that use queues"
//! deadlock of CPython's docs does not happen), and a process killed while it holds a queue's
//! lock does not break the queue.

mod queues_util;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mp::{Queue, SimpleQueue, StartMethod};
use queues_util::{LONG, join_ok, start};

fn methods() -> Vec<StartMethod> {
    mp::get_all_start_methods()
}

// ----- "Joining processes that use queues" -----

#[mp::task]
fn put_a_megabyte(q: Queue<String>) -> mp::Result<()> {
    q.put("X".repeat(1_000_000))?;
    Ok(())
}

/// The example of CPython's programming guidelines: the child puts 1 MB and the parent joins
/// it *before* getting. In CPython this deadlocks; in mp the child exits at once.
#[mp::test]
fn joining_a_process_that_put_a_big_item_does_not_deadlock() {
    for method in methods() {
        let q = Queue::new(0).unwrap();
        let p = start(method, put_a_megabyte, (q.clone(),));
        join_ok(&p, method); // this deadlocks in CPython
        let obj = q.get_timeout(LONG).unwrap();
        assert_eq!(obj.len(), 1_000_000);
        assert!(obj.bytes().all(|b| b == b'X'));
    }
}

#[mp::task]
fn put_and_exit(q: Queue<(u32, u32, Vec<u8>)>, id: u32, n: u32) -> mp::Result<()> {
    for seq in 0..n {
        // Some big items among small ones.
        let len = if seq % 10 == 0 { 50_000 } else { 16 };
        q.put((id, seq, vec![id as u8; len]))?;
    }
    Ok(())
}

/// Many children put items and exit immediately; all of them are joined before anything is
/// read, and every item is there, in order per child.
#[mp::test]
fn many_children_put_and_exit_at_once() {
    const CHILDREN: u32 = 10;
    const N: u32 = 50;
    for method in methods() {
        let q = Queue::new(0).unwrap();
        let kids: Vec<_> = (0..CHILDREN)
            .map(|id| start(method, put_and_exit, (q.clone(), id, N)))
            .collect();
        for p in &kids {
            join_ok(p, method);
        }
        assert_eq!(q.qsize() as u32, CHILDREN * N);
        let mut next: HashMap<u32, u32> = HashMap::new();
        for _ in 0..CHILDREN * N {
            let (id, seq, data) = q.get_nowait().unwrap();
            let want = next.entry(id).or_insert(0);
            assert_eq!(seq, *want, "child {id} out of order");
            *want += 1;
            assert!(data.iter().all(|&b| b == id as u8));
        }
        assert!(q.empty().unwrap());
    }
}

#[mp::task]
fn simple_put_and_exit(q: SimpleQueue<Vec<u8>>) -> mp::Result<()> {
    q.put(vec![7; 1_500_000])?;
    Ok(())
}

#[mp::test]
fn simple_queue_put_and_exit() {
    for method in methods() {
        let q = SimpleQueue::new().unwrap();
        let p = start(method, simple_put_and_exit, (q.clone(),));
        join_ok(&p, method);
        assert_eq!(q.get_timeout(LONG).unwrap().len(), 1_500_000);
    }
}

// ----- a lock holder that dies -----

#[mp::task]
fn hold_lock_then_hang(q: Queue<u32>, ready: SimpleQueue<()>) -> mp::Result<()> {
    q.put(1)?;
    q.__hold_lock_forever()?;
    ready.put(())?;
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A process SIGKILLed while it holds the queue's lock: the other users (one already waiting
/// for the lock, and later ones) carry on, with the items intact.
#[mp::test]
fn a_holder_killed_while_holding_the_lock() {
    for method in methods() {
        let q = Queue::new(0).unwrap();
        let ready = SimpleQueue::new().unwrap();
        let p = start(method, hold_lock_then_hang, (q.clone(), ready.clone()));
        ready.get_timeout(LONG).unwrap();

        // A thread of ours blocks on the lock the child holds.
        let q2 = q.clone();
        let waiter = std::thread::spawn(move || {
            let first = q2.get_timeout(LONG);
            let second = q2.get_timeout(LONG);
            (
                first.map_err(|e| e.to_string()),
                second.map_err(|e| e.to_string()),
            )
        });

        let t = Instant::now();
        p.kill().unwrap();
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(-libc::SIGKILL));
        q.put(2).unwrap();
        let (first, second) = waiter.join().unwrap();
        assert_eq!(first, Ok(1), "{method}");
        assert_eq!(second, Ok(2), "{method}");
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "recovery took {:?}",
            t.elapsed()
        );

        // And the queue keeps working for everybody.
        q.put(3).unwrap();
        assert_eq!(q.get_timeout(LONG).unwrap(), 3);
        assert!(q.empty().unwrap());
    }
}

#[mp::task]
fn block_in_get(q: Queue<u32>, ready: SimpleQueue<()>) -> mp::Result<()> {
    ready.put(())?;
    let _ = q.get()?;
    Ok(())
}

/// A getter killed while it sleeps in `get` leaves nothing stuck: the next items go to the
/// live getters.
#[mp::test]
fn a_getter_killed_while_waiting() {
    for method in methods() {
        let q = Queue::new(0).unwrap();
        let ready = SimpleQueue::new().unwrap();
        let victim = start(method, block_in_get, (q.clone(), ready.clone()));
        ready.get_timeout(LONG).unwrap();
        victim.kill().unwrap();
        victim.join_timeout(LONG).unwrap();

        let survivor = start(method, block_in_get, (q.clone(), ready.clone()));
        ready.get_timeout(LONG).unwrap();
        q.put(5).unwrap();
        join_ok(&survivor, method);
        assert!(q.empty().unwrap());
    }
}

#[mp::task]
fn put_big_items_forever(q: Queue<Vec<u8>>, ready: SimpleQueue<()>) -> mp::Result<()> {
    ready.put(())?;
    loop {
        q.put(vec![9u8; 2 << 20])?;
    }
}

/// A producer killed at an arbitrary point of its puts (most likely in the middle of copying
/// a big item): every item that arrives is whole, and the queue goes on.
#[mp::test]
fn a_producer_killed_mid_put() {
    for method in methods() {
        let q = Queue::new(4).unwrap();
        let ready = SimpleQueue::new().unwrap();
        let p = start(method, put_big_items_forever, (q.clone(), ready.clone()));
        ready.get_timeout(LONG).unwrap();
        // Keep it busy putting.
        for _ in 0..3 {
            let item = q.get_timeout(LONG).unwrap();
            assert!(item.len() == 2 << 20 && item.iter().all(|&b| b == 9));
        }
        p.kill().unwrap();
        p.join_timeout(LONG).unwrap();
        while let Ok(item) = q.get_nowait() {
            assert!(item.len() == 2 << 20 && item.iter().all(|&b| b == 9));
        }
        q.put(vec![1, 2, 3]).unwrap();
        assert_eq!(q.get_timeout(LONG).unwrap(), vec![1, 2, 3]);
    }
}
