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
    let l = std::sync::Arc::new(Listener::new().unwrap());
    let l2 = l.clone();
    let t = std::thread::spawn(move || l2.accept());
    std::thread::sleep(Duration::from_millis(50)); // let it block (not synchronization: the result is the same either way)
    l.close();
    let err = t.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os);
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::Os);
    l.close(); // second close is a no-op
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
fn default_key_is_the_process_authkey() {
    let l = Listener::new().unwrap();
    let address = l.address().clone();
    let key = mp::current_process().authkey();
    let t =
        std::thread::spawn(move || Client::builder(&address).authkey(key).connect().map(|_| ()));
    l.accept().unwrap();
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
fn silent_garbage_and_huge_clients_cannot_block_accept() {
    use std::io::Write;
    let l = Listener::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"k")
        .handshake_timeout(Some(Duration::from_millis(300)))
        .bind()
        .unwrap();
    let Address::Tcp(sa) = *l.address() else {
        unreachable!()
    };
    // 1. Says nothing.
    let _silent = std::net::TcpStream::connect(sa).unwrap();
    let t0 = Instant::now();
    let err = l.accept().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(t0.elapsed() >= Duration::from_millis(250));
    // 2. Sends garbage (not a frame of a response).
    let mut g = std::net::TcpStream::connect(sa).unwrap();
    g.write_all(b"\x00\x00\x00\x05hello").unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::Authentication);
    // 3. Announces a 4 GiB message: refused at the header, nothing allocated.
    let mut h = std::net::TcpStream::connect(sa).unwrap();
    h.write_all(b"\xff\xff\xff\xff\x00\x00\x00\x01\x00\x00\x00\x00")
        .unwrap();
    let err = l.accept().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Os);
    assert!(err.message().contains("bad message length"), "{err}");
    // 4. A negative length.
    let mut n = std::net::TcpStream::connect(sa).unwrap();
    n.write_all(b"\xff\xff\xff\xfe").unwrap();
    assert!(l.accept().is_err());
    // A real client is still served.
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        Client::builder(&address)
            .authkey(b"k")
            .connect()
            .and_then(|c| c.send_bytes(b"ok"))
    });
    assert_eq!(l.accept().unwrap().recv_bytes().unwrap(), b"ok");
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
