"""CPython baseline for benches/benches/managers.rs (BASELINE row 7).

Prints one line per figure: `BENCH manager/<name> <seconds per op>` (median of repetitions),
with the same ids as the criterion benchmarks.
"""
import multiprocessing as mp
import os
import queue
import statistics
import sys
import time
from multiprocessing.managers import BaseManager, SyncManager

_q = queue.Queue()


def get_queue():
    return _q


class QueueManager(BaseManager):
    pass


QueueManager.register("get_queue", callable=get_queue)


def median_per_op(fn, n, reps=7):
    per = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(n)
        per.append((time.perf_counter() - t0) / n)
    return statistics.median(per)


def report(name, secs):
    print(f"BENCH manager/{name} {secs:.9f}", flush=True)


def start_shutdown(method):
    ctx = mp.get_context(method)

    def run(n):
        for _ in range(n):
            m = SyncManager(ctx=ctx)
            m.start()
            m.shutdown()

    return run


def dict_ops(suffix):
    ctx = mp.get_context("fork")
    m = SyncManager(ctx=ctx)
    m.start()
    d = m.dict()
    d[1] = 1

    def set_(n):
        for i in range(n):
            d[i & 1023] = i

    def get_(n):
        for _ in range(n):
            d[1]

    report(f"dict_set{suffix}", median_per_op(set_, 2000))
    report(f"dict_get{suffix}", median_per_op(get_, 2000))
    m.shutdown()


def remote_queue():
    ctx = mp.get_context("fork")
    server = QueueManager(address=("127.0.0.1", 0), authkey=b"bench", ctx=ctx)
    server.start()
    client = QueueManager(address=server.address, authkey=b"bench")
    client.connect()
    q = client.get_queue()

    def run(n):
        for _ in range(n):
            q.put(7)
            q.get()

    report("queue_tcp_put_get", median_per_op(run, 1000))
    server.shutdown()


def main():
    for name, method in [
        ("start_shutdown", "fork"),
        ("start_shutdown_spawn", "spawn"),
        ("start_shutdown_forkserver", "forkserver"),
    ]:
        report(name, median_per_op(start_shutdown(method), 10, reps=5))
    dict_ops("")
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    dict_ops("_pinned")
    os.sched_setaffinity(0, old)
    remote_queue()


if __name__ == "__main__":
    sys.exit(main())
