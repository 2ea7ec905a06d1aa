//! A task returning `Result`: callers in other processes get the `Ok` value or the error's
//! message; locally it is a plain fn.

#[mp::task]
fn parse(s: String) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[mp::task]
fn io() -> std::io::Result<()> {
    Ok(())
}

#[mp::main]
fn main() -> mp::Result<()> {
    assert_eq!(parse("4".into()).unwrap(), 4);
    io().unwrap();
    let p = mp::get_context("spawn")?.process(parse, ("nope".to_string(),));
    p.start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(1));
    Ok(())
}
