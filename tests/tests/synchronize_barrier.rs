//! Barrier (CONFORMANCE section 11), parties mixing processes (every start method) and
//! threads, plus a party killed while waiting.

mod sync_common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mp::{Array, Barrier, ErrorKind, Event, Lock, Process, Value};
use sync_common::*;

const N: u32 = 5;

#[mp::task]
fn pass_rounds(b: Barrier, rounds: u32, indexes: Array<u32>, at: usize) -> mp::Result<()> {
    for r in 0..rounds {
        let i = b.wait()?;
        if r == 0 {
            indexes.set(at, i as u32)?;
        }
    }
    Ok(())
}

/// The counter the barrier action increments, reachable from a task without arguments: each
/// party process installs it before waiting (Python passes it to the action's constructor).
static ACTION_COUNTER: OnceLock<Value<u32>> = OnceLock::new();

#[mp::task]
fn count_round() {
    if let Some(c) = ACTION_COUNTER.get()
        && let Ok(mut g) = c.lock()
    {
        *g += 1;
    }
}

#[mp::task]
fn party_with_action(b: Barrier, counter: Value<u32>, rounds: u32) -> mp::Result<()> {
    let c = ACTION_COUNTER.get_or_init(|| counter.clone());
    for r in 0..rounds {
        b.wait()?;
        // The action ran exactly once for this round, before anybody was released.
        let seen = c.get()?;
        if seen != 2 * r + 1 {
            return Err(mp::Error::new(
                ErrorKind::Assertion,
                format!("round {r}: the action ran {seen} times"),
            ));
        }
        b.wait()?;
    }
    Ok(())
}

#[mp::task]
fn expect_broken(b: Barrier, ok: Value<u32>) -> mp::Result<()> {
    match b.wait_timeout(LONG) {
        Err(e) if e.kind() == ErrorKind::BrokenBarrier => *ok.lock()? += 1,
        other => {
            return Err(mp::Error::new(
                ErrorKind::Assertion,
                format!("expected a broken barrier, got {other:?}"),
            ));
        }
    }
    Ok(())
}

#[mp::task]
fn broken_then_pass(b: Barrier, ok: Value<u32>, again: Barrier) -> mp::Result<()> {
    expect_broken(b.clone(), ok)?;
    // Everybody meets again before using the reset barrier.
    again.wait()?;
    b.wait()?;
    Ok(())
}

#[mp::task]
fn late_party(b: Barrier, go: Event, ok: Value<u32>) -> mp::Result<()> {
    if !go.wait_timeout(LONG) {
        return Err(mp::Error::new(ErrorKind::Timeout, "no go"));
    }
    expect_broken(b, ok)
}

#[mp::task]
fn thousand(
    b: Barrier,
    passes: u32,
    log: Array<u32>,
    next: Value<u32>,
    lock: Lock,
) -> mp::Result<()> {
    for i in 0..passes {
        b.wait()?;
        let _g = lock.lock()?;
        let mut n = next.lock()?;
        log.set(*n as usize, i)?;
        *n += 1;
    }
    Ok(())
}

#[mp::task]
fn wait_and_die(b: Barrier) -> mp::Result<()> {
    let _ = b.wait();
    Ok(())
}

fn start_parties(n: usize, make: impl Fn() -> Process) -> Vec<Process> {
    let ps: Vec<Process> = (0..n).map(|_| make()).collect();
    for p in &ps {
        start(p);
    }
    ps
}

#[mp::test]
fn barrier_one_and_ten_rounds() {
    for m in methods() {
        for rounds in [1, 10] {
            let b = Barrier::new(N).unwrap();
            let indexes = Array::<u32>::new(N as usize).unwrap();
            let ps: Vec<Process> = (0..N as usize - 1)
                .map(|k| {
                    Process::builder(pass_rounds, (b.clone(), rounds, indexes.clone(), k))
                        .start_method(m)
                        .build()
                })
                .collect();
            for p in &ps {
                start(p);
            }
            pass_rounds(b.clone(), rounds, indexes.clone(), N as usize - 1).unwrap();
            for p in &ps {
                join_ok(p);
            }
            assert_eq!(b.n_waiting(), 0);
            assert!(!b.broken());
            // wait() returns distinct indexes in 0..parties.
            let mut got = indexes.to_vec().unwrap();
            got.sort_unstable();
            assert_eq!(got, (0..N).collect::<Vec<_>>(), "{m}");
        }
    }
}

#[mp::test]
fn action_runs_once_per_round_before_release() {
    for m in methods() {
        let counter = Value::new(0u32).unwrap();
        let _ = ACTION_COUNTER.set(counter.clone());
        let counter = ACTION_COUNTER.get().unwrap().clone();
        counter.set(0).unwrap();
        let b = Barrier::builder(3).action(count_round).build().unwrap();
        let rounds = 5;
        let ps = start_parties(2, || {
            Process::builder(party_with_action, (b.clone(), counter.clone(), rounds))
                .start_method(m)
                .build()
        });
        party_with_action(b.clone(), counter.clone(), rounds).unwrap();
        for p in &ps {
            join_ok(p);
        }
        assert_eq!(counter.get().unwrap(), 2 * rounds, "{m}");
    }
}

