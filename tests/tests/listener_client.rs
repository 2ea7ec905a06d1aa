//! Listener / Client / authentication (CONFORMANCE section 5), under every start method where
//! a child process takes part.

use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::connection::{
    Address, Client, Family, Listener, answer_challenge, auth, deliver_challenge,
};

const LONG: Duration = Duration::from_secs(60);

fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Addresses of every family, fresh each call.
fn fresh_addresses() -> Vec<Address> {
    let mut r = [0u8; 8];
    getrandom_bytes(&mut r);
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let mut v = vec![
        Address::Unix(std::env::temp_dir().join(format!("mp-test-{tag}.sock"))),
        Address::Abstract(format!("mp-test-{tag}").into_bytes()),
        Address::tcp("127.0.0.1", 0).unwrap(),
    ];
    if ipv6_available() {
        v.push(Address::tcp("::1", 0).unwrap());
    }
    v
}

fn getrandom_bytes(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .unwrap();
}

#[test]
fn second_bind_to_a_used_address_fails_for_every_family() {
    for addr in fresh_addresses() {
        let l = Listener::bind(&addr).unwrap();
        let err = Listener::bind(l.address()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Os, "{addr}: {err}");
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE), "{addr}: {err}");
    }
}

#[test]
fn accept_after_close_fails_and_close_wakes_a_blocked_accept() {
    for key in [None, Some(&b"k"[..])] {
        for addr in fresh_addresses() {
            let mut b = Listener::builder().address(&addr);
            if let Some(k) = key {
                b = b.authkey(k);
            }
            let l = std::sync::Arc::new(b.bind().unwrap());
            let l2 = l.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let _t = std::thread::spawn(move || tx.send(l2.accept().map(|_| ())));
            std::thread::sleep(Duration::from_millis(50)); // let it block (not synchronization: the result is the same either way)
            let t0 = Instant::now();
            l.close();
            let err = rx.recv_timeout(LONG).expect("accept woke up").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Os, "{addr} {key:?}: {err}");
            assert!(t0.elapsed() < LONG / 2);
            assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::Os);
            l.close(); // second close is a no-op
        }
    }
}

#[test]
fn default_address_is_a_private_unix_socket_removed_on_close() {
    let l = Listener::new().unwrap();
    let Address::Unix(path) = l.address().clone() else {
        panic!("default is not a unix path: {:?}", l.address())
    };
    assert!(path.exists());
    let dir = path.parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    drop(l);
    assert!(!path.exists());
    assert!(!dir.exists());
}

fn roundtrip(
    addr: &Address,
    server_key: Option<&[u8]>,
    client_key: Option<&[u8]>,
) -> (mp::Result<Vec<u8>>, mp::Result<()>) {
    let mut b = Listener::builder().address(addr);
    b = match server_key {
        Some(k) => b.authkey(k),
        None => b.authenticate(false),
    };
    let l = b.bind().unwrap();
    let address = l.address().clone();
    let key = client_key.map(|k| k.to_vec());
    let t = std::thread::spawn(move || -> mp::Result<()> {
        let b = Client::builder(&address).timeout(Some(LONG));
        let b = match key {
            Some(k) => b.authkey(k),
            None => b.authenticate(false),
        };
        let c = b.connect()?;
        c.send_bytes(b"ping")?;
        Ok(())
    });
    let server = l.accept().and_then(|c| c.recv_bytes());
    (server, t.join().unwrap())
}

#[test]
fn every_family_round_trips_with_a_key() {
    for addr in fresh_addresses() {
        let (s, c) = roundtrip(&addr, Some(b"secret"), Some(b"secret"));
        assert_eq!(s.unwrap(), b"ping", "{addr}");
        c.unwrap();
    }
}

#[test]
fn empty_authkey_still_handshakes() {
    let addr = Address::tcp("127.0.0.1", 0).unwrap();
    let (s, c) = roundtrip(&addr, Some(b""), Some(b""));
    assert_eq!(s.unwrap(), b"ping");
    c.unwrap();
    // ...and so a client without a handshake is refused by a listener with the empty key.
    let (s, _c) = roundtrip(&addr, Some(b""), None);
    assert!(s.is_err());
}

