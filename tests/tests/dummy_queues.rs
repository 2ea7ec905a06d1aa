//! What only the thread flavour of the queues does (`mp::dummy`): items that are moved, not
//! serialized; many thread producers and consumers; `close` waking threads blocked on the
//! queue. The behaviours both flavours share (CPython's `_TestQueue` and `TestSimpleQueue`,
//! CONFORMANCE sections 6 and 17) are one suite run against both: `queues_conformance.rs`.

use std::time::Duration;

use mp::ErrorKind;
use mp::dummy::{Process, Queue};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn close_wakes_blocked_callers() -> mp::Result<()> {
    let q = Queue::<u8>::new(1)?;
    let q2 = q.clone();
    let getter = std::thread::spawn(move || q2.get().map_err(|e| e.kind()));
    let full = Queue::<u8>::new(1)?;
    full.put(0)?;
    let f2 = full.clone();
    let putter = std::thread::spawn(move || f2.put(1).map_err(|e| e.kind()));
    std::thread::sleep(Duration::from_millis(50));
    q.close();
    full.close();
    assert_eq!(getter.join().expect("thread"), Err(ErrorKind::Value));
    assert_eq!(putter.join().expect("thread"), Err(ErrorKind::Value));
    Ok(())
}

/// Items need not be serializable: they are moved.
#[test]
fn any_send_item() -> mp::Result<()> {
    let q: Queue<Box<dyn FnOnce() -> u32 + Send>> = Queue::new(0)?;
    q.put(Box::new(|| 42)).map_err(mp::Error::from)?;
    let f = q.get()?;
    assert_eq!(f(), 42);
    Ok(())
}

#[test]
fn many_producers_and_consumers() -> mp::Result<()> {
    let q = Queue::new(8)?;
    let out = Queue::new(0)?;
    let producers: Vec<Process> = (0..4)
        .map(|k| {
            let q = q.clone();
            Process::new(
                move || -> mp::Result<()> {
                    for i in 0..250u32 {
                        q.put(k * 1000 + i)?;
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    let consumers: Vec<Process> = (0..3)
        .map(|_| {
            let (q, out) = (q.clone(), out.clone());
            Process::new(
                move || -> mp::Result<()> {
                    while let Ok(x) = q.get() {
                        out.put(x)?;
                    }
                    Ok(())
                },
                (),
            )
        })
        .collect();
    for p in producers.iter().chain(&consumers) {
        p.start()?;
    }
    for p in &producers {
        p.join_timeout(LONG)?;
    }
    let mut got: Vec<u32> = (0..1000)
        .map(|_| out.get_timeout(LONG))
        .collect::<Result<_, _>>()?;
    q.shutdown(false)?;
    for c in &consumers {
        c.join_timeout(LONG)?;
        assert!(!c.is_alive());
    }
    got.sort_unstable();
    let mut want: Vec<u32> = (0..4)
        .flat_map(|k| (0..250).map(move |i| k * 1000 + i))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    Ok(())
}
