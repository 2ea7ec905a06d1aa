"""Helpers shared by the CPython twins of mp's benchmarks (not a benchmark itself:
compare.py runs the scripts named after a `benches/benches/<file>.rs`)."""
import statistics
import time


def median_time(fn, reps, per):
    """The median over `reps` runs of `fn` (which does `per` operations) of the time of one
    operation, in seconds."""
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) / per)
    return statistics.median(ts)
