"""CPython baseline for benches/benches/dummy.rs: multiprocessing.dummy (threads).

The thread pool (`ThreadPool`), thread queues (`queue.Queue`), the in-memory `Pipe` and a
`threading.Lock`. Prints one line per figure, `BENCH dummy/<name> <seconds per operation>`
(median of several repetitions), with the ids of the criterion benchmarks.

    python3 benches/python/dummy.py
"""

import os
from multiprocessing.dummy import Lock, Pipe, Pool, Process, Queue

from benchlib import median_time


def ident(x):
    return x


def noop():
    pass


def report(name, secs):
    print(f"BENCH dummy/{name} {secs:.9f}", flush=True)


def echo(inq, outq):
    while True:
        x = inq.get()
        outq.put(x)
        if x is None:
            return


def queue_roundtrips(name, n=2000):
    inq, outq = Queue(), Queue()
    p = Process(target=echo, args=(inq, outq))
    p.daemon = True
    p.start()

    def rounds():
        for i in range(n):
            inq.put(i)
            outq.get()

    report(name, median_time(rounds, 7, n))
    inq.put(None)
    outq.get()
    p.join()


def pipe_echo(conn):
    while True:
        x = conn.recv()
        conn.send(x)
        if x is None:
            return


def pipe_roundtrips(name, n=2000):
    here, there = Pipe()
    p = Process(target=pipe_echo, args=(there,))
    p.daemon = True
    p.start()

    def rounds():
        for i in range(n):
            here.send(i)
            here.recv()

    report(name, median_time(rounds, 7, n))
    here.send(None)
    here.recv()
    p.join()


def produce(q, n):
    for i in range(n):
        q.put(i)


def one_to_one(n=200_000):
    q = Queue()
    p = Process(target=produce, args=(q, n))
    p.start()
    for _ in range(n):
        q.get()
    p.join()


def main():
    with Pool(2) as p:
        report("threadpool_map_200k_default_chunksize",
               median_time(lambda: p.map(ident, range(200_000)), 7, 200_000))
        report("threadpool_map_20k_chunksize1",
               median_time(lambda: p.map(ident, range(20_000), chunksize=1), 5, 20_000))

        def apply_async_5000():
            rs = [p.apply_async(noop, ()) for _ in range(5000)]
            for r in rs:
                r.get()
        report("threadpool_apply_async_5000_noop", median_time(apply_async_5000, 5, 5000))
        report("threadpool_apply_sequential_noop",
               median_time(lambda: [p.apply(noop, ()) for _ in range(200)], 7, 200))

    def lifetime():
        p = Pool(2)
        p.apply(noop, ())
        p.close()
        p.join()
    report("threadpool_create_apply_close_join", median_time(lifetime, 9, 1))

    report("queue_1to1_200k", median_time(one_to_one, 5, 200_000))
    queue_roundtrips("queue_roundtrip")
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    queue_roundtrips("queue_roundtrip_pinned")
    pipe_roundtrips("pipe_roundtrip_pinned")
    os.sched_setaffinity(0, old)
    pipe_roundtrips("pipe_roundtrip")

    lock = Lock()

    def lock_loop(n=100_000):
        for _ in range(n):
            lock.acquire()
            lock.release()
    report("lock_acquire_release", median_time(lock_loop, 7, 100_000))


if __name__ == "__main__":
    main()
