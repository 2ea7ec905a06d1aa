"""CPython baseline for benches/benches/managers_pool.rs: a Pool living in a manager
(`manager.Pool`) and a dict's iterator proxy.

Prints one line per figure: `BENCH <group>/<name> <seconds per op>` (median of repetitions),
with the same ids as the criterion benchmarks.
"""
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.managers import SyncManager


def square(x):
    return x * x


def median_per_op(fn, n, reps=7):
    per = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(n)
        per.append((time.perf_counter() - t0) / n)
    return statistics.median(per)


def report(name, secs):
    print(f"BENCH {name} {secs:.9f}", flush=True)


def manager_pool():
    m = SyncManager(ctx=mp.get_context("fork"))
    m.start()
    # The manager's pool uses its default context: fork on Linux before 3.14.
    pool = m.Pool(2)

    def apply(n):
        for _ in range(n):
            pool.apply(square, (3,))

    def apply_async_get(n):
        for _ in range(n):
            pool.apply_async(square, (3,)).get()

    def map_100(n):
        for _ in range(n):
            pool.map(square, range(100))

    report("manager_pool/apply", median_per_op(apply, 500))
    report("manager_pool/apply_async_get", median_per_op(apply_async_get, 500))
    report("manager_pool/map_100", median_per_op(map_100, 100))
    pool.terminate()
    del pool
    m.shutdown()


def dict_iter():
    m = SyncManager(ctx=mp.get_context("fork"))
    m.start()
    d = m.dict({i: i for i in range(100)})

    def run(n):
        for _ in range(n // 100):
            count = sum(1 for _ in iter(d))
            assert count == 100

    report("manager_dict/iter_next", median_per_op(run, 2000))
    m.shutdown()


def main():
    mp.set_start_method("fork")
    manager_pool()
    dict_iter()


if __name__ == "__main__":
    sys.exit(main())
