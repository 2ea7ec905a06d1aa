//! A timeout too large for an `Instant` (`Duration::MAX`) means "no deadline", never a panic
//! (`Instant + Duration` overflows): connections, `wait`, pool results, manager queues and
//! conditions.

use std::time::Duration;

use mp::{Pipe, Pool, StartMethod};

#[mp::task]
fn double(x: u64) -> u64 {
    x * 2
}

#[test]
fn connection_poll_and_wait_take_duration_max() {
    let (a, b) = Pipe(true).unwrap();
    a.send(&7u32).unwrap();
    assert!(b.poll_timeout(Duration::MAX).unwrap());
    let ready = mp::connection::wait(&[&b], Some(Duration::MAX)).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(b.recv::<u32>().unwrap(), 7);
}

#[mp::test]
fn pool_results_take_duration_max() {
    for m in mp::get_all_start_methods() {
        let pool = Pool::builder()
            .processes(1)
            .start_method(m)
            .build()
            .unwrap();
        let r = pool.apply_async(double, (21,)).unwrap();
        assert!(r.wait_timeout(Duration::MAX), "{m}");
        assert_eq!(r.get_timeout(Duration::MAX).unwrap(), 42, "{m}");
        let mut it = pool.imap(double, 0..3u64).unwrap();
        assert_eq!(it.next_timeout(Duration::MAX).unwrap().unwrap(), 0, "{m}");
        pool.close().unwrap();
        pool.join().unwrap();
    }
}

#[mp::test]
fn manager_waits_take_duration_max() {
    let m = mp::managers::SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let c = m.condition().unwrap();
    c.acquire().unwrap();
    assert!(c.wait_for(|| true, Some(Duration::MAX)).unwrap());
    c.release().unwrap();
    let q = mp::managers::Queue::new(0);
    q.put_local("x".into()).unwrap();
    assert_eq!(q.get_local(Duration::MAX).unwrap(), "x".into());
    drop(c);
    m.shutdown().unwrap();
}
