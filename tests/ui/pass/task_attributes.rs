//! Attributes, visibility, docs and `cfg` on tasks; a task defined inside a fn body.

mod inner {
    /// Doubles.
    #[mp::task]
    #[inline]
    #[allow(clippy::needless_return)]
    pub fn double(x: i32) -> i32 {
        return 2 * x;
    }
}

#[cfg(any())]
#[mp::task]
fn never_compiled(x: NoSuchType) {}

#[mp::main]
fn main() {
    #[mp::task]
    fn local(x: u8) -> u8 {
        x
    }
    assert_eq!(inner::double(4), 8);
    assert_eq!(local(3), 3);
    let f: fn(i32) -> i32 = *inner::double;
    assert_eq!([1, 2].map(f), [2, 4]);
    assert!(mp::registered_tasks().iter().any(|n| n.ends_with("::inner::double")));
}

/// Parameters may use any name, including the ones generated code uses internally.
#[mp::task]
fn shadowing(args: Vec<u8>, out: String, f: u8, __mp_args: u8) -> usize {
    args.len() + out.len() + f as usize + __mp_args as usize
}

#[test]
fn shadowing_is_fine() {
    assert_eq!(shadowing(vec![1], "ab".into(), 3, 4), 10);
}
