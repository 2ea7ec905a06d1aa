//! Mirrors the fork-safe cache of the Python documentation's programming guidelines
//! ("Beware of replacing sys.stdin with a 'file like object'": a forked child inherits the
//! parent's buffered data, which may then be flushed twice; "you can make it fork-safe by
//! storing the pid whenever you append to the cache, and discarding the cache when the pid
//! changes"):
//!
//! ```python
//! @property
//! def cache(self):
//!     pid = os.getpid()
//!     if pid != self._pid:
//!         self._pid = pid
//!         self._cache = []
//!     return self._cache
//! ```
//!
//! `cargo run -p mp-examples --example fork_safe_cache`
//!
//! Two buffered writers live in globals: a naive one and one with the property above. The
//! parent buffers a line in each, then forks a child (the `fork` start method, with a closure
//! as the target: the child starts with a copy of the parent's memory, buffers included). The
//! child buffers a line of its own and flushes. The naive writer flushes the parent's line from
//! the child too, so that line would be written twice; the fork-safe one does not. (Under
//! spawn and forkserver the child starts from a fresh process and inherits no buffer at all.)

use std::sync::Mutex;

use mp::{Connection, StartMethod};

/// A writer that buffers lines until `flush`.
struct Buffered {
    fork_safe: bool,
    pid: u32,
    lines: Vec<String>,
}

impl Buffered {
    const fn new(fork_safe: bool) -> Buffered {
        Buffered {
            fork_safe,
            pid: 0,
            lines: Vec::new(),
        }
    }

    /// The cache; the fork-safe writer discards what another process buffered.
    fn cache(&mut self) -> &mut Vec<String> {
        if self.fork_safe {
            let pid = std::process::id();
            if pid != self.pid {
                self.pid = pid;
                self.lines = Vec::new();
            }
        }
        &mut self.lines
    }

    fn write(&mut self, line: &str) {
        self.cache().push(line.to_string());
    }

    /// Takes what would be written out.
    fn flush(&mut self) -> Vec<String> {
        std::mem::take(self.cache())
    }
}

static NAIVE: Mutex<Buffered> = Mutex::new(Buffered::new(false));
static FORK_SAFE: Mutex<Buffered> = Mutex::new(Buffered::new(true));

fn with<R>(w: &Mutex<Buffered>, f: impl FnOnce(&mut Buffered) -> R) -> R {
    f(&mut w.lock().unwrap_or_else(|e| e.into_inner()))
}

#[mp::main]
fn main() -> mp::Result<()> {
    for w in [&NAIVE, &FORK_SAFE] {
        with(w, |w| w.write("parent: started"));
    }

    let (rx, tx) = mp::Pipe(false)?;
    let child = move |out: Connection| -> mp::Result<()> {
        for w in [&NAIVE, &FORK_SAFE] {
            let flushed = with(w, |w| {
                w.write("child: hello");
                w.flush()
            });
            out.send(&flushed)?;
        }
        Ok(())
    };
    let p = mp::Process::builder(child, (tx,))
        .start_method(StartMethod::Fork)
        .start()?;
    let naive: Vec<String> = rx.recv()?;
    let safe: Vec<String> = rx.recv()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));

    println!("naive cache, flushed by the forked child: {naive:?}");
    println!("fork-safe cache, flushed by the forked child: {safe:?}");
    let parent_naive = with(&NAIVE, Buffered::flush);
    let parent_safe = with(&FORK_SAFE, Buffered::flush);
    println!("flushed by the parent: {parent_naive:?} and {parent_safe:?}");

    assert_eq!(naive, ["parent: started", "child: hello"]); // the parent's line, twice in all
    assert_eq!(safe, ["child: hello"]);
    assert_eq!(parent_naive, ["parent: started"]);
    assert_eq!(parent_safe, ["parent: started"]);
    println!("the naive cache wrote the parent's line twice; the fork-safe one once");
    Ok(())
}
