//! Event (CONFORMANCE section 10), under every start method.

mod sync_common;

use std::time::{Duration, Instant};

use mp::{Event, Process};
use sync_common::*;

#[mp::task]
fn set_later(e: Event, go: Event) -> mp::Result<()> {
    if !go.wait_timeout(LONG) {
        return Err(mp::Error::new(mp::ErrorKind::Timeout, "no go"));
    }
    e.set();
    Ok(())
}

#[mp::task]
fn clear_it(e: Event) {
    e.clear();
}

#[mp::task]
fn pong(ping: Event, reply: Event, rounds: u32) -> mp::Result<()> {
    for _ in 0..rounds {
        if !ping.wait_timeout(LONG) {
            return Err(mp::Error::new(mp::ErrorKind::Timeout, "no ping"));
        }
        ping.clear();
        reply.set();
    }
    Ok(())
}

#[test]
fn fresh_event() {
    let e = Event::new().unwrap();
    assert!(!e.is_set());
    let t = Instant::now();
    assert!(!e.wait_timeout(Duration::ZERO));
    assert!(t.elapsed() < Duration::from_secs(5));
    let t = Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(200)));
    assert!(t.elapsed() >= Duration::from_millis(190));
}

#[test]
fn set_event() {
    let e = Event::new().unwrap();
    e.set();
    assert!(e.is_set());
    e.wait();
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.wait_timeout(LONG));
    e.set(); // twice is fine
    e.clear();
    assert!(!e.is_set());
}

#[test]
fn event_repr() {
    let e = Event::new().unwrap();
    let s = format!("{e:?}");
    assert!(
        s.starts_with("<Event at 0x") && s.ends_with(" unset>"),
        "{s}"
    );
    e.set();
    assert!(format!("{e:?}").ends_with(" set>"));
}

#[test]
fn event_wakes_threads() {
    let e = Event::new().unwrap();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || e.wait_timeout(LONG))
        })
        .collect();
    e.set();
    for w in waiters {
        assert!(w.join().unwrap());
    }
}

#[mp::test]
fn cleared_event_is_set_by_another_process() {
    for m in methods() {
        let e = Event::new().unwrap();
        e.set();
        e.clear();
        let go = Event::new().unwrap();
        let p = Process::builder(set_later, (e.clone(), go.clone()))
            .start_method(m)
            .build();
        start(&p);
        go.set();
        assert!(e.wait_timeout(LONG), "{m}");
        e.wait();
        join_ok(&p);
    }
}

#[mp::test]
fn event_cleared_by_a_child_is_seen() {
    for m in methods() {
        let e = Event::new().unwrap();
        e.set();
        let p = Process::builder(clear_it, (e.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert!(!e.is_set(), "{m}");
    }
}

#[mp::test]
fn event_ping_pong() {
    for m in methods() {
        let (ping, pong_e) = (Event::new().unwrap(), Event::new().unwrap());
        let rounds = 200;
        let p = Process::builder(pong, (ping.clone(), pong_e.clone(), rounds))
            .start_method(m)
            .build();
        start(&p);
        for _ in 0..rounds {
            ping.set();
            assert!(pong_e.wait_timeout(LONG), "{m}");
            pong_e.clear();
        }
        join_ok(&p);
    }
}
