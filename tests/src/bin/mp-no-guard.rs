//! Helper program for mp's integration tests: a program without `#[mp::main]` or
//! `mp::init()`. Python's docs show such a script failing (or fork-bombing) under spawn; in mp
//! the child dispatches before `main`, so `main` runs once, and at exit the children are
//! treated as CPython treats them at interpreter exit (daemons terminated, the others joined).
//!
//! `mp-no-guard` (both re-exec methods), `mp-no-guard exit-handler <method> <path>`,
//! `mp-no-guard argv <method> [args...]`.

use std::time::Duration;

#[mp::task]
fn child(method: String) {
    println!("child ran under {method}");
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

#[mp::task]
fn print_args() {
    println!("child args {:?}", std::env::args().collect::<Vec<_>>());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let method = || args.get(2).expect("a start method").as_str();
    match args.get(1).map(String::as_str) {
        Some("exit-handler") => {
            let ctx = mp::get_context(method()).expect("known method");
            mp::log_to_stderr(log::LevelFilter::Info);
            let d = mp::Process::builder(sleep_ms, (60_000,))
                .name("the-daemon")
                .daemon(true)
                .context(ctx)
                .start()
                .expect("start");
            let w = mp::Process::builder(sleep_then_write, (300, args[3].clone()))
                .name("the-worker")
                .context(ctx)
                .start()
                .expect("start");
            println!("daemon pid {}", d.pid().unwrap_or(-1));
            println!("worker pid {}", w.pid().unwrap_or(-1));
            // Returning from main: no guard registered an exit handler, the first start did.
        }
        Some("argv") => {
            println!("parent args {:?}", args);
            let p = mp::get_context(method())
                .expect("known method")
                .process(print_args, ());
            p.start().expect("start");
            p.join().expect("join");
            assert_eq!(p.exitcode(), Some(0));
        }
        _ => {
            println!("main ran");
            for m in ["spawn", "forkserver"] {
                let p = mp::get_context(m)
                    .expect("known method")
                    .process(child, (m.to_string(),));
                p.start().expect("start");
                p.join().expect("join");
                assert_eq!(p.exitcode(), Some(0));
            }
        }
    }
}
