//! `SharedMemoryManager` (CONFORMANCE section 13): segments made through it are unlinked at
//! shutdown or when the manager is dropped; creating before `start()` is a Value error; its
//! server ignores SIGINT and shares the program's resource tracker (no spurious leak
//! warning); the control requests `track_segment`/`release_segment`/`list_segments`. Under
//! every start method of the server.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mp::ErrorKind;
use mp::managers::SyncManager;
use mp::shared_memory::{Item, ShareableList, SharedMemory, SharedMemoryManager};

const LONG: Duration = Duration::from_secs(120);

/// The tests of this file run one at a time: the leak test counts this process's
/// descriptors and children.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
const HELPER: &str = env!("CARGO_BIN_EXE_mp-smm");

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

fn enoent(e: &mp::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

fn smm(method: mp::StartMethod) -> SharedMemoryManager {
    SharedMemoryManager::builder()
        .start_method(method)
        .start()
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

#[mp::test]
fn basics_segments_are_unlinked_at_shutdown() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let smm1 = SharedMemoryManager::builder().start_method(method).build();
        // Python's ValueError: SharedMemoryServer not started.
        let err = smm1.shared_memory(9).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Value, "{method}: {err}");
        assert_eq!(
            smm1.shareable_list([1, 2]).unwrap_err().kind(),
            ErrorKind::Value
        );
        assert_eq!(smm1.list_segments().unwrap_err().kind(), ErrorKind::Value);
        smm1.start().unwrap();
        let lol: Vec<ShareableList> = (5..10)
            .map(|i| smm1.shareable_list(0..i).unwrap())
            .collect();
        let lom: Vec<SharedMemory> = (32..128)
            .step_by(16)
            .map(|j| smm1.shared_memory(j).unwrap())
            .collect();
        let doppleganger_list0 = ShareableList::attach(lol[0].shm().name()).unwrap();
        assert_eq!(doppleganger_list0.len(), 5);
        let doppleganger_shm0 = SharedMemory::attach(lom[0].name()).unwrap();
        assert!(doppleganger_shm0.size() >= 32);
        let mut names: Vec<String> = lol.iter().map(|l| l.shm().name().to_string()).collect();
        names.extend(lom.iter().map(|m| m.name().to_string()));
        assert_eq!(smm1.list_segments().unwrap(), names, "{method}");
        assert!(names.iter().all(|n| exists(n)));
        smm1.shutdown().unwrap();
        assert_eq!(smm1.exitcode(), Some(0), "{method}");
        for n in &names {
            let err = SharedMemory::attach(n).unwrap_err();
            assert!(enoent(&err), "{method}: {n} still attachable: {err}");
            assert!(!exists(n));
        }
        // The mappings made before stay usable.
        lom[0].write(0, b"still mapped").unwrap();
        assert_eq!(lol[0].get(4).unwrap(), Item::Int(4));
        // After shutdown: the manager is gone (CPython: the server cannot be reached).
        assert_eq!(
            smm1.shared_memory(8).unwrap_err().kind(),
            ErrorKind::Process
        );
    }
}

#[mp::test]
fn leaving_the_scope_unlinks_like_a_with_block() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let held;
        let held_shm;
        {
            let smm2 = smm(method);
            let sl = smm2.shareable_list(["howdy"]).unwrap();
            let shm = smm2.shared_memory(128).unwrap();
            held = sl.shm().name().to_string();
            held_shm = shm.name().to_string();
            // A clone of the manager keeps it running; the last one shuts it down.
            let clone = smm2.clone();
            drop(smm2);
            assert_eq!(clone.list_segments().unwrap().len(), 2);
        }
        let err = ShareableList::attach(&held).unwrap_err();
        assert!(enoent(&err), "{method}: {err}");
        assert!(!exists(&held) && !exists(&held_shm), "{method}");
    }
}

#[mp::task]
fn write_into(name: String, data: Vec<u8>) -> mp::Result<()> {
    SharedMemory::attach(&name)?.write(0, &data)
}

#[mp::test]
fn children_use_segments_made_through_the_manager() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = smm(method);
        let shm = m.shared_memory(16).unwrap();
        let p = mp::Process::builder(write_into, (shm.name().to_string(), b"child".to_vec()))
            .start_method(method)
            .build();
        p.start().unwrap();
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{method}");
        assert_eq!(shm.read_range(0..5).unwrap(), b"child");
        m.shutdown().unwrap();
        assert!(!exists(shm.name()));
    }
}

#[mp::test]
fn control_requests() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let m = smm(method);
        let a = m.shared_memory(8).unwrap();
        let b = m.shareable_list([1.5]).unwrap();
        // A segment made elsewhere can be handed over.
        let c = SharedMemory::create(8).unwrap();
        m.track_segment(c.name()).unwrap();
        assert_eq!(
            m.list_segments().unwrap(),
            [a.name(), b.shm().name(), c.name()]
        );
        // release_segment: forgotten and unlinked now.
        m.release_segment(a.name()).unwrap();
        assert!(!exists(a.name()));
        assert_eq!(m.list_segments().unwrap(), [b.shm().name(), c.name()]);
        let err = m.release_segment(a.name()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Value, "{err}");
        // Unlinked by someone else meanwhile: the server reports it, and forgets it.
        c.unlink().unwrap();
        let err = m.release_segment(c.name()).unwrap_err();
        assert!(enoent(&err) || err.kind() == ErrorKind::Os, "{err:?}");
        assert_eq!(m.list_segments().unwrap(), [b.shm().name()]);
        m.shutdown().unwrap();
        assert!(!exists(b.shm().name()));
    }
}

