//! `mp::dummy::Process` (CONFORMANCE section 17 and the thread-relevant lines of section 1):
//! a thread with `mp::Process`'s API.
//!
//! Source of the behaviours: `Lib/multiprocessing/dummy/__init__.py` (`DummyProcess`,
//! `active_children`) and `_TestProcess` of `Lib/test/_test_multiprocessing.py` (CPython main
//! at 00811485ee5f; PSF License Agreement). Tweaks: a panic gives exit code 1 as in `mp`
//! (CPython's dummy reports 0 whatever happened); the errors of misuse keep `mp::Process`'s
//! kinds, except `start` from a thread other than the creator (`RuntimeError`, as CPython).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mp::ErrorKind;
use mp::dummy::{Event, Process, Queue, active_children, current_process};

const LONG: Duration = Duration::from_secs(60);

#[mp::task]
fn add(a: i32, b: i32, out: Queue<i32>) -> mp::Result<()> {
    out.put(a + b)?;
    Ok(())
}

#[mp::task]
fn fails() -> Result<(), String> {
    Err("it went wrong".into())
}

#[mp::task]
fn panics() {
    panic!("deliberate panic in a dummy process");
}

#[mp::task]
fn report(out: Queue<(String, bool, i32)>) -> mp::Result<()> {
    let me = current_process();
    out.put((me.name(), me.daemon(), me.ident()))?;
    Ok(())
}

fn wait_event(e: Event) {
    e.wait();
}

#[test]
fn lifecycle_matches_python() -> mp::Result<()> {
    // Before start: not alive, no exit code, not listed.
    let out = Queue::new(0)?;
    let p = Process::new(add, (1, 2, out.clone()));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert_eq!(p.pid(), None);
    assert_eq!(p.ident(), None);
    assert!(p.name().starts_with("Thread-"));
    // The default is the creating thread's flag (a libtest thread is a foreign, daemonic one).
    assert_eq!(p.daemon(), current_process().daemon());
    p.start()?;
    assert!(p.ident().is_some(), "start returns once the thread runs");
    assert_eq!(p.pid(), Some(std::process::id() as i32));
    p.join_timeout(LONG)?;
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(out.get_timeout(LONG)?, 3);
    p.join()?; // a second join is harmless
    assert!(active_children().iter().all(|c| Some(c.pid) != p.ident()));
    Ok(())
}

#[test]
fn exit_codes() -> mp::Result<()> {
    let e = Process::new(fails, ());
    e.start()?;
    e.join_timeout(LONG)?;
    assert_eq!(e.exitcode(), Some(1), "an Err return gives 1");
    let p = Process::new(panics, ());
    p.start()?;
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(1), "a panic gives 1");
    let ok = Process::new(|| 5u8, ());
    ok.start()?;
    ok.join_timeout(LONG)?;
    assert_eq!(ok.exitcode(), Some(0));
    Ok(())
}

#[test]
fn start_only_from_the_creating_thread() -> mp::Result<()> {
    let p = Arc::new(Process::new(|| {}, ()));
    let p2 = p.clone();
    let err = std::thread::spawn(move || p2.start())
        .join()
        .expect("thread")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert!(err.to_string().contains("Parent is"), "{err}");
    assert!(!p.is_alive());
    p.start()?;
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}

#[test]
fn misuse_keeps_mp_kinds() -> mp::Result<()> {
    let p = Process::new(|| {}, ());
    assert_eq!(p.join().unwrap_err().kind(), ErrorKind::Assertion);
    p.start()?;
    assert_eq!(p.start().unwrap_err().kind(), ErrorKind::Assertion);
    p.join_timeout(LONG)?;
    assert_eq!(p.set_daemon(true).unwrap_err().kind(), ErrorKind::Assertion);
    p.close()?;
    assert_eq!(p.join().unwrap_err().kind(), ErrorKind::Value);
    assert_eq!(p.try_is_alive().unwrap_err().kind(), ErrorKind::Value);
    p.close()?;
    Ok(())
}

#[test]
fn close_while_running_is_an_error() -> mp::Result<()> {
    let stop = Event::new()?;
    let p = Process::new(wait_event, (stop.clone(),));
    p.start()?;
    assert_eq!(p.close().unwrap_err().kind(), ErrorKind::Value);
    stop.set();
    p.join_timeout(LONG)?;
    p.close()?;
    Ok(())
}

