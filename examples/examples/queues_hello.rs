//! Mirrors the first Queue example of Python's documentation ("Exchanging objects between
//! processes", Queues: `def f(q): q.put([42, None, 'hello'])`).
//!
//! `cargo run -p mp-examples --example queues_hello`

use mp::{Process, Queue};
use serde::{Deserialize, Serialize};

/// Python's list `[42, None, 'hello']`: one value of each kind.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Obj {
    Int(i64),
    None,
    Str(String),
}

#[mp::task]
fn f(q: Queue<Vec<Obj>>) -> mp::Result<()> {
    q.put(vec![Obj::Int(42), Obj::None, Obj::Str("hello".into())])?;
    Ok(())
}

/// Prints a list the way Python does.
fn repr(list: &[Obj]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|o| match o {
            Obj::Int(n) => n.to_string(),
            Obj::None => "None".into(),
            Obj::Str(s) => format!("'{s}'"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

#[mp::main]
fn main() -> mp::Result<()> {
    let q = Queue::new(0)?;
    let p = Process::new(f, (q.clone(),));
    p.start()?;
    let got = q.get()?;
    println!("{}", repr(&got)); // prints "[42, None, 'hello']"
    p.join()?;
    assert_eq!(repr(&got), "[42, None, 'hello']");
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}