#[test]
fn wrong_key_fails_on_both_sides() {
    for addr in fresh_addresses() {
        let (s, c) = roundtrip(&addr, Some(b"right"), Some(b"wrong"));
        assert_eq!(s.unwrap_err().kind(), ErrorKind::Authentication, "{addr}");
        let c = c.unwrap_err();
        assert_eq!(c.kind(), ErrorKind::Authentication, "{addr}");
        assert!(c.message().contains("rejected"), "{c}");
    }
}

#[test]
fn authenticate_true_uses_the_process_authkey() {
    let l = Listener::builder().authenticate(true).bind().unwrap();
    let address = l.address().clone();
    let key = mp::current_process().authkey();
    let t = std::thread::spawn(move || {
        Client::builder(&address)
            .authkey(key)
            .connect()
            .and_then(|c| c.send_bytes(b"in"))
    });
    assert_eq!(
        accept_within(&l, LONG).unwrap().recv_bytes().unwrap(),
        b"in"
    );
    t.join().unwrap().unwrap();
    // And the other way round.
    let l = Listener::builder()
        .authkey(mp::current_process().authkey())
        .bind()
        .unwrap();
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        Client::builder(&address)
            .authenticate(true)
            .connect()
            .map(|_| ())
    });
    accept_within(&l, LONG).unwrap();
    t.join().unwrap().unwrap();
}

#[test]
fn abstract_address_works_and_leaves_no_file() {
    let l = Listener::bind("\0mp-test-abstract-listener").unwrap();
    assert_eq!(
        l.address(),
        &Address::Abstract(b"mp-test-abstract-listener".to_vec())
    );
    let t = std::thread::spawn(|| {
        Client::connect("\0mp-test-abstract-listener").and_then(|c| c.send(&5u32))
    });
    assert_eq!(l.accept().unwrap().recv::<u32>().unwrap(), 5);
    t.join().unwrap().unwrap();
}

#[test]
fn last_accepted_is_the_peer_address() {
    let l = Listener::bind(("127.0.0.1", 0)).unwrap();
    assert_eq!(l.last_accepted(), None);
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        let c = Client::connect(&address).unwrap();
        c.recv_bytes().unwrap()
    });
    let c = l.accept().unwrap();
    let Some(Address::Tcp(peer)) = l.last_accepted() else {
        panic!("{:?}", l.last_accepted())
    };
    assert!(peer.ip().is_loopback() && peer.port() != 0);
    c.send_bytes(b"bye").unwrap();
    assert_eq!(t.join().unwrap(), b"bye");
}

#[test]
fn a_client_that_sent_and_closed_before_accept_is_still_read() {
    let l = Listener::builder().authenticate(false).bind().unwrap();
    {
        let c = Client::builder(l.address())
            .authenticate(false)
            .connect()
            .unwrap();
        c.send_bytes(b"early").unwrap();
    }
    let c = l.accept().unwrap();
    assert_eq!(c.recv_bytes().unwrap(), b"early");
    assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
}

#[test]
fn client_poll_sees_bytes_from_the_accepted_side() {
    let l = Listener::new().unwrap();
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        let c = Client::connect(&address).unwrap();
        let ready = c.poll_timeout(LONG).unwrap();
        (ready, c.recv_bytes().unwrap())
    });
    let c = l.accept().unwrap();
    c.send_bytes(b"data").unwrap();
    assert_eq!(t.join().unwrap(), (true, b"data".to_vec()));
}

