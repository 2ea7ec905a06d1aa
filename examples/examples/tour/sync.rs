//! The synchronization and shared-state part of the tour: locks, semaphores, conditions,
//! events, barriers, `Value`/`Array`/`#[mp::shared]`, named shared memory, and what mp adds
//! (a dead lock holder is reported, not a hang). Mirrors the "Synchronization primitives" and
//! "Shared ctypes Objects" sections of the Python documentation.
//!
//! `cargo run -p mp-examples --example tour -- sync`

use std::time::Duration;

use mp::shared_memory::{Item, ShareableList, SharedMemory};
use mp::sharedctypes::FixedBytes;
use mp::{
    Array, Barrier, BoundedSemaphore, Condition, ErrorKind, Event, Lock, Process, RLock, Semaphore,
    StartMethod, Value,
};

#[mp::task]
fn add_under_lock(counter: Value<u64>, n: u32) -> mp::Result<()> {
    for _ in 0..n {
        *counter.lock()? += 1; // with counter.get_lock(): counter.value += 1
    }
    Ok(())
}

#[mp::task]
fn limited(slots: Semaphore, inside: Value<u32>, peak: Value<u32>) -> mp::Result<()> {
    let _slot = slots.lock()?;
    let now = {
        let mut g = inside.lock()?;
        *g += 1;
        *g
    };
    {
        let mut p = peak.lock()?;
        *p = (*p).max(now);
    }
    std::thread::sleep(Duration::from_millis(20));
    *inside.lock()? -= 1;
    Ok(())
}

#[mp::task]
fn produce(c: Condition, items: Array<u32>, count: Value<u32>) -> mp::Result<()> {
    for i in 0..items.len() as u32 {
        let _g = c.lock()?;
        items.set(i as usize, i * i)?;
        count.set(i + 1)?;
        c.notify_all()?;
    }
    Ok(())
}

#[mp::task]
fn wait_for_go(go: Event, seen: Value<u8>) -> mp::Result<()> {
    if go.wait_timeout(Duration::from_secs(60)) {
        seen.set(1)?;
    }
    Ok(())
}

#[mp::task]
fn meet(b: Barrier) -> mp::Result<usize> {
    b.wait()
}

#[mp::shared]
struct Account {
    owner: FixedBytes<16>,
    balance: i64,
    history: [i64; 4],
}

#[mp::task]
fn deposit(acct: Value<Account>, amount: i64) -> mp::Result<()> {
    let mut a = acct.lock()?;
    a.balance += amount;
    a.history.rotate_right(1);
    a.history[0] = amount;
    Ok(())
}

#[mp::task]
fn fill_segment(name: String) -> mp::Result<()> {
    let shm = SharedMemory::attach(&name)?;
    shm.write(0, b"written by a child")
}

#[mp::task]
fn die_holding(l: Lock, held: Event) -> mp::Result<()> {
    l.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

fn run_all(ps: &[Process]) -> mp::Result<()> {
    for p in ps {
        p.start()?;
    }
    for p in ps {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0), "{}", p.name());
    }
    Ok(())
}

