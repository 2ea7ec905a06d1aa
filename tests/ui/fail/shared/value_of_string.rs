// Python's `Value('x', ...)` (a bad typecode) is a compile error in mp.
fn main() {
    let _ = mp::Value::new(String::from("text"));
}
