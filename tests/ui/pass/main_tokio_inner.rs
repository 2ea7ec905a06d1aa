#[mp::task]
fn hello(name: String) {
    println!("hello {name}");
}

#[mp::main]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let p = mp::get_context("forkserver")
        .unwrap()
        .process(hello, ("tokio".to_string(),));
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
}
