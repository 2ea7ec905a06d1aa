//! Helper program for `tests/tests/process_fast_paths.rs`: scenarios that need a process of
//! their own (a replaced stdin, C stdio buffers). `mp-fast-paths-helper <scenario> <method>`.

use std::os::fd::AsRawFd;

use mp::StartMethod;

/// Fails unless stdin is `/dev/null` and reads end at once.
#[mp::task]
fn check_stdin() -> Result<(), String> {
    // SAFETY: `stat` is plain data that fstat fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(0, &mut st) } != 0 {
        return Err("stdin is closed".into());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(format!("stdin is not /dev/null (mode {:o})", st.st_mode));
    }
    let mut b = [0u8; 1];
    // SAFETY: reading into a live one-byte buffer.
    let n = unsafe { libc::read(0, b.as_mut_ptr().cast(), 1) };
    if n != 0 {
        return Err(format!("read from stdin returned {n}"));
    }
    Ok(())
}

/// Leaves text in C's stdout buffer (no newline, stdout is a pipe): only a flush at exit
/// writes it.
#[mp::task]
fn c_stdio() {
    // SAFETY: printf with a NUL-terminated format that has no conversions.
    unsafe { libc::printf(c"c-stdio-unflushed".as_ptr()) };
}

#[mp::main]
fn main() -> mp::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).map(String::as_str).unwrap_or("");
    let method: StartMethod = args.get(2).map(String::as_str).unwrap_or("fork").parse()?;
    let ctx = mp::Context::new(method);
    match scenario {
        "stdin" => {
            // Our own stdin becomes a pipe that never ends (its write end stays open).
            let (r, w) = std::io::pipe()?;
            // SAFETY: dup2 of a descriptor we own onto 0.
            unsafe { libc::dup2(r.as_raw_fd(), 0) };
            drop(r);
            let p = ctx.process(check_stdin, ());
            p.start()?;
            p.join()?;
            println!("exitcode {:?}", p.exitcode());
            drop(w);
        }
        "cstdio" => {
            let p = ctx.process(c_stdio, ());
            p.start()?;
            p.join()?;
            println!("\nexitcode {:?}", p.exitcode());
        }
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}