#[test]
fn address_parsing_follows_python() {
    assert_eq!(
        "\\\\.\\pipe\\x".parse::<Address>().unwrap_err().kind(),
        ErrorKind::Value
    );
    assert_eq!(
        Listener::bind("\\\\.\\pipe\\x").unwrap_err().kind(),
        ErrorKind::Value
    );
    assert_eq!(
        Client::connect("\\\\.\\pipe\\x").unwrap_err().kind(),
        ErrorKind::Value
    );
    assert_eq!("/a/b".parse::<Address>().unwrap().family(), Family::Unix);
    assert_eq!(
        "sock".parse::<Address>().unwrap(),
        Address::Unix("sock".into())
    );
    assert_eq!(
        "localhost:80".parse::<Address>().unwrap().family(),
        Family::Inet
    );
    assert_eq!(
        "[::1]:80".parse::<Address>().unwrap().family(),
        Family::Inet6
    );
    assert_eq!(
        "AF_PIPE".parse::<Family>().unwrap_err().kind(),
        ErrorKind::Value
    );
    // Family mismatch.
    let err = Listener::builder()
        .address("/tmp/x")
        .family(Family::Inet)
        .bind()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Value);
    // Addresses serialize (managers send them to children).
    let (a, b) = mp::Pipe(true).unwrap();
    for addr in fresh_addresses() {
        a.send(&addr).unwrap();
        assert_eq!(b.recv::<Address>().unwrap(), addr);
    }
}

#[test]
fn garbage_and_oversized_answers_are_authentication_errors_broken_clients_are_dropped() {
    use std::io::Write;
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"k")
        .backlog(16) // room for the clients that connect while nobody accepts
        .bind()
        .unwrap();
    let Address::Tcp(sa) = *l.address() else {
        unreachable!()
    };
    // Sends garbage (not a frame of a response): what CPython's accept raises.
    let mut g = std::net::TcpStream::connect(sa).unwrap();
    g.write_all(b"\x00\x00\x00\x05hello").unwrap();
    let err = accept_within(&l, LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    // Announces a 4 GiB message: refused at the header (nothing allocated); no answer to a
    // challenge is that long, so it is an authentication error too.
    let mut h = std::net::TcpStream::connect(sa).unwrap();
    h.write_all(b"\xff\xff\xff\xff\x00\x00\x00\x01\x00\x00\x00\x00")
        .unwrap();
    let err = accept_within(&l, LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("over 256 bytes"), "{err}");
    // So is a client without a key whose first message is long.
    let plain = Client::connect(l.address()).unwrap();
    plain.send_bytes(&[7u8; 1000][..]).unwrap();
    let err = accept_within(&l, LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    // A negative length, or hanging up at once: dropped, and accept returns the next good
    // client.
    let mut n = std::net::TcpStream::connect(sa).unwrap();
    n.write_all(b"\xff\xff\xff\xfe").unwrap();
    drop(std::net::TcpStream::connect(sa).unwrap());
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        Client::builder(&address)
            .authkey(b"k")
            .connect()
            .and_then(|c| c.send_bytes(b"ok"))
    });
    assert_eq!(
        accept_within(&l, LONG).unwrap().recv_bytes().unwrap(),
        b"ok"
    );
    t.join().unwrap().unwrap();
}

#[test]
fn accepted_connections_have_a_message_cap() {
    let l = Listener::builder()
        .authkey(b"k")
        .max_message_size(Some(16))
        .bind()
        .unwrap();
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        let c = Client::builder(&address).authkey(b"k").connect().unwrap();
        c.send_bytes(&[0u8; 17][..]).unwrap();
    });
    let c = l.accept().unwrap();
    assert_eq!(c.max_message_size(), Some(16));
    let err = c.recv_bytes().unwrap_err();
    assert!(err.message().contains("bad message length"), "{err}");
    t.join().unwrap();
}

