// Python's `Value('i', 1, lock='a string')` raises AttributeError; in mp the `lock` argument
// must be a Lock or an RLock at compile time.
fn main() {
    let _ = mp::Value::with_lock(1i32, "a string");
}
