//! A walk through mp's managers and proxies (Python's `multiprocessing.managers`).
//!
//! Run: `cargo run -p mp-examples --example tour -- managers`

use std::time::Duration;

use mp::managers::{BaseManager, DictProxy, ListProxy, Queue, QueueProxy, Shared, Value};

#[mp::task]
fn child(d: DictProxy, l: ListProxy, lock: mp::managers::LockProxy) -> mp::Result<()> {
    lock.acquire()?;
    d.set("from", "child")?;
    l.reverse()?;
    lock.release()
}

#[derive(Default)]
struct Counter {
    n: i64,
}

#[mp::proxy]
impl Counter {
    fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }
}

#[mp::task]
fn new_counter() -> Shared<Counter> {
    Shared::new(Counter::default())
}

#[mp::task]
fn jobs() -> Shared<Queue> {
    static Q: std::sync::OnceLock<Shared<Queue>> = std::sync::OnceLock::new();
    Q.get_or_init(|| Shared::new(Queue::new(0))).clone()
}

pub(crate) fn run() -> mp::Result<()> {
    println!("== mp::Manager(): a server process holding shared objects");
    let manager = mp::Manager()?;
    let d: DictProxy = manager.dict()?;
    let l: ListProxy = manager.list_from(0..5)?;
    let lock = manager.lock()?;
    d.set(1, "1")?;
    d.set(0.25, Value::None)?;
    let p = mp::Process::new(child, (d.clone(), l.clone(), lock.clone()));
    p.start()?;
    p.join()?;
    println!("dict after the child: {d}");
    println!("list after the child: {l}");
    assert_eq!(d.to_string(), "{1: '1', 0.25: None, 'from': 'child'}");
    assert_eq!(l.to_string(), "[4, 3, 2, 1, 0]");

    println!("== errors keep their Python kind");
    let e = d.get_item(&"missing").unwrap_err();
    println!("d['missing'] -> {:?}: {}", e.kind(), e.message());

    println!("== nested proxies");
    let inner: ListProxy<i32> = manager.list()?;
    l.append(&inner)?;
    inner.append(42)?;
    println!("l[-1] = {}", l.get_as::<ListProxy<i32>>(-1)?);

    println!("== a Namespace and a queue");
    let ns = manager.namespace()?;
    ns.set("x", 10)?;
    println!("{ns}");
    let q = manager.queue::<String>(0)?;
    q.put("hi".into())?;
    println!("q.get() = {:?}", q.get_timeout(Duration::from_secs(5))?);

    println!("== a custom type with #[mp::proxy], served over TCP with an authkey");
    let server = BaseManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"secret")
        .register::<CounterProxy, _>("Counter", new_counter)
        .register::<QueueProxy<u64>, _>("jobs", jobs)
        .start()?;
    let c: CounterProxy = server.create("Counter", ())?;
    println!("incr(2) = {}, incr(3) = {}", c.incr(2)?, c.incr(3)?);
    let address = server.address().unwrap_or_else(|| unreachable!("started"));
    let remote = BaseManager::builder()
        .address(&address)
        .authkey(b"secret")
        .register_remote::<QueueProxy<u64>>("jobs")
        .connect()?;
    let jobs_here: QueueProxy<u64> = server.create("jobs", ())?;
    let jobs_there: QueueProxy<u64> = remote.create("jobs", ())?;
    jobs_here.put(7)?;
    println!("a client of {address} got job {}", jobs_there.get()?);
    let wrong = BaseManager::builder()
        .address(&address)
        .authkey(b"nope")
        .connect();
    println!("a wrong key: {:?}", wrong.map(drop).unwrap_err().kind());

    server.shutdown()?;
    manager.shutdown()?;
    println!(
        "managers shut down (exit codes {:?}, {:?})",
        server.exitcode(),
        manager.exitcode()
    );
    Ok(())
}

/// Both parts of the managers section.
pub(crate) fn run_all() -> mp::Result<()> {
    run()?;
    crate::managers_more::run()
}
