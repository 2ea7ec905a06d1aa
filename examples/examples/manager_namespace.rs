//! Mirrors the `Namespace` session of the Python documentation's "Managers" (class
//! `multiprocessing.managers.Namespace`): attributes starting with `_` belong to the proxy.
//!
//! Run: `cargo run -p mp-examples --example manager_namespace`

#[mp::task]
fn show(global: mp::managers::NamespaceProxy) -> mp::Result<()> {
    // Another process sees the public attributes, not `_z`.
    println!(
        "child sees x={} y={:?}",
        global.get::<i64>("x")?,
        global.get::<String>("y")?
    );
    assert!(global.get::<f64>("_z").is_err());
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    let manager = mp::Manager()?;
    let global = manager.namespace()?;
    global.set("x", 10)?;
    global.set("y", "hello")?;
    global.set("_z", 12.3)?; // this is an attribute of the proxy
    println!("{global}");
    assert_eq!(global.to_string(), "Namespace(x=10, y='hello')");
    assert_eq!(global.get::<f64>("_z")?, 12.3);

    let p = mp::get_context("spawn")?.process(show, (global.clone(),));
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
