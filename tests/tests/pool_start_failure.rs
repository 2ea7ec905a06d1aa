//! CPython's `TestPoolNotLeakOnFailure.test_release_unused_processes`: if starting the n-th
//! worker fails, the workers already started are stopped and the error comes from the
//! constructor. The failure is provoked with a low descriptor limit, which is process-wide,
//! so this test has a binary of its own.

use mp::Pool;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn set_nofile(n: u64) -> u64 {
    // SAFETY: plain getrlimit/setrlimit on a stack struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        let old = r.rlim_cur;
        r.rlim_cur = n;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        old
    }
}

#[mp::task]
fn one() -> u8 {
    1
}

#[mp::test]
fn a_failed_worker_start_releases_the_started_ones() {
    for m in mp::get_all_start_methods() {
        // Warm up (the forkserver, the launcher thread...).
        let p = Pool::builder()
            .processes(1)
            .start_method(m)
            .build()
            .unwrap();
        assert_eq!(p.apply(one, ()).unwrap(), 1);
        drop(p);
        let base = open_fds() as u64 + 4;
        // The smallest descriptor budget that starts one worker...
        let mut budget = None;
        for extra in 1..64 {
            let old = set_nofile(base + extra);
            let r = Pool::builder().processes(1).start_method(m).build();
            set_nofile(old);
            if let Ok(p) = r {
                drop(p);
                budget = Some(extra);
                break;
            }
        }
        let extra = budget.expect("some budget starts a worker");
        // ...cannot start three: the constructor fails after starting some.
        let old = set_nofile(base + extra);
        let r = Pool::builder().processes(3).start_method(m).build();
        set_nofile(old);
        let e = r.expect_err("three workers need more descriptors");
        eprintln!("{m}: {e}");
        assert!(
            mp::active_children().is_empty(),
            "{m}: started workers left behind"
        );
        assert!(open_fds() as u64 <= base, "{m}: descriptors leaked");
    }
}