#[test]
fn deliver_challenge_against_garbage_and_answer_to_empty_challenge_fail() {
    let (a, b) = mp::Pipe(true).unwrap();
    let t = std::thread::spawn(move || {
        let _challenge = b.recv_bytes().unwrap();
        b.send_bytes(&[b'x'; 40][..]).unwrap();
        b.recv_bytes().unwrap()
    });
    assert_eq!(
        deliver_challenge(&a, b"key").unwrap_err().kind(),
        ErrorKind::Authentication
    );
    assert_eq!(t.join().unwrap(), b"#FAILURE#");

    let (a, b) = mp::Pipe(true).unwrap();
    a.send_bytes(b"").unwrap();
    assert_eq!(
        answer_challenge(&b, b"key").unwrap_err().kind(),
        ErrorKind::Authentication
    );
    a.send_bytes(b"#CHALLENGE#").unwrap();
    assert_eq!(
        answer_challenge(&b, b"key").unwrap_err().kind(),
        ErrorKind::Authentication
    );
    // A handshake message over 256 bytes is a length error, not an authentication error.
    a.send_bytes(&[0u8; 300][..]).unwrap();
    let err = answer_challenge(&b, b"key").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os, "{err}");
}

#[test]
fn handshake_timeouts() {
    let (a, _b) = mp::Pipe(true).unwrap();
    let t0 = Instant::now();
    let err = auth::answer_challenge_timeout(&a, b"k", Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(t0.elapsed() >= Duration::from_millis(90));
}

/// Legacy (CPython <= 3.11) challenges: a bare 20-byte challenge gets a raw 16-byte
/// HMAC-MD5; `{md5}` and `{sha256}` challenges get their prefix back.
#[test]
fn challenge_responses_keep_the_prefix() {
    for prefix in [&b""[..], b"{md5}", b"{sha256}"] {
        let (a, b) = mp::Pipe(true).unwrap();
        let mut challenge = b"#CHALLENGE#".to_vec();
        challenge.extend_from_slice(prefix);
        challenge.extend_from_slice(&[7u8; 20]);
        a.send_bytes(&challenge).unwrap();
        a.send_bytes(b"#WELCOME#").unwrap();
        answer_challenge(&b, b"key").unwrap();
        let response = a.recv_bytes().unwrap();
        if prefix.is_empty() {
            assert_eq!(response.len(), 16);
        } else {
            assert!(response.starts_with(prefix), "{response:?}");
        }
    }
}

// ----- children connecting, under every start method -----

#[mp::task]
fn client_child(address: Address, key: Vec<u8>, payload: String) -> mp::Result<()> {
    let c = Client::builder(&address)
        .authkey(key)
        .timeout(Some(LONG))
        .connect()?;
    c.send(&payload)
}

#[mp::test]
fn a_child_connects_under_every_start_method_and_family() {
    for method in mp::get_all_start_methods() {
        for addr in fresh_addresses() {
            let l = Listener::builder()
                .address(&addr)
                .authkey(b"child key")
                .bind()
                .unwrap();
            let p = mp::Process::builder(
                client_child,
                (
                    l.address().clone(),
                    b"child key".to_vec(),
                    format!("{method} {addr}"),
                ),
            )
            .start_method(method)
            .build();
            p.start().unwrap();
            let c = l.accept().unwrap();
            assert_eq!(c.recv::<String>().unwrap(), format!("{method} {addr}"));
            p.join_timeout(LONG).unwrap();
            assert_eq!(p.exitcode(), Some(0), "{method} {addr}");
        }
    }
}

#[mp::task]
fn accept_in_child(l: Listener) -> mp::Result<()> {
    let c = l.accept()?;
    let s: String = c.recv()?;
    c.send(&s.to_uppercase())
}

#[mp::test]
fn a_listener_can_be_passed_to_a_child() {
    for method in mp::get_all_start_methods() {
        let l = Listener::builder().authkey(b"k").bind().unwrap();
        let address = l.address().clone();
        let p = mp::Process::builder(accept_in_child, (l.try_clone().unwrap(),))
            .start_method(method)
            .build();
        p.start().unwrap();
        let c = Client::builder(&address)
            .authkey(b"k")
            .timeout(Some(LONG))
            .connect()
            .unwrap();
        c.send("hello").unwrap();
        assert_eq!(c.recv::<String>().unwrap(), "HELLO");
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{method}");
    }
}

/// SO_REUSEADDR: a listener can be bound again on the same TCP port right after the previous
/// one (with a served connection in TIME_WAIT) was closed, as a restarting manager does.
#[test]
fn rapid_restart_on_the_same_tcp_address() {
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"k")
        .bind()
        .unwrap();
    let address = l.address().clone();
    let a2 = address.clone();
    let t = std::thread::spawn(move || {
        Client::builder(&a2)
            .authkey(b"k")
            .connect()
            .unwrap()
            .send_bytes(b"x")
    });
    let c = l.accept().unwrap();
    assert_eq!(c.recv_bytes().unwrap(), b"x");
    t.join().unwrap().unwrap();
    drop(c); // the server closes first: its side goes to TIME_WAIT
    l.close();
    drop(l);
    let again = Listener::builder().address(&address).authkey(b"k").bind();
    assert!(again.is_ok(), "{:?}", again.err());
}

