"""CPython baseline for benches/benches/aio.rs (same ids, same work): asyncio awaiting
multiprocessing objects the way asyncio programs do it.

python3 benches/python/aio.py
Prints `BENCH group/name <seconds per op>` (median of several repetitions).

- aio/pipe_roundtrip_tokio(_pinned): conn.send, then a future resolved by a reader callback on
  the connection's descriptor (loop.add_reader), then conn.recv;
- aio/queue_roundtrip_tokio: q.put, then `await loop.run_in_executor(None, q.get)`;
- aio/pool_apply_await: `await loop.run_in_executor(ProcessPoolExecutor(2), square, x)`.
"""
import asyncio
import multiprocessing as mp
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

mp.set_start_method('fork', force=True)
REPS = 5


def echo_pipe(conn):
    while True:
        v = conn.recv()
        if v is None:
            break
        conn.send(v)


def echo_queue(qin, qout):
    while True:
        v = qin.get()
        if v is None:
            break
        qout.put(v)


def square(x):
    return x * x


async def readable(loop, fd):
    fut = loop.create_future()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_reader(fd)


def median_async(make_run, n):
    async def main():
        run = make_run()
        await run(min(n, 500))  # warm-up
        times = []
        for _ in range(REPS):
            t = time.perf_counter()
            await run(n)
            times.append((time.perf_counter() - t) / n)
        return statistics.median(times)
    return asyncio.run(main())


def pipe(name, pinned):
    old = os.sched_getaffinity(0)
    if pinned:
        os.sched_setaffinity(0, {0})
    a, b = mp.Pipe()
    p = mp.Process(target=echo_pipe, args=(b,))
    p.start()

    def make_run():
        loop = asyncio.get_running_loop()

        async def run(n):
            for i in range(n):
                a.send(i)
                if not a.poll():
                    await readable(loop, a.fileno())
                a.recv()
        return run
    print(f'BENCH aio/{name} {median_async(make_run, 5000):.9f}', flush=True)
    a.send(None)
    p.join()
    os.sched_setaffinity(0, old)


def queue():
    qin, qout = mp.Queue(), mp.Queue()
    p = mp.Process(target=echo_queue, args=(qin, qout))
    p.start()

    def make_run():
        loop = asyncio.get_running_loop()

        async def run(n):
            for i in range(n):
                qin.put(i)
                await loop.run_in_executor(None, qout.get)
        return run
    print(f'BENCH aio/queue_roundtrip_tokio {median_async(make_run, 2000):.9f}', flush=True)
    qin.put(None)
    p.join()


def pool():
    ex = ProcessPoolExecutor(2)

    def make_run():
        loop = asyncio.get_running_loop()

        async def run(n):
            for i in range(n):
                await loop.run_in_executor(ex, square, i)
        return run
    print(f'BENCH aio/pool_apply_await {median_async(make_run, 1000):.9f}', flush=True)
    ex.shutdown()


if __name__ == '__main__':
    pipe('pipe_roundtrip_tokio', False)
    pipe('pipe_roundtrip_tokio_pinned', True)
    queue()
    pool()
