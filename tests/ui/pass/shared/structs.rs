use mp::sharedctypes::{FixedBytes, Shareable};

#[mp::shared]
#[derive(Debug, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

// Existing derives and repr are kept, not duplicated.
#[mp::shared]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub id: u64,
    pub name: FixedBytes<32>,
    pub corners: [Point; 4],
    pub flags: [[u8; 2]; 3],
    pub ok: bool,
}

#[mp::shared]
struct Pair(i32, u16);

#[mp::shared]
struct Unit;

#[mp::shared(crate = "::mp")]
struct Renamed {
    v: usize,
}

fn assert_shareable<T: Shareable>() {}

fn main() {
    assert_shareable::<Point>();
    assert_shareable::<Record>();
    assert_shareable::<Pair>();
    assert_shareable::<Unit>();
    assert_shareable::<Renamed>();
    let p = Point { x: 1.0, y: 2.0 };
    let q = p;
    assert_eq!(p, q);
    let _ = Pair(1, 2).clone();
}
