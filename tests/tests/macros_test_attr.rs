//! `#[mp::test]`: tests whose children use spawn and forkserver. The binary is re-executed as
//! the child, which dispatches to its task before libtest parses any argument: it works under
//! `cargo test` (threads, one process) and `cargo nextest run` (one process per test), with
//! any filter or flag given to the harness.

use mp::{Connection, Process, StartMethod};
use mp_tests::{join, recv};

#[mp::task]
fn echo(conn: Connection, word: String) {
    conn.send(&format!("{word} from {}", mp::current_process().name()))
        .unwrap();
}

fn round_trip(m: StartMethod) {
    let (a, b) = mp::Pipe(true).unwrap();
    let p = Process::builder(echo, (b, m.to_string()))
        .name("echoer")
        .start_method(m)
        .start()
        .unwrap();
    assert_eq!(recv::<String>(&a), format!("{m} from echoer"));
    assert_eq!(join(&p), Some(0));
}

#[mp::test]
fn spawn_child_in_a_test() {
    round_trip(StartMethod::Spawn);
}

#[mp::test]
fn forkserver_child_in_a_test() {
    round_trip(StartMethod::Forkserver);
}

#[mp::test]
fn fork_child_in_a_test() {
    round_trip(StartMethod::Fork);
}

#[mp::test]
fn test_returning_result() -> mp::Result<()> {
    let (a, b) = mp::Pipe(true)?;
    let p = Process::builder(echo, (b, "x".to_string()))
        .name("r")
        .start_method(StartMethod::Spawn)
        .start()?;
    assert_eq!(a.recv::<String>()?, "x from r");
    p.join()?;
    assert_eq!(p.exitcode(), Some(0));
    Ok(())
}

#[mp::test]
#[tokio::test(flavor = "current_thread")]
async fn with_tokio_test() {
    let v = tokio::task::spawn_blocking(|| {
        round_trip(StartMethod::Spawn);
        round_trip(StartMethod::Forkserver);
        1
    })
    .await
    .unwrap();
    assert_eq!(v, 1);
}

#[mp::test]
#[should_panic(expected = "expected failure")]
fn other_test_attributes_are_kept() {
    panic!("expected failure");
}
