//! Mirrors the two start-method programs of Python's documentation that pass a Queue
//! ("Contexts and start methods": `mp.set_start_method('spawn')` with `foo(q)`, then
//! `ctx = mp.get_context('spawn')` with `ctx.Queue()`), and queues made by two contexts in one
//! program.
//!
//! `cargo run -p mp-examples --example queues_start_methods`

use mp::Queue;

#[mp::task]
fn foo(q: Queue<String>) -> mp::Result<()> {
    q.put("hello".into())?;
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    // mp.set_start_method('spawn'); q = mp.Queue(); p = mp.Process(target=foo, args=(q,))
    mp::set_start_method("spawn", false)?;
    let q = Queue::new(0)?;
    let p = mp::Process::new(foo, (q.clone(),));
    p.start()?;
    let got = q.get()?;
    println!("{got}");
    p.join()?;
    assert_eq!(got, "hello");

    // ctx = mp.get_context('spawn'); q = ctx.Queue(); p = ctx.Process(target=foo, args=(q,))
    let ctx = mp::get_context("spawn")?;
    let q = ctx.queue(0)?;
    let p = ctx.process(foo, (q.clone(),));
    p.start()?;
    let got = q.get()?;
    println!("{got}");
    p.join()?;
    assert_eq!(got, "hello");

    // Queues are not tied to a context in mp: one made here works with every start method.
    for method in mp::get_all_start_methods() {
        let p = mp::Context::new(method).process(foo, (q.clone(),));
        p.start()?;
        let got = q.get()?;
        println!("{method}: {got}");
        p.join()?;
        assert_eq!((got.as_str(), p.exitcode()), ("hello", Some(0)));
    }
    Ok(())
}