pub(crate) fn run() -> mp::Result<()> {
    println!("== Lock and Value: 4 processes x 2500 increments under the value's lock");
    let counter = Value::new(0u64)?;
    let ps: Vec<Process> = (0..4)
        .map(|_| Process::new(add_under_lock, (counter.clone(), 2500)))
        .collect();
    run_all(&ps)?;
    println!("counter = {}", counter.get()?);
    assert_eq!(counter.get()?, 10_000);

    println!("== RLock: the owner may re-acquire");
    let r = RLock::new()?;
    let _a = r.lock()?;
    let _b = r.lock()?;
    println!("{r:?}");
    assert_eq!(r.count(), 2);
    drop((_a, _b));

    println!("== Semaphore(2): at most two of five workers inside");
    let slots = Semaphore::new(2)?;
    let (inside, peak) = (Value::new(0u32)?, Value::new(0u32)?);
    let ps: Vec<Process> = (0..5)
        .map(|_| Process::new(limited, (slots.clone(), inside.clone(), peak.clone())))
        .collect();
    run_all(&ps)?;
    println!("peak = {}", peak.get()?);
    assert!(peak.get()? <= 2);
    let b = BoundedSemaphore::new(1)?;
    println!(
        "BoundedSemaphore released too often: {}",
        b.release().unwrap_err()
    );

    println!("== Condition: wait_for a producer's items");
    let c = Condition::new()?;
    let items = Array::<u32>::new(5)?;
    let count = Value::new(0u32)?;
    let p = Process::new(produce, (c.clone(), items.clone(), count.clone()));
    {
        let _g = c.lock()?;
        p.start()?;
        let done = c.wait_for_timeout(|| count.get().unwrap_or(0) == 5, Duration::from_secs(60))?;
        assert!(done);
    }
    p.join()?;
    println!("items = {:?}", items.to_vec()?);
    assert_eq!(items.to_vec()?, [0, 1, 4, 9, 16]);

    println!("== Event: one set() releases every waiter");
    let go = Event::new()?;
    let seen: Vec<Value<u8>> = (0..3).map(|_| Value::new(0u8)).collect::<mp::Result<_>>()?;
    let ps: Vec<Process> = seen
        .iter()
        .map(|s| Process::new(wait_for_go, (go.clone(), s.clone())))
        .collect();
    for p in &ps {
        p.start()?;
    }
    go.set();
    for p in &ps {
        p.join()?;
    }
    let all: Vec<u8> = seen.iter().map(|s| s.get()).collect::<mp::Result<_>>()?;
    println!(
        "waiters released: {}",
        all.iter().filter(|&&s| s == 1).count()
    );
    assert_eq!(all, [1, 1, 1]);

    println!("== Barrier: three parties, one per start method");
    let b = Barrier::new(3)?;
    let ps: Vec<Process> = [StartMethod::Fork, StartMethod::Spawn]
        .into_iter()
        .map(|m| Process::builder(meet, (b.clone(),)).start_method(m).build())
        .collect();
    for p in &ps {
        p.start()?;
    }
    let me = b.wait()?;
    for p in &ps {
        p.join()?;
    }
    println!("passed together (my index {me}), broken = {}", b.broken());

    println!("== #[mp::shared] struct in a Value");
    let acct = Value::new(Account {
        owner: FixedBytes::new(b"ada")?,
        balance: 0,
        history: [0; 4],
    })?;
    let ps: Vec<Process> = [10, 20, 30]
        .into_iter()
        .map(|amount| Process::new(deposit, (acct.clone(), amount)))
        .collect();
    run_all(&ps)?;
    let a = acct.get()?;
    println!(
        "{}: balance {}",
        String::from_utf8_lossy(a.owner.value()),
        a.balance
    );
    assert_eq!(a.balance, 60);

    println!("== SharedMemory and ShareableList (named, attachable by any process)");
    let shm = SharedMemory::create(64)?;
    let p = Process::new(fill_segment, (shm.name().to_string(),));
    p.start()?;
    p.join()?;
    println!(
        "{:?}: {}",
        shm,
        String::from_utf8_lossy(&shm.read_range(0..18)?)
    );
    shm.unlink()?;
    let sl = ShareableList::new([Item::from("howdy"), 42.into(), true.into(), Item::None])?;
    println!("{sl:?} format {}", sl.format()?);
    sl.shm().unlink()?;

    println!("== Beyond CPython: a lock holder killed with SIGKILL is reported");
    let l = Lock::new()?;
    let held = Event::new()?;
    let p = Process::new(die_holding, (l.clone(), held.clone()));
    p.start()?;
    assert!(held.wait_timeout(Duration::from_secs(60)));
    p.kill()?;
    p.join()?;
    let e = l.acquire_timeout(Duration::from_secs(60)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OwnerDied);
    println!("acquire: {e}");
    println!("recovered: {}", l.recover());
    l.acquire()?;
    l.release()?;
    println!("synchronization: done");
    Ok(())
}
