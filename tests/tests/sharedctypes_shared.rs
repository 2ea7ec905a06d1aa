//! `#[mp::shared]` structs in Value and Array (CONFORMANCE section 12, "Value of a Structure",
//! the sharedctypes Point/modify example), and the layout check on attach.

mod sync_common;

use mp::sharedctypes::{FixedBytes, RawArray, RawValue, Shareable};
use mp::{Array, ErrorKind, Lock, Process, Value};
use sync_common::*;

#[mp::shared]
#[derive(Debug, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[mp::shared]
#[derive(Debug, PartialEq)]
struct Point3 {
    x: f64,
    y: f64,
    z: f64,
}

/// Same fields as Point, other names: another layout.
#[mp::shared]
#[derive(Debug, PartialEq)]
struct Vector {
    dx: f64,
    dy: f64,
}

#[mp::shared]
#[derive(Debug, Clone, Copy)]
struct Record {
    id: u32,
    flags: [u8; 3],
    alive: bool,
    name: FixedBytes<16>,
    origin: Point,
    history: [Point; 2],
}

#[mp::shared]
#[derive(Debug, PartialEq)]
struct Pair(i32, i64);

#[mp::shared]
struct Marker;

#[mp::task]
fn modify(n: Value<i32>, x: RawValue<f64>, s: Array<u8>, a: Array<Point>) -> mp::Result<()> {
    {
        let mut g = n.lock()?;
        *g = g.pow(2);
    }
    x.set(x.get()?.powi(2))?;
    s.set_value(&s.value()?.to_ascii_uppercase())?;
    for p in a.lock()?.iter_mut() {
        p.x = p.x.powi(2);
        p.y = p.y.powi(2);
    }
    Ok(())
}

#[mp::task]
fn rename(r: Value<Record>) -> mp::Result<()> {
    let mut g = r.lock()?;
    let upper = g.name.value().to_ascii_uppercase();
    g.name.set_value(&upper)?;
    g.id += 1;
    g.alive = !g.alive;
    g.history[1] = g.origin;
    Ok(())
}

#[mp::task]
fn swap_pair(p: Value<Pair>) -> mp::Result<()> {
    let mut g = p.lock()?;
    *g = Pair(g.1 as i32, g.0 as i64);
    Ok(())
}

#[mp::test]
fn the_sharedctypes_modify_example() {
    for m in methods() {
        let lock = Lock::new().unwrap();
        let n = Value::new(7i32).unwrap();
        let x = RawValue::new(1.0f64 / 3.0).unwrap();
        let s = Array::builder(b"hello world")
            .lock(lock.clone())
            .build()
            .unwrap();
        let a = Array::builder(vec![
            Point { x: 1.875, y: -6.25 },
            Point { x: -5.75, y: 2.0 },
            Point { x: 2.375, y: 9.5 },
        ])
        .lock(lock)
        .build()
        .unwrap();
        let p = Process::builder(modify, (n.clone(), x.clone(), s.clone(), a.clone()))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(n.get().unwrap(), 49, "{m}");
        assert_eq!(x.get().unwrap(), 0.1111111111111111);
        assert_eq!(s.value().unwrap(), b"HELLO WORLD");
        let pts: Vec<(f64, f64)> = a.to_vec().unwrap().iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(
            format!("{pts:?}"),
            "[(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)]"
        );
    }
}

#[mp::test]
fn a_struct_value_with_text_and_nested_structs() {
    for m in methods() {
        let r = Value::new(Record {
            id: 1,
            flags: [1, 2, 3],
            alive: true,
            name: FixedBytes::new(b"hello world").unwrap(),
            origin: Point { x: 1.0, y: 2.0 },
            history: [Point { x: 0.0, y: 0.0 }; 2],
        })
        .unwrap();
        let p = Process::builder(rename, (r.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        let got = r.get().unwrap();
        assert_eq!(got.name.value(), b"HELLO WORLD", "{m}");
        assert_eq!(got.id, 2);
        assert!(!got.alive);
        assert_eq!(got.flags, [1, 2, 3]);
        assert_eq!(got.history[1], Point { x: 1.0, y: 2.0 });
        let pair = Value::new(Pair(1, 2)).unwrap();
        let p = Process::builder(swap_pair, (pair.clone(),))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(pair.get().unwrap(), Pair(2, 1));
    }
}

fn layout<T: Shareable>() -> u64 {
    T::LAYOUT
}

#[test]
fn layouts_differ_by_name_type_and_shape() {
    assert_ne!(layout::<Point>(), layout::<Vector>(), "field names count");
    assert_ne!(layout::<Point>(), layout::<Point3>());
    assert_ne!(layout::<Point>(), layout::<[f64; 2]>());
    assert_ne!(layout::<u32>(), layout::<i32>());
    assert_ne!(layout::<[u8; 4]>(), layout::<[u8; 5]>());
    assert_ne!(layout::<FixedBytes<4>>(), layout::<[u8; 4]>());
    assert_eq!(layout::<Marker>(), layout::<Marker>());
    assert_eq!(std::mem::size_of::<Marker>(), 0);
}

#[test]
fn attaching_with_another_layout_is_refused() {
    let (a, b) = mp::Pipe(true).unwrap();
    let v = Value::new(Point { x: 1.0, y: 2.0 }).unwrap();

    a.send(&v).unwrap();
    let e = b.recv::<Value<Vector>>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization);
    assert!(e.to_string().contains("layout differs"), "{e}");

    a.send(&v).unwrap();
    let e = b.recv::<Array<Point>>().unwrap_err();
    assert!(e.to_string().contains("another kind of object"), "{e}");

    a.send(&RawValue::new(1u32).unwrap()).unwrap();
    let e = b.recv::<RawValue<i32>>().unwrap_err();
    assert!(e.to_string().contains("layout differs"), "{e}");

    a.send(&RawArray::from_slice(&[1u8, 2]).unwrap()).unwrap();
    let e = b.recv::<RawArray<u16>>().unwrap_err();
    assert!(e.to_string().contains("layout differs"), "{e}");

    // The right type attaches, and sees the same memory.
    a.send(&v).unwrap();
    let same: Value<Point> = b.recv().unwrap();
    same.set(Point { x: 3.0, y: 4.0 }).unwrap();
    assert_eq!(v.get().unwrap(), Point { x: 3.0, y: 4.0 });
}

#[test]
fn shared_structs_are_copy_and_repr_c() {
    let p = Point { x: 1.0, y: 2.0 };
    let q = p; // Copy
    assert_eq!(p, q);
    assert_eq!(std::mem::offset_of!(Record, id), 0);
    assert_eq!(std::mem::offset_of!(Record, flags), 4);
    assert_eq!(std::mem::offset_of!(Record, alive), 7);
    assert_eq!(std::mem::offset_of!(Record, name), 8);
    assert_eq!(std::mem::offset_of!(Record, origin), 24);
}
