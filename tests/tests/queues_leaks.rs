//! Queues leave nothing behind: no descriptor stays open once the handles are dropped, nothing
//! is ever created in `/dev/shm` (the memory is an anonymous memfd), and no child is left a
//! zombie. One test in its own binary, so that no other test opens descriptors meanwhile.

mod queues_util;

use std::collections::BTreeMap;

use mp::{Connection, JoinableQueue, Queue, SimpleQueue};
use queues_util::{LONG, join_ok, start};

/// The open descriptors of this process and what they point to.
fn open_fds() -> BTreeMap<i32, String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.display().to_string()))
        })
        .collect()
}

/// (whether this process uses anything in /dev/shm, whether it maps an mp memfd).
fn shm_usage() -> (bool, bool) {
    let fds = open_fds();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let in_dev_shm = fds.values().any(|t| t.starts_with("/dev/shm")) || maps.contains("/dev/shm");
    let memfd = maps.contains("/memfd:mp");
    (in_dev_shm, memfd)
}

#[mp::task]
fn use_every_queue(
    q: Queue<(String, (bool, bool))>,
    jq: JoinableQueue<Connection>,
    sq: SimpleQueue<Vec<u8>>,
) -> mp::Result<()> {
    let conn = jq.get_timeout(LONG)?;
    conn.send(&"hi".to_string())?;
    jq.task_done()?;
    sq.put(vec![1; 100_000])?;
    q.put((mp::current_process().name(), shm_usage()))?;
    Ok(())
}

#[mp::task]
fn noop() {}

fn zombies() -> Vec<i32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ..."
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if state == Some("Z") {
                found.push(pid.parse().unwrap_or(-1));
            }
        }
    }
    found
}

#[mp::test]
fn queues_leak_nothing() {
    // Warm up what lives as long as the process (the forkserver and its connection).
    for method in mp::get_all_start_methods() {
        join_ok(&start(method, noop, ()), method);
    }
    let before = open_fds();

    for method in mp::get_all_start_methods() {
        let q = Queue::new(0).unwrap();
        let jq = JoinableQueue::new(0).unwrap();
        let sq = SimpleQueue::new().unwrap();
        let p = start(method, use_every_queue, (q.clone(), jq.clone(), sq.clone()));
        let (ours, theirs) = mp::Pipe(true).unwrap();
        jq.put(theirs).unwrap();
        assert!(jq.join_timeout(LONG).unwrap());
        assert_eq!(ours.recv::<String>().unwrap(), "hi");
        assert_eq!(sq.get_timeout(LONG).unwrap().len(), 100_000);
        let (name, (child_dev_shm, child_memfd)) = q.get_timeout(LONG).unwrap();
        assert!(!child_dev_shm, "{method} child {name} uses /dev/shm");
        assert!(
            child_memfd,
            "{method} child {name} should map the queues' memfds"
        );
        let (dev_shm, memfd) = shm_usage();
        assert!(!dev_shm && memfd);
        join_ok(&p, method);
        assert!(zombies().is_empty(), "zombies: {:?}", zombies());
        // Items with handles left in a queue are closed with it.
        let (a, _b) = mp::Pipe(true).unwrap();
        jq.put(a).unwrap();
    }

    let after = open_fds();
    assert_eq!(before, after, "descriptors leaked");
    assert!(
        !std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .contains("/memfd:mp")
    );
    assert!(zombies().is_empty());
}