// ----- issue 12: Listener and Client as in CPython 3 -----

/// `l.accept()`, failing the test (instead of hanging it) if it takes longer than `limit`:
/// a watchdog closes the listener, which wakes the accept.
fn accept_within(l: &Listener, limit: Duration) -> mp::Result<mp::Connection> {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let fired = std::sync::atomic::AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        let fired = &fired;
        s.spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                fired.store(true, std::sync::atomic::Ordering::SeqCst);
                l.close();
            }
        });
        let r = l.accept();
        drop(tx);
        r
    });
    assert!(
        !fired.load(std::sync::atomic::Ordering::SeqCst),
        "accept did not return within {limit:?}"
    );
    r
}

/// Reads from a raw socket until end of file; `Err` if nothing ends within `limit`.
fn read_to_eof(s: &mut impl std::io::Read, limit: Duration) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(all),
            Err(e) => return Err(e),
        }
        if Instant::now() > deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
    }
}

fn tcp_stream(l: &Listener) -> std::net::TcpStream {
    let Address::Tcp(sa) = *l.address() else {
        panic!("not tcp: {}", l.address())
    };
    let s = std::net::TcpStream::connect(sa).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    s
}

/// Python 3's `Listener(address)` / `Client(address)`: no key, no handshake on either side.
#[test]
fn by_default_neither_side_authenticates() {
    for addr in fresh_addresses() {
        let l = Listener::bind(&addr).unwrap();
        let c = Client::connect(l.address()).unwrap();
        let s = accept_within(&l, LONG).unwrap();
        // Nothing was said before the first message: no challenge either way.
        assert!(!s.poll().unwrap(), "{addr}");
        assert!(!c.poll().unwrap(), "{addr}");
        c.send_bytes(b"hi").unwrap();
        assert!(s.poll_timeout(LONG).unwrap());
        assert_eq!(s.recv_bytes().unwrap(), b"hi");
        s.send_bytes(b"back").unwrap();
        assert!(c.poll_timeout(LONG).unwrap());
        assert_eq!(c.recv_bytes().unwrap(), b"back");
    }
    let l = Listener::new().unwrap();
    let c = Client::connect(l.address()).unwrap();
    c.send(&7u8).unwrap();
    assert_eq!(accept_within(&l, LONG).unwrap().recv::<u8>().unwrap(), 7);
}

/// Mismatch (a): the listener authenticates, the client does not. The client's first message
/// is a wrong answer (accept: Authentication); the client gets the challenge, `#FAILURE#`,
/// end of file.
#[test]
fn authenticating_listener_and_plain_client_both_see_an_error() {
    for addr in fresh_addresses() {
        let l = Listener::builder()
            .address(&addr)
            .authkey(b"k")
            .handshake_timeout(Some(Duration::from_secs(5)))
            .bind()
            .unwrap();
        let c = Client::connect(l.address()).unwrap();
        c.send_bytes(b"hello").unwrap();
        let t0 = Instant::now();
        let err = accept_within(&l, LONG).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{addr}: {err}");
        assert!(err.message().contains("not a challenge response"), "{err}");
        // At once, not when the handshake times out.
        let took = t0.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(c.poll_timeout(LONG).unwrap());
        assert!(
            c.recv_bytes().unwrap().starts_with(b"#CHALLENGE#"),
            "{addr}"
        );
        assert!(c.poll_timeout(LONG).unwrap());
        assert_eq!(c.recv_bytes().unwrap(), b"#FAILURE#");
        assert!(c.poll_timeout(LONG).unwrap());
        assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    }
}

