#[mp::task]
fn hello(name: String) {
    println!("hello {name}");
}

#[tokio::main(flavor = "current_thread")]
#[mp::main]
async fn main() -> mp::Result<()> {
    let p = mp::get_context("spawn")?.process(hello, ("tokio".to_string(),));
    p.start()?;
    tokio::task::spawn_blocking(move || p.join().map(|()| p.exitcode()))
        .await
        .unwrap()?;
    Ok(())
}
