//! The Connection example of the Python docs ("Connection Objects":
//! `a, b = Pipe(); a.send([1, 'hello', None]); b.recv(); b.send_bytes(b'thank you'); ...
//! a.send_bytes(arr1); count = b.recv_bytes_into(arr2)`).
//!
//! `cargo run -p mp-examples --example pipe_connection_objects`

use mp::Pipe;

#[mp::main]
fn main() -> mp::Result<()> {
    let (a, b) = Pipe(true)?;
    a.send(&(1, "hello", None::<i32>))?;
    let (one, hello, none): (i32, String, Option<i32>) = b.recv()?;
    println!(
        "[{one}, '{hello}', {}]",
        if none.is_none() { "None" } else { "?" }
    );
    assert_eq!((one, hello.as_str(), none), (1, "hello", None));

    b.send_bytes(b"thank you")?;
    let got = a.recv_bytes()?;
    println!("b'{}'", String::from_utf8_lossy(&got));
    assert_eq!(got, b"thank you");

    let arr1: Vec<i32> = (0..5).collect(); // array.array('i', range(5))
    let mut arr2 = [0i32; 10]; // array.array('i', [0] * 10)
    a.send_bytes(&arr1)?;
    let count = b.recv_bytes_into(&mut arr2, 0)?;
    assert_eq!(count, arr1.len() * std::mem::size_of::<i32>());
    println!("{count}");
    println!("array('i', {arr2:?})");
    assert_eq!(arr2, [0, 1, 2, 3, 4, 0, 0, 0, 0, 0]);
    Ok(())
}
