//! Wire compatibility with the real CPython (`python3` on the machine, 3.11): framing and the
//! authentication handshake in both directions, over TCP and Unix sockets.
//!
//! Skipped (with a message) when `python3` is not installed.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::connection::{Address, Client, Listener};

mod python_util;
use python_util::{LONG, finish, have_python, python};

const PY_LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener, AuthenticationError
family = sys.argv[1]
address = ('127.0.0.1', 0) if family == 'AF_INET' else sys.argv[2]
with Listener(address, authkey=b'secret') as l:
    a = l.address
    print(a[1] if family == 'AF_INET' else a, flush=True)
    try:
        with l.accept() as c:
            msg = c.recv_bytes()
            c.send_bytes(b'python got: ' + msg)
            c.send_bytes(b'')
            c.send_bytes(b'x' * 100000)
            print('done', flush=True)
    except AuthenticationError as e:
        print('AuthenticationError', e, flush=True)
"#;

fn start_python_listener(family: &str, path: &str) -> (Child, Address) {
    let mut child = python(PY_LISTENER, &[family, path]);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let line = line.trim();
    let addr = if family == "AF_INET" {
        Address::tcp("127.0.0.1", line.parse().unwrap()).unwrap()
    } else {
        Address::unix(line)
    };
    (child, addr)
}

fn tmp_path(tag: &str) -> String {
    std::env::temp_dir()
        .join(format!("mp-py-{tag}-{}.sock", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn rust_client_talks_to_python_listener() {
    if !have_python() {
        return;
    }
    for family in ["AF_INET", "AF_UNIX"] {
        let (child, addr) = start_python_listener(family, &tmp_path("l1"));
        let c = Client::builder(&addr)
            .authkey(b"secret")
            .timeout(Some(LONG))
            .connect()
            .unwrap();
        c.send_bytes(b"from rust").unwrap();
        assert_eq!(c.recv_bytes().unwrap(), b"python got: from rust");
        assert_eq!(c.recv_bytes().unwrap(), b"");
        assert_eq!(c.recv_bytes().unwrap(), vec![b'x'; 100000]);
        assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
        let (ok, out, err) = finish(child);
        assert!(ok && out.contains("done"), "{family}: {out} {err}");
    }
}

#[test]
fn rust_client_with_wrong_key_fails_on_both_sides() {
    if !have_python() {
        return;
    }
    let (child, addr) = start_python_listener("AF_INET", "");
    let err = Client::builder(&addr)
        .authkey(b"wrong")
        .timeout(Some(LONG))
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    let (ok, out, err) = finish(child);
    assert!(ok && out.contains("AuthenticationError"), "{out} {err}");
}

const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client, AuthenticationError
family, where, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
address = ('127.0.0.1', int(where)) if family == 'AF_INET' else where
try:
    with Client(address, authkey=key) as c:
        c.send_bytes(b'from python')
        print('reply', c.recv_bytes().decode(), flush=True)
        big = c.recv_bytes()
        assert big == bytes(range(256)) * 1000, len(big)
        print('big ok', flush=True)
except AuthenticationError as e:
    print('AuthenticationError', e, flush=True)
"#;

fn python_client_args(l: &Listener) -> (String, String) {
    match l.address() {
        Address::Tcp(a) => ("AF_INET".into(), a.port().to_string()),
        Address::Unix(p) => ("AF_UNIX".into(), p.to_string_lossy().into_owned()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn python_client_talks_to_rust_listener() {
    if !have_python() {
        return;
    }
    for l in [
        Listener::builder()
            .address(("127.0.0.1", 0))
            .authkey(b"secret")
            .bind()
            .unwrap(),
        Listener::builder().authkey(b"secret").bind().unwrap(),
    ] {
        let (family, where_) = python_client_args(&l);
        let child = python(PY_CLIENT, &[&family, &where_, "secret"]);
        let c = l.accept().unwrap();
        assert_eq!(c.recv_bytes().unwrap(), b"from python");
        c.send_bytes(b"hello python").unwrap();
        let big: Vec<u8> = (0..1000).flat_map(|_| 0u8..=255).collect();
        c.send_bytes(&big).unwrap();
        let (ok, out, err) = finish(child);
        assert!(ok, "{out} {err}");
        assert!(
            out.contains("reply hello python") && out.contains("big ok"),
            "{out} {err}"
        );
    }
}

#[test]
fn python_client_with_wrong_key_fails_on_both_sides() {
    if !have_python() {
        return;
    }
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"secret")
        .bind()
        .unwrap();
    let (family, where_) = python_client_args(&l);
    let child = python(PY_CLIENT, &[&family, &where_, "wrong"]);
    let err = l.accept().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    let (ok, out, err) = finish(child);
    assert!(ok && out.contains("AuthenticationError"), "{out} {err}");
}

#[test]
fn python_and_rust_agree_on_the_test_vector() {
    if !have_python() {
        return;
    }
    // Our answer to a fixed modern challenge, checked by Python's own hmac.
    let (a, b) = mp::Pipe(true).unwrap();
    let r: Vec<u8> = (0u8..40).collect();
    let mut challenge = b"#CHALLENGE#{sha256}".to_vec();
    challenge.extend(&r);
    a.send_bytes(&challenge).unwrap();
    a.send_bytes(b"#WELCOME#").unwrap();
    mp::connection::answer_challenge(&b, b"secret").unwrap();
    let response = a.recv_bytes().unwrap();
    let hex: String = response.iter().map(|x| format!("{x:02x}")).collect();
    let script = "import hmac,sys; m=b'{sha256}'+bytes(range(40)); \
                  print((b'{sha256}'+hmac.new(b'secret', m, 'sha256').digest()).hex())";
    let (ok, out, err) = finish(python(script, &[]));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), hex);
}

// ----- issue 12: the CPython 3 defaults, and mismatched authentication -----

/// `l.accept()`, failing the test (instead of hanging it) if it takes longer than `limit`:
/// a watchdog closes the listener, which wakes the accept.
fn accept_within(l: &Listener, limit: Duration) -> mp::Result<mp::Connection> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let fired = AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        let fired = &fired;
        s.spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                fired.store(true, Ordering::SeqCst);
                l.close();
            }
        });
        let r = l.accept();
        drop(tx);
        r
    });
    assert!(
        !fired.load(Ordering::SeqCst),
        "accept did not return within {limit:?}"
    );
    r
}