#[mp::test]
fn other_managers_refuse_the_segment_requests() {
    let _g = serial();
    let m = SyncManager::builder().start().unwrap();
    let client = SharedMemoryManager::builder()
        .address(m.address().unwrap())
        .authkey(m.authkey())
        .connect()
        .unwrap();
    let err = client.list_segments().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.message().contains("list_segments"), "{err}");
    // The segment is not left behind when the server refuses to track it.
    let err = client.shared_memory(8).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    m.shutdown().unwrap();
}

#[mp::test]
fn a_connected_client_registers_with_the_same_server() {
    let _g = serial();
    let server = smm(mp::StartMethod::Forkserver);
    let client = SharedMemoryManager::builder()
        .address(server.address().unwrap())
        .authkey(server.authkey())
        .connect()
        .unwrap();
    let shm = client.shared_memory(8).unwrap();
    assert_eq!(server.list_segments().unwrap(), [shm.name()]);
    // The client's shutdown only forgets its connection.
    client.shutdown().unwrap();
    assert!(exists(shm.name()));
    server.shutdown().unwrap();
    assert!(!exists(shm.name()));
}

fn sigint_disposition() -> libc::sighandler_t {
    // SAFETY: querying (not changing) the disposition with a null new action.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old);
        old.sa_sigaction
    }
}

#[mp::test]
fn the_server_ignores_sigint() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let before = sigint_disposition();
        let m = smm(method);
        let sl = m.shareable_list(0..10).unwrap();
        let pid = m.pid().unwrap();
        // SAFETY: signalling the manager's server process, which this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        // Still serving afterwards.
        let sl2 = m.shareable_list(0..10).unwrap();
        assert_eq!(sl2.len(), 10);
        assert!(
            mp_tests::pid_running(pid),
            "{method}: the server died of SIGINT"
        );
        // The parent's handling of SIGINT is unchanged.
        assert_eq!(sigint_disposition(), before, "{method}");
        m.shutdown().unwrap();
        assert_eq!(m.exitcode(), Some(0), "{method}");
        assert!(!exists(sl.shm().name()) && !exists(sl2.shm().name()));
    }
}

fn run_helper(mode: &str, method: mp::StartMethod) -> (std::process::ExitStatus, String, String) {
    let child = Command::new(HELPER)
        .args([mode, method.as_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    // The pipes close when the helper and its resource tracker are both gone.
    let out = rx.recv_timeout(LONG).expect("the helper hung").unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_server_reuses_the_program_tracker_no_spurious_leak_warning() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let (status, out, err) = run_helper("clean", method);
        assert!(status.success(), "{method}: {out} {err}");
        assert!(out.contains("GONE"), "{method}: {out}");
        // CPython's assertFalse(err).
        assert!(err.trim().is_empty(), "{method}: stderr: {err}");
        let names: Vec<&str> = out
            .lines()
            .find_map(|l| l.strip_prefix("SEGMENTS "))
            .unwrap()
            .split(' ')
            .collect();
        assert!(names.iter().all(|n| !exists(n)), "{method}");
    }
}

#[test]
fn a_killed_server_leaves_the_cleanup_to_the_tracker() {
    let _g = serial();
    let (status, out, err) = run_helper("killed", mp::StartMethod::Forkserver);
    assert!(status.success(), "{out} {err}");
    let name = out
        .lines()
        .find_map(|l| l.strip_prefix("SEGMENT "))
        .unwrap()
        .to_string();
    assert!(!exists(&name), "{name} leaked");
    assert!(
        err.contains("There appear to be 1 leaked shared_memory objects"),
        "stderr: {err}"
    );
    assert!(err.contains(&name), "stderr: {err}");
}

#[mp::test]
fn nothing_is_left_behind() {
    let _g = serial();
    for method in mp::get_all_start_methods() {
        let once = || {
            let m = smm(method);
            let pid = m.pid().unwrap();
            let names = [
                m.shared_memory(64).unwrap().name().to_string(),
                m.shareable_list([1, 2]).unwrap().shm().name().to_string(),
            ];
            drop(m);
            (pid, names)
        };
        once();
        let before = mp_tests::count_open_fds();
        let (pid, names) = once();
        assert!(
            mp_tests::wait_until(LONG, || mp_tests::count_open_fds() == before),
            "{method}: descriptors leaked"
        );
        assert!(!mp_tests::zombie_children().contains(&pid), "{method}");
        assert!(names.iter().all(|n| !exists(n)), "{method}");
    }
}

#[mp::test]
fn get_server_serves_a_shared_memory_server_in_this_process() {
    let _g = serial();
    let m = SharedMemoryManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"smm")
        .build();
    let server = m.get_server().unwrap();
    let address = server.address().clone();
    let t = std::thread::spawn(move || server.serve_forever());
    let client = SharedMemoryManager::builder()
        .address(&address)
        .authkey(b"smm")
        .connect()
        .unwrap();
    let shm = client.shared_memory(32).unwrap();
    assert_eq!(client.list_segments().unwrap(), [shm.name()]);
    client.stop_server().unwrap();
    t.join().unwrap().unwrap();
    assert!(
        !exists(shm.name()),
        "serve_forever's end unlinks the segments"
    );
}
