//! The tour of mp: every capability in one run.
//!
//! `cargo run -p mp-examples --example tour`

#[mp::task]
fn greet(name: String) {
    println!("hello {name} from {}", mp::current_process().name());
}

#[mp::main]
fn main() -> mp::Result<()> {
    for method in mp::get_all_start_methods() {
        let ctx = mp::Context::new(method);
        let p = ctx.process(greet, (method.to_string(),));
        p.start()?;
        p.join()?;
        println!("{method}: exitcode {:?}", p.exitcode());
    }
    Ok(())
}
