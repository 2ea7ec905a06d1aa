//! The rest of the managers: a `Pool` living in a manager
//! (`manager.Pool`), iterating a managed dict (`iter(d)`), and a `SharedMemoryManager` that
//! unlinks the segments made through it.
//!
//! Run: `cargo run -p mp-examples --example tour -- managers` (after the first part)

use std::time::Duration;

use mp::ErrorKind;
use mp::managers::{DictProxy, PoolProxy};
use mp::shared_memory::{SharedMemory, SharedMemoryManager};

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

#[mp::task]
fn in_child(pool: PoolProxy) -> mp::Result<u64> {
    // A child submits to the same pool through its copy of the proxy.
    pool.apply(square, (12,))
}

pub(crate) fn run() -> mp::Result<()> {
    println!("== manager.pool(2): a process pool living in the manager's process");
    let manager = mp::Manager()?;
    let pool = manager.pool(2)?;
    println!("{pool}");
    println!("map(square, 0..10) = {:?}", pool.map(square, 0..10)?);
    let r = pool.apply_async(square, (7,))?;
    println!(
        "apply_async(square, (7,)).get() = {}",
        r.get_timeout(Duration::from_secs(60))?
    );
    let got: Vec<u64> = pool.imap(square, 1..4)?.collect::<mp::Result<_>>()?;
    println!("imap(square, 1..4) = {got:?}");
    let child = mp::Process::new(in_child, (pool.clone(),));
    child.start()?;
    child.join()?;
    assert_eq!(child.exitcode(), Some(0));
    println!("a child used the same pool");
    println!(
        "manager.pool(0) -> {:?}",
        manager.pool(0).map(drop).unwrap_err().kind()
    );
    pool.close()?;
    pool.join()?;

    println!("== iter(d): keys through an iterator proxy");
    let d: DictProxy<String, i32> =
        manager.dict_from([("a".to_string(), 1), ("b".to_string(), 2)])?;
    let keys: Vec<String> = d.iter()?.collect::<mp::Result<_>>()?;
    println!("keys: {keys:?}");
    let mut it = d.iter()?;
    d.set("c", 3)?;
    let err = it.next().map(|r| r.unwrap_err());
    println!(
        "changed during iteration -> {:?}",
        err.as_ref().map(|e| (e.kind(), e.message().to_string()))
    );
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Runtime));

    println!("== SharedMemoryManager: segments unlinked at shutdown");
    let smm = SharedMemoryManager::builder().start()?;
    let sl = smm.shareable_list(0..4)?;
    let shm = smm.shared_memory(64)?;
    shm.write(0, b"hello")?;
    println!("tracking {} segments", smm.list_segments()?.len());
    let names = [sl.shm().name().to_string(), shm.name().to_string()];
    drop(smm); // as leaving `with SharedMemoryManager() as smm:`
    assert!(names.iter().all(|n| SharedMemory::attach(n).is_err()));
    println!(
        "after the manager: both unlinked; the mapping still reads {:?}",
        {
            let b = shm.read_range(0..5)?;
            String::from_utf8_lossy(&b).into_owned()
        }
    );
    manager.shutdown()?;
    Ok(())
}
