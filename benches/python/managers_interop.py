"""A CPython SyncManager client's round trips, against a CPython server or an mp server.

    python3 benches/python/managers_interop.py cpython        # starts a CPython server
    python3 benches/python/managers_interop.py mp PORT [KEY]  # an mp SyncManager on
                                                              # 127.0.0.1:PORT, authkey KEY
The client is the same Python code in both cases: the figures compare the servers.
"""
import sys
import time
from multiprocessing.managers import SyncManager


def main():
    if sys.argv[1] == 'cpython':
        m = SyncManager(address=('127.0.0.1', 0), authkey=b'k')
        m.start()
    else:
        key = sys.argv[3].encode() if len(sys.argv) > 3 else b'k'
        m = SyncManager(address=('127.0.0.1', int(sys.argv[2])), authkey=key)
        m.connect()
    d = m.dict({'k': 1})
    q = m.Queue()
    for name, f in [('dict get', lambda: d['k']),
                    ('queue put+get', lambda: (q.put(1), q.get()))]:
        for _ in range(200):
            f()
        n = 3000
        t = time.perf_counter()
        for _ in range(n):
            f()
        print(sys.argv[1], name, '%.1f us' % ((time.perf_counter() - t) / n * 1e6))


if __name__ == '__main__':
    main()
