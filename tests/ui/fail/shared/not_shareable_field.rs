// `Inner` is Copy, but not marked `#[mp::shared]`: its layout is not checked, so it cannot be
// stored in shared memory.
#[derive(Clone, Copy)]
struct Inner {
    x: u32,
}

#[mp::shared]
struct Outer {
    inner: Inner,
}

fn main() {}
