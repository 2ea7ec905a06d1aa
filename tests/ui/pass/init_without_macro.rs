//! `mp::init()` is the guard without the macro.

#[mp::task]
fn hello(name: String) -> String {
    format!("hello {name}")
}

fn main() {
    mp::init();
    for m in mp::get_all_start_methods() {
        let p = mp::Context::new(m).process(hello, ("bob".to_string(),));
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
}
