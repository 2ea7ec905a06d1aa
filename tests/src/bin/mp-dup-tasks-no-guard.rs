//! Helper program for mp's integration tests: two tasks with the same registry name in a
//! program without `#[mp::main]`: the first start of a child must refuse, naming both.
//! `mp-dup-tasks-no-guard <method>`.

fn first() {
    #[mp::task]
    fn dup() {}
    dup();
}

fn second() {
    #[mp::task]
    fn dup() -> u8 {
        1
    }
    let _ = dup();
}

#[mp::task]
fn noop() {}

fn main() {
    first();
    second();
    let method = std::env::args().nth(1).expect("a start method");
    let p = mp::get_context(&method)
        .expect("known method")
        .process(noop, ());
    match p.start() {
        Ok(()) => {
            let _ = p.join();
            println!("started");
        }
        Err(e) => println!("start failed ({:?}): {e}", e.kind()),
    }
}
