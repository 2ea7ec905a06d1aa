"""CPython baseline for benches/benches/dummy_managers.rs: multiprocessing.dummy.Manager().

In CPython, `multiprocessing.dummy.Manager()` returns the dummy module itself: `m.dict()` is
a plain dict, `m.Queue()` a `queue.Queue`, `m.Lock()` a `threading.Lock`. Prints one line per
figure, `BENCH dummy_manager/<name> <seconds per operation>` (median of several repetitions),
with the ids of the criterion benchmarks.

    python3 benches/python/dummy_managers.py
"""

import os
from multiprocessing.dummy import Manager, Process

from benchlib import median_time

N = 100_000


def report(name, secs):
    print(f"BENCH dummy_manager/{name} {secs:.9f}", flush=True)


def main():
    m = Manager()

    def create():
        for _ in range(10_000):
            d = m.dict()
            del d
    report("dict_create", median_time(create, 7, 10_000))

    d = m.dict()

    def dict_set():
        for i in range(N):
            d[i & 1023] = i
    report("dict_set", median_time(dict_set, 7, N))

    def dict_get():
        for _ in range(N):
            assert d[1] > 0
    report("dict_get", median_time(dict_get, 7, N))

    sd = m.dict()
    keys = [f"key-{i}" for i in range(1024)]

    def dict_set_str():
        for i in range(N):
            sd[keys[i & 1023]] = "value"
    report("dict_set_str", median_time(dict_set_str, 7, N))

    def list_append():
        lst = m.list()
        for i in range(N):
            lst.append(i)
    report("list_append", median_time(list_append, 7, N))

    lst = m.list(range(1024))

    def list_get():
        for i in range(N):
            assert lst[i & 1023] >= 0
    report("list_get", median_time(list_get, 7, N))

    ns = m.Namespace()
    ns.x = 1

    def namespace_get():
        for _ in range(N):
            assert ns.x == 1
    report("namespace_get", median_time(namespace_get, 7, N))

    q = m.Queue()

    def queue_put_get():
        for i in range(N):
            q.put(i)
            assert q.get() == i
    report("queue_put_get", median_time(queue_put_get, 7, N))

    lock = m.Lock()

    def lock_loop():
        for _ in range(N):
            lock.acquire()
            lock.release()
    report("lock_acquire_release", median_time(lock_loop, 7, N))

    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    inq, outq = m.Queue(), m.Queue()

    def echo():
        while True:
            x = inq.get()
            outq.put(x)
            if x < 0:
                return
    p = Process(target=echo)
    p.daemon = True
    p.start()
    r = 2000

    def rounds():
        for i in range(r):
            inq.put(i)
            assert outq.get() == i
    report("queue_roundtrip_pinned", median_time(rounds, 7, r))
    inq.put(-1)
    outq.get()
    p.join()
    os.sched_setaffinity(0, old)


if __name__ == "__main__":
    main()
