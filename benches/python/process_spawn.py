"""CPython twin of benches/benches/process_spawn.rs: Process start + join of a no-op target.

Prints `BENCH process_start/<method> <seconds per op>` (median of several repetitions).
Run: python3 benches/python/process_spawn.py
"""

import multiprocessing as mp
import statistics
import time


def noop():
    pass


def per_op(ctx, n):
    t = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        assert p.exitcode == 0
    return (time.perf_counter() - t) / n


def main():
    for method, n, reps in (("fork", 200, 5), ("spawn", 10, 5), ("forkserver", 50, 5)):
        ctx = mp.get_context(method)
        per_op(ctx, 2)  # warm up (starts the forkserver)
        samples = [per_op(ctx, n) for _ in range(reps)]
        print(f"BENCH process_start/{method} {statistics.median(samples):.9f}", flush=True)


if __name__ == "__main__":
    main()