#[test]
fn join_timeout_returns_while_running() -> mp::Result<()> {
    let stop = Event::new()?;
    let p = Process::new(wait_event, (stop.clone(),));
    p.start()?;
    let t = std::time::Instant::now();
    p.join_timeout(Duration::from_millis(100))?;
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    p.join_timeout(Duration::ZERO)?;
    assert!(p.is_alive());
    stop.set();
    p.join_timeout(LONG)?;
    assert!(!p.is_alive());
    Ok(())
}

#[test]
fn a_thread_cannot_join_itself() -> mp::Result<()> {
    let slot: Arc<std::sync::Mutex<Option<Arc<Process>>>> = Default::default();
    let s2 = slot.clone();
    let go = Event::new()?;
    let g2 = go.clone();
    let p = Arc::new(Process::new(
        move || -> mp::Result<()> {
            g2.wait();
            let me = s2.lock().unwrap().clone().expect("set before go");
            match me.join() {
                Err(e) if e.kind() == ErrorKind::Runtime => Ok(()),
                other => Err(mp::Error::new(ErrorKind::Assertion, format!("{other:?}"))),
            }
        },
        (),
    ));
    *slot.lock().unwrap() = Some(p.clone());
    p.start()?;
    go.set();
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(0));
    slot.lock().unwrap().take();
    Ok(())
}

#[test]
fn names_daemon_and_current_process() -> mp::Result<()> {
    let out = Queue::new(0)?;
    let p = Process::builder(report, (out.clone(),))
        .name("worker")
        .daemon(true)
        .start()?;
    let (name, daemon, ident) = out.get_timeout(LONG)?;
    assert_eq!(name, "worker");
    assert!(daemon);
    assert_eq!(Some(ident), p.ident());
    assert_ne!(ident, current_process().ident());
    p.join_timeout(LONG)?;
    // The default daemon flag is the creating thread's: children of a daemonic thread are
    // daemonic.
    let q = Process::builder(
        |out: Queue<(String, bool, i32)>| -> mp::Result<()> {
            let child = Process::new(report, (out.clone(),));
            child.start()?;
            child.join()?;
            Ok(())
        },
        (out.clone(),),
    )
    .daemon(true)
    .start()?;
    q.join_timeout(LONG)?;
    assert_eq!(q.exitcode(), Some(0));
    let (name, daemon, _) = out.get_timeout(LONG)?;
    assert!(name.starts_with("Thread-"));
    assert!(daemon);
    // A renamed object renames the running thread, as Python's `name` setter.
    let stop = Event::new()?;
    let s2 = stop.clone();
    let r = Process::new(
        move |out: Queue<(String, bool, i32)>| -> mp::Result<()> {
            s2.wait();
            out.put((current_process().name(), false, 0))?;
            Ok(())
        },
        (out.clone(),),
    );
    r.start()?;
    r.set_name("renamed");
    stop.set();
    r.join_timeout(LONG)?;
    assert_eq!(out.get_timeout(LONG)?.0, "renamed");
    Ok(())
}

#[test]
fn active_children_lists_live_started_threads_of_the_caller() -> mp::Result<()> {
    let stop = Event::new()?;
    let ps: Vec<Process> = (0..3)
        .map(|i| {
            Process::builder(wait_event, (stop.clone(),))
                .name(format!("kid-{i}"))
                .build()
        })
        .collect();
    // Not listed before start.
    assert!(
        active_children()
            .iter()
            .all(|c| !c.name.starts_with("kid-"))
    );
    for p in &ps {
        p.start()?;
    }
    let kids: Vec<_> = active_children()
        .into_iter()
        .filter(|c| c.name.starts_with("kid-"))
        .collect();
    assert_eq!(kids.len(), 3);
    for p in &ps {
        assert!(kids.iter().any(|k| Some(k.pid) == p.ident()));
    }
    // Another thread did not start them: its list is its own.
    let other = std::thread::spawn(|| active_children().len())
        .join()
        .expect("thread");
    assert_eq!(other, 0);
    stop.set();
    for p in &ps {
        p.join_timeout(LONG)?;
    }
    assert!(
        active_children()
            .iter()
            .all(|c| !c.name.starts_with("kid-"))
    );
    Ok(())
}

