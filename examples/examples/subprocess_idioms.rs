//! The `subprocess` programs that `multiprocessing` tutorials often go on to, done with
//! `std::process::Command`.
//!
//! mp re-implements nothing of Python's `subprocess`: running *another program* is what the standard
//! library's `Command` is for (mp is about processes running *your* Rust functions). This example
//! mirrors, in order:
//!
//! 1. running a program and getting its exit code:
//!    `r = subprocess.call(['nslookup', 'www.Python.org'])`, then `print('Exit code:', r)`;
//! 2. feeding its stdin and collecting its output: `p = subprocess.Popen(['nslookup'],
//!    stdin=PIPE, stdout=PIPE, stderr=PIPE)`,
//!    `output, err = p.communicate(b'set q=mx\nPython.org\nexit\n')`, then
//!    `print(output.decode('utf-8'))` and `print('Exit code:', p.returncode)`;
//! 3. running a shell command: `rc = subprocess.call(['dir', 'C:\\python27'], shell=True)`;
//! 4. handling a failed command: `subprocess.check_call(['dir', 'C:\\python270'], shell=True)`
//!    failing with `CalledProcessError`, printing `'Command failed. rc:', error.returncode`;
//! 5. collecting a command's output: `data = subprocess.check_output(['dir',
//!    'C:\\python27'], shell=True)`, printing how many lines it got.
//!
//! (Python's `subprocess` documentation: <https://docs.python.org/3/library/subprocess.html>;
//! `docs/subprocess.md` puts each idiom next to its Rust form.)
//!
//! The example runs offline, even on a minimal Debian: the network lookups are replaced (see the
//! comments) and the Windows `dir C:\python27` lists a directory this example creates with the same
//! entries, so the output is stable.
//!
//! Run it with `cargo run -p mp-examples --example subprocess_idioms`.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;

/// Python's `returncode`: the exit code, or `-N` when the child was killed by signal `N`.
fn returncode(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => i32::MIN,
    }
}

/// `subprocess.call(args)`: run with inherited stdin/stdout/stderr, wait, return the returncode.
fn call(cmd: &mut Command) -> io::Result<i32> {
    // Our own buffered output must come before the child's (Python flushes `print` the same way).
    io::stdout().flush()?;
    Ok(returncode(cmd.status()?))
}

/// Python's `subprocess.CalledProcessError`: a command exited with a non-zero status.
#[derive(Debug)]
struct CalledProcessError {
    returncode: i32,
    cmd: String,
}

impl fmt::Display for CalledProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same wording as Python's message.
        write!(
            f,
            "Command '{}' returned non-zero exit status {}.",
            self.cmd, self.returncode
        )
    }
}

impl Error for CalledProcessError {}

/// What `check_call` / `check_output` can fail with: the command could not run at all (Python
/// raises `OSError`), or it ran and failed (`CalledProcessError`).
#[derive(Debug)]
enum SubprocessError {
    Os(io::Error),
    Called(CalledProcessError),
}

impl fmt::Display for SubprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubprocessError::Os(e) => write!(f, "{e}"),
            SubprocessError::Called(e) => write!(f, "{e}"),
        }
    }
}

impl Error for SubprocessError {}

impl From<io::Error> for SubprocessError {
    fn from(e: io::Error) -> Self {
        SubprocessError::Os(e)
    }
}

fn check(cmd: &Command, status: ExitStatus) -> Result<(), SubprocessError> {
    if status.success() {
        Ok(())
    } else {
        Err(SubprocessError::Called(CalledProcessError {
            returncode: returncode(status),
            cmd: format!("{cmd:?}"),
        }))
    }
}

/// `subprocess.check_call(args)`: like `call`, but a non-zero status is an error.
fn check_call(cmd: &mut Command) -> Result<(), SubprocessError> {
    io::stdout().flush()?;
    let status = cmd.status()?;
    check(cmd, status)
}

/// `subprocess.check_output(args)`: capture stdout (stderr stays inherited), error on non-zero status.
fn check_output(cmd: &mut Command) -> Result<Vec<u8>, SubprocessError> {
    let out = cmd.stderr(Stdio::inherit()).output()?;
    check(cmd, out.status)?;
    Ok(out.stdout)
}

/// `Popen.communicate(input)`: write `input` to the child's stdin and close it, while reading all of
/// stdout and stderr, then wait. Writing from another thread is what keeps this from deadlocking
/// when the child fills its output pipe before it has read all of its input (Python's
/// `communicate` does the same).
fn communicate(mut child: Child, input: &[u8]) -> io::Result<Output> {
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("the child's stdin is not a pipe"))?;
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    // Reads stdout and stderr concurrently until EOF, then waits for the child.
    let output = child.wait_with_output()?;
    match writer.join() {
        Ok(Ok(())) => {}
        // The child may exit without reading all its input; Python ignores that too.
        Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(io::Error::other("the stdin writer thread panicked")),
    }
    Ok(output)
}

