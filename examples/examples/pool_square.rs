//! Mirrors the first program of the Python documentation for `multiprocessing` (the `Pool`
//! example of its introduction: `with Pool(5) as p: print(p.map(f, [1, 2, 3]))`).
//!
//! `cargo run -p mp-examples --example pool_square`

#[mp::task]
fn f(x: u64) -> u64 {
    x * x
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Pool::new(5)?;
    let squares = p.map(f, [1, 2, 3])?;
    println!("{squares:?}");
    assert_eq!(squares, [1, 4, 9]);
    Ok(())
}
