//! CPython's manager protocol against the real `python3` (3.11): a Python `SyncManager`
//! client uses an mp manager server, and an mp client uses a Python manager server, with
//! every SyncManager typeid, keyword arguments, nested proxies, and Python's exceptions.
//!
//! Skipped (with a message) when `python3` is not installed.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use mp::managers::{BaseManager, DictProxy, ListProxy, QueueProxy, SyncManager, Value};
use mp::{ErrorKind, StartMethod};

mod python_util;
use python_util::{LONG, finish, have_python, python};

/// A Python SyncManager client exercising every typeid of an mp server.
const PY_CLIENT: &str = r#"
import sys, queue, threading, multiprocessing
from multiprocessing.managers import SyncManager, RemoteError, Namespace
host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
# Proxies that arrive inside values authenticate with the process's key (as in CPython).
multiprocessing.current_process().authkey = key
m = SyncManager(address=(host, port), authkey=key)
m.connect()

def raises(exc, f, *a, **k):
    try:
        f(*a, **k)
    except exc as e:
        return e
    raise SystemExit('%r did not raise %s' % (f, exc.__name__))

# dict, with every kind of plain data
plain = [1, -2, 2.5, 'x', b'y', None, True, (1, 2), {3, 4}, frozenset([5]), 2**100, -2**90, [[]], {'k': (1,)}]
d = m.dict({'a': 1}, z=26)
d['b'] = plain
got = d['b']
assert got == [1, -2, 2.5, 'x', b'y', None, True, (1, 2), {3, 4}, {5}, 2**100, -2**90, [[]], {'k': (1,)}], got
assert d['z'] == 26
assert d.get('zz') is None and d.get('zz', 5) == 5 and d.get(key='a') == 1
raises(KeyError, lambda: d['missing'])
raises(TypeError, d.__setitem__, [1], 2)
d.update(c=3)
d.update({'e': 5}, f=6)
assert d['c'] == 3 and d['f'] == 6
assert sorted(d.keys()) == ['a', 'b', 'c', 'e', 'f', 'z'], d.keys()
assert len(d) == 6 and 'a' in d and 'q' not in d
assert d.pop('e') == 5 and d.setdefault('g', 7) == 7
assert d._getvalue()['a'] == 1
assert str(d).startswith('{') and repr(d).startswith('<DictProxy')
# A class instance is not plain data: refused, nothing crashes.
class Foo: pass
e = raises(RemoteError, d.__setitem__, 'f', Foo())
assert 'not plain data' in str(e), e
assert d['a'] == 1

# list
l = m.list([3, 1, 2])
l.append(0)
l.sort()
assert l[:] == [0, 1, 2, 3], l[:]
l.sort(reverse=True)
assert list(l) == [3, 2, 1, 0]
assert l[1:3] == [2, 1]
raises(IndexError, lambda: l[10])
raises(ValueError, l.remove, 99)
raises(ValueError, l.index, 99)
l += [7]
assert l[-1] == 7 and len(l) == 5 and l.count(7) == 1 and l.index(7) == 4
assert l.pop() == 7 and l.pop(0) == 3

# nested proxies: a list inside a dict
d['l'] = l
inner = d['l']
inner.append(42)
assert l[-1] == 42, l[:]

# Queue, JoinableQueue
q = m.Queue()
q.put(5)
q.put(item=6)
assert q.get(timeout=1) == 5 and q.get(True, 1) == 6
raises(queue.Empty, q.get, timeout=0.05)
raises(queue.Empty, q.get_nowait)
q1 = m.Queue(1)
q1.put(1)
raises(queue.Full, q1.put, 2, timeout=0.05)
raises(queue.Full, q1.put_nowait, 2)
assert q1.full() and q1.qsize() == 1 and q.empty()
jq = m.JoinableQueue()
jq.put('t')
assert jq.get() == 't'
jq.task_done()
jq.join()
raises(ValueError, jq.task_done)
# An AutoProxy inside a container: the queue, reached through the dict
d['q'] = q
d['q'].put('via dict')
assert q.get(timeout=1) == 'via dict'

# Namespace
ns = m.Namespace(x=1)
ns.y = 'z'
assert ns.x == 1 and ns.y == 'z'
del ns.x
raises(AttributeError, lambda: ns.x)
v = ns._getvalue()
assert isinstance(v, Namespace) and v.y == 'z', v

