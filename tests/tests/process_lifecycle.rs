//! Process objects: state before and after start, what the child sees, exit codes, signals,
//! close, misuse errors. Each behaviour under every start method it applies to
//! (CONFORMANCE section 1).

use std::time::{Duration, Instant};

use mp::{Connection, ErrorKind, Process, StartMethod};
use mp_tests::{TIMEOUT, join, methods, readable, recv};
use serde::{Deserialize, Serialize};

#[mp::task]
fn noop() {}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[mp::task]
fn exit_with(code: i32) {
    std::process::exit(code);
}

#[mp::task]
fn fail(msg: String) -> Result<(), String> {
    Err(msg)
}

#[mp::task]
fn boom() {
    panic!("boom in child");
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Seen {
    name: String,
    pid: i32,
    authkey: Vec<u8>,
    daemon: bool,
    parent: Option<(i32, String)>,
    method: Option<StartMethod>,
    args: (String, u32, Vec<u8>),
    tid: i64,
    new_child_name: String,
    new_child_daemon: bool,
}

#[mp::task]
fn report(conn: Connection, s: String, n: u32, v: Vec<u8>) {
    let me = mp::current_process();
    // A process object made in the child: named after the child's identity ("Process-1:1"),
    // daemon flag inherited from the child.
    let p = Process::new(noop, ());
    let seen = Seen {
        name: me.name(),
        pid: me.pid(),
        authkey: me.authkey(),
        daemon: me.daemon(),
        parent: mp::parent_process().map(|p| (p.pid(), p.name().to_string())),
        method: me.start_method(),
        args: (s, n, v),
        // SAFETY: gettid has no preconditions.
        tid: unsafe { libc::syscall(libc::SYS_gettid) },
        new_child_name: p.name(),
        new_child_daemon: p.daemon(),
    };
    conn.send(&seen).unwrap();
}

#[test]
fn current_process_in_main() {
    let me = mp::current_process();
    assert!(me.is_alive());
    assert!(!me.daemon());
    assert_eq!(me.authkey().len(), 32);
    assert_eq!(me.ident(), std::process::id() as i32);
    assert_eq!(me.exitcode(), None);
    assert!(mp::parent_process().is_none());
    assert!(mp::cpu_count() >= 1);
    mp::freeze_support();
}

#[mp::test]
fn child_sees_its_identity_and_arguments() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(report, (b, "hi".to_string(), 7u32, vec![1u8, 2, 3]))
            .name(format!("reporter-{m}"))
            .start_method(m)
            .build();
        // Before start: not alive, not listed, no exit code, the creator's authkey.
        assert!(!p.is_alive());
        assert_eq!(p.exitcode(), None);
        assert_eq!(p.pid(), None);
        assert_eq!(p.authkey(), mp::current_process().authkey());
        assert!(mp::active_children().iter().all(|c| c.name != p.name()));
        p.start().unwrap();
        let pid = p.pid().unwrap();
        let seen: Seen = recv(&a);
        assert_eq!(seen.name, format!("reporter-{m}"));
        assert_eq!(seen.pid, pid);
        assert_eq!(seen.authkey, mp::current_process().authkey());
        assert!(!seen.daemon);
        assert_eq!(
            seen.parent,
            Some((std::process::id() as i32, "MainProcess".to_string()))
        );
        assert_eq!(seen.method, Some(m));
        assert_eq!(seen.args, ("hi".to_string(), 7, vec![1, 2, 3]));
        assert_ne!(seen.tid, std::process::id() as i64);
        assert!(
            seen.new_child_name.starts_with("Process-") && seen.new_child_name.contains(':'),
            "{}",
            seen.new_child_name
        );
        assert!(!seen.new_child_daemon);
        assert_eq!(join(&p), Some(0));
        assert!(!p.is_alive());
        assert!(mp::active_children().iter().all(|c| c.pid != pid));
    }
}

