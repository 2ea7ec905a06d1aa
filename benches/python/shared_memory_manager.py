"""CPython baseline for benches/benches/shared_memory_manager.rs: creating segments through a
SharedMemoryManager.

Prints one line per figure: `BENCH shared_memory_manager/<name> <seconds per op>` (median of
repetitions), with the same ids as the criterion benchmarks.
"""
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.managers import SharedMemoryManager


def median_per_op(make, n, reps=7):
    per = []
    for _ in range(reps):
        # A fresh manager per repetition (not timed); its shutdown unlinks the segments.
        smm = SharedMemoryManager(ctx=mp.get_context("fork"))
        smm.start()
        keep = []
        t0 = time.perf_counter()
        for _ in range(n):
            keep.append(make(smm))
        per.append((time.perf_counter() - t0) / n)
        for k in keep:
            (k.shm if hasattr(k, "shm") else k).close()
        smm.shutdown()
    return statistics.median(per)


def report(name, secs):
    print(f"BENCH shared_memory_manager/{name} {secs:.9f}", flush=True)


def main():
    report("shared_memory_4k", median_per_op(lambda smm: smm.SharedMemory(size=4096), 300))
    report("shareable_list_10", median_per_op(lambda smm: smm.ShareableList(range(10)), 300))


if __name__ == "__main__":
    sys.exit(main())