/// A Python listener with an optional key (`-`: none) that echoes one message, and reports
/// how the connection ended.
const PY_LISTENER_KEY: &str = r#"
import sys
from multiprocessing.connection import Listener, AuthenticationError
family, where, key = sys.argv[1], sys.argv[2], sys.argv[3]
key = None if key == '-' else key.encode()
address = ('127.0.0.1', 0) if family == 'AF_INET' else where
with Listener(address, authkey=key) as l:
    a = l.address
    print(a[1] if family == 'AF_INET' else a, flush=True)
    try:
        with l.accept() as c:
            msg = c.recv_bytes()
            c.send_bytes(b'python got: ' + msg)
            print('done', flush=True)
    except AuthenticationError as e:
        print('AuthenticationError', e, flush=True)
    except EOFError:
        print('EOFError', flush=True)
"#;

fn start_python_listener_key(family: &str, path: &str, key: &str) -> (Child, Address) {
    let mut child = python(PY_LISTENER_KEY, &[family, path, key]);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let line = line.trim();
    let addr = if family == "AF_INET" {
        Address::tcp("127.0.0.1", line.parse().unwrap()).unwrap()
    } else {
        Address::unix(line)
    };
    (child, addr)
}

/// A Python client with an optional key (`-`: none). Modes: `talk` (send, print the
/// reply), `hello-then-read` (send, then print the start of each message until the end).
const PY_CLIENT_KEY: &str = r#"
import sys
from multiprocessing.connection import Client, AuthenticationError
family, where, key, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
key = None if key == '-' else key.encode()
address = ('127.0.0.1', int(where)) if family == 'AF_INET' else where
try:
    with Client(address, authkey=key) as c:
        c.send_bytes(b'from python')
        if mode == 'talk':
            print('reply', c.recv_bytes().decode(), flush=True)
        else:
            while True:
                print('got', c.recv_bytes()[:11].decode(), flush=True)
except AuthenticationError as e:
    print('AuthenticationError', e, flush=True)
except AssertionError as e:
    # CPython 3.11's answer_challenge asserts that a challenge came (3.12 raises
    # AuthenticationError).
    print('AssertionError (no challenge)', e, flush=True)
except EOFError:
    print('EOFError', flush=True)
"#;

