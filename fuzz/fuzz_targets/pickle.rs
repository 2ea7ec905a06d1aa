//! Fuzzes CPython's manager protocol as mp reads it: the pickle decoder (data opcodes and an
//! allow-list of names only) and the request and reply decoders on top of it. Any bytes give
//! a value or an error, never a panic; what decodes re-encodes stably.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mp::managers::__fuzz_pickle(data);
});
