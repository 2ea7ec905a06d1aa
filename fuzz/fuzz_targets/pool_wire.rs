//! Fuzzes the pool's wire format (the frames between a pool and its workers): whatever bytes
//! arrive, the reader gives frames or an error (never a panic, an out-of-bounds range or an
//! allocation sized by a lying length), and a frame it builds parses back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mp::pool::__fuzz_wire(data);
});