/// A directory shaped like `C:\python27` of a Windows Python 2.7 install (its top-level entries),
/// removed again when dropped.
struct FakePython27 {
    root: PathBuf,
}

const PYTHON27_DIRS: [&str; 5] = ["DLLs", "Doc", "include", "Lib", "libs"];
const PYTHON27_FILES: [&str; 5] = [
    "LICENSE.txt",
    "NEWS.txt",
    "py2exe-wininst.log",
    "python.exe",
    "pythonw.exe",
];

impl FakePython27 {
    fn create() -> io::Result<FakePython27> {
        let root =
            std::env::temp_dir().join(format!("mp-subprocess-idioms-{}", std::process::id()));
        let me = FakePython27 { root };
        // A leftover from a killed earlier run with the same pid would make `create_dir` fail.
        if me.root.exists() {
            std::fs::remove_dir_all(&me.root)?;
        }
        std::fs::create_dir_all(me.dir())?;
        for d in PYTHON27_DIRS {
            std::fs::create_dir(me.dir().join(d))?;
        }
        for f in PYTHON27_FILES {
            std::fs::write(me.dir().join(f), b"")?;
        }
        Ok(me)
    }

    fn dir(&self) -> PathBuf {
        self.root.join("python27")
    }

    fn entries(&self) -> usize {
        PYTHON27_DIRS.len() + PYTHON27_FILES.len()
    }
}

impl Drop for FakePython27 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `dir <path>` with `shell=True`, the POSIX way: `sh -c 'ls "$1"' sh <path>`. The path is passed as
/// a positional parameter, never spliced into the script, so no quoting problem can arise.
/// `LC_ALL=C` makes `ls` sort the same way everywhere (uppercase before lowercase).
fn shell_ls(path: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#"ls -1 "$1""#, "sh"])
        .arg(path)
        .env("LC_ALL", "C");
    cmd
}

fn main() -> Result<(), Box<dyn Error>> {
    // ---- 1. subprocess.call(['nslookup', 'www.Python.org'])
    // Offline there is no DNS: the local equivalent of a name lookup is `getent hosts`, which asks the
    // system resolver (here /etc/hosts) exactly like other programs do.
    println!("$ getent hosts localhost");
    let r = call(Command::new("getent").args(["hosts", "localhost"]))?;
    println!("Exit code: {r}");
    assert_eq!(r, 0, "getent could not resolve localhost");

    // ---- 2. Popen(['nslookup'], stdin=PIPE, stdout=PIPE, stderr=PIPE).communicate(input)
    // nslookup reads commands from stdin (`set q=mx`, a name to look up, `exit`). Offline we drive
    // `sh` the same way: a setting, a lookup, `exit`.
    println!("$ sh");
    let child = Command::new("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = communicate(child, b"set -e\ngetent hosts localhost\nexit\n")?;
    let output = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    println!("{output}");
    let returncode = returncode(out.status);
    println!("Exit code: {returncode}");
    assert_eq!(returncode, 0, "sh failed: {err}");
    assert!(
        output.contains("localhost"),
        "unexpected output: {output:?}"
    );
    assert!(err.is_empty(), "unexpected stderr: {err:?}");

    let python27 = FakePython27::create()?;

    // ---- 3. rc = subprocess.call(['dir', 'C:\\python27'], shell=True)
    println!("$ ls {}", python27.dir().display());
    let rc = call(&mut shell_ls(&python27.dir()))?;
    println!("rc: {rc}");
    assert_eq!(rc, 0);

    // ---- 4. check_call on a directory that does not exist
    let missing = python27.root.join("python270");
    println!("$ ls {}", missing.display());
    match check_call(&mut shell_ls(&missing)) {
        Err(SubprocessError::Called(error)) => {
            println!("Command failed. rc: {}", error.returncode);
            // Windows `dir` says 1; GNU `ls` exits 2 for a missing operand.
            assert_ne!(error.returncode, 0);
        }
        Err(SubprocessError::Os(e)) => return Err(e.into()),
        Ok(()) => return Err("check_call should have failed on a missing directory".into()),
    }

    // ---- 5. data = check_output(...); print(f'received {len(data.split(b"\n"))} lines')
    println!("$ ls {}", python27.dir().display());
    match check_output(&mut shell_ls(&python27.dir())) {
        Ok(data) => {
            // Python's `len(data.split(b'\n'))`: the trailing newline yields one more, empty, item.
            let lines = data.split(|&b| b == b'\n').count();
            println!("received {lines} lines");
            assert_eq!(lines, python27.entries() + 1);
            let listing = String::from_utf8_lossy(&data);
            for name in PYTHON27_DIRS.iter().chain(PYTHON27_FILES.iter()) {
                assert!(
                    listing.lines().any(|l| l == *name),
                    "{name} missing from {listing:?}"
                );
            }
        }
        Err(SubprocessError::Called(error)) => {
            println!("command failed. rc: {}", error.returncode);
            return Err(error.into());
        }
        Err(SubprocessError::Os(e)) => return Err(e.into()),
    }

    Ok(())
}