#[mp::test]
fn alive_and_listed_while_running() {
    for m in methods() {
        let p = Process::builder(sleep_ms, (60_000,))
            .start_method(m)
            .start()
            .unwrap();
        assert!(p.is_alive());
        assert_eq!(p.exitcode(), None);
        let pid = p.pid().unwrap();
        assert!(mp::active_children().iter().any(|c| c.pid == pid));
        // join with a zero timeout returns at once while the child keeps running.
        let t = Instant::now();
        p.join_timeout(Duration::ZERO).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(p.is_alive());
        // A short timeout waits about that long.
        let t = Instant::now();
        p.join_timeout(Duration::from_millis(200)).unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(190),
            "{:?}",
            t.elapsed()
        );
        assert!(p.is_alive());
        p.kill().unwrap();
        assert_eq!(join(&p), Some(-libc::SIGKILL));
        // A second join is harmless; signals after exit are ignored.
        p.join().unwrap();
        p.terminate().unwrap();
        p.kill().unwrap();
        assert!(!p.is_alive());
        assert!(mp::active_children().iter().all(|c| c.pid != pid));
    }
}

#[mp::test]
fn exit_codes() {
    for m in methods() {
        let cases: Vec<(Process, i32)> = vec![
            (Process::builder(noop, ()).start_method(m).build(), 0),
            (Process::builder(exit_with, (0,)).start_method(m).build(), 0),
            (Process::builder(exit_with, (3,)).start_method(m).build(), 3),
            (Process::builder(exit_with, (1,)).start_method(m).build(), 1),
            (
                Process::builder(fail, ("expected failure".to_string(),))
                    .start_method(m)
                    .build(),
                1,
            ),
            (Process::builder(boom, ()).start_method(m).build(), 1),
        ];
        for (p, code) in &cases {
            p.start().unwrap();
            assert_eq!(join(p), Some(*code), "{m}: {p:?}");
        }
    }
}

/// Sleeps for a minute once it has told the parent it runs with the default disposition of
/// every signal: a program started in the background by a non-interactive shell (as `cmd &`)
/// ignores SIGINT, and so would its children, whatever their start method.
#[mp::task]
fn ready_then_sleep(ready: Connection) {
    // SAFETY: restoring the default disposition of SIGINT.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    ready.send(&()).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[mp::test]
fn signals_give_negative_exit_codes() {
    for m in methods() {
        for (sig, f) in [
            (
                libc::SIGTERM,
                Process::terminate as fn(&Process) -> mp::Result<()>,
            ),
            (libc::SIGKILL, Process::kill),
            (libc::SIGINT, Process::interrupt),
        ] {
            let (a, b) = mp::Pipe(true).unwrap();
            let p = Process::builder(ready_then_sleep, (b,))
                .start_method(m)
                .start()
                .unwrap();
            recv::<()>(&a);
            f(&p).unwrap();
            assert_eq!(join(&p), Some(-sig), "{m}");
        }
    }
}

#[mp::test]
fn sentinel_becomes_readable_at_exit() {
    for m in methods() {
        let p = Process::builder(sleep_ms, (60_000,))
            .start_method(m)
            .build();
        assert_eq!(p.sentinel().unwrap_err().kind(), ErrorKind::Value);
        p.start().unwrap();
        let s = p.sentinel().unwrap();
        assert!(s >= 0);
        assert!(!readable(s, Duration::from_millis(100)));
        p.terminate().unwrap();
        assert!(readable(s, TIMEOUT));
        assert_eq!(join(&p), Some(-libc::SIGTERM));
    }
}

#[mp::test]
fn close_rules() {
    for m in methods() {
        let p = Process::builder(sleep_ms, (60_000,))
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(p.close().unwrap_err().kind(), ErrorKind::Value);
        assert!(p.is_alive(), "a refused close leaves the process alone");
        p.terminate().unwrap();
        join(&p);
        p.close().unwrap();
        for e in [
            p.join().unwrap_err(),
            p.join_timeout(Duration::ZERO).unwrap_err(),
            p.terminate().unwrap_err(),
            p.kill().unwrap_err(),
            p.start().unwrap_err(),
            p.sentinel().unwrap_err(),
            p.try_is_alive().unwrap_err(),
            p.set_daemon(true).unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::Value, "{e}");
        }
        assert!(!p.is_alive());
        p.close().unwrap(); // a second close is a no-op
        assert!(format!("{p:?}").contains("closed"));
    }
    // Closing a process that never started is allowed.
    let p = Process::new(noop, ());
    p.close().unwrap();
    assert_eq!(p.start().unwrap_err().kind(), ErrorKind::Value);
}

