//! Fuzzes mp's binary format (`mp::codec`), the decoder of every typed message (connections,
//! queues, pool arguments and results, process starts): whatever the bytes, decoding as any
//! of a set of types gives a value or an error — never a panic, a hang, a stack overflow or
//! an allocation sized by a lying length — and what decodes re-encodes to the same bytes.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum Shape {
    Unit,
    New(i64),
    Tuple(u8, String),
    Struct { x: f64, next: Option<Box<Shape>> },
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Message {
    id: u32,
    name: String,
    payload: Vec<u8>,
    floats: Vec<f64>,
    tags: BTreeMap<String, Vec<i16>>,
    shapes: Vec<Shape>,
    pair: (char, bool),
}

fn check<T>(data: &[u8])
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = mp::codec::decode::<T>(data) {
        let again = mp::codec::encode(&v).expect("a decoded value re-encodes");
        assert_eq!(again, data, "decode then encode gives the same bytes");
    }
}

fuzz_target!(|data: &[u8]| {
    check::<Message>(data);
    check::<Vec<u8>>(data);
    check::<Vec<String>>(data);
    check::<Option<Box<Shape>>>(data);
    check::<(u128, i8, Vec<u32>)>(data);
    // Floats: NaN payloads compare unequal; decoding must still not fail badly.
    let _ = mp::codec::decode::<Vec<Vec<f64>>>(data);
});
