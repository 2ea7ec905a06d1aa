# The Python side of the `python_sync_manager` example: connects to the mp program's manager,
# takes its shared dict and queue, and works with them as with any SyncManager's proxies.
import sys
from multiprocessing.managers import SyncManager

class PeerManager(SyncManager):
    pass

PeerManager.register('get_dict')
PeerManager.register('get_queue')

port, authkey = int(sys.argv[1]), sys.argv[2].encode()
m = PeerManager(address=('127.0.0.1', port), authkey=authkey)
m.connect()
d = m.get_dict()
q = m.get_queue()
print('python: the dict holds', sorted(d.keys()))
while True:
    job = q.get(timeout=10)
    if job is None:
        break
    d[job] = len(job)
    print('python: counted', repr(job))
d['done by'] = 'python %d.%d' % sys.version_info[:2]
