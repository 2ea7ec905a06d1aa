//! What a child prints and how a program behaves as a whole, observed from outside by running
//! helper programs (`tests/src/bin/`): panic and error reports, logging, the exit handler,
//! the registry checks at start-up, `set_executable`, and a program without the guard.

use mp_tests::{TIMEOUT, pid_running, run_helper, text, wait_pid_gone};

const HELPER: &str = env!("CARGO_BIN_EXE_mp-helper");
const METHODS: [&str; 3] = ["forkserver", "spawn", "fork"];

#[test]
fn child_panic_prints_a_traceback_and_exits_1() {
    for m in METHODS {
        let out = run_helper(HELPER, &["panic", m]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        assert!(stdout.contains("exitcode Some(1)"), "{m}: {stdout}");
        let header = stderr.find("Process Process-1:").expect(&stderr);
        let panic = stderr
            .find("panicked at tests/src/bin/mp-helper.rs:")
            .expect(&stderr);
        let msg = stderr.find("boom in child").expect(&stderr);
        assert!(header < panic && panic < msg, "{m}: {stderr}");
    }
}

#[test]
fn child_err_is_printed_and_exits_1() {
    for m in METHODS {
        let out = run_helper(HELPER, &["err", m]);
        let (stdout, stderr) = text(&out);
        assert!(stdout.contains("exitcode Some(1)"), "{m}: {stdout}");
        assert!(
            stderr.contains("Process Process-1:\ntask failed: bad input"),
            "{m}: {stderr}"
        );
    }
}

#[test]
fn log_to_stderr_prints_level_and_process_name() {
    for m in METHODS {
        let out = run_helper(HELPER, &["logging", m]);
        let (stdout, stderr) = text(&out);
        assert!(stdout.contains("exitcode Some(0)"), "{m}: {stdout}");
        let lines: Vec<&str> = stderr.lines().collect();
        let pos = |needle: &str| {
            lines
                .iter()
                .position(|l| *l == needle)
                .unwrap_or_else(|| panic!("{m}: no line {needle:?} in:\n{stderr}"))
        };
        let doomed = pos("[WARNING/MainProcess] doomed");
        // The child inherited the level and the stderr logger, under every start method.
        let run = pos("[INFO/Process-1] child process calling self.run()");
        let down = pos("[INFO/Process-1] process shutting down");
        let exiting = pos("[INFO/Process-1] process exiting with exitcode 0");
        let main_down = pos("[INFO/MainProcess] process shutting down");
        assert!(doomed < run && run < down && down < exiting && exiting < main_down);
        pos("[DEBUG/Process-1] running all \"atexit\" finalizers with priority >= 0");
    }
}

#[test]
fn exit_handler_terminates_daemons_and_joins_the_others() {
    for m in METHODS {
        let path = std::env::temp_dir().join(format!("mp-exit-handler-{}-{m}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let t = std::time::Instant::now();
        let out = run_helper(HELPER, &["exit-handler", m, path.to_str().unwrap()]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        // The daemon sleeps for 60 s: it was terminated, not waited for.
        assert!(t.elapsed() < std::time::Duration::from_secs(50), "{m}");
        let pid = |what: &str| -> i32 {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(what))
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or_else(|| panic!("{m}: {stdout}"))
        };
        let daemon = pid("daemon pid ");
        assert!(
            wait_pid_gone(daemon, TIMEOUT),
            "{m}: daemon {daemon} still runs"
        );
        // The worker was joined: it finished its work before the program exited.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "done", "{m}");
        assert!(stderr.contains("[INFO/MainProcess] calling terminate() for daemon the-daemon"));
        assert!(stderr.contains("[INFO/MainProcess] calling join() for process the-worker"));
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn duplicate_task_names_are_refused_at_start_up() {
    let out = run_helper(env!("CARGO_BIN_EXE_mp-dup-tasks"), &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(!stdout.contains("main body ran"), "{stdout}");
    assert!(
        stderr.contains("`mp_dup_tasks::dup` is registered twice"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/src/bin/mp-dup-tasks.rs:6"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/src/bin/mp-dup-tasks.rs:12"),
        "{stderr}"
    );
}

#[test]
fn duplicate_task_names_are_refused_at_first_start_without_the_guard() {
    for m in METHODS {
        let out = run_helper(env!("CARGO_BIN_EXE_mp-dup-tasks-no-guard"), &[m]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        assert!(!stdout.contains("started"), "{m}: {stdout}");
        assert!(
            stdout.contains("start failed (ProcessStart)"),
            "{m}: {stdout}"
        );
        assert!(
            stdout.contains("`mp_dup_tasks_no_guard::dup` is registered twice"),
            "{m}: {stdout}"
        );
    }
}

#[test]
fn exit_handler_runs_without_the_guard() {
    for m in METHODS {
        let path =
            std::env::temp_dir().join(format!("mp-no-guard-exit-{}-{m}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let t = std::time::Instant::now();
        let out = run_helper(
            env!("CARGO_BIN_EXE_mp-no-guard"),
            &["exit-handler", m, path.to_str().unwrap()],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        assert!(t.elapsed() < std::time::Duration::from_secs(50), "{m}");
        let daemon: i32 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("daemon pid "))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{m}: {stdout}"));
        assert!(
            wait_pid_gone(daemon, TIMEOUT),
            "{m}: daemon {daemon} still runs"
        );
        // The worker was joined: it finished before the program exited.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "done", "{m}");
        assert!(
            stderr.contains("calling terminate() for daemon the-daemon"),
            "{m}: {stderr}"
        );
        assert!(
            stderr.contains("calling join() for process the-worker"),
            "{m}: {stderr}"
        );
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn a_child_sees_the_parent_s_command_line() {
    for m in METHODS {
        let out = run_helper(
            env!("CARGO_BIN_EXE_mp-no-guard"),
            &["argv", m, "--flag", "two words", ""],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{m}: {stderr}");
        let parent = stdout
            .lines()
            .find_map(|l| l.strip_prefix("parent args "))
            .unwrap_or_else(|| panic!("{m}: {stdout}"));
        let child = stdout
            .lines()
            .find_map(|l| l.strip_prefix("child args "))
            .unwrap_or_else(|| panic!("{m}: {stdout}"));
        assert!(parent.contains("\"two words\""), "{parent}");
        assert_eq!(child, parent, "{m}");
    }
}

#[test]
fn program_without_the_guard_runs_main_once() {
    let out = run_helper(env!("CARGO_BIN_EXE_mp-no-guard"), &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.matches("main ran").count(), 1, "{stdout}");
    assert!(stdout.contains("child ran under spawn"), "{stdout}");
    assert!(stdout.contains("child ran under forkserver"), "{stdout}");
}

#[test]
fn set_executable_accepts_paths_and_children_exit_zero() {
    for m in METHODS {
        let out = run_helper(HELPER, &["set-executable", m]);
        let (stdout, stderr) = text(&out);
        assert!(
            stdout.contains("exitcode Some(0)"),
            "{m}: {stdout} {stderr}"
        );
    }
}

#[test]
fn set_executable_to_another_mp_program_fails_clearly() {
    let other = env!("CARGO_BIN_EXE_mp-no-guard");
    for m in ["spawn", "forkserver"] {
        let out = run_helper(HELPER, &["wrong-binary", m, other]);
        let (stdout, stderr) = text(&out);
        assert!(
            stdout.contains("error ProcessStart"),
            "{m}: {stdout} {stderr}"
        );
        assert!(stdout.contains("different build"), "{m}: {stdout}");
        assert!(stdout.contains("set_executable"), "{m}: {stdout}");
        assert!(
            !stdout.contains("child ran"),
            "{m}: the other program's code ran"
        );
    }
    // A copy of the same program is the same build.
    let copy = std::env::temp_dir().join(format!("mp-helper-copy-{}", std::process::id()));
    std::fs::copy(HELPER, &copy).unwrap();
    let out = run_helper(HELPER, &["wrong-binary", "spawn", copy.to_str().unwrap()]);
    let _ = std::fs::remove_file(&copy);
    assert!(
        text(&out).0.contains("started, exitcode Some(0)"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn child_dying_during_bootstrap_is_a_start_error() {
    for m in ["spawn", "forkserver"] {
        let out = run_helper(HELPER, &["bootstrap-death", m]);
        let (stdout, stderr) = text(&out);
        assert!(
            stdout.contains("error ProcessStart"),
            "{m}: {stdout} {stderr}"
        );
        assert!(stdout.contains("alive false"), "{m}: {stdout}");
    }
}

#[test]
fn a_child_that_never_answers_is_a_start_error_not_a_hang() {
    // A program that is not built with mp and never exits: before the bound, `start()`
    // waited for its answer forever.
    let dir = std::env::temp_dir().join(format!("mp-silent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("silent.sh");
    let marker = dir.join("pids");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ >> {}\nexec sleep 120\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for m in ["spawn", "forkserver"] {
        let out = mp_tests::run_with_timeout(
            std::process::Command::new(HELPER)
                .args(["silent-binary", m, script.to_str().unwrap()])
                .env("MP_START_TIMEOUT", "0.5"),
            mp_tests::TIMEOUT,
        );
        let (stdout, stderr) = text(&out);
        assert!(
            stdout.contains("error ProcessStart"),
            "{m}: {stdout} {stderr}"
        );
        assert!(stdout.contains("did not answer"), "{m}: {stdout}");
        assert!(stdout.contains("alive false"), "{m}: {stdout}");
    }
    // Every silent child was killed.
    let pids = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(pids.lines().count(), 2, "{pids}");
    for pid in pids.lines() {
        let pid: i32 = pid.trim().parse().unwrap();
        assert!(
            mp_tests::wait_pid_gone(pid, mp_tests::TIMEOUT),
            "the silent child {pid} is still running"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn helper_processes_leave_no_children_running() {
    // The helpers above exit with their children; a daemon left running would show here.
    let out = run_helper(HELPER, &["exit-handler", "fork", "/dev/null"]);
    let (stdout, _) = text(&out);
    for line in stdout.lines() {
        if let Some(pid) = line.strip_prefix("daemon pid ") {
            let pid: i32 = pid.trim().parse().unwrap();
            assert!(wait_pid_gone(pid, TIMEOUT));
            assert!(!pid_running(pid));
        }
    }
}
