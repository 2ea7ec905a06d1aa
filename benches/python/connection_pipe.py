"""CPython baseline for benches/benches/connection_pipe.rs (same ids, same work).

python3 benches/python/connection_pipe.py
Prints `BENCH group/name <seconds per op>` (median of several repetitions).
"""
import multiprocessing as mp
import os
import statistics
import time
from multiprocessing.connection import Client, Listener

mp.set_start_method('fork', force=True)
REPS = 5


def median(f, n):
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        f(n)
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times)


def echo(conn):
    while True:
        v = conn.recv()
        if v is None:
            break
        conn.send(v)


def roundtrip(name, pinned):
    old = os.sched_getaffinity(0)
    if pinned:
        os.sched_setaffinity(0, {0})
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()

    def run(n):
        for i in range(n):
            a.send(i)
            a.recv()
    run(1000)
    print(f'BENCH pipe/{name} {median(run, 20000):.9f}', flush=True)
    a.send(None)
    p.join()
    os.sched_setaffinity(0, old)


def pinger(ctrl, conn):
    while True:
        n = ctrl.recv()
        if n is None:
            conn.send(None)
            break
        for i in range(n):
            conn.send(i)
            conn.recv()
        ctrl.send(n)


def pairs(n_pairs):
    """`n_pairs` independent ping-pong pairs of processes at once (2 * n_pairs processes,
    unpinned). One iteration is one round trip of every pair; total round trips per second
    are n_pairs / (seconds per iteration)."""
    ctrls, procs = [], []
    for _ in range(n_pairs):
        a, b = mp.Pipe()
        c1, c2 = mp.Pipe()
        procs += [mp.Process(target=echo, args=(b,)), mp.Process(target=pinger, args=(c2, a))]
        ctrls.append(c1)
    for p in procs:
        p.start()

    def run(n):
        for c in ctrls:
            c.send(n)
        for c in ctrls:
            c.recv()
    run(200)
    print(f'BENCH pipe/pairs_{n_pairs} {median(run, 5000):.9f}', flush=True)
    for c in ctrls:
        c.send(None)
    for p in procs:
        p.join()


def raw_roundtrip(name, use_socket):
    """The floor: 8-byte round trips with bare send/recv (read/write) on a SOCK_SEQPACKET
    socketpair or two os.pipe()s, both processes on CPU 0 (same ids as the Rust references)."""
    import socket
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    if use_socket:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pr = pw = a.fileno()
        cr = cw = b.fileno()
    else:
        cr, pw = os.pipe()
        pr, cw = os.pipe()
    pid = os.fork()
    if pid == 0:
        while True:
            buf = os.read(cr, 8)
            if len(buf) != 8 or buf == b'\xff' * 8:
                os._exit(0)
            os.write(cw, buf)
    msg = b'\x01' * 8

    def run(n):
        for _ in range(n):
            os.write(pw, msg)
            os.read(pr, 8)
    run(1000)
    print(f'BENCH pipe/{name} {median(run, 20000):.9f}', flush=True)
    os.write(pw, b'\xff' * 8)
    os.waitpid(pid, 0)
    if use_socket:
        a.close()
        b.close()
    else:
        for fd in (cr, pw, pr, cw):
            os.close(fd)
    os.sched_setaffinity(0, old)


def sink(conn, size):
    buf = bytearray(size)
    while True:
        n = conn.recv()
        if n == 0:
            break
        for _ in range(n):
            conn.recv_bytes_into(buf)
        conn.send(n)


def throughput(name, size, n, pinned=False):
    old = os.sched_getaffinity(0)
    if pinned:
        os.sched_setaffinity(0, {0})
    a, b = mp.Pipe()
    p = mp.Process(target=sink, args=(b, size))
    p.start()
    msg = b'\x07' * size

    def run(k):
        a.send(k)
        for _ in range(k):
            a.send_bytes(msg)
        assert a.recv() == k
    run(10)
    print(f'BENCH pipe/{name} {median(run, n):.9f}', flush=True)
    a.send(0)
    p.join()
    os.sched_setaffinity(0, old)


def typed_sink(conn):
    while True:
        n = conn.recv()
        if n == 0:
            break
        for _ in range(n):
            conn.recv()
        conn.send(n)


def send_vec():
    a, b = mp.Pipe()
    p = mp.Process(target=typed_sink, args=(b,))
    p.start()
    msg = b'\x07' * (1 << 20)

    def run(k):
        a.send(k)
        for _ in range(k):
            a.send(msg)
        assert a.recv() == k
    run(10)
    print(f'BENCH pipe/send_vec_1mib {median(run, 300):.9f}', flush=True)
    a.send(0)
    p.join()


def server(listener):
    while True:
        conn = listener.accept()
        try:
            if conn.recv_bytes() == b'stop':
                break
        except EOFError:
            pass


def connect_auth(name, pinned):
    import threading
    old = os.sched_getaffinity(0)
    if pinned:
        os.sched_setaffinity(0, {0})
    listener = Listener(authkey=b'bench key')
    t = threading.Thread(target=server, args=(listener,))
    t.start()

    def run(n):
        for _ in range(n):
            Client(listener.address, authkey=b'bench key').close()
    run(20)
    print(f'BENCH listener/{name} {median(run, 300):.9f}', flush=True)
    c = Client(listener.address, authkey=b'bench key')
    c.send_bytes(b'stop')
    t.join()
    listener.close()
    os.sched_setaffinity(0, old)


def echo_client(address):
    conn = Client(address, authkey=b'k')
    while True:
        b = conn.recv_bytes()
        if not b:
            break
        conn.send_bytes(b)


def socket_roundtrip(name, address):
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    listener = Listener(address, authkey=b'k')
    p = mp.Process(target=echo_client, args=(listener.address,))
    p.start()
    conn = listener.accept()
    buf = bytearray(64)

    def run(n):
        for _ in range(n):
            conn.send_bytes(b'ping-ping')
            conn.recv_bytes_into(buf)
    run(1000)
    print(f'BENCH listener/{name} {median(run, 20000):.9f}', flush=True)
    conn.send_bytes(b'')
    p.join()
    listener.close()
    os.sched_setaffinity(0, old)


if __name__ == '__main__':
    roundtrip('roundtrip_u64_pinned', True)
    raw_roundtrip('raw_socketpair_roundtrip_pinned', True)
    raw_roundtrip('raw_pipe_roundtrip_pinned', False)
    roundtrip('roundtrip_u64', False)
    throughput('send_bytes_1mib', 1 << 20, 300)
    throughput('send_bytes_1mib_pinned', 1 << 20, 300, pinned=True)
    throughput('send_bytes_64b', 64, 100000)
    send_vec()
    connect_auth('connect_auth', False)
    connect_auth('connect_auth_pinned', True)
    socket_roundtrip('roundtrip_unix_pinned', f'/tmp/mp-bench-py-{os.getpid()}.sock')
    socket_roundtrip('roundtrip_tcp_pinned', ('127.0.0.1', 0))
    for n in (2, 4, 8):
        pairs(n)