/// Mismatch (a), with a client that waits for the server to speak: it gets the challenge at
/// once (and, with `recv_pickle`, an authentication error); the listener drops it when the
/// handshake times out, and keeps accepting.
#[test]
fn a_plain_client_that_waits_is_dropped_after_the_handshake_timeout() {
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"k")
        .handshake_timeout(Some(Duration::from_millis(300)))
        .bind()
        .unwrap();
    let c = Client::connect(l.address()).unwrap();
    let address = l.address().clone();
    let t0 = Instant::now();
    let good = std::thread::spawn(move || {
        // Connects after the plain client, and is served within the plain one's timeout.
        Client::builder(&address)
            .authkey(b"k")
            .connect()
            .and_then(|c| c.send_bytes(b"good"))
    });
    let s = accept_within(&l, LONG).unwrap();
    assert_eq!(s.recv_bytes().unwrap(), b"good");
    good.join().unwrap().unwrap();
    assert!(c.poll_timeout(LONG).unwrap());
    #[cfg(feature = "pickle")]
    {
        let err = c.recv_pickle_value().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    }
    #[cfg(not(feature = "pickle"))]
    assert!(c.recv_bytes().unwrap().starts_with(b"#CHALLENGE#"));
    // Dropped: end of file once the listener's handshake timeout passed.
    assert!(c.poll_timeout(LONG).unwrap());
    assert_eq!(c.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
}

/// Mismatch (b): the listener does not authenticate, the client does. The client gives up
/// after its handshake timeout, saying why; the server's next read sees end of file.
#[test]
fn plain_listener_and_authenticating_client_both_see_an_error() {
    for addr in fresh_addresses() {
        let l = Listener::bind(&addr).unwrap();
        let address = l.address().clone();
        let t = std::thread::spawn(move || {
            let t0 = Instant::now();
            let r = Client::builder(&address)
                .authkey(b"k")
                .handshake_timeout(Some(Duration::from_millis(300)))
                .connect();
            (r.map(|_| ()), t0.elapsed())
        });
        let s = accept_within(&l, LONG).unwrap();
        let (r, took) = t.join().unwrap();
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{addr}: {err}");
        assert!(
            err.message().contains("no authentication challenge"),
            "{err}"
        );
        assert!(
            took >= Duration::from_millis(250) && took < LONG / 2,
            "{took:?}"
        );
        assert!(s.poll_timeout(LONG).unwrap());
        assert_eq!(s.recv_bytes().unwrap_err().kind(), ErrorKind::Eof);
    }
}

/// Mismatch (b), when the server's application speaks first: the client says at once that
/// the server sent no challenge.
#[test]
fn a_plain_listener_that_speaks_first_is_reported_at_once() {
    let l = Listener::bind(("127.0.0.1", 0)).unwrap();
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        let t0 = Instant::now();
        let r = Client::builder(&address).authkey(b"k").connect();
        (r.map(|_| ()), t0.elapsed())
    });
    let s = accept_within(&l, LONG).unwrap();
    s.send_bytes(b"welcome to the server").unwrap();
    let (r, took) = t.join().unwrap();
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(
        err.message()
            .contains("did not send an authentication challenge"),
        "{err}"
    );
    assert!(took < Listener::DEFAULT_HANDSHAKE_TIMEOUT / 2, "{took:?}");
}

