"""CPython twin of benches/benches/shared_memory.rs (fork context, as BASELINE.md).

Prints one line per figure: BENCH group/name <seconds per op> (median of repetitions).
"""
import ctypes
import multiprocessing as mp
import time
from multiprocessing import shared_memory

ctx = mp.get_context('fork')
SIZE = 256 << 20


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def report(name, secs):
    print(f'BENCH {name} {secs:.6e}', flush=True)


def fill_twice(arr, out):
    addr = ctypes.addressof(arr)
    ctypes.memset(addr, 1, SIZE)  # first pass: page faults
    t = time.perf_counter()
    ctypes.memset(addr, 2, SIZE)
    out.value = time.perf_counter() - t


def child_fill():
    runs = []
    for _ in range(5):
        arr = ctx.RawArray(ctypes.c_ubyte, SIZE)
        out = ctx.RawValue('d', 0.0)
        p = ctx.Process(target=fill_twice, args=(arr, out))
        p.start()
        p.join()
        assert p.exitcode == 0 and arr[SIZE - 1] == 2
        runs.append(out.value)
        del arr
    report('array/child_fill_256mib', median(runs))


def memset():
    runs = []
    for _ in range(5):
        buf = bytearray(SIZE)
        c = (ctypes.c_char * SIZE).from_buffer(buf)
        addr = ctypes.addressof(c)
        ctypes.memset(addr, 1, SIZE)
        t = time.perf_counter()
        ctypes.memset(addr, 2, SIZE)
        runs.append(time.perf_counter() - t)
        del c, buf
    report('memset/256mib', median(runs))


def create_attach_unlink(n):
    for _ in range(n):
        shm = shared_memory.SharedMemory(create=True, size=4096)
        other = shared_memory.SharedMemory(shm.name)
        other.buf[0] = 1
        other.close()
        shm.close()
        shm.unlink()


def named():
    ts = []
    for _ in range(5):
        n = 2000
        t = time.perf_counter()
        create_attach_unlink(n)
        ts.append((time.perf_counter() - t) / n)
    report('shared_memory/create_attach_unlink_4k', median(ts))


if __name__ == '__main__':
    child_fill()
    memset()
    named()
