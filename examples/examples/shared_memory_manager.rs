//! Mirrors the two `SharedMemoryManager` programs of CPython's documentation
//! (`multiprocessing.shared_memory`, the `SharedMemoryManager` class):
//!
//! 1. `smm.start()`, `smm.ShareableList(range(4))`, `smm.SharedMemory(size=128)`,
//!    `smm.ShareableList('alpha')`, `smm.shutdown()` (which unlinks all three);
//! 2. `with SharedMemoryManager() as smm:` two processes fill the halves of a
//!    `ShareableList(range(2000))`, and the parent sums it.
//!
//! Run: `cargo run -p mp-examples --example shared_memory_manager`

use mp::shared_memory::{Item, ShareableList, SharedMemory, SharedMemoryManager};

/// The documentation's `do_work(sl, start, stop)`: stores partial results in `sl`.
#[mp::task]
fn do_work(sl: ShareableList, start: usize, stop: usize) -> mp::Result<()> {
    for i in start..stop {
        sl.set(i as isize, (i * 2) as i64)?;
    }
    Ok(())
}

fn gone(name: &str) -> bool {
    SharedMemory::attach(name).is_err()
}

#[mp::main]
fn main() -> mp::Result<()> {
    // Program 1.
    let smm = SharedMemoryManager::new();
    smm.start()?; // Start the process that manages the shared memory blocks
    let sl = smm.shareable_list(0..4)?;
    println!("{sl:?}");
    let raw_shm = smm.shared_memory(128)?;
    let another_sl = smm.shareable_list("alpha".chars().map(String::from))?;
    println!("{another_sl:?}");
    assert_eq!(sl.to_vec()?, (0..4).map(Item::from).collect::<Vec<_>>());
    assert_eq!(another_sl.get(4)?, Item::from("a"));
    assert_eq!(smm.list_segments()?.len(), 3);
    let names = [
        sl.shm().name().to_string(),
        raw_shm.name().to_string(),
        another_sl.shm().name().to_string(),
    ];
    smm.shutdown()?; // Calls unlink() on sl, raw_shm, and another_sl
    assert!(names.iter().all(|n| gone(n)));
    println!("after shutdown, all {} segments are unlinked", names.len());

    // Program 2: the `with` block is a scope; the manager shuts down when it ends.
    let held;
    let total_result = {
        let smm = SharedMemoryManager::builder().start()?;
        let sl = smm.shareable_list(0..2000)?;
        held = sl.shm().name().to_string();
        // Divide the work among two processes, storing partial results in sl
        let p1 = mp::Process::new(do_work, (ShareableList::attach(&held)?, 0, 1000));
        let p2 = mp::Process::new(do_work, (ShareableList::attach(&held)?, 1000, 2000));
        p1.start()?;
        p2.start()?; // A multiprocessing.Pool might be more efficient
        p1.join()?;
        p2.join()?; // Wait for all work to complete in both processes
        assert_eq!((p1.exitcode(), p2.exitcode()), (Some(0), Some(0)));
        // Consolidate the partial results now in sl
        let mut total = 0i64;
        for item in sl.to_vec()? {
            match item {
                Item::Int(x) => total += x,
                other => panic!("unexpected item {other}"),
            }
        }
        total
    };
    println!("total_result = {total_result}");
    assert_eq!(total_result, (0..2000).map(|i| i * 2).sum::<i64>());
    assert!(gone(&held));
    println!("the with block's list is unlinked too");
    Ok(())
}