#[mp::test]
fn misuse_is_an_error() {
    for m in methods() {
        let p = Process::builder(noop, ()).start_method(m).build();
        assert_eq!(p.join().unwrap_err().kind(), ErrorKind::Assertion);
        assert_eq!(
            p.join_timeout(Duration::ZERO).unwrap_err().kind(),
            ErrorKind::Assertion
        );
        assert_eq!(p.terminate().unwrap_err().kind(), ErrorKind::Assertion);
        p.start().unwrap();
        assert_eq!(p.start().unwrap_err().kind(), ErrorKind::Assertion);
        assert_eq!(p.set_daemon(true).unwrap_err().kind(), ErrorKind::Assertion);
        assert_eq!(join(&p), Some(0));
    }
}

#[mp::test]
fn unregistered_target_fails_at_start_under_spawn_and_forkserver() {
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let p = Process::builder(|| {}, ()).start_method(m).build();
        let e = p.start().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProcessStart);
        assert!(e.to_string().contains("#[mp::task]"), "{e}");
        assert!(e.to_string().contains("closure"), "{e}");
        // The process stays in its initial state.
        assert!(!p.is_alive());
        assert!(format!("{p:?}").contains("initial"));
    }
    // A closure is fine under fork.
    let (a, b) = mp::Pipe(true).unwrap();
    let word = String::from("captured");
    let p = Process::builder(move || b.send(&word).unwrap(), ())
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    assert_eq!(recv::<String>(&a), "captured");
    assert_eq!(join(&p), Some(0));
}

#[mp::test]
fn repr_follows_python() {
    for m in methods() {
        let p = Process::builder(sleep_ms, (60_000,))
            .name("Process-x")
            .start_method(m)
            .build();
        assert_eq!(format!("{p:?}"), "<Process(Process-x, initial)>");
        p.start().unwrap();
        assert_eq!(format!("{p:?}"), "<Process(Process-x, started)>");
        p.terminate().unwrap();
        join(&p);
        assert_eq!(format!("{p:?}"), "<Process(Process-x, stopped[SIGTERM])>");
        let q = Process::builder(exit_with, (2,))
            .name("q")
            .daemon(true)
            .start_method(m)
            .start()
            .unwrap();
        join(&q);
        assert_eq!(format!("{q:?}"), "<Process(q, stopped[2] daemon)>");
    }
}

#[test]
fn names_count_up() {
    let a = Process::new(noop, ());
    let b = Process::new(noop, ());
    let na: u32 = a.name().strip_prefix("Process-").unwrap().parse().unwrap();
    let nb: u32 = b.name().strip_prefix("Process-").unwrap().parse().unwrap();
    assert!(nb > na);
    b.set_name("renamed");
    assert_eq!(b.name(), "renamed");
}

#[mp::task]
fn hold(conn: Connection) {
    // Keeps the connection until the parent says so, then exits.
    let _ = conn.recv_bytes();
}