#[test]
fn python_client_without_key_talks_to_default_rust_listener() {
    if !have_python() {
        return;
    }
    for l in [
        Listener::bind(("127.0.0.1", 0)).unwrap(),
        Listener::new().unwrap(),
    ] {
        let (family, where_) = python_client_args(&l);
        let child = python(PY_CLIENT_KEY, &[&family, &where_, "-", "talk"]);
        let c = accept_within(&l, LONG).unwrap();
        assert!(c.poll_timeout(LONG).unwrap());
        assert_eq!(c.recv_bytes().unwrap(), b"from python");
        c.send_bytes(b"hello python").unwrap();
        let (ok, out, err) = finish(child);
        assert!(
            ok && out.contains("reply hello python"),
            "{family}: {out} {err}"
        );
    }
}

#[test]
fn rust_client_without_key_talks_to_default_python_listener() {
    if !have_python() {
        return;
    }
    for family in ["AF_INET", "AF_UNIX"] {
        let (child, addr) = start_python_listener_key(family, &tmp_path("nokey"), "-");
        let c = Client::connect(&addr).unwrap();
        c.send_bytes(b"from rust").unwrap();
        assert!(c.poll_timeout(LONG).unwrap());
        assert_eq!(c.recv_bytes().unwrap(), b"python got: from rust");
        let (ok, out, err) = finish(child);
        assert!(ok && out.contains("done"), "{family}: {out} {err}");
    }
}

/// Mismatch (b) against Python: the Rust client gives up after its handshake timeout with an
/// error that says the server sent no challenge; the Python server's read sees end of file.
#[test]
fn rust_client_with_key_and_python_listener_without_one_both_fail() {
    if !have_python() {
        return;
    }
    let (child, addr) = start_python_listener_key("AF_INET", "", "-");
    let t0 = Instant::now();
    let err = Client::builder(&addr)
        .authkey(b"secret")
        .handshake_timeout(Some(Duration::from_millis(500)))
        .connect()
        .unwrap_err();
    let took = t0.elapsed();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(
        err.message().contains("no authentication challenge"),
        "{err}"
    );
    assert!(took < LONG / 2, "{took:?}");
    let (ok, out, err) = finish(child);
    assert!(ok && out.contains("EOFError"), "{out} {err}");
}

/// Mismatch (a) against Python: the Python client's first message reaches the Rust listener
/// as a wrong answer (Authentication from accept); the Python client reads the challenge,
/// `#FAILURE#` and end of file.
#[test]
fn python_client_without_key_and_rust_listener_with_one_both_fail() {
    if !have_python() {
        return;
    }
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"secret")
        .handshake_timeout(Some(Duration::from_secs(5)))
        .bind()
        .unwrap();
    let (family, where_) = python_client_args(&l);
    let child = python(PY_CLIENT_KEY, &[&family, &where_, "-", "hello-then-read"]);
    let err = accept_within(&l, LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("not a challenge response"), "{err}");
    let (ok, out, err) = finish(child);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("got #CHALLENGE#")
            && out.contains("got #FAILURE#")
            && out.contains("EOFError"),
        "{out} {err}"
    );
}

/// Mismatch (a) the other way: a Rust client without a key and a Python listener with one.
/// Python's accept raises AuthenticationError; the Rust client reads the challenge (which
/// `recv_pickle` reports as an authentication error), `#FAILURE#` and end of file.
#[test]
fn rust_client_without_key_and_python_listener_with_one_both_fail() {
    if !have_python() {
        return;
    }
    let (child, addr) = start_python_listener_key("AF_INET", "", "secret");
    let c = Client::connect(&addr).unwrap();
    c.send_bytes(b"from rust").unwrap();
    assert!(c.poll_timeout(LONG).unwrap());
    #[cfg(feature = "pickle")]
    assert_eq!(
        c.recv_pickle_value().unwrap_err().kind(),
        ErrorKind::Authentication
    );
    #[cfg(not(feature = "pickle"))]
    assert!(c.recv_bytes().unwrap().starts_with(b"#CHALLENGE#"));
    assert!(c.poll_timeout(LONG).unwrap());
    assert_eq!(c.recv_bytes().unwrap(), b"#FAILURE#");
    assert!(c.poll_timeout(LONG).unwrap());
    assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    let (ok, out, err) = finish(child);
    assert!(
        ok && out.contains("AuthenticationError digest received was wrong"),
        "{out} {err}"
    );
}

