//! Helper program for mp's integration tests: each scenario runs in a fresh process whose
//! output the test inspects. `mp-helper <scenario> <start method> [arg]`.

use std::time::Duration;

use mp::{Process, StartMethod};

#[mp::task]
fn noop() {}

#[mp::task]
fn boom() {
    panic!("boom in child");
}

#[mp::task]
fn fail(msg: String) -> Result<(), String> {
    Err(msg)
}

#[mp::task]
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[mp::task]
fn sleep_then_write(ms: u64, path: String) {
    std::thread::sleep(Duration::from_millis(ms));
    std::fs::write(path, "done").unwrap();
}

#[mp::main]
fn main() -> mp::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).map(String::as_str).unwrap_or("");
    let method: StartMethod = args.get(2).map(String::as_str).unwrap_or("fork").parse()?;
    let extra = args.get(3).cloned().unwrap_or_default();
    let ctx = mp::Context::new(method);
    match scenario {
        "panic" => {
            let p = ctx.process(boom, ());
            p.start()?;
            p.join()?;
            println!("exitcode {:?}", p.exitcode());
        }
        "err" => {
            let p = ctx.process(fail, ("task failed: bad input".to_string(),));
            p.start()?;
            p.join()?;
            println!("exitcode {:?}", p.exitcode());
        }
        "logging" => {
            let logger = mp::log_to_stderr(log::LevelFilter::Debug);
            logger.warning("doomed");
            let p = ctx.process(noop, ());
            p.start()?;
            p.join()?;
            println!("exitcode {:?}", p.exitcode());
        }
        "exit-handler" => {
            mp::log_to_stderr(log::LevelFilter::Info);
            let d = Process::builder(sleep_ms, (60_000,))
                .name("the-daemon")
                .daemon(true)
                .context(ctx)
                .start()?;
            let w = Process::builder(sleep_then_write, (300, extra))
                .name("the-worker")
                .context(ctx)
                .start()?;
            println!("daemon pid {}", d.pid().unwrap_or(-1));
            println!("worker pid {}", w.pid().unwrap_or(-1));
            // Returning from main: the exit handler terminates the daemon and joins the worker.
        }
        "bootstrap-death" => {
            mp::set_executable("/bin/true");
            let p = ctx.process(noop, ());
            match p.start() {
                Ok(()) => println!("started"),
                Err(e) => println!("error {:?}: {e}", e.kind()),
            }
            println!("alive {}", p.is_alive());
        }
        "set-executable" => {
            let exe = std::env::current_exe()?;
            // A &str, a String, a PathBuf and an OsString are all accepted.
            mp::set_executable(exe.to_string_lossy().as_ref());
            mp::set_executable(exe.to_string_lossy().into_owned());
            mp::set_executable(exe.clone().into_os_string());
            mp::set_executable(exe);
            let p = ctx.process(noop, ());
            p.start()?;
            p.join()?;
            println!("exitcode {:?}", p.exitcode());
        }
        "silent-binary" => {
            // A program that never answers: the start fails within MP_START_TIMEOUT.
            mp::set_executable(&extra);
            let p = ctx.process(noop, ());
            let t = std::time::Instant::now();
            match p.start() {
                Ok(()) => println!("started"),
                Err(e) => println!("error {:?}: {e}", e.kind()),
            }
            println!("took {} ms", t.elapsed().as_millis());
            println!("alive {}", p.is_alive());
        }
        "wrong-binary" => {
            mp::set_executable(&extra);
            let p = ctx.process(noop, ());
            match p.start() {
                Ok(()) => {
                    p.join()?;
                    println!("started, exitcode {:?}", p.exitcode());
                }
                Err(e) => println!("error {:?}: {e}", e.kind()),
            }
        }
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}
