//! Fuzzes the manager's request decoder: whatever bytes a client sends, decoding gives a
//! request or an error (never a panic, a hang, an overflow of the stack or an allocation
//! sized by a lying length), and what decodes re-encodes to bytes that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mp::managers::protocol::{Reply, Request};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::decode(data) {
        let mut buf = Vec::new();
        req.encode(&mut buf).expect("a decoded request re-encodes");
        assert_eq!(Request::decode(&buf).expect("re-decodes"), req);
    }
    let _ = Reply::decode(data);
});
