//! Helper program for mp's integration tests: a program without `#[mp::main]` or
//! `mp::init()` that starts spawn and forkserver children. Python's docs show this failing
//! (or fork-bombing); in mp the child dispatches before `main`, so `main` runs once.

#[mp::task]
fn child(method: String) {
    println!("child ran under {method}");
}

fn main() {
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
