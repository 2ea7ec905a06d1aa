//! A fork child of a process whose other threads start and exit threads all the time: std
//! registers every thread it starts or ends under one process-wide mutex, which the child can
//! inherit locked. mp's own threads in a fork child (a manager's serving threads, a pool's, a
//! `dummy` process) must start anyway. With std's `thread::spawn` in the child, about one
//! fork in 600 hung here (2000 forks fail almost always); a forked manager server hung on its
//! first connection the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mp::StartMethod;
use mp::managers::{DictProxy, SyncManager};

const LONG: Duration = Duration::from_secs(30);

/// Starts and joins std threads in a loop until dropped, so that std's thread table lock is
/// often held when another thread forks.
struct Churn {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Churn {
    fn start() -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !s2.load(Ordering::Relaxed) {
                std::thread::spawn(|| {}).join().unwrap();
                n += 1;
            }
            n
        });
        Churn {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            assert!(t.join().unwrap() > 0, "the churn thread started no thread");
        }
    }
}

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

/// In a fork child: a `dummy` process (a thread) and a thread pool, both started and joined.
fn start_threads() -> mp::Result<()> {
    let (a, b) = mp::dummy::Pipe(true)?;
    let t = mp::dummy::Process::new(move |x: u32| b.send(&(x * 2)).unwrap(), (21u32,));
    t.start()?;
    t.join_timeout(LONG)?;
    let got: u32 = a.recv()?;
    if got != 42 {
        return Err(mp::Error::new(mp::ErrorKind::Value, format!("got {got}")));
    }
    let pool = mp::dummy::Pool::new(2)?;
    let squares = pool.map(square, 0..10u64)?;
    pool.close()?;
    pool.join()?;
    if squares.iter().sum::<u64>() != 285 {
        return Err(mp::Error::new(mp::ErrorKind::Value, "bad squares"));
    }
    Ok(())
}

#[mp::test]
fn fork_children_start_threads_while_the_parent_churns_threads() {
    let _serial = mp_tests::global_lock();
    let churn = (Churn::start(), Churn::start(), Churn::start());
    for i in 0..2000 {
        let p = mp::Process::builder(start_threads, ())
            .start_method(StartMethod::Fork)
            .start()
            .unwrap();
        p.join_timeout(LONG).unwrap();
        if p.exitcode().is_none() {
            p.kill().unwrap();
            p.join_timeout(LONG).unwrap();
            panic!("fork child {i} hung starting a thread");
        }
        assert_eq!(p.exitcode(), Some(0), "fork child {i}");
    }
    drop(churn);
}

#[mp::test]
fn forked_manager_servers_answer_while_the_parent_churns_threads() {
    let _serial = mp_tests::global_lock();
    let churn = (Churn::start(), Churn::start(), Churn::start());
    for i in 0..200 {
        let m = SyncManager::builder()
            .start_method(StartMethod::Fork)
            .start()
            .unwrap();
        // Each new client thread of the server is a thread started in the fork child.
        let d: DictProxy<u32, u32> = m.dict().unwrap();
        d.set(i, i + 1).unwrap();
        let d2 = d.clone();
        let got = std::thread::spawn(move || d2.get_item(&i).unwrap())
            .join()
            .unwrap();
        assert_eq!(got, i + 1);
        drop((d, m));
    }
    drop(churn);
}