/// A Python client with a key and a Rust listener without one, whose application speaks
/// first: Python fails (no challenge came) and the Rust side reads end of file.
#[test]
fn python_client_with_key_and_rust_listener_without_one_both_fail() {
    if !have_python() {
        return;
    }
    let l = Listener::bind(("127.0.0.1", 0)).unwrap();
    let (family, where_) = python_client_args(&l);
    let child = python(PY_CLIENT_KEY, &[&family, &where_, "secret", "talk"]);
    let c = accept_within(&l, LONG).unwrap();
    c.send_bytes(b"welcome").unwrap();
    assert!(c.poll_timeout(LONG).unwrap());
    assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    let (ok, out, err) = finish(child);
    assert!(
        ok && (out.contains("AssertionError") || out.contains("AuthenticationError")),
        "{out} {err}"
    );
}

/// A silent client does not delay a Python client that connects after it.
#[test]
fn a_silent_client_does_not_delay_a_python_client() {
    if !have_python() {
        return;
    }
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"secret")
        .bind()
        .unwrap();
    let Address::Tcp(sa) = *l.address() else {
        unreachable!()
    };
    let _silent = std::net::TcpStream::connect(sa).unwrap();
    let t0 = Instant::now();
    let (family, where_) = python_client_args(&l);
    let child = python(PY_CLIENT_KEY, &[&family, &where_, "secret", "talk"]);
    let c = accept_within(&l, LONG).unwrap();
    let took = t0.elapsed();
    assert!(
        took < Listener::DEFAULT_HANDSHAKE_TIMEOUT / 2,
        "the Python client waited {took:?}"
    );
    assert!(c.poll_timeout(LONG).unwrap());
    assert_eq!(c.recv_bytes().unwrap(), b"from python");
    c.send_bytes(b"served").unwrap();
    let (ok, out, err) = finish(child);
    assert!(ok && out.contains("reply served"), "{out} {err}");
}

/// A Python client with the wrong key: Authentication from accept; the next (right) one is
/// served.
#[test]
fn python_client_with_wrong_key_then_right_key() {
    if !have_python() {
        return;
    }
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"secret")
        .bind()
        .unwrap();
    let (family, where_) = python_client_args(&l);
    let child = python(PY_CLIENT_KEY, &[&family, &where_, "wrong", "talk"]);
    let err = accept_within(&l, LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    let (ok, out, err) = finish(child);
    assert!(ok && out.contains("AuthenticationError"), "{out} {err}");
    let child = python(PY_CLIENT_KEY, &[&family, &where_, "secret", "talk"]);
    let c = accept_within(&l, LONG).unwrap();
    assert!(c.poll_timeout(LONG).unwrap());
    assert_eq!(c.recv_bytes().unwrap(), b"from python");
    c.send_bytes(b"second").unwrap();
    let (ok, out, err) = finish(child);
    assert!(ok && out.contains("reply second"), "{out} {err}");
}

#[cfg(feature = "pickle")]
mod pickle {
    use super::*;
    use mp::connection::PyValue;

    const PY_PICKLE: &str = r#"
import sys
from multiprocessing.connection import Client
with Client(('127.0.0.1', int(sys.argv[1])), authkey=b'pk') as c:
    c.send([2.25, None, 'junk', True, 7, b'raw', (1, 2), {'a': 1}])
    got = c.recv()
    assert got == {'list': [1, 2, 3], 'none': None, 'tuple': (1.5, 'x')}, got
    print('python ok', got, flush=True)
"#;

