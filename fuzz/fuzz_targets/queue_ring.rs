//! Fuzzes a queue whose shared memory another process left corrupt: arbitrary state words and
//! ring bytes. Getting, putting and shutting down give items or errors ("the queue's shared
//! memory is corrupted"), never a panic or an access outside the ring.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mp::queues::__fuzz_ring(data);
});