#[mp::test]
fn abort_breaks_waiting_and_arriving_parties() {
    for m in methods() {
        let b = Barrier::new(3).unwrap();
        let ok = Value::new(0u32).unwrap();
        let ps = start_parties(2, || {
            Process::builder(expect_broken, (b.clone(), ok.clone()))
                .start_method(m)
                .build()
        });
        assert!(eventually(|| b.n_waiting() == 2), "{m}");
        b.abort();
        assert!(b.broken());
        for p in &ps {
            join_ok(p);
        }
        assert_eq!(ok.get().unwrap(), 2);
        assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
        assert_eq!(b.n_waiting(), 0);
    }
}

#[mp::test]
fn reset_breaks_waiters_then_all_pass() {
    for m in methods() {
        let b = Barrier::new(3).unwrap();
        let again = Barrier::new(3).unwrap();
        let ok = Value::new(0u32).unwrap();
        let ps = start_parties(2, || {
            Process::builder(broken_then_pass, (b.clone(), ok.clone(), again.clone()))
                .start_method(m)
                .build()
        });
        assert!(eventually(|| b.n_waiting() == 2), "{m}");
        b.reset();
        again.wait_timeout(LONG).unwrap();
        assert!(!b.broken());
        b.wait_timeout(LONG).unwrap();
        for p in &ps {
            join_ok(p);
        }
        assert_eq!(ok.get().unwrap(), 2);
    }
}

#[test]
fn abort_and_reset() {
    let b = Barrier::new(2).unwrap();
    b.abort();
    assert!(b.broken());
    b.reset();
    assert!(!b.broken());
    let b2 = b.clone();
    let t = std::thread::spawn(move || b2.wait_timeout(LONG));
    let i = b.wait_timeout(LONG).unwrap();
    let j = t.join().unwrap().unwrap();
    assert_eq!(i + j, 1, "indexes 0 and 1");
}

#[mp::test]
fn timeout_breaks_for_everybody() {
    for m in methods() {
        let b = Barrier::new(2).unwrap();
        let go = Event::new().unwrap();
        let ok = Value::new(0u32).unwrap();
        let p = Process::builder(late_party, (b.clone(), go.clone(), ok.clone()))
            .start_method(m)
            .build();
        start(&p);
        let t = Instant::now();
        let e = b.wait_timeout(Duration::from_millis(500)).unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(490));
        assert_eq!(e.kind(), ErrorKind::BrokenBarrier, "{m}");
        go.set(); // the late party arrives at a broken barrier
        join_ok(&p);
        assert_eq!(ok.get().unwrap(), 1);
    }
}

#[test]
fn default_timeout() {
    let b = Barrier::builder(2)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(b.timeout(), Some(Duration::from_millis(300)));
    let t = Instant::now();
    assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    assert!(t.elapsed() >= Duration::from_millis(290));
    assert!(b.broken());
}

#[test]
fn single_party() {
    let b = Barrier::new(1).unwrap();
    for _ in 0..3 {
        assert_eq!(b.wait().unwrap(), 0);
    }
    assert!(Barrier::new(0).is_err());
    assert_eq!(b.parties(), 1);
    assert!(format!("{b:?}").contains("waiters=0/1"));
}

#[mp::test]
fn a_thousand_rounds_stay_grouped() {
    for m in methods() {
        let passes = 1000u32;
        let b = Barrier::new(N).unwrap();
        let log = Array::<u32>::new((passes * N) as usize).unwrap();
        let next = Value::new(0u32).unwrap();
        let lock = Lock::new().unwrap();
        let ps = start_parties(N as usize - 1, || {
            Process::builder(
                thousand,
                (b.clone(), passes, log.clone(), next.clone(), lock.clone()),
            )
            .start_method(m)
            .build()
        });
        thousand(b.clone(), passes, log.clone(), next.clone(), lock.clone()).unwrap();
        for p in &ps {
            join_ok(p);
        }
        let log = log.to_vec().unwrap();
        for (k, round) in log.chunks(N as usize).enumerate() {
            assert!(
                round.iter().all(|&r| r == k as u32),
                "{m}: round {k}: {round:?}"
            );
        }
    }
}

#[mp::test]
fn a_dead_party_breaks_the_barrier() {
    for m in methods() {
        let b = Barrier::new(3).unwrap();
        let p = Process::builder(wait_and_die, (b.clone(),))
            .start_method(m)
            .build();
        start(&p);
        assert!(eventually(|| b.n_waiting() == 1), "{m}");
        let pid = p.pid().unwrap();
        p.kill().unwrap();
        join_code(&p, -9);
        // We arrive second; the third never will, and the first is dead.
        let t = Instant::now();
        let e = b.wait_timeout(LONG).unwrap_err();
        assert!(t.elapsed() < LONG);
        assert_eq!(e.kind(), ErrorKind::OwnerDied, "{m}: {e}");
        assert!(e.to_string().contains(&pid.to_string()), "{e}");
        assert!(b.broken());
        assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
        // reset() recovers it.
        b.reset();
        assert!(!b.broken());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || b.wait_timeout(LONG))
            })
            .collect();
        b.wait_timeout(LONG).unwrap();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }
}
