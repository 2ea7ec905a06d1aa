//! Wire compatibility with the real CPython (`python3` on the machine, 3.11): framing and the
//! authentication handshake in both directions, over TCP and Unix sockets.
//!
//! Skipped (with a message) when `python3` is not installed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::connection::{Address, Client, Listener};

const LONG: Duration = Duration::from_secs(60);

fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import multiprocessing.connection")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("python3 not available: skipping");
    }
    ok
}

fn python(script: &str, args: &[&str]) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3")
}

/// Waits for the child with a deadline; returns (success, stdout, stderr).
fn finish(mut child: Child) -> (bool, String, String) {
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python3 did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), out, err)
}

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
}