/// The client's own `timeout` still means `ErrorKind::Timeout`, when it is the shorter.
#[test]
fn client_timeout_shorter_than_the_handshake_timeout_is_a_timeout() {
    let l = Listener::bind(("127.0.0.1", 0)).unwrap();
    let err = Client::builder(l.address())
        .authkey(b"k")
        .timeout(Some(Duration::from_millis(100)))
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let err = Client::builder(l.address())
        .authkey(b"k")
        .timeout(Some(LONG))
        .handshake_timeout(Some(Duration::from_millis(100)))
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

/// A silent client and a dribbling one do not delay a client that connects after them; both
/// are dropped when the handshake timeout passes, and accept keeps working.
#[test]
fn silent_and_dribbling_clients_do_not_delay_the_next() {
    use std::io::Write;
    let timeout = Duration::from_secs(4);
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"k")
        .handshake_timeout(Some(timeout))
        .bind()
        .unwrap();
    let mut silent = tcp_stream(&l);
    let t0 = Instant::now();
    let mut dribbler = tcp_stream(&l);
    dribbler.write_all(b"\x00\x00").unwrap(); // half a header, then nothing
    let address = l.address().clone();
    let good = std::thread::spawn(move || {
        Client::builder(&address)
            .authkey(b"k")
            .connect()
            .and_then(|c| c.send_bytes(b"second"))
    });
    let c = accept_within(&l, LONG).unwrap();
    let took = t0.elapsed();
    assert!(took < timeout / 2, "the second client waited {took:?}");
    assert_eq!(c.recv_bytes().unwrap(), b"second");
    good.join().unwrap().unwrap();
    // Keep accepting (nothing comes) so that the two are dropped meanwhile.
    let l = std::sync::Arc::new(l);
    let l2 = l.clone();
    let acceptor = std::thread::spawn(move || l2.accept().map(|c| c.recv_bytes()));
    for s in [&mut silent, &mut dribbler] {
        let got = read_to_eof(s, LONG).unwrap();
        assert!(got.len() > 4 && got[4..].starts_with(b"#CHALLENGE#"));
    }
    let dropped = t0.elapsed();
    assert!(
        dropped >= timeout - Duration::from_millis(100),
        "{dropped:?}"
    );
    assert!(dropped < LONG / 2, "{dropped:?}");
    // ...and accept (still running) serves the next client.
    let c = Client::builder(l.address())
        .authkey(b"k")
        .connect()
        .unwrap();
    c.send_bytes(b"third").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(acceptor.join().unwrap()));
    let r = rx.recv_timeout(LONG).expect("accept returned");
    assert_eq!(r.unwrap().unwrap(), b"third");
}

/// A wrong key is an Authentication error from accept (as CPython), and the next good client
/// is accepted.
#[test]
fn a_wrong_key_fails_accept_and_the_next_client_is_served() {
    for addr in fresh_addresses() {
        let l = Listener::builder()
            .address(&addr)
            .authkey(b"right")
            .bind()
            .unwrap();
        let address = l.address().clone();
        let bad = std::thread::spawn(move || {
            Client::builder(&address)
                .authkey(b"wrong")
                .connect()
                .map(|_| ())
        });
        let err = accept_within(&l, LONG).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{addr}: {err}");
        assert_eq!(err.message(), "digest received was wrong");
        let err = bad.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{addr}: {err}");
        let address = l.address().clone();
        let good = std::thread::spawn(move || {
            Client::builder(&address)
                .authkey(b"right")
                .connect()
                .and_then(|c| c.send_bytes(b"good"))
        });
        assert_eq!(
            accept_within(&l, LONG).unwrap().recv_bytes().unwrap(),
            b"good"
        );
        good.join().unwrap().unwrap();
    }
}

