//! Fuzzes the authentication handshake parsers: the input is split into up to three frames
//! played as the peer's messages to `answer_challenge` and to `deliver_challenge`, and also
//! written raw (unframed) into the socket. Both must return (an error, almost always)
//! without panicking or hanging.
#![no_main]

use std::io::Write;
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use mp::connection::{Connection, answer_challenge, deliver_challenge};

fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < 3 && !rest.is_empty() {
        let n = (rest[0] as usize).min(rest.len() - 1);
        out.push(&rest[1..1 + n]);
        rest = &rest[1 + n..];
    }
    out
}

fn peer(write: impl FnOnce(&Connection, &mut UnixStream)) -> Option<Connection> {
    let (ours, theirs) = UnixStream::pair().ok()?;
    let mut raw = theirs.try_clone().ok()?;
    let theirs = Connection::from_fd(theirs.into(), true, true).ok()?;
    write(&theirs, &mut raw);
    // Both of the peer's handles close here: the function under test then sees EOF.
    Connection::from_fd(ours.into(), true, true).ok()
}

fuzz_target!(|data: &[u8]| {
    let framed = frames(data);
    for deliver in [false, true] {
        let Some(c) = peer(|t, _| {
            for f in &framed {
                let _ = t.send_bytes(*f);
            }
        }) else {
            return;
        };
        let r = if deliver {
            deliver_challenge(&c, b"key")
        } else {
            answer_challenge(&c, b"key")
        };
        // Nobody can know the key from random input, except by a digest collision.
        assert!(r.is_err());
        let Some(c) = peer(|_, raw| {
            let _ = raw.write_all(data);
        }) else {
            return;
        };
        let r = if deliver {
            deliver_challenge(&c, b"key")
        } else {
            answer_challenge(&c, b"key")
        };
        assert!(r.is_err());
    }
});
