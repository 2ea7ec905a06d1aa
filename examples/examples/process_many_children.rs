//! A tutorial's "several children" program: three children started in a loop, each sleeping one
//! second, then all joined; they run concurrently, so the whole takes about one second.
//!
//! `cargo run -p mp-examples --example process_many_children`

use std::time::{Duration, Instant};

#[mp::task]
fn f(name: String) {
    std::thread::sleep(Duration::from_secs(1));
    println!("我单推 {name}");
}

#[mp::main]
fn main() -> mp::Result<()> {
    let t = Instant::now();
    let dd_list = ["shishi", "hima", "sasaki"];
    let mut dd_list_p = Vec::new();
    for name in dd_list {
        let p = mp::Process::new(f, (name.to_string(),));
        p.start()?;
        dd_list_p.push(p);
    }
    for p in &dd_list_p {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    println!("一秒单推一个也是单推(并发)");
    // Concurrent: well under the three seconds a sequential run takes.
    assert!(
        t.elapsed() < Duration::from_millis(2900),
        "{:?}",
        t.elapsed()
    );
    Ok(())
}
