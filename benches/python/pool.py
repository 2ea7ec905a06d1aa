"""CPython baseline for benches/benches/pool.rs (same ids, seconds per operation).

python3 benches/python/pool.py
"""
import multiprocessing as mp
import os

from benchlib import median_time


def ident(x):
    return x


def noop():
    pass


def burn(seed):
    # The same integer work as the Rust task, scaled down: CPython is ~100x slower per step,
    # so the figure to compare is the 2-process speedup, not the absolute time.
    h = seed ^ 0x9E3779B97F4A7C15
    for i in range(3_000):
        h = ((h ^ i) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h = ((h << 7) | (h >> 57)) & 0xFFFFFFFFFFFFFFFF
    return h


def report(name, secs):
    print(f"BENCH pool/{name} {secs:.9f}", flush=True)


def main():
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as p:
        report("map_200k_default_chunksize",
               median_time(lambda: p.map(ident, range(200_000)), 7, 200_000))
        report("map_20k_chunksize1",
               median_time(lambda: p.map(ident, range(20_000), chunksize=1), 5, 20_000))

        def apply_async_5000():
            rs = [p.apply_async(noop, ()) for _ in range(5000)]
            for r in rs:
                r.get()
        report("apply_async_5000_noop", median_time(apply_async_5000, 5, 5000))
        report("apply_sequential_noop",
               median_time(lambda: [p.apply(noop, ()) for _ in range(200)], 7, 200))

    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    with ctx.Pool(2) as p:
        report("apply_sequential_noop_pinned",
               median_time(lambda: [p.apply(noop, ()) for _ in range(200)], 7, 200))
    os.sched_setaffinity(0, old)

    def create():
        p = ctx.Pool(2)
        p.apply(noop, ())
        p.close()
        p.join()
    report("create_apply_close_join", median_time(create, 15, 1))

    items = list(range(64))
    for n in (1, 2):
        with ctx.Pool(n) as p:
            report(f"cpu_map_{n}proc",
                   median_time(lambda: p.map(burn, items, chunksize=1), 5, 64))

    # Last, as in the Rust bench: its 32 MiB buffers would slow the forks after it.
    with ctx.Pool(2) as p:
        big = b"\x07" * (32 << 20)

        def apply_async_32mib():
            assert len(p.apply_async(ident, (big,)).get()) == 32 << 20
        report("apply_async_32mib_roundtrip", median_time(apply_async_32mib, 5, 1))


if __name__ == "__main__":
    main()
