//! Mirrors the guideline "Beware of replacing sys.stdin with a 'file like object'" (the Python
//! documentation's "Programming guidelines"): a child's standard input is not the parent's. CPython
//! first closed it unconditionally in every child (`os.close(sys.stdin.fileno())`), then changed
//! that to
//!
//! ```python
//! sys.stdin.close()
//! sys.stdin = open(os.open(os.devnull, os.O_RDONLY), closefd=False)
//! ```
//!
//! so a child that reads its stdin gets end of file at once instead of stealing the parent's
//! input (or failing on a closed descriptor). mp does the same in every child, under every
//! start method: descriptor 0 is `/dev/null`.
//!
//! `cargo run -p mp-examples --example child_stdin_devnull`
//! (or `printf 'typed by the user\n' | cargo run -p mp-examples --example child_stdin_devnull`,
//! as CI runs it: the input is still there for the parent once the children are done)

use std::io::{IsTerminal, Read};
use std::time::Duration;

use mp::Connection;

/// Reads the whole of stdin; sends where descriptor 0 points and what was read.
#[mp::task]
fn read_stdin(out: Connection) -> mp::Result<()> {
    out.send(&stdin_of_this_process()?)
}

fn stdin_of_this_process() -> mp::Result<(String, String)> {
    let target = std::fs::read_link("/proc/self/fd/0")
        .map(|p| p.display().to_string())
        .map_err(|e| mp::Error::new(mp::ErrorKind::Os, e.to_string()))?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| mp::Error::new(mp::ErrorKind::Os, e.to_string()))?;
    Ok((target, input))
}

#[mp::main]
fn main() -> mp::Result<()> {
    for method in mp::get_all_start_methods() {
        let (rx, tx) = mp::Pipe(false)?;
        let p = mp::Process::builder(read_stdin, (tx,))
            .start_method(method)
            .start()?;
        if !rx.poll_timeout(Duration::from_secs(60))? {
            return Err(mp::Error::new(
                mp::ErrorKind::Timeout,
                "the child hangs on its stdin",
            ));
        }
        let (target, input): (String, String) = rx.recv()?;
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
        println!(
            "{method} child: stdin is {target}, read {} bytes",
            input.len()
        );
        assert_eq!(target, "/dev/null");
        assert!(input.is_empty());
    }

    // The children took nothing: whatever was piped to this program is still here.
    if std::io::stdin().is_terminal() {
        println!("parent stdin: a terminal (pipe something in to see it kept)");
    } else {
        let mut rest = String::new();
        std::io::stdin()
            .read_to_string(&mut rest)
            .map_err(|e| mp::Error::new(mp::ErrorKind::Os, e.to_string()))?;
        println!("parent stdin still holds: {:?}", rest.trim_end());
    }
    Ok(())
}
