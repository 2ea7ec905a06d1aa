"""CPython baseline for benches/benches/queues.rs: Queue and SimpleQueue throughput.

One producer and one consumer (and two of each) pass small ints. The producers and consumers
are long-lived processes told how many items to handle, so that process start is not
measured. Prints one line per figure, `BENCH group/name <seconds per message>` (median of
several repetitions), with the ids of the criterion benchmarks.

    python3 benches/python/queues.py
"""

import multiprocessing as mp
import statistics
import time

N = 200_000
REPS = 5


def producer(ctl, q):
    while True:
        n = ctl.recv()
        if n == 0:
            return
        for i in range(n):
            q.put(i)


def consumer(ctl, q):
    while True:
        n = ctl.recv()
        if n == 0:
            return
        for _ in range(n):
            q.get()
        ctl.send(n)


def start(target, q):
    ours, theirs = mp.Pipe()
    p = mp.Process(target=target, args=(theirs, q))
    p.start()
    return ours, p


def stop(workers):
    for ctl, p in workers:
        ctl.send(0)
    for ctl, p in workers:
        p.join()


def one_to_one(make):
    q = make()
    prod = start(producer, q)
    times = []
    for _ in range(REPS):
        prod[0].send(N)
        t = time.perf_counter()
        for _ in range(N):
            q.get()
        times.append((time.perf_counter() - t) / N)
    stop([prod])
    return statistics.median(times)


def two_to_two(make):
    q = make()
    prods = [start(producer, q), start(producer, q)]
    cons = [start(consumer, q), start(consumer, q)]
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        for ctl, _ in cons + prods:
            ctl.send(N // 2)
        for ctl, _ in cons:
            ctl.recv()
        times.append((time.perf_counter() - t) / N)
    stop(prods + cons)
    return statistics.median(times)


def main():
    mp.set_start_method("fork")
    print(f"BENCH queue/1p1c_int {one_to_one(mp.Queue):.3e}", flush=True)
    print(f"BENCH simplequeue/1p1c_int {one_to_one(mp.SimpleQueue):.3e}", flush=True)
    print(f"BENCH queue/2p2c_int {two_to_two(mp.Queue):.3e}", flush=True)
    print(f"BENCH simplequeue/2p2c_int {two_to_two(mp.SimpleQueue):.3e}", flush=True)


if __name__ == "__main__":
    main()
