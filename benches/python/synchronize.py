"""CPython twin of benches/benches/synchronize.rs (fork context, as BASELINE.md).

Prints one line per figure: BENCH group/name <seconds per op> (median of repetitions).
"""
import multiprocessing as mp
import os
import time

ctx = mp.get_context('fork')


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def per_op(fn, n, reps=7):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(n)
        ts.append((time.perf_counter() - t) / n)
    return median(ts)


def report(name, secs):
    print(f'BENCH {name} {secs:.6e}', flush=True)


def uncontended():
    for group, obj in (('lock', ctx.Lock()), ('rlock', ctx.RLock()),
                       ('semaphore', ctx.Semaphore(1))):
        def run(n, obj=obj):
            acq, rel = obj.acquire, obj.release
            for _ in range(n):
                acq()
                rel()
        report(f'{group}/acquire_release', per_op(run, 1_000_000))
        if group == 'lock':
            def guard(n, obj=obj):
                for _ in range(n):
                    with obj:
                        pass
            report('lock/guard', per_op(guard, 1_000_000))


def create():
    def lock(n):
        for _ in range(n):
            del_ = ctx.Lock()
            del del_
    report('create/lock', per_op(lock, 20_000))

    def value(n):
        for _ in range(n):
            v = ctx.Value('i', 0)
            del v
    report('create/value', per_op(value, 20_000))

    def many(n):
        for _ in range(n):
            vs = [ctx.Value('i', 0) for _ in range(10_000)]
            del vs
    report('create/10k_values', per_op(many, 1, reps=5))


def incr(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def two_processes():
    n = 200_000
    runs = []
    for _ in range(5):
        v = ctx.Value('i', 0)
        t = time.perf_counter()
        ps = [ctx.Process(target=incr, args=(v, n)) for _ in range(2)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        runs.append(time.perf_counter() - t)
        assert v.value == 2 * n, v.value
    report('value/2proc_200k_increments', median(runs))


def ponger(ping, reply, stop, pin):
    if pin:
        os.sched_setaffinity(0, {0})
    while True:
        ping.wait()
        ping.clear()
        if stop.value:
            return
        reply.set()


def ping_pong(name, pin):
    old = os.sched_getaffinity(0)
    if pin:
        os.sched_setaffinity(0, {0})
    ping, reply = ctx.Event(), ctx.Event()
    stop = ctx.Value('b', 0, lock=False)
    p = ctx.Process(target=ponger, args=(ping, reply, stop, pin))
    p.start()

    def run(n):
        for _ in range(n):
            ping.set()
            reply.wait()
            reply.clear()
    report(f'event/{name}', per_op(run, 2000, reps=5))
    stop.value = 1
    ping.set()
    p.join()
    os.sched_setaffinity(0, old)


if __name__ == '__main__':
    create()
    uncontended()
    two_processes()
    ping_pong('pingpong_pinned', True)
    ping_pong('pingpong', False)
