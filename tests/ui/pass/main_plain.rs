#[mp::task]
fn hello(name: String) {
    println!("hello {name}");
}

#[mp::main]
fn main() {
    for m in mp::get_all_start_methods() {
        let p = mp::Context::new(m).process(hello, ("bob".to_string(),));
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
}
