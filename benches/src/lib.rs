//! Helpers shared by mp's benchmarks.

/// Pins the calling thread (and the children it starts afterwards) to CPU 0, so that a
/// latency benchmark measures the library and not the VM's cross-CPU wake-up (~30 µs each
/// way on the CI machine). Returns the previous CPU set, for [`unpin`].
pub fn pin_to_cpu0() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; sched_{get,set}affinity read/write it.
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        old
    }
}

/// Restores the CPU set saved by [`pin_to_cpu0`].
pub fn unpin(old: &libc::cpu_set_t) {
    // SAFETY: as above.
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), old);
    }
}

/// The time of one operation, for criterion's `iter_custom`: runs `f` (which does `ops`
/// operations) `iters` times and returns the total divided by `ops`, the per-operation time
/// criterion then divides by `iters`.
///
/// ```
/// let t = mp_benches::per_op(3, 10, || drop(std::hint::black_box((0..10).sum::<u32>())));
/// assert!(t < std::time::Duration::from_secs(1));
/// ```
pub fn per_op(iters: u64, ops: u64, mut f: impl FnMut()) -> std::time::Duration {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iters {
        let t = std::time::Instant::now();
        f();
        total += t.elapsed();
    }
    total / u32::try_from(ops).unwrap_or(u32::MAX)
}

/// Starts `f` in a forked child (the start method with the cheapest start, so that only the
/// measured work is measured).
pub fn fork(f: impl FnOnce() + Send + 'static) -> mp::Process {
    let p = mp::Process::builder(f, ())
        .start_method(mp::StartMethod::Fork)
        .build();
    p.start().expect("fork");
    p
}

/// Joins a child started by [`fork`] and checks that it succeeded.
pub fn finish(p: mp::Process) {
    p.join_timeout(std::time::Duration::from_secs(60))
        .expect("join");
    assert_eq!(p.exitcode(), Some(0));
}
