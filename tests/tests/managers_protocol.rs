//! The manager's wire format and dynamic values: decoding is total (random and mutated
//! inputs give errors, never panics), values round-trip, and `Value` follows Python's
//! equality, hashing, ordering and `repr`.

use std::collections::HashSet;

use mp::connection::Address;
use mp::managers::protocol::{Reply, Request};
use mp::managers::{Dict, Value, from_value, to_value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sample_value() -> Value {
    let mut d = Dict::new();
    d.insert(1.into(), "1".into()).unwrap();
    d.insert("2".into(), 2.into()).unwrap();
    d.insert(0.25.into(), Value::None).unwrap();
    d.insert(Value::from((1, "t")), Value::bytes(b"\x00'x\""))
        .unwrap();
    Value::List(vec![
        Value::Dict(d),
        Value::Int(i128::MIN),
        Value::Int(1 << 94),
        Value::Float(-0.0),
        Value::Float(f64::NAN),
        Value::slice(-3, None),
        Value::Tuple(vec![Value::Bool(true)]),
        Value::Str("é\n\t'q".into()),
    ])
}

fn samples() -> Vec<Vec<u8>> {
    let reqs = [
        Request::Hello {
            address: Address::Tcp(([127, 0, 0, 1], 5000).into()),
        },
        Request::Dummy,
        Request::Call {
            id: 0x7f00_dead_beef,
            method: "__setitem__".into(),
            args: sample_value(),
        },
        Request::Create {
            typeid: "dict".into(),
            args: vec![0, 1, 2, 255],
            referent: "dict".into(),
        },
        Request::Incref { id: 1 },
        Request::Decref { id: u64::MAX },
        Request::GetMethods { id: 9 },
        Request::NumberOfObjects,
        Request::DebugInfo,
        Request::Shutdown,
    ];
    reqs.iter()
        .map(|r| {
            let mut b = Vec::new();
            r.encode(&mut b).unwrap();
            assert_eq!(&Request::decode(&b).unwrap(), r);
            b
        })
        .collect()
}

#[test]
fn random_and_mutated_requests_never_panic() {
    let seeds = samples();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..300_000u64 {
        let mut bytes = if i % 4 == 0 {
            let n = (rng.next() % 64) as usize;
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            seeds[(rng.next() % seeds.len() as u64) as usize].clone()
        };
        for _ in 0..(rng.next() % 4) {
            if bytes.is_empty() {
                break;
            }
            let at = (rng.next() % bytes.len() as u64) as usize;
            match rng.next() % 3 {
                0 => bytes[at] = rng.next() as u8,
                1 => {
                    bytes.truncate(at);
                }
                _ => bytes.insert(at, rng.next() as u8),
            }
        }
        if let Ok(req) = Request::decode(&bytes) {
            let mut again = Vec::new();
            req.encode(&mut again).unwrap();
            assert_eq!(Request::decode(&again).unwrap(), req);
        }
        let _ = Reply::decode(&bytes);
    }
}

#[test]
fn replies_round_trip() {
    for r in [
        Reply::Return(sample_value()),
        Reply::Error {
            kind: mp::ErrorKind::Key,
            message: "'k'".into(),
        },
        Reply::Created {
            id: 5,
            typeid: "list".into(),
            exposed: vec!["append".into(), "__len__".into()],
            proxytype: "ListProxy".into(),
        },
        Reply::Traceback("boom".into()),
        Reply::Welcome {
            address: Address::Abstract(b"mp-x".to_vec()),
        },
    ] {
        let mut b = Vec::new();
        r.encode(&mut b).unwrap();
        let back = Reply::decode(&b).unwrap();
        // NaN == NaN for Value, so equality holds.
        assert_eq!(back, r);
    }
}

#[test]
fn values_follow_python_semantics() {
    assert_eq!(Value::from(1), Value::from(1.0));
    assert_eq!(Value::from(true), Value::from(1));
    assert_ne!(Value::from(vec![1]), Value::from((1,)));
    let set: HashSet<Value> = [Value::from(1), Value::from(1.0), Value::from(true)].into();
    assert_eq!(set.len(), 1);
    assert!(Value::from(1) < Value::from(1.5));
    assert!(Value::from("a") < Value::from("b"));
    assert!(Value::from(vec![1, 2]) < Value::from(vec![1, 3]));
    assert_eq!(Value::from(1).py_cmp(&Value::from("a")), None);
    assert_eq!(
        Value::from(i64::MAX).py_cmp(&Value::from(9.3e18)),
        Some(std::cmp::Ordering::Less)
    );
    // repr
    for (v, r) in [
        (Value::None, "None"),
        (Value::from(true), "True"),
        (Value::from(0.1), "0.1"),
        (Value::from(1.0), "1.0"),
        (Value::from(1e16), "1e+16"),
        (Value::from(1.5e-5), "1.5e-05"),
        (Value::from(123456789012345.6), "123456789012345.6"),
        (Value::from(f64::INFINITY), "inf"),
        (Value::from("it's"), "\"it's\""),
        (Value::from("a\\b\n"), "'a\\\\b\\n'"),
        (Value::bytes(b"\x00ab"), "b'\\x00ab'"),
        (Value::from((1,)), "(1,)"),
        (Value::Tuple(vec![]), "()"),
        (Value::Int(1 << 94), "19807040628566084398385987584"),
    ] {
        assert_eq!(v.to_string(), r);
    }
    assert_eq!(sample_value().to_string().matches("nan").count(), 1);
}

#[test]
fn to_value_and_from_value_round_trip_rust_types() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect { w: u32, h: u32 },
    }
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        name: String,
        shapes: Vec<Shape>,
        big: u128,
        maybe: Option<i8>,
        pair: (u8, String),
    }
    let s = S {
        name: "x".into(),
        shapes: vec![Shape::Dot, Shape::Circle(1.5), Shape::Rect { w: 2, h: 3 }],
        big: 1 << 100,
        maybe: None,
        pair: (7, "seven".into()),
    };
    let v = to_value(&s).unwrap();
    assert_eq!(
        v.to_string(),
        "{'name': 'x', 'shapes': ['Dot', {'Circle': 1.5}, {'Rect': {'w': 2, 'h': 3}}], \
         'big': 1267650600228229401496703205376, 'maybe': None, 'pair': (7, 'seven')}"
    );
    assert_eq!(from_value::<S>(v).unwrap(), s);
    // Values pass through exactly.
    let sv = sample_value();
    assert_eq!(to_value(&sv).unwrap(), sv);
    assert_eq!(
        from_value::<Value>(sv.clone()).unwrap().to_string(),
        sv.to_string()
    );
    // Shape errors are TypeErrors.
    assert_eq!(
        from_value::<u8>(Value::from(256)).unwrap_err().kind(),
        mp::ErrorKind::Type
    );
    assert!(to_value(&u128::MAX).is_err());
    // Values cross a Connection (mp's codec) intact.
    let (a, b) = mp::Pipe(true).unwrap();
    a.send(&sv).unwrap();
    assert_eq!(b.recv::<Value>().unwrap().to_string(), sv.to_string());
}
