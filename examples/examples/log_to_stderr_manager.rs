//! Mirrors the Python documentation's "Logging": the session that turns on
//! `log_to_stderr()` at INFO level, logs `'doomed'`, and shows a Manager's life-cycle
//! messages (`manager serving at ...`, `sending shutdown message to manager`, `manager
//! exiting with exitcode 0`).
//!
//! Run: `cargo run -p mp-examples --example log_to_stderr_manager`
//!
//! The messages go to stderr, as in Python. So that they can be checked, the program runs
//! the session in a copy of itself and prints what that copy wrote to stderr (pids and
//! addresses replaced by `...`).

const CHILD: &str = "MP_LOG_EXAMPLE_SESSION";

fn session() -> mp::Result<()> {
    let logger = mp::log_to_stderr(log::LevelFilter::Info);
    logger.log(log::Level::Warn, format_args!("doomed"));
    let m = mp::managers::SyncManager::builder()
        .start_method(mp::StartMethod::Fork)
        .start()?;
    drop(m); // del m
    Ok(())
}

fn normalize(line: &str) -> String {
    // `[INFO/SyncManager-1] manager serving at '@mp-manager-123-abcd'` -> `... at '...'`.
    match line.split_once(" at '") {
        Some((head, _)) => format!("{head} at '...'"),
        None => line.to_string(),
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    if std::env::var_os(CHILD).is_some() {
        return session();
    }
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(CHILD, "1")
        .output()?;
    assert!(out.status.success(), "the session failed: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<String> = stderr.lines().map(normalize).collect();
    for l in &lines {
        println!("{l}");
    }
    for expected in [
        "[WARNING/MainProcess] doomed",
        "manager serving at '...'",
        "[INFO/MainProcess] sending shutdown message to manager",
        "manager exiting with exitcode 0",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "missing {expected:?} in {lines:?}"
        );
    }
    Ok(())
}
