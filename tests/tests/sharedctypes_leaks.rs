//! Nothing is left behind: anonymous shared memory leaves no `/dev/shm` entry, whatever way
//! its processes die, and dropping handles gives their descriptors back.
//!
//! One test function, so that nothing else in this binary opens descriptors meanwhile.

mod sync_common;

use std::time::Duration;

use mp::sharedctypes::RawArray;
use mp::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, Process, RLock, Semaphore, Value,
};
use sync_common::*;

type Everything = (
    Lock,
    RLock,
    Semaphore,
    BoundedSemaphore,
    Condition,
    Event,
    Barrier,
    Value<f64>,
    Array<i32>,
);

fn everything() -> Everything {
    (
        Lock::new().unwrap(),
        RLock::new().unwrap(),
        Semaphore::new(1).unwrap(),
        BoundedSemaphore::new(1).unwrap(),
        Condition::new().unwrap(),
        Event::new().unwrap(),
        Barrier::new(2).unwrap(),
        Value::new(1.0).unwrap(),
        Array::from_slice(&[1, 2, 3]).unwrap(),
    )
}

/// Makes its own objects, takes every lock it was given, and waits to be killed.
#[mp::task]
fn make_and_hold(all: Everything, ready: Event) -> mp::Result<()> {
    let mine = everything();
    let big = RawArray::<u8>::new(1 << 20)?;
    big.fill(1)?;
    all.0.acquire()?;
    all.1.acquire()?;
    all.2.acquire()?;
    let _g = all.7.lock()?;
    ready.set();
    std::thread::sleep(Duration::from_secs(600));
    drop((mine, big));
    Ok(())
}

#[mp::test]
fn nothing_is_left_behind() {
    let shm_before = dev_shm();
    // Warm up whatever the first start of each method opens once (forkserver socket...).
    for m in methods() {
        let p = Process::builder(make_and_hold, (everything(), Event::new().unwrap()))
            .start_method(m)
            .build();
        start(&p);
        p.kill().unwrap();
        join_code(&p, -9);
    }
    let fds_before = open_fds();
    for m in methods() {
        let all = everything();
        let ready = Event::new().unwrap();
        let p = Process::builder(make_and_hold, (all.clone(), ready.clone()))
            .start_method(m)
            .build();
        start(&p);
        assert!(ready.wait_timeout(LONG), "{m}");
        p.kill().unwrap();
        join_code(&p, -9);
        drop((all, ready, p));
    }
    // Many objects made and dropped in this process.
    for _ in 0..200 {
        drop(everything());
    }
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    // (Other programs on the machine may create entries meanwhile: look at the kinds that
    // multiprocessing-like code creates, named semaphores and mp's own names.)
    let shm_after = dev_shm();
    let new: Vec<_> = shm_after
        .difference(&shm_before)
        .filter(|n| n.starts_with("sem.") || n.contains("mp"))
        .collect();
    assert!(new.is_empty(), "left in /dev/shm: {new:?}");
}