    #[test]
    fn objects_travel_between_rust_and_python() {
        if !have_python() {
            return;
        }
        let l = Listener::builder()
            .address(("127.0.0.1", 0))
            .authkey(b"pk")
            .bind()
            .unwrap();
        let Address::Tcp(a) = l.address() else {
            unreachable!()
        };
        let child = python(PY_PICKLE, &[&a.port().to_string()]);
        let c = l.accept().unwrap();
        let v: PyValue = c.recv_pickle_value().unwrap();
        let PyValue::List(items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(items[0], PyValue::F64(2.25));
        assert_eq!(items[1], PyValue::None);
        assert_eq!(items[2], PyValue::String("junk".into()));
        assert_eq!(items[3], PyValue::Bool(true));
        assert_eq!(items[4], PyValue::I64(7));
        assert_eq!(items[5], PyValue::Bytes(b"raw".to_vec()));
        assert_eq!(
            items[6],
            PyValue::Tuple(vec![PyValue::I64(1), PyValue::I64(2)])
        );
        #[derive(serde::Serialize)]
        struct Reply {
            list: Vec<i32>,
            none: Option<i32>,
            tuple: (f64, &'static str),
        }
        c.send_pickle(&Reply {
            list: vec![1, 2, 3],
            none: None,
            tuple: (1.5, "x"),
        })
        .unwrap();
        let (ok, out, err) = finish(child);
        assert!(ok && out.contains("python ok"), "{out} {err}");
    }

    const PY_ECHO: &str = r#"
import sys
from multiprocessing.connection import Client
expected = [None, True, False, 2**100, -2**70, 7, 2.5, 'h\u00e9llo', b'\x00raw', (1, 'a'),
            [1, [2.0, None]], {'a': 1, 2: b'x'}, {1, 'b'}, frozenset({3}),
            (None, True, 2**64, -1.5, 's', b'b', (), [], {}, set())]
kinds = []
with Client(('127.0.0.1', int(sys.argv[1]))) as c:
    while True:
        try:
            v = c.recv()
        except EOFError:
            break
        i = len(kinds)
        kinds.append(type(v).__name__)
        if i >= len(expected) or v != expected[i] or type(v) != type(expected[i]):
            print('mismatch', i, repr(v), flush=True)
        c.send(v)
print('kinds', ' '.join(kinds), flush=True)
"#;

    /// Every plain kind goes to Python with `send_pickle_value`, arrives as the Python value
    /// of its kind, and comes back equal.
    #[test]
    fn send_pickle_value_round_trips_every_plain_kind_with_python() {
        if !have_python() {
            return;
        }
        use std::collections::{BTreeMap, BTreeSet};
        let s = |x: &str| PyValue::String(x.into());
        // Set elements and dict keys (serde_pickle's `HashableValue`).
        let h = |v: PyValue| v.into_hashable().unwrap();
        let values = vec![
            PyValue::None,
            PyValue::Bool(true),
            PyValue::Bool(false),
            PyValue::Int((1i128 << 100).into()),
            PyValue::Int((-(1i128 << 70)).into()),
            PyValue::I64(7),
            PyValue::F64(2.5),
            s("h\u{e9}llo"),
            PyValue::Bytes(b"\x00raw".to_vec()),
            PyValue::Tuple(vec![PyValue::I64(1), s("a")]),
            PyValue::List(vec![
                PyValue::I64(1),
                PyValue::List(vec![PyValue::F64(2.0), PyValue::None]),
            ]),
            PyValue::Dict(BTreeMap::from([
                (h(s("a")), PyValue::I64(1)),
                (h(PyValue::I64(2)), PyValue::Bytes(b"x".to_vec())),
            ])),
            PyValue::Set(BTreeSet::from([h(PyValue::I64(1)), h(s("b"))])),
            PyValue::FrozenSet(BTreeSet::from([h(PyValue::I64(3))])),
            PyValue::Tuple(vec![
                PyValue::None,
                PyValue::Bool(true),
                PyValue::Int((1i128 << 64).into()),
                PyValue::F64(-1.5),
                s("s"),
                PyValue::Bytes(b"b".to_vec()),
                PyValue::Tuple(vec![]),
                PyValue::List(vec![]),
                PyValue::Dict(BTreeMap::new()),
                PyValue::Set(BTreeSet::new()),
            ]),
        ];
        let l = Listener::bind(("127.0.0.1", 0)).unwrap();
        let Address::Tcp(a) = l.address() else {
            unreachable!()
        };
        let child = python(PY_ECHO, &[&a.port().to_string()]);
        let c = accept_within(&l, LONG).unwrap();
        for v in &values {
            c.send_pickle_value(v).unwrap();
            assert!(c.poll_timeout(LONG).unwrap(), "no echo of {v:?}");
            assert_eq!(&c.recv_pickle_value().unwrap(), v);
        }
        drop(c);
        let (ok, out, err) = finish(child);
        assert!(ok && !out.contains("mismatch"), "{out} {err}");
        assert!(
            out.contains(
                "kinds NoneType bool bool int int int float str bytes tuple list dict set \
                 frozenset tuple"
            ),
            "{out} {err}"
        );
    }
}
