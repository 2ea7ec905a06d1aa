//! "Subclass Process and override run()".

#[derive(serde::Serialize, serde::Deserialize)]
struct Greeter {
    who: String,
}

#[mp::task]
impl mp::Run for Greeter {
    fn run(self) {
        println!("hello {}", self.who);
    }
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Process::builder_from_run(Greeter { who: "bob".into() })
        .start_method(mp::StartMethod::Spawn)
        .start()?;
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
