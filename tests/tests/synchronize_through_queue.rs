//! Synchronization objects and shared values travel through Queues and Connections, not only as
//! task arguments: a worker receives a Lock, an Event and a Value inside a queue item and uses
//! them, under every start method.

use std::time::Duration;

use mp::sharedctypes::Value;
use mp::{Event, Lock, Process, Queue};

const LONG: Duration = Duration::from_secs(60);

type Kit = (Lock, Event, Value<i64>);

#[mp::task]
fn worker(jobs: Queue<Kit>, n: i64) -> mp::Result<()> {
    let (lock, done, total) = jobs.get_timeout(LONG)?;
    for _ in 0..n {
        let _guard = lock.lock()?;
        total.set(total.get()? + 1)?;
    }
    done.set();
    Ok(())
}

#[mp::task]
fn over_a_pipe(conn: mp::Connection) -> mp::Result<()> {
    let (lock, done, total): Kit = conn.recv()?;
    lock.acquire()?;
    total.set(total.get()? + 100)?;
    lock.release()?;
    done.set();
    Ok(())
}

#[mp::test]
fn lock_event_value_through_a_queue() {
    for m in mp::get_all_start_methods() {
        let q: Queue<Kit> = Queue::new(0).unwrap();
        let lock = Lock::new().unwrap();
        let total = Value::new(0i64).unwrap();
        let events: Vec<Event> = (0..2).map(|_| Event::new().unwrap()).collect();
        let procs: Vec<Process> = (0..2)
            .map(|_| {
                Process::builder(worker, (q.clone(), 500))
                    .start_method(m)
                    .start()
                    .unwrap()
            })
            .collect();
        for e in &events {
            q.put((lock.clone(), e.clone(), total.clone())).unwrap();
        }
        for (e, p) in events.iter().zip(&procs) {
            assert!(e.wait_timeout(LONG), "{m}: a worker never finished");
            p.join_timeout(LONG).unwrap();
            assert_eq!(p.exitcode(), Some(0), "{m}");
        }
        assert_eq!(total.get().unwrap(), 1000, "{m}: lost updates");
        assert!(!lock.locked());
    }
}

#[mp::test]
fn lock_event_value_over_a_connection() {
    for m in mp::get_all_start_methods() {
        let (ours, theirs) = mp::Pipe(true).unwrap();
        let p = Process::builder(over_a_pipe, (theirs,))
            .start_method(m)
            .start()
            .unwrap();
        let lock = Lock::new().unwrap();
        let done = Event::new().unwrap();
        let total = Value::new(1i64).unwrap();
        ours.send(&(lock.clone(), done.clone(), total.clone()))
            .unwrap();
        assert!(done.wait_timeout(LONG), "{m}");
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{m}");
        assert_eq!(total.get().unwrap(), 101, "{m}");
    }
}