# Lock, RLock, Semaphore, BoundedSemaphore
lk = m.Lock()
assert lk.acquire()
assert lk.acquire(timeout=0.05) is False
assert lk.acquire(False) is False
lk.release()
with lk:
    pass
rl = m.RLock()
assert rl.acquire() and rl.acquire()
rl.release(); rl.release()
s = m.Semaphore(2)
assert s.acquire() and s.acquire() and not s.acquire(False)
s.release()
assert s.acquire(timeout=1)
bs = m.BoundedSemaphore(1)
raises(ValueError, bs.release)

# Condition, Event, Barrier
c = m.Condition()
with c:
    c.notify()
    assert c.wait(0.05) is False
    c.notify_all()
    assert c.wait_for(lambda: True, 0.05)
ev = m.Event()
assert not ev.is_set() and ev.wait(0.01) is False
ev.set()
assert ev.is_set() and ev.wait(1)
ev.clear()
b = m.Barrier(1)
assert b.wait() == 0 and b.parties == 1 and b.n_waiting == 0 and not b.broken
b2 = m.Barrier(2)
raises(threading.BrokenBarrierError, b2.wait, 0.05)
assert b2.broken

# Value, Array
v = m.Value('i', 7)
assert v.value == 7
v.value = 8
assert v.get() == 8
a = m.Array('i', [1, 2, 3])
assert len(a) == 3 and a[0] == 1
a[0] = 9
assert a[0] == 9 and a[:] == [9, 2, 3], a[:]

# An unknown method: RemoteError with the server's message
e = raises(RemoteError, d._callmethod, 'no_such_method')
assert 'no_such_method' in str(e), e
# A keyword the method does not take
raises(TypeError, q.get, foo=1)

# Bad input on a raw connection: garbage, a truncated pickle, code to run. Each gets a
# '#TRACEBACK' reply and the connection goes on serving.
import os, pickle
from multiprocessing.connection import Client
class Evil:
    def __reduce__(self):
        return (os.system, ('touch /tmp/mp-pickle-evil',))
c = Client((host, port), authkey=key)
good = pickle.dumps((None, 'dummy', (), {}))
for junk in [b'\x80\x04garbage', good[:-3], pickle.dumps((None, 'create', ('dict', Evil()), {}))]:
    c.send_bytes(junk)
    kind, text = c.recv()
    assert kind == '#TRACEBACK', (kind, text)
c.send_bytes(good)
assert c.recv() == ('#RETURN', None)
c.close()
assert not os.path.exists('/tmp/mp-pickle-evil')

# A wrong authkey is refused.
import multiprocessing
bad = SyncManager(address=(host, port), authkey=b'wrong')
raises(multiprocessing.AuthenticationError, bad.connect)
print('ok', flush=True)
"#;

fn python_client_against(method: StartMethod) {
    let key = b"python-interop";
    let m = SyncManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(key)
        .start_method(method)
        .start()
        .unwrap();
    let Some(mp::connection::Address::Tcp(addr)) = m.address() else {
        panic!("not a TCP address");
    };
    let port = addr.port().to_string();
    let (ok, out, err) = finish(python(
        PY_CLIENT,
        &["127.0.0.1", &port, std::str::from_utf8(key).unwrap()],
    ));
    assert!(
        ok && out.trim() == "ok",
        "{method}: stdout {out}\nstderr {err}"
    );
    // The Python client's proxies are gone: it gave every reference back.
    let deadline = Instant::now() + LONG;
    while m.number_of_objects().unwrap() != 0 {
        assert!(Instant::now() < deadline, "{}", m.debug_info().unwrap());
        std::thread::sleep(Duration::from_millis(10));
    }
    m.shutdown().unwrap();
}

#[test]
fn a_python_client_uses_every_typeid_of_an_mp_server() {
    if !have_python() {
        return;
    }
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        python_client_against(method);
    }
}

/// A CPython SyncManager server (with the seeds' `get_task_queue` registered too), serving
/// in the foreground until a client sends `shutdown`. Prints its port.
const PY_SERVER: &str = r#"
import sys, queue
from multiprocessing.managers import SyncManager
tasks = queue.Queue()
def get_task_queue():
    return tasks
class Foo:
    pass
