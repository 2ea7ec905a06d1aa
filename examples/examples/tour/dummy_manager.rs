//! The tour of `mp::dummy::Manager()` (the last part of the tour's `dummy` section):
//! Python's `multiprocessing.dummy.Manager()`, mp's managers on threads.
//!
//! `cargo run -p mp-examples --example tour -- dummy`

use std::time::Duration;

use mp::ErrorKind;
use mp::dummy::managers::{DictProxy, ListProxy, QueueProxy, Value};
use mp::dummy::{Manager, Process};

#[mp::task]
fn tally(
    words: ListProxy<String>,
    counts: DictProxy<String, i64>,
    lock: mp::dummy::managers::LockProxy,
) -> mp::Result<()> {
    while let Ok(w) = words.pop() {
        lock.acquire()?;
        let n = counts.get(&w)?.unwrap_or(0);
        let r = counts.set(w, n + 1);
        lock.release()?;
        r?;
    }
    Ok(())
}

fn manager_on_threads() -> mp::Result<()> {
    println!("-- Manager() on threads: mp's proxies, objects in this process");
    let m = Manager()?;
    let words: ListProxy<String> = m.list_from("a b a c b a".split(' '))?;
    let counts: DictProxy<String, i64> = m.dict()?;
    let lock = m.lock()?;
    let workers: Vec<Process> = (0..3)
        .map(|_| Process::new(tally, (words.clone(), counts.clone(), lock.clone())))
        .collect();
    for w in &workers {
        w.start()?;
    }
    for w in &workers {
        w.join()?;
    }
    println!("counts from 3 threads: {counts}");
    assert_eq!(counts.get_item(&"a")?, 3);
    println!("Python's dict semantics: d[1.0] finds d[1] -> {}", {
        let d: DictProxy = m.dict()?;
        d.set(1, "one")?;
        d.get_item(&1.0)?
    });
    println!("-- nesting: a container holds the object itself");
    let q: QueueProxy<String> = m.queue(0)?;
    let registry: DictProxy = m.dict()?;
    registry.set("jobs", &q)?;
    registry
        .get_as::<QueueProxy<String>, _>("jobs")?
        .put("through the dict".into())?;
    println!("queue got: {}", q.get_timeout(Duration::from_secs(10))?);
    println!(
        "registry: {}",
        registry.to_string().split(" at ").next().unwrap_or("")
    );
    println!("-- errors are mp's, with Python's messages");
    let e = counts.get_item(&"zz").unwrap_err();
    println!("missing key: {:?} {}", e.kind(), e.message());
    assert_eq!(e.kind(), ErrorKind::Key);
    let e = lock.release().unwrap_err();
    println!("release an unlocked lock: {:?} {}", e.kind(), e.message());
    let l: ListProxy = m.list_from([Value::from(1), Value::from("a")])?;
    println!("sort [1, 'a']: {}", l.sort().unwrap_err());
    println!(
        "-- nothing to shut down; objects alive: {}",
        m.number_of_objects()?
    );
    m.shutdown()?;
    drop((words, counts, lock, q, registry, l));
    println!("after dropping the proxies: {}", m.number_of_objects()?);
    assert_eq!(m.number_of_objects()?, 0);
    Ok(())
}

pub(crate) fn run() -> mp::Result<()> {
    manager_on_threads()?;
    println!("dummy manager tour done");
    Ok(())
}
