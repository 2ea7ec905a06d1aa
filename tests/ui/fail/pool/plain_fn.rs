// Python's `p.map(f, [1, 2, 3])` with an `f` the workers cannot find (seed 002's interactive
// session): in mp a fn without `#[mp::task]` is not a task, and that is a compile error.
fn f(x: u64) -> u64 {
    x * x
}

fn main() -> mp::Result<()> {
    let p = mp::Pool::new(5)?;
    let _ = p.map(f, [1u64, 2, 3])?;
    Ok(())
}