class Holder:
    def plain(self):
        return [1, 'two']
    def weird(self):
        return Foo()
SyncManager.register('get_task_queue', callable=get_task_queue)
SyncManager.register('Holder', callable=Holder)
m = SyncManager(address=('127.0.0.1', 0), authkey=sys.argv[1].encode())
s = m.get_server()
print(s.address[1], flush=True)
s.serve_forever()
"#;

/// A Python SyncManager server with key `abc`, and an mp client connected to it.
fn python_sync_manager() -> (Child, u16, SyncManager) {
    let (child, port) = python_server("abc");
    let m = SyncManager::builder()
        .address(("127.0.0.1", port))
        .authkey(b"abc")
        .connect()
        .unwrap();
    (child, port, m)
}

fn python_server(key: &str) -> (Child, u16) {
    let mut child = python(PY_SERVER, &[key]);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port from python3: {line:?}"));
    (child, port)
}

#[test]
fn an_mp_client_uses_a_python_server() {
    if !have_python() {
        return;
    }
    let (child, port, m) = python_sync_manager();

    // dict and list, with plain data of every kind
    let d: DictProxy<String, Value> = m.dict().unwrap();
    d.set("a", 1).unwrap();
    let plain = Value::List(vec![
        Value::from(-2),
        Value::from(2.5),
        Value::from("x"),
        Value::Bytes(b"y".to_vec()),
        Value::None,
        Value::from(true),
        Value::from((1, 2)),
        Value::set([Value::from(3), Value::from(4)]).unwrap(),
        Value::Int(1 << 100),
    ]);
    d.set("b", plain.clone()).unwrap();
    assert_eq!(d.get_item("b").unwrap(), plain);
    assert_eq!(d.get("zz").unwrap(), None);
    assert_eq!(d.get_item("zz").unwrap_err().kind(), ErrorKind::Key);
    assert_eq!(d.len().unwrap(), 2);
    assert!(d.contains("a").unwrap());
    assert_eq!(d.pop("a").unwrap(), Value::from(1));

    let l: ListProxy<i64> = m.list().unwrap();
    l.extend([3, 1, 2]).unwrap();
    l.sort().unwrap();
    assert_eq!(l.copy().unwrap(), vec![1, 2, 3]);
    assert_eq!(l.get(10).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(l.remove(&99).unwrap_err().kind(), ErrorKind::Value);
    assert_eq!(l.pop().unwrap(), 3);

    // a proxy inside a container, read back as a proxy
    d.set("l", Value::from(&l)).unwrap();
    let inner: ListProxy<i64> = d.get_as("l").unwrap();
    inner.append(42).unwrap();
    assert_eq!(l.copy().unwrap(), vec![1, 2, 42]);
    drop(inner);

    // queues
    let q: QueueProxy<String> = m.queue(1).unwrap();
    q.put("t".into()).unwrap();
    assert_eq!(
        q.put_nowait("u".into()).unwrap_err().kind(),
        ErrorKind::Full
    );
    assert_eq!(q.get_timeout(LONG).unwrap(), "t");
    assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
    assert_eq!(
        q.get_timeout(Duration::from_millis(50)).unwrap_err().kind(),
        ErrorKind::Empty
    );
    let jq = m.joinable_queue::<i32>(0).unwrap();
    jq.put(1).unwrap();
    assert_eq!(jq.get().unwrap(), 1);
    jq.task_done().unwrap();
    jq.join().unwrap();
    assert_eq!(jq.task_done().unwrap_err().kind(), ErrorKind::Value);
    // An AutoProxy inside a container of the Python server, read back as a queue proxy.
    d.set("q", Value::from(&q)).unwrap();
    let q2: QueueProxy<String> = d.get_as("q").unwrap();
    q2.put("via dict".into()).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), "via dict");
    drop(q2);
    d.remove("q").unwrap();

    // a registered typeid of the Python server
    let base = BaseManager::builder()
        .address(("127.0.0.1", port))
        .authkey(b"abc")
        .register_remote::<QueueProxy<i64>>("get_task_queue")
        .connect()
        .unwrap();
    let tasks: QueueProxy<i64> = base.create("get_task_queue", ()).unwrap();
    tasks.put(7).unwrap();
    assert_eq!(tasks.get_timeout(LONG).unwrap(), 7);

    // A Python object that is not plain data is a clear error, and the channel goes on.
    let holder: mp::managers::NamespaceProxy = m.create("Holder", ()).unwrap();
    assert_eq!(
        holder.base().call_method("plain", ()).unwrap(),
        Value::List(vec![Value::from(1), Value::from("two")])
    );
    let e = holder.base().call_method("weird", ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization, "{e}");
    assert!(e.to_string().contains("__main__.Foo"), "{e}");
    assert_eq!(
        holder.base().call_method("plain", ()).unwrap().to_string(),
        "[1, 'two']"
    );
    drop(holder);

    // Namespace
    let ns = m.namespace().unwrap();
    ns.set("x", 5).unwrap();
    assert_eq!(ns.get::<i32>("x").unwrap(), 5);
    ns.del("x").unwrap();
    assert!(ns.get::<i32>("x").is_err());

    // locks and friends
    let lock = m.lock().unwrap();
    lock.acquire().unwrap();
    assert!(!lock.acquire_timeout(Duration::from_millis(50)).unwrap());
    lock.release().unwrap();
    let rlock = m.rlock().unwrap();
    rlock.acquire().unwrap();
    rlock.acquire().unwrap();
    rlock.release().unwrap();
    rlock.release().unwrap();
    let sem = m.semaphore(1).unwrap();
    assert!(sem.try_acquire().unwrap());
    assert!(!sem.try_acquire().unwrap());
    sem.release().unwrap();
    let bsem = m.bounded_semaphore(1).unwrap();
    assert_eq!(bsem.release().unwrap_err().kind(), ErrorKind::Value);
    let ev = m.event().unwrap();
    assert!(!ev.is_set().unwrap());
    ev.set().unwrap();
    assert!(ev.wait_timeout(LONG).unwrap());
    let cond = m.condition().unwrap();
    cond.acquire().unwrap();
    cond.notify_all().unwrap();
    assert!(!cond.wait_timeout(Duration::from_millis(50)).unwrap());
    cond.release().unwrap();
    let bar = m.barrier(1).unwrap();
    assert_eq!(bar.wait().unwrap(), 0);
    assert_eq!(bar.parties().unwrap(), 1);
    assert!(!bar.broken().unwrap());

    // Value and Array
    let v = m.value::<i32>("i", 7).unwrap();
    assert_eq!(v.get().unwrap(), 7);
    v.set(8).unwrap();
    assert_eq!(v.get().unwrap(), 8);
    let a = m.array::<i32>("i", vec![1, 2, 3]).unwrap();
    assert_eq!(a.len().unwrap(), 3);
    a.set(0, 9).unwrap();
    assert_eq!(a.get(0).unwrap(), 9);

    // Every proxy is gone: the Python server holds nothing but the registered queue.
    drop((
        d, l, q, jq, tasks, ns, lock, rlock, sem, bsem, ev, cond, bar, v, a,
    ));
    assert_eq!(m.number_of_objects().unwrap(), 0);
    drop((m, base));
    stop(child);
}