#[mp::test]
fn parent_drops_the_target_after_start() {
    // After start the parent holds no copy of the arguments: once the child closes its end,
    // the other end sees EOF.
    for m in methods() {
        let (ours, theirs) = mp::Pipe(true).unwrap();
        let p = Process::builder(hold, (theirs,))
            .start_method(m)
            .start()
            .unwrap();
        ours.send_bytes(b"go").unwrap();
        assert_eq!(join(&p), Some(0));
        assert!(ours.poll_timeout(TIMEOUT).unwrap());
        assert_eq!(ours.recv_bytes().unwrap_err().kind(), ErrorKind::Eof, "{m}");
    }
    // Under fork, the closure itself is dropped in the parent.
    let token = std::sync::Arc::new(());
    let held = token.clone();
    let p = Process::builder(move || drop(held), ())
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    assert_eq!(std::sync::Arc::strong_count(&token), 1);
    join(&p);
}

#[mp::task]
fn close_stdio_then_print() {
    // SAFETY: closing this process's own stdout and stderr.
    unsafe {
        libc::close(1);
        libc::close(2);
    }
    println!("nobody reads this");
    eprintln!("nor this");
}

#[mp::test]
fn child_with_closed_stdio_exits_zero() {
    for m in methods() {
        let p = Process::builder(close_stdio_then_print, ())
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(join(&p), Some(0), "{m}");
    }
}

#[mp::task]
fn register_atexit(path: String) {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    extern "C" fn write_marker() {
        if let Some(p) = PATH.get() {
            let _ = std::fs::write(p, "deadbeef");
        }
    }
    let _ = PATH.set(path);
    // SAFETY: registering a plain extern "C" fn.
    unsafe { libc::atexit(write_marker) };
}

#[mp::test]
fn atexit_handlers_of_spawned_children_run() {
    // Spawn and forkserver children exit through `exit`, so their own atexit handlers run.
    // (Fork children `_exit`, so that the parent's handlers do not run twice; see
    // docs/start-methods.md.)
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let path =
            std::env::temp_dir().join(format!("mp-atexit-{}-{}", std::process::id(), m.as_str()));
        let _ = std::fs::remove_file(&path);
        let p = Process::builder(register_atexit, (path.to_string_lossy().into_owned(),))
            .start_method(m)
            .start()
            .unwrap();
        assert_eq!(join(&p), Some(0));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "deadbeef");
        let _ = std::fs::remove_file(&path);
    }
}

#[mp::task]
fn report_parent(conn: Connection) {
    let parent = mp::parent_process().unwrap();
    conn.send(&(parent.pid(), parent.is_alive())).unwrap();
    // Wait (bounded) for the parent to die.
    let gone = parent.join_timeout(Duration::from_secs(60));
    conn.send(&(gone, parent.is_alive())).unwrap();
}

#[mp::task]
fn middle_for_parent_test(conn: Connection, m: StartMethod) {
    let p = Process::builder(report_parent, (conn,))
        .start_method(m)
        .start()
        .unwrap();
    let _ = p.join();
}

#[mp::test]
fn grandchild_sees_its_parent_die() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let middle = Process::builder(middle_for_parent_test, (b, m))
            .start_method(m)
            .start()
            .unwrap();
        let (ppid, alive): (i32, bool) = recv(&a);
        assert_eq!(ppid, middle.pid().unwrap());
        assert!(alive);
        middle.terminate().unwrap();
        join(&middle);
        let (gone, alive): (bool, bool) = recv(&a);
        assert!(gone, "{m}");
        assert!(!alive, "{m}");
    }
}

#[mp::task]
fn nested(conn: Connection, depth: u32, m: StartMethod) {
    conn.send(&(depth, mp::current_process().name())).unwrap();
    if depth < 3 {
        let p = Process::builder(nested, (conn, depth + 1, m))
            .start_method(m)
            .start()
            .unwrap();
        p.join_timeout(Duration::from_secs(60)).unwrap();
    }
}

#[mp::test]
fn nested_children_are_named_by_identity() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(nested, (b, 1, m))
            .start_method(m)
            .start()
            .unwrap();
        let base = p.name();
        let got: Vec<(u32, String)> = (0..3).map(|_| recv(&a)).collect();
        assert_eq!(join(&p), Some(0));
        assert_eq!(got[0], (1, base.clone()));
        assert_eq!(got[1], (2, format!("{base}:1")));
        assert_eq!(got[2], (3, format!("{base}:1:1")));
    }
}

