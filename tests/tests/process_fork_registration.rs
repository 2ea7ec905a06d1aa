//! Forks meet mp's process-wide locks in the order of their ranks, whatever happened first.
//!
//! A fork in one thread while another thread uses one of mp's process-wide locks for the first
//! time. mp holds its locks across `fork()` (so that a fork child finds them free); when they
//! were registered for that on first use, a first use under another of them (the forkserver
//! client's lock, then the inherited server's) could meet a concurrent fork whose prepare
//! handler held the registry and waited for the outer lock: both threads hung for good. CI
//! once hung an hour on `process_daemon.rs` this way. Each trial runs in a fresh spawn child,
//! where no lock has been used yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mp::managers::ListProxy;
use mp::{Connection, Event, Process, StartMethod};
use mp_tests::TIMEOUT;

#[mp::task]
fn noop() {}

/// Forks (raw `fork()`, which runs mp's prepare handler) in a loop on one thread while this
/// thread starts its first forkserver child.
#[mp::task]
fn first_forkserver_start_while_another_thread_forks() {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let forker = std::thread::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            // SAFETY: the child exits at once with an async-signal-safe call.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: leaving the child at once.
                unsafe { libc::_exit(0) };
            }
            assert!(pid > 0, "fork failed");
            let mut status = 0;
            // SAFETY: reaping the child just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    });
    let p = Process::builder(noop, ())
        .start_method(StartMethod::Forkserver)
        .start()
        .unwrap();
    p.join_timeout(TIMEOUT).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    stop.store(true, Ordering::Relaxed);
    forker.join().unwrap();
}

#[mp::test]
fn a_first_lock_use_never_meets_a_concurrent_fork_in_a_deadlock() {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut trials = 0;
    while trials < 40 && Instant::now() < deadline {
        let p = Process::builder(first_forkserver_start_while_another_thread_forks, ())
            .start_method(StartMethod::Spawn)
            .start()
            .unwrap();
        p.join_timeout(Duration::from_secs(20)).unwrap();
        if p.exitcode().is_none() {
            p.kill().unwrap();
            p.join_timeout(TIMEOUT).unwrap();
            panic!("trial {trials}: a start hung while another thread forked");
        }
        assert_eq!(p.exitcode(), Some(0), "trial {trials}");
        trials += 1;
    }
    assert!(trials >= 5, "only {trials} trials ran");
}

#[mp::task]
fn use_both(l: ListProxy<i32>, e: Event, out: Connection) -> mp::Result<()> {
    e.set();
    l.append(2)?;
    out.send(&l.len()?)
}

/// Arena handles made before the first manager proxy, then a fork that lends both: the
/// lending must take the proxies' table before the arena's, as the ranks say (a debug build
/// panics on the other order; it could deadlock with a concurrent fork).
#[mp::task]
fn lend_blocks_made_before_proxies() -> mp::Result<()> {
    let e = Event::new()?;
    let m = mp::Manager()?;
    let l: ListProxy<i32> = m.list_from([1])?;
    let (r, w) = mp::Pipe(false)?;
    let p = Process::builder(use_both, (l.clone(), e.clone(), w))
        .start_method(StartMethod::Fork)
        .start()?;
    assert!(r.poll_timeout(TIMEOUT)?, "the fork child sent nothing");
    assert_eq!(r.recv::<usize>()?, 2);
    p.join_timeout(TIMEOUT)?;
    assert_eq!(p.exitcode(), Some(0));
    assert!(e.is_set());
    Ok(())
}

#[mp::test]
fn a_fork_lends_proxies_and_blocks_in_rank_order_whichever_came_first() {
    // In a fresh process, where nothing is registered yet.
    let p = Process::builder(lend_blocks_made_before_proxies, ())
        .start_method(StartMethod::Spawn)
        .start()
        .unwrap();
    p.join_timeout(TIMEOUT).unwrap();
    assert_eq!(p.exitcode(), Some(0));
}