/// Stops a Python server (a connected manager has no `shutdown`, as in CPython).
fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[mp::task]
fn put_twice(q: QueueProxy<i64>, n: i64) {
    q.put(n).unwrap();
    // A clone takes a reference of its own on the Python server, and gives it back.
    let again = q.clone();
    again.put(n + 100).unwrap();
}

#[mp::test]
fn a_proxy_of_a_python_server_goes_to_a_child_under_every_start_method() {
    if !have_python() {
        return;
    }
    let (child, _, m) = python_sync_manager();
    let base = m.number_of_objects().unwrap();
    for (n, method) in mp::get_all_start_methods().into_iter().enumerate() {
        let n = n as i64;
        let q: QueueProxy<i64> = m.queue(0).unwrap();
        let mine = q.clone();
        // `q` is moved: the child's reference travels with it.
        let p = mp::Process::builder(put_twice, (q, n))
            .start_method(method)
            .start()
            .unwrap();
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{method}");
        assert_eq!(mine.get_timeout(LONG).unwrap(), n, "{method}");
        assert_eq!(mine.get_timeout(LONG).unwrap(), n + 100, "{method}");
        drop(mine);
        // The child gave back every reference it had.
        assert_eq!(m.number_of_objects().unwrap(), base, "{method}");
    }
    drop(m);
    stop(child);
}