#[mp::task]
fn report_daemon(conn: Connection) {
    let p = Process::new(noop, ());
    conn.send(&(mp::current_process().daemon(), p.daemon()))
        .unwrap();
    let e = p.start().unwrap_err();
    conn.send(&(e.kind() == ErrorKind::Assertion, e.to_string()))
        .unwrap();
}

#[mp::test]
fn daemon_flag_is_inherited_and_forbids_children() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(report_daemon, (b,))
            .daemon(true)
            .start_method(m)
            .start()
            .unwrap();
        let (me, made): (bool, bool) = recv(&a);
        assert!(me && made, "{m}");
        let (is_assertion, msg): (bool, String) = recv(&a);
        assert!(is_assertion, "{msg}");
        assert!(msg.contains("daemonic"), "{msg}");
        assert_eq!(join(&p), Some(0));
    }
    let p = Process::builder(noop, ()).daemon(true).build();
    assert!(p.daemon());
    p.set_daemon(false).unwrap();
    assert!(!p.daemon());
}

static SIGNALS_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[mp::test]
fn join_survives_eintr() {
    let _g = mp_tests::global_lock();
    // SAFETY: installing a handler (without SA_RESTART) for SIGUSR1, used only by this test.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_signal as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    for m in methods() {
        let p = Process::builder(sleep_ms, (500,))
            .start_method(m)
            .start()
            .unwrap();
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as usize;
        let before = SIGNALS_SEEN.load(std::sync::atomic::Ordering::Relaxed);
        let poker = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(50));
                // SAFETY: signalling a thread of this process that is joining the child.
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            }
        });
        p.join().unwrap();
        poker.join().unwrap();
        assert_eq!(p.exitcode(), Some(0), "{m}");
        assert!(SIGNALS_SEEN.load(std::sync::atomic::Ordering::Relaxed) > before);
    }
}

#[derive(Serialize, Deserialize)]
struct Worker {
    conn: Connection,
    greeting: String,
}

#[mp::task]
impl mp::Run for Worker {
    fn run(self) {
        self.conn
            .send(&format!(
                "{} from {}",
                self.greeting,
                mp::current_process().name()
            ))
            .unwrap();
    }
}

#[mp::test]
fn subclass_pattern_runs_the_override() {
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder_from_run(Worker {
            conn: b,
            greeting: "hello".into(),
        })
        .name("w")
        .start_method(m)
        .start()
        .unwrap();
        assert_eq!(recv::<String>(&a), "hello from w");
        assert_eq!(join(&p), Some(0));
    }
}

#[mp::task]
fn recurse(conn: Connection, id: Vec<u8>, m: StartMethod) {
    conn.send(&id).unwrap();
    if id.len() < 2 {
        for i in 0..2 {
            let mut next = id.clone();
            next.push(i);
            let p = Process::builder(recurse, (conn.clone_handle(), next, m))
                .start_method(m)
                .start()
                .unwrap();
            p.join_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(p.exitcode(), Some(0));
        }
    }
}

trait CloneHandle {
    fn clone_handle(&self) -> Connection;
}

impl CloneHandle for Connection {
    fn clone_handle(&self) -> Connection {
        self.try_clone().unwrap()
    }
}

#[mp::test]
fn recursion_runs_depth_first() {
    // CPython's `test_recursion`: nested children started and joined one after the other
    // write to one shared connection in depth-first order.
    for m in methods() {
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::builder(recurse, (b, Vec::new(), m))
            .start_method(m)
            .start()
            .unwrap();
        let got: Vec<Vec<u8>> = (0..7).map(|_| recv(&a)).collect();
        assert_eq!(join(&p), Some(0), "{m}");
        let want: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![0, 1],
            vec![1],
            vec![1, 0],
            vec![1, 1],
        ];
        assert_eq!(got, want, "{m}");
    }
}
