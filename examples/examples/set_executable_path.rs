//! Mirrors `set_executable()` of the Python docs ("Miscellaneous": "Sets the path of the Python
//! interpreter to use when starting a child process. ... Embedders will probably need to do
//! some thing like" `set_executable(os.path.join(sys.exec_prefix, 'pythonw.exe'))`).
//!
//! `cargo run -p mp-examples --example set_executable_path`
//!
//! Python points spawn at another interpreter; a Rust program is its own interpreter, so
//! `mp::set_executable(path)` points spawn (and the forkserver) at another copy of the
//! program. This example:
//!
//! 1. copies its own binary elsewhere (like `pythonw.exe` beside `python.exe`), calls
//!    `set_executable` with the copy, and starts a spawn child, which reports that it runs the
//!    copy;
//! 2. points `set_executable` at a program that is not built with mp (`/bin/true`): `start()`
//!    fails with a clear error instead of hanging;
//! 3. points it at another mp program (the `process_hello_bob` example, when it was built
//!    next to this one): the child sees that it is not the same build (its task registry
//!    differs) and refuses, and `start()` says so;
//! 4. puts the real path back.

use std::path::{Path, PathBuf};

use mp::{Connection, StartMethod};

#[mp::task]
fn whoami(out: Connection) -> mp::Result<()> {
    let exe =
        std::env::current_exe().map_err(|e| mp::Error::new(mp::ErrorKind::Os, e.to_string()))?;
    out.send(&exe)
}

/// Starts a spawn child running `whoami` and returns the executable it reports.
fn spawn_whoami() -> mp::Result<PathBuf> {
    let (rx, tx) = mp::Pipe(false)?;
    let p = mp::Process::builder(whoami, (tx,))
        .start_method(StartMethod::Spawn)
        .start()?;
    let exe: PathBuf = rx.recv()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(exe)
}

fn os_err(e: std::io::Error) -> mp::Error {
    mp::Error::new(mp::ErrorKind::Os, e.to_string())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let me = std::env::current_exe().map_err(os_err)?;

    // 1. Another copy of the same program.
    let dir = std::env::temp_dir().join(format!("mp-set-executable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(os_err)?;
    let _cleanup = RemoveOnDrop(dir.clone());
    let copy = dir.join("set_executable_path-copy");
    std::fs::copy(&me, &copy).map_err(os_err)?;
    mp::set_executable(&copy);
    let exe = spawn_whoami()?;
    println!(
        "set_executable(copy): the spawn child runs {}",
        display(&exe, &dir)
    );
    assert_eq!(exe, copy);

    // 2. A program that is not built with mp.
    mp::set_executable("/bin/true");
    let err = spawn_whoami().expect_err("/bin/true cannot run a task");
    println!(
        "set_executable('/bin/true'): start() fails: {:?}",
        err.kind()
    );
    println!("    {err}");
    assert_eq!(err.kind(), mp::ErrorKind::ProcessStart);

    // 3. Another mp program.
    let other = me.with_file_name("process_hello_bob");
    if other.exists() {
        mp::set_executable(&other);
        let err = spawn_whoami().expect_err("another program has other tasks");
        println!(
            "set_executable(another mp program): start() fails: {:?}",
            err.kind()
        );
        println!("    {err}");
        assert_eq!(err.kind(), mp::ErrorKind::ProcessStart);
        assert!(err.to_string().contains("different build"), "{err}");
    } else {
        println!("(example process_hello_bob not built: skipping the other-program case)");
    }

    // 4. Back to this binary.
    mp::set_executable(&me);
    let exe = spawn_whoami()?;
    println!("set_executable(sys.executable): the spawn child runs this program again");
    assert_eq!(exe, me);
    Ok(())
}

/// Removes the temporary directory however `main` ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The path with the temporary directory shortened, for a stable output.
fn display(p: &Path, dir: &Path) -> String {
    match p.strip_prefix(dir) {
        Ok(rest) => format!("<tmp>/{}", rest.display()),
        Err(_) => p.display().to_string(),
    }
}