/// Clones in one process share the handshakes: each of two accepting clones gets a client.
#[test]
fn clones_share_the_handshakes_under_way() {
    let l = Listener::builder().authkey(b"k").bind().unwrap();
    let l2 = l.try_clone().unwrap();
    let address = l.address().clone();
    let clients: Vec<_> = (0..2u8)
        .map(|i| {
            let address = address.clone();
            std::thread::spawn(move || {
                Client::builder(&address)
                    .authkey(b"k")
                    .connect()
                    .and_then(|c| c.send(&i))
            })
        })
        .collect();
    let other = std::thread::spawn(move || accept_within(&l2, LONG).and_then(|c| c.recv::<u8>()));
    let mine = accept_within(&l, LONG)
        .and_then(|c| c.recv::<u8>())
        .unwrap();
    let theirs = other.join().unwrap().unwrap();
    let mut got = [mine, theirs];
    got.sort();
    assert_eq!(got, [0, 1]);
    for c in clients {
        c.join().unwrap().unwrap();
    }
}

/// The server-side sockets of the TCP connections to `port` (inodes from /proc/net/tcp*).
fn server_sockets(port: u16) -> Vec<String> {
    let mut v = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f[1].rsplit(':').next().unwrap();
            // 01: ESTABLISHED.
            if u16::from_str_radix(local_port, 16) == Ok(port) && f[3] == "01" {
                v.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    v
}

fn open_sockets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// `close` breaks off the handshakes under way: their clients see end of file at once, and
/// their sockets are closed once `close` and the interrupted `accept` returned.
#[test]
fn close_ends_the_handshakes_under_way_without_leaks() {
    let l = std::sync::Arc::new(
        Listener::builder()
            .address(("127.0.0.1", 0))
            .authkey(b"k")
            .handshake_timeout(None)
            .bind()
            .unwrap(),
    );
    let Address::Tcp(sa) = *l.address() else {
        unreachable!()
    };
    let l2 = l.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let _acceptor = std::thread::spawn(move || tx.send(l2.accept().map(|_| ())));
    let mut silent: Vec<_> = (0..3).map(|_| tcp_stream(&l)).collect();
    // Each got its challenge: its handshake is under way.
    for s in &mut silent {
        use std::io::Read;
        let mut head = [0u8; 4 + 11];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head[4..], b"#CHALLENGE#");
    }
    let server_side = server_sockets(sa.port());
    assert!(server_side.len() >= 3, "{server_side:?}");
    let t0 = Instant::now();
    l.close();
    // The handshake threads have ended when close returns; the client that the accepting
    // thread was handling itself is closed when that accept returns.
    let err = rx.recv_timeout(LONG).expect("accept woke up").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os, "{err}");
    let open = open_sockets();
    for s in &server_side {
        assert!(!open.contains(s), "{s} is still open after close");
    }
    for s in &mut silent {
        read_to_eof(s, LONG).unwrap();
    }
    assert!(t0.elapsed() < LONG / 2);
}

/// Many clients at once, some with the wrong key: handshakes pass between the accepting
/// thread and threads of their own, and every client gets its answer.
#[test]
fn many_clients_at_once_each_get_their_answer() {
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"k")
        .backlog(64)
        .bind()
        .unwrap();
    let (good, bad) = (16u32, 4u32);
    let clients: Vec<_> = (0..good + bad)
        .map(|i| {
            let address = l.address().clone();
            std::thread::spawn(move || {
                let key: &[u8] = if i < good { b"k" } else { b"wrong" };
                Client::builder(&address)
                    .authkey(key)
                    .connect()
                    .and_then(|c| c.send(&i))
            })
        })
        .collect();
    let mut served = Vec::new();
    let mut refused = 0;
    for _ in 0..good + bad {
        match accept_within(&l, LONG) {
            Ok(c) => {
                assert!(c.poll_timeout(LONG).unwrap());
                served.push(c.recv::<u32>().unwrap());
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
                refused += 1;
            }
        }
    }
    served.sort();
    assert_eq!(served, (0..good).collect::<Vec<_>>());
    assert_eq!(refused, bad);
    for (i, c) in clients.into_iter().enumerate() {
        let r = c.join().unwrap();
        assert_eq!(r.is_ok(), (i as u32) < good, "{i}: {r:?}");
    }
}
