//! Mirrors the Python docs' "Safe importing of main module" program (the programming guidelines of
//! "The spawn and forkserver start methods"): `freeze_support()`, `set_start_method('spawn')`,
//! `Process(target=foo).start()` under the `if __name__ == '__main__':` guard.
//!
//! `cargo run -p mp-examples --example safe_main_spawn`
//!
//! `#[mp::main]` is the guard. (Even without it, an mp child never re-runs `main`: it runs its
//! task before `main` would start, so the "fork bomb" of the Python docs cannot happen.)

#[mp::task]
fn foo() {
    println!("hello");
}

#[mp::main]
fn main() -> mp::Result<()> {
    mp::freeze_support();
    mp::set_start_method("spawn", false)?;
    let p = mp::Process::new(foo, ());
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