#[test]
fn closures_capture_anything_send() -> mp::Result<()> {
    let counter = Arc::new(AtomicUsize::new(0));
    let ps: Vec<Process> = (0..8)
        .map(|_| {
            let c = counter.clone();
            Process::new(
                move |n: usize| {
                    c.fetch_add(n, Ordering::SeqCst);
                },
                (2usize,),
            )
        })
        .collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join_timeout(LONG)?;
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(counter.load(Ordering::SeqCst), 16);
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Greeter {
    n: u32,
}

#[mp::task]
impl mp::Run for Greeter {
    fn run(self) {
        assert_eq!(self.n, 7);
    }
}

#[test]
fn run_objects() -> mp::Result<()> {
    let p = Process::from_run(Greeter { n: 7 });
    p.start()?;
    p.join_timeout(LONG)?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}

#[test]
fn current_process_of_other_threads() {
    // A std thread without a name is `Dummy-N` and daemonic, as Python's `_DummyThread`.
    let (name, daemon) = std::thread::spawn(|| {
        let me = current_process();
        (me.name(), me.daemon())
    })
    .join()
    .expect("thread");
    assert!(name.starts_with("Dummy-"), "{name}");
    assert!(daemon);
    assert_eq!(current_process().pid(), std::process::id() as i32);
    assert!(current_process().is_alive());
    assert_eq!(current_process().exitcode(), None);
}

#[test]
fn many_threads_exit_zero() -> mp::Result<()> {
    let ps: Vec<Process> = (0..100).map(|_| Process::new(|| {}, ())).collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join_timeout(LONG)?;
        assert_eq!(p.exitcode(), Some(0));
    }
    Ok(())
}

#[test]
fn debug_shows_the_state() -> mp::Result<()> {
    let p = Process::builder(|| {}, ()).name("t").daemon(false).build();
    assert_eq!(format!("{p:?}"), "<DummyProcess(t, initial)>");
    p.start()?;
    p.join_timeout(LONG)?;
    assert_eq!(format!("{p:?}"), "<DummyProcess(t, stopped)>");
    Ok(())
}

/// Runs in a child copy of this test binary (see `exit_waits_for_non_daemon_threads`): starts a
/// thread that finishes after `main` has returned, then returns at once. A no-op otherwise.
#[test]
fn exit_helper() -> mp::Result<()> {
    let (Some(dir), Some(daemon)) = (
        std::env::var_os("MP_DUMMY_EXIT_DIR"),
        std::env::var_os("MP_DUMMY_EXIT_DAEMON"),
    ) else {
        return Ok(());
    };
    let marker = std::path::PathBuf::from(dir).join("finished");
    Process::builder(
        move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(&marker, b"done")
        },
        (),
    )
    .daemon(daemon == "1")
    .start()?;
    Ok(())
}

fn run_exit_helper(daemon: bool) -> (bool, Duration) {
    let dir = std::env::temp_dir().join(format!("mp-dummy-exit-{}-{}", std::process::id(), daemon));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let t = std::time::Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "exit_helper", "--test-threads=1", "-q"])
        .env("MP_DUMMY_EXIT_DIR", &dir)
        .env("MP_DUMMY_EXIT_DAEMON", if daemon { "1" } else { "0" })
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the test binary");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if t.elapsed() > LONG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = t.elapsed();
    assert!(status.success(), "{status:?}");
    let finished = dir.join("finished").exists();
    let _ = std::fs::remove_dir_all(&dir);
    (finished, elapsed)
}

/// As Python's `threading._shutdown` (and mp's exit handler for processes): the process waits
/// for its non-daemonic threads when `main` returns, and abandons the daemonic ones.
#[test]
fn exit_waits_for_non_daemon_threads() {
    let (finished, elapsed) = run_exit_helper(false);
    assert!(finished, "the non-daemonic thread was not waited for");
    assert!(elapsed >= Duration::from_millis(300));
    let (finished, _) = run_exit_helper(true);
    assert!(!finished, "the daemonic thread delayed the exit");
}
