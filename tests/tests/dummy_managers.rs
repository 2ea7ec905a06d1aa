//! `mp::dummy::Manager()` (CONFORMANCE section 17: "`dummy.Manager()` returns the module"),
//! with the behaviours of section 14 that apply to threads: managed containers (list, dict,
//! Namespace, nesting, queues), the synchronization types used from other threads, proxies
//! as handles, leaks (`number_of_objects`), and a parity test — one program compiled against
//! `mp::Manager()` and against `mp::dummy::Manager()` must print the same transcript.
//!
//! The dummy module has no start methods: its "processes" are threads. The parity test runs
//! the mp half under the default start method and, for the Python docs' `Manager` program, under each of them.

use std::time::{Duration, Instant};

use mp::ErrorKind;
use mp::dummy::managers::{
    DictProxy, JoinableQueueProxy, ListProxy, NamespaceProxy, QueueProxy, SyncManager, Value,
    from_value,
};
use mp::dummy::{Manager, Process};

const LONG: Duration = Duration::from_secs(60);

fn run<F, A>(f: F, args: A)
where
    F: mp::process::Target<A> + Send + 'static,
    F::Output: mp::process::ProcessOutput,
    A: Send + 'static,
{
    let p = Process::new(f, args);
    p.start().unwrap();
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0), "the thread failed");
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

#[mp::task]
fn fill_and_reverse(d: DictProxy, l: ListProxy) -> mp::Result<()> {
    d.set(1, "1")?;
    d.set("2", 2)?;
    d.set(0.25, Value::None)?;
    l.reverse()
}

#[test]
fn docs_dict_and_list_filled_by_a_thread() {
    let m = Manager().unwrap();
    let d: DictProxy = m.dict().unwrap();
    let l: ListProxy = m.list_from(0..10).unwrap();
    run(fill_and_reverse, (d.clone(), l.clone()));
    assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
    assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    // The same task in a thread pool worker (the arguments are moved, never encoded).
    let pool = mp::dummy::Pool::new(2).unwrap();
    d.clear().unwrap();
    pool.apply(fill_and_reverse, (d.clone(), l.clone()))
        .unwrap();
    assert_eq!(d.to_string(), "{1: '1', '2': 2, 0.25: None}");
    assert_eq!(l.to_string(), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    pool.close().unwrap();
    pool.join().unwrap();
}

#[test]
fn list_proxy_slicing_extend_mul_add_and_independence() {
    let m = Manager().unwrap();
    let a: ListProxy<i64> = m.list_from(0..10).unwrap();
    let b: ListProxy<i64> = m.list_from([5]).unwrap();
    assert_eq!(a.slice(2..5).unwrap(), [2, 3, 4]);
    assert_eq!(a.slice(-3..).unwrap(), [7, 8, 9]);
    assert_eq!(a.slice(..).unwrap().len(), 10);
    assert_eq!(a.get(-1).unwrap(), 9);
    b.extend([6, 7]).unwrap();
    assert_eq!(b.copy().unwrap(), [5, 6, 7]);
    b.imul(2).unwrap();
    assert_eq!(b.copy().unwrap(), [5, 6, 7, 5, 6, 7]);
    assert_eq!(b.add([8]).unwrap(), [5, 6, 7, 5, 6, 7, 8]);
    assert_eq!(b.len().unwrap(), 6); // `+` returned a list, b unchanged
    assert_eq!(b.mul(2).unwrap().len(), 12);
    assert_eq!(a.len().unwrap(), 10); // operations on b did not touch a
    assert_eq!(b.count(&5).unwrap(), 2);
    assert_eq!(b.index(&7).unwrap(), 2);
    b.sort().unwrap();
    assert_eq!(b.copy().unwrap(), [5, 5, 6, 6, 7, 7]);
    b.reverse().unwrap();
    assert_eq!(b.pop().unwrap(), 5);
    assert_eq!(b.pop_at(0).unwrap(), 7);
    b.set_slice(1..3, [1, 2, 3]).unwrap();
    assert_eq!(b.copy().unwrap(), [7, 1, 2, 3, 5]);
    b.del_slice(..2).unwrap();
    b.del(-1).unwrap();
    assert_eq!(b.copy().unwrap(), [2, 3]);
    b.insert(0, 1).unwrap();
    assert!(b.contains(&3).unwrap() && !b.contains(&9).unwrap());
    b.clear().unwrap();
    assert_eq!(b.pop().unwrap_err().kind(), ErrorKind::Index);
    let e = b.get(0).unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Index, "list index out of range")
    );
    assert_eq!(b.remove(&1).unwrap_err().kind(), ErrorKind::Value);
    assert_eq!(b.index(&1).unwrap_err().kind(), ErrorKind::Value);
    // A heterogeneous list refuses to sort, and stays as it was.
    let h: ListProxy = m.list_from([Value::from(1), Value::from("a")]).unwrap();
    assert_eq!(h.sort().unwrap_err().kind(), ErrorKind::Type);
    assert_eq!(h.to_string(), "[1, 'a']");
    // Python's equality: 1 == 1.0 == True.
    let n: ListProxy = m
        .list_from([Value::from(1), Value::from(1.0), Value::Bool(true)])
        .unwrap();
    assert_eq!(n.count(&1).unwrap(), 3);
    // A typed proxy refuses items of another type (Python's TypeError), and loses nothing.
    let s: ListProxy<String> = from_value(Value::from(&h)).unwrap();
    assert_eq!(s.get(0).unwrap_err().kind(), ErrorKind::Type);
    assert_eq!(s.get(1).unwrap(), "a");
}

#[test]
fn list_iteration_sees_live_changes_and_stays_exhausted() {
    let m = Manager().unwrap();
    let l: ListProxy<i32> = m.list_from([1, 2]).unwrap();
    let mut it = l.iter();
    assert_eq!(it.next().unwrap().unwrap(), 1);
    l.append(3).unwrap(); // seen: iteration goes through __getitem__
    assert_eq!(it.next().unwrap().unwrap(), 2);
    assert_eq!(it.next().unwrap().unwrap(), 3);
    assert!(it.next().is_none());
    l.append(4).unwrap();
    assert!(it.next().is_none()); // an exhausted iterator stays exhausted
}

#[test]
fn nested_list_proxies_print_and_share_their_referent() {
    let m = Manager().unwrap();
    let a: ListProxy = m.list().unwrap();
    let b: ListProxy = m.list().unwrap();
    a.append(&b).unwrap();
    let shown = a.to_string();
    assert!(
        shown.starts_with("[<ListProxy object, typeid 'list' at 0x") && shown.ends_with(">]"),
        "{shown}"
    );
    assert_eq!(b.to_string(), "[]");
    b.append("hello").unwrap();
    let inner: ListProxy = a.get_as(0).unwrap();
    assert_eq!(inner.to_string(), "['hello']");
    assert_eq!(inner.base().token().id(), b.base().token().id());
    assert_eq!(inner.base().token(), b.base().token());
    inner.append("again").unwrap(); // same referent
    assert_eq!(b.len().unwrap(), 2);
    let Value::Proxy(r) = a.get(0).unwrap() else {
        panic!("not a proxy")
    };
    assert_eq!((r.typeid(), r.proxytype()), ("list", "ListProxy"));
    // A list of dict proxies.
    let outer: ListProxy = m
        .list_from([
            Value::from(&m.dict::<Value, Value>().unwrap()),
            Value::from(&m.dict::<Value, Value>().unwrap()),
        ])
        .unwrap();
    let first: DictProxy<String, i32> = outer.get_as(0).unwrap();
    first.set("a", 1).unwrap();
    first.set("b", 2).unwrap();
    let second: DictProxy<String, i32> = outer.get_as(1).unwrap();
    second.set("c", 3).unwrap();
    second.set("z", 26).unwrap();
    assert_eq!(
        outer.get_as::<DictProxy>(0).unwrap().to_string(),
        "{'a': 1, 'b': 2}"
    );
    assert_eq!(
        outer.get_as::<DictProxy>(1).unwrap().to_string(),
        "{'c': 3, 'z': 26}"
    );
    // Reading an item as a proxy of another type is a clear error.
    let e = outer.get_as::<ListProxy>(0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
    assert!(e.message().contains("is not a `list` object"), "{e}");
    let e = outer.get_as::<ListProxy>(-5).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Index);
    let plain: ListProxy = m.list_from([1]).unwrap();
    let e = plain.get_as::<ListProxy>(0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
    assert!(e.message().contains("expected a proxy, found a int"), "{e}");
}

#[test]
fn a_list_can_contain_itself_and_be_freed_once_the_item_is_removed() {
    let m = Manager().unwrap();
    let a: ListProxy = m.list().unwrap();
    a.append(&a).unwrap();
    assert!(a.to_string().starts_with("[<ListProxy object"));
    let again: ListProxy = a.get_as(0).unwrap();
    assert_eq!(again.base().token(), a.base().token());
    assert!(a.contains(&a).unwrap());
    drop(again);
    assert_eq!(m.number_of_objects().unwrap(), 1);
    a.remove(&a).unwrap(); // deleting breaks the cycle
    assert!(a.is_empty().unwrap());
    drop(a);
    assert_eq!(m.number_of_objects().unwrap(), 0);
    // Left in place, the cycle keeps the list alive (as mp's server does until shutdown).
    let b: ListProxy = m.list().unwrap();
    b.append(&b).unwrap();
    drop(b);
    assert_eq!(m.number_of_objects().unwrap(), 1);
}

#[test]
fn dict_proxy_methods_mirror_the_dict() {
    let m = Manager().unwrap();
    let d: DictProxy<String, i32> = m.dict_from([("a", 1), ("b", 2)]).unwrap();
    assert_eq!(d.get_item(&"a").unwrap(), 1);
    assert_eq!(d.get(&"zz").unwrap(), None);
    assert_eq!(d.get_item(&"zz").unwrap_err().kind(), ErrorKind::Key);
    assert_eq!(d.get_item(&"zz").unwrap_err().message(), "'zz'");
    assert_eq!(d.keys().unwrap(), ["a", "b"]);
    assert_eq!(d.values().unwrap(), [1, 2]);
    assert_eq!(d.items().unwrap(), [("a".into(), 1), ("b".into(), 2)]);
    let copy: std::collections::HashMap<String, i32> = d.copy().unwrap().into_iter().collect();
    assert_eq!(copy.len(), 2);
    d.update([("c".to_string(), 3)]).unwrap();
    assert_eq!(d.setdefault("c", 9).unwrap(), 3);
    assert_eq!(d.setdefault("d", 4).unwrap(), 4);
    assert_eq!(d.pop(&"d").unwrap(), 4);
    assert_eq!(d.pop(&"d").unwrap_err().kind(), ErrorKind::Key);
    assert_eq!(d.popitem().unwrap(), ("c".to_string(), 3));
    d.remove(&"a").unwrap();
    assert!(!d.contains(&"a").unwrap());
    assert_eq!(d.len().unwrap(), 1);
    d.clear().unwrap();
    let e = d.popitem().unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Key, "'popitem(): dictionary is empty'")
    );
    // Unhashable keys are a TypeError, in the dynamic mode, and at creation.
    let dd: DictProxy = m.dict().unwrap();
    assert_eq!(
        dd.set(Value::from(vec![1]), 1).unwrap_err().kind(),
        ErrorKind::Type
    );
    assert_eq!(
        m.dict_from::<Value, Value, _, _>([(Value::from(vec![1]), Value::None)])
            .unwrap_err()
            .kind(),
        ErrorKind::Type
    );
    // A typed proxy refuses values of another type.
    dd.set("x", "not a number").unwrap();
    let typed: DictProxy<String, i32> = from_value(Value::from(&dd)).unwrap();
    assert_eq!(typed.get_item(&"x").unwrap_err().kind(), ErrorKind::Type);
    // reversed() and `|`.
    let v: Vec<Value> = dd.base().call_method_as("__reversed__", ()).unwrap();
    assert_eq!(v, [Value::from("x")]);
    let merged = dd.base().call_method("__or__", (vec![(1, 2)],)).unwrap();
    assert_eq!(merged.to_string(), "{'x': 'not a number', 1: 2}");
    assert_eq!(dd.len().unwrap(), 1); // `|` returned a dict
    dd.base().call_method("__ior__", (vec![(1, 2)],)).unwrap();
    assert_eq!(dd.len().unwrap(), 2); // `|=` updated it
    // Float keys, as in the Python docs' program, and Python's key equality.
    let f: DictProxy<f64, String> = m.dict().unwrap();
    f.set(1.0, "one").unwrap();
    assert_eq!(d.len().unwrap(), 0);
    let dynamic: DictProxy = from_value(Value::from(&f)).unwrap();
    assert_eq!(dynamic.get_item(&1).unwrap(), Value::from("one"));
    assert_eq!(dynamic.get_item(&true).unwrap(), Value::from("one"));
}

#[test]
fn nested_dict_proxies_keep_their_referents_alive() {
    // CPython's _TestContainers.test_dict_proxy_nested.
    let m = Manager().unwrap();
    let pets: DictProxy<String, i32> = m.dict_from([("ferrets", 2), ("hamsters", 4)]).unwrap();
    let supplies: DictProxy<String, i32> = m.dict_from([("water", 10), ("feed", 3)]).unwrap();
    let d: DictProxy = m.dict().unwrap();
    d.set("pets", &pets).unwrap();
    d.set("supplies", &supplies).unwrap();
    assert_eq!(m.number_of_objects().unwrap(), 3);
    assert_eq!(supplies.get_item(&"water").unwrap(), 10);
    let inner = |k: &str| d.get_as::<DictProxy<String, i32>, _>(k).unwrap();
    assert_eq!(inner("supplies").get_item(&"water").unwrap(), 10);
    inner("supplies").set("blankets", 5).unwrap();
    assert_eq!(supplies.get_item(&"blankets").unwrap(), 5);
    inner("supplies").set("water", 7).unwrap();
    assert_eq!(supplies.get_item(&"water").unwrap(), 7);
    drop(pets);
    drop(supplies);
    assert_eq!(m.number_of_objects().unwrap(), 3); // the dict holds them
    assert_eq!(inner("pets").get_item(&"ferrets").unwrap(), 2);
    inner("supplies").set("blankets", 11).unwrap();
    assert_eq!(inner("supplies").get_item(&"blankets").unwrap(), 11);
    let pets = inner("pets");
    let supplies = inner("supplies");
    d.clear().unwrap();
    assert_eq!(d.len().unwrap(), 0);
    assert_eq!(supplies.get_item(&"water").unwrap(), 7);
    assert_eq!(pets.get_item(&"hamsters").unwrap(), 4);
    let l: ListProxy<DictProxy<String, i32>> =
        m.list_from([pets.clone(), supplies.clone()]).unwrap();
    l.get(0).unwrap().set("marmots", 1).unwrap();
    assert_eq!(pets.get_item(&"marmots").unwrap(), 1);
    drop(pets);
    drop(supplies);
    assert_eq!(l.get(0).unwrap().get_item(&"marmots").unwrap(), 1);
    // A plain nested list comes back as a list, not a proxy.
    let outer: ListProxy = m
        .list_from([Value::from(vec![88, 99]), Value::from(&l)])
        .unwrap();
    assert_eq!(outer.get(0).unwrap(), Value::from(vec![88, 99]));
    let last: ListProxy<DictProxy<String, i32>> = outer.get_as(-1).unwrap();
    assert_eq!(last.get(-1).unwrap().get_item(&"feed").unwrap(), 3);
    drop(last);
    // d, l (in outer), pets and supplies (in l), outer.
    assert_eq!(m.number_of_objects().unwrap(), 5);
    drop(l);
    outer.clear().unwrap();
    assert_eq!(m.number_of_objects().unwrap(), 2);
    drop((d, outer));
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

#[mp::task]
fn put_through_nested(l: ListProxy) -> mp::Result<()> {
    let q: QueueProxy<String> = l.get_as(0)?;
    q.put("through the list".into())
}

#[test]
fn a_queue_stored_in_a_list_works_through_the_nested_proxy() {
    let m = Manager().unwrap();
    let q = m.queue::<String>(0).unwrap();
    let l: ListProxy = m.list().unwrap();
    l.append(&q).unwrap();
    run(put_through_nested, (l.clone(),));
    assert_eq!(q.get_timeout(LONG).unwrap(), "through the list");
    let d: DictProxy = m.dict().unwrap();
    d.set("q", &q).unwrap();
    let q2: QueueProxy<String> = d.get_as(&"q").unwrap();
    q2.put("x".into()).unwrap();
    assert_eq!(q.get().unwrap(), "x");
    assert!(
        d.to_string()
            .starts_with("{'q': <AutoProxy[Queue] object, typeid 'Queue' at 0x")
    );
}

#[mp::task]
fn read_namespace(ns: NamespaceProxy) -> mp::Result<()> {
    if ns.get::<i32>("x")? != 10 || ns.get::<String>("y")? != "hello" {
        return Err(mp::Error::new(ErrorKind::Value, "wrong attributes"));
    }
    ns.set("from_thread", true)
}

#[test]
fn namespace_public_attributes_are_shared_private_ones_stay_with_the_proxy() {
    let m = Manager().unwrap();
    let g = m.namespace().unwrap();
    g.set("x", 10).unwrap();
    g.set("y", "hello").unwrap();
    g.set("_z", 12.3).unwrap();
    assert_eq!(g.to_string(), "Namespace(x=10, y='hello')");
    run(read_namespace, (g.clone(),));
    assert!(g.get::<bool>("from_thread").unwrap());
    g.del("from_thread").unwrap();
    let e = g.del("from_thread").unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (
            ErrorKind::Key,
            "'Namespace' object has no attribute 'from_thread'"
        )
    );
    assert_eq!(g.get::<f64>("_z").unwrap(), 12.3);
    // `_z` belongs to the proxy: a proxy read back from a container does not see it.
    let holder: ListProxy = m.list().unwrap();
    holder.append(&g).unwrap();
    let other: NamespaceProxy = holder.get_as(0).unwrap();
    assert_eq!(other.get::<i32>("x").unwrap(), 10);
    assert_eq!(other.get::<f64>("_z").unwrap_err().kind(), ErrorKind::Key);
    let mut names = g.names().unwrap();
    names.sort();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(g.get::<String>("x").unwrap_err().kind(), ErrorKind::Type);
}

#[mp::task]
fn drain(q: QueueProxy<i32>, out: ListProxy<i32>) -> mp::Result<()> {
    for _ in 0..3 {
        out.append(q.get()?)?;
    }
    Ok(())
}

#[test]
fn bounded_queue_is_fifo_across_threads() {
    let m = Manager().unwrap();
    let q = m.queue::<i32>(2).unwrap();
    assert!(q.empty().unwrap());
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(q.full().unwrap());
    assert_eq!(q.qsize().unwrap(), 2);
    assert_eq!(q.put_nowait(3).unwrap_err().kind(), ErrorKind::Full);
    let t0 = Instant::now();
    assert_eq!(
        q.put_timeout(3, Duration::from_millis(100))
            .unwrap_err()
            .kind(),
        ErrorKind::Full
    );
    assert!(t0.elapsed() >= Duration::from_millis(90));
    let out: ListProxy<i32> = m.list().unwrap();
    let p = Process::new(drain, (q.clone(), out.clone()));
    p.start().unwrap();
    q.put_timeout(3, LONG).unwrap(); // room is made by the thread
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(out.copy().unwrap(), [1, 2, 3]);
    assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
    let t0 = Instant::now();
    assert_eq!(
        q.get_timeout(Duration::from_millis(50)).unwrap_err().kind(),
        ErrorKind::Empty
    );
    assert!(t0.elapsed() >= Duration::from_millis(45));
    // Any serializable item; a typed view of the same queue.
    let dynamic: QueueProxy = from_value(Value::from(&q)).unwrap();
    dynamic.put(Value::from("not an int")).unwrap();
    assert_eq!(q.get().unwrap_err().kind(), ErrorKind::Type);
}

#[mp::task]
fn consume_and_ack(q: JoinableQueueProxy<i32>) -> mp::Result<()> {
    for _ in 0..2 {
        q.get()?;
        q.task_done()?;
    }
    Ok(())
}

#[test]
fn joinable_queue_join_waits_for_task_done_in_a_thread() {
    let m = Manager().unwrap();
    let q = m.joinable_queue::<i32>(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    let p = Process::new(consume_and_ack, (q.clone(),));
    p.start().unwrap();
    q.join().unwrap();
    assert!(q.empty().unwrap());
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    let e = q.task_done().unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Value, "task_done() called too many times")
    );
}

#[test]
fn value_and_array_proxies() {
    let m = Manager().unwrap();
    let v = m.value("i", 0i64).unwrap();
    v.set(v.get().unwrap() + 5).unwrap();
    assert_eq!(v.get().unwrap(), 5);
    assert_eq!(v.to_string(), "Value('i', 5)");
    let a = m.array("d", vec![0.5, 1.5]).unwrap();
    assert_eq!(a.len().unwrap(), 2);
    a.set(-1, 2.5).unwrap();
    assert_eq!(a.to_vec().unwrap(), [0.5, 2.5]);
    assert_eq!(a.to_string(), "array('d', [0.5, 2.5])");
    assert_eq!(a.set(2, 0.0).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(v.base().get_value().unwrap(), Value::from(5));
}

#[test]
fn call_method_and_get_value_are_callmethod_and_getvalue() {
    let m = Manager().unwrap();
    let l: ListProxy = m.list_from(0..10).unwrap();
    assert_eq!(
        l.base().call_method("__len__", ()).unwrap(),
        Value::from(10)
    );
    assert_eq!(
        l.base()
            .call_method("__getitem__", (Value::slice(2, 7),))
            .unwrap(),
        Value::from(vec![2, 3, 4, 5, 6])
    );
    let e = l.base().call_method("__getitem__", (20,)).unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Index, "list index out of range")
    );
    // Not exposed: a RemoteError.
    let e = l.base().call_method("__class__", ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(
        e.message()
            .starts_with("method '__class__' of list object is not in the exposed list")
    );
    // Wrong arguments: a TypeError, as the server gives.
    let e = l.base().call_method("append", ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
    assert_eq!(
        l.base().get_value().unwrap(),
        Value::from((0..10).collect::<Vec<_>>())
    );
    assert!(format!("{l:?}").starts_with("<ListProxy object, typeid 'list' at 0x"));
    assert_eq!(format!("{:?}", l.base()), format!("{l:?}"));
    assert_eq!(l.base().to_string(), l.to_string());
    let exposed = l.base().exposed().unwrap();
    assert!(exposed.iter().any(|m| m == "append"));
    // Locks cannot be copied out.
    let lock = m.lock().unwrap();
    assert_eq!(
        lock.base().get_value().unwrap_err().kind(),
        ErrorKind::NotImplemented
    );
    assert_eq!(lock.to_string(), "<unlocked _thread.lock object>");
    assert_eq!(
        lock.base().call_method("acquire", (false,)).unwrap(),
        Value::Bool(true)
    );
    assert_eq!(lock.to_string(), "<locked _thread.lock object>");
}

// ---------------------------------------------------------------------------------------------
// Synchronization types used from other threads (TestSyncManagerTypes)
// ---------------------------------------------------------------------------------------------

#[mp::task]
fn lock_in_thread(
    l: mp::dummy::managers::LockProxy,
    r: mp::dummy::managers::RLockProxy,
) -> mp::Result<()> {
    // The main thread holds `l`: a Lock may be released by anyone.
    if l.try_acquire()? {
        return Err(mp::Error::new(ErrorKind::Value, "lock was free"));
    }
    l.release()?;
    l.acquire()?;
    l.release()?;
    r.acquire()?;
    r.acquire()?;
    r.release()?;
    r.release()
}

#[test]
fn lock_and_rlock_work_from_a_thread() {
    let m = Manager().unwrap();
    let l = m.lock().unwrap();
    let r = m.rlock().unwrap();
    l.acquire().unwrap();
    assert!(l.locked().unwrap());
    run(lock_in_thread, (l.clone(), r.clone()));
    assert!(!l.locked().unwrap());
    let e = l.release().unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Runtime, "release unlocked lock")
    );
    assert_eq!(r.release().unwrap_err().kind(), ErrorKind::Runtime);
    let t0 = Instant::now();
    l.acquire().unwrap();
    assert!(!l.acquire_timeout(Duration::from_millis(100)).unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(90));
    // An RLock belongs to the thread that acquired it.
    r.acquire().unwrap();
    let r2 = r.clone();
    let other =
        std::thread::spawn(move || (r2.try_acquire().unwrap(), r2.release().unwrap_err().kind()));
    assert_eq!(other.join().unwrap(), (false, ErrorKind::Runtime));
    assert!(r.locked().unwrap());
    r.release().unwrap();
    assert!(!r.locked().unwrap());
}

#[mp::task]
fn take_one(
    s: mp::dummy::managers::SemaphoreProxy,
    b: mp::dummy::managers::BoundedSemaphoreProxy,
) -> mp::Result<()> {
    s.acquire()?;
    b.acquire()?;
    b.release()
}

#[test]
fn semaphores_from_a_thread() {
    let m = Manager().unwrap();
    let s = m.semaphore(2).unwrap();
    let b = m.bounded_semaphore(1).unwrap();
    run(take_one, (s.clone(), b.clone()));
    assert!(s.try_acquire().unwrap()); // 2 - 1 (thread) - 1 (here)
    assert!(!s.try_acquire().unwrap());
    assert!(s.locked().unwrap());
    let t0 = Instant::now();
    assert!(!s.acquire_timeout(Duration::from_millis(50)).unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(45));
    s.release().unwrap();
    s.release().unwrap();
    s.release().unwrap(); // unbounded: may go above its start
    let e = b.release().unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Value, "Semaphore released too many times")
    );
}

#[mp::task]
fn notify_after_setting(
    c: mp::dummy::managers::ConditionProxy,
    state: ListProxy<i32>,
) -> mp::Result<()> {
    c.acquire()?;
    state.append(1)?;
    c.notify_all()?;
    c.release()
}

#[test]
fn condition_wait_for_a_thread_notify() {
    let m = Manager().unwrap();
    let c = m.condition().unwrap();
    let state: ListProxy<i32> = m.list().unwrap();
    c.acquire().unwrap();
    let p = Process::new(notify_after_setting, (c.clone(), state.clone()));
    p.start().unwrap();
    let ok = c
        .wait_for(|| state.len().unwrap_or(0) == 1, Some(LONG))
        .unwrap();
    assert!(ok);
    c.release().unwrap();
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    let e = c.wait().unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Runtime, "cannot wait on un-acquired lock")
    );
    assert_eq!(c.notify(1).unwrap_err().kind(), ErrorKind::Runtime);
    // notify(n) wakes exactly n of the waiters.
    let entered: ListProxy<i32> = m.list().unwrap();
    let woken: ListProxy<i32> = m.list().unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (c, entered, woken) = (c.clone(), entered.clone(), woken.clone());
            std::thread::spawn(move || {
                c.acquire().unwrap();
                entered.append(i).unwrap();
                let ok = c.wait_timeout(LONG).unwrap();
                woken.append(i).unwrap();
                c.release().unwrap();
                ok
            })
        })
        .collect();
    // A waiter holds the lock from `entered.append` until `wait` releases it: once all three
    // entered and the lock is free again, all three sleep in `wait`.
    assert!(mp_tests::wait_until(LONG, || entered.len().unwrap() == 3));
    c.acquire().unwrap();
    c.notify(2).unwrap();
    c.release().unwrap();
    assert!(mp_tests::wait_until(LONG, || woken.len().unwrap() == 2));
    assert_eq!(woken.len().unwrap(), 2, "notify(2) woke more than two");
    c.acquire().unwrap();
    c.notify_all().unwrap();
    c.release().unwrap();
    for w in waiters {
        assert!(w.join().unwrap());
    }
    assert_eq!(woken.len().unwrap(), 3);
}

#[mp::task]
fn set_event(e: mp::dummy::managers::EventProxy) -> mp::Result<()> {
    e.set()
}

#[test]
fn event_set_by_a_thread() {
    let m = Manager().unwrap();
    let e = m.event().unwrap();
    assert!(!e.is_set().unwrap());
    let t0 = Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(100)).unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(90));
    let p = Process::new(set_event, (e.clone(),));
    p.start().unwrap();
    assert!(e.wait_timeout(LONG).unwrap());
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    e.wait().unwrap();
    e.clear().unwrap();
    assert!(!e.is_set().unwrap());
}

#[mp::task]
fn meet(b: mp::dummy::managers::BarrierProxy) -> mp::Result<usize> {
    b.wait_timeout(LONG)
}

#[test]
fn barrier_between_threads() {
    let m = Manager().unwrap();
    assert_eq!(m.barrier(0).unwrap_err().kind(), ErrorKind::Value);
    let b = m.barrier(3).unwrap();
    assert_eq!(b.parties().unwrap(), 3);
    let pool = mp::dummy::Pool::new(2).unwrap();
    let r1 = pool.apply_async(meet, (b.clone(),)).unwrap();
    let r2 = pool.apply_async(meet, (b.clone(),)).unwrap();
    let i = b.wait_timeout(LONG).unwrap();
    let mut all = vec![
        i,
        r1.get_timeout(LONG).unwrap(),
        r2.get_timeout(LONG).unwrap(),
    ];
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2]);
    // A timeout breaks the barrier for everyone.
    assert_eq!(
        b.wait_timeout(Duration::from_millis(50))
            .unwrap_err()
            .kind(),
        ErrorKind::BrokenBarrier
    );
    assert!(b.broken().unwrap());
    b.reset().unwrap();
    assert!(!b.broken().unwrap());
    assert_eq!(b.n_waiting().unwrap(), 0);
    b.abort().unwrap();
    assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
    pool.close().unwrap();
    pool.join().unwrap();
}

#[mp::task]
fn add_many(
    total: mp::dummy::managers::ValueProxy<i64>,
    lock: mp::dummy::managers::LockProxy,
    counts: DictProxy<String, i64>,
    n: i64,
) -> mp::Result<()> {
    for _ in 0..n {
        lock.acquire()?;
        let r = total.get().and_then(|v| total.set(v + 1));
        lock.release()?;
        r?;
        // Without the lock: the dict's own lock keeps each call whole, not the pair.
        let name = mp::dummy::current_process().name();
        counts.set(name.clone(), counts.get(&name)?.unwrap_or(0) + 1)?;
    }
    Ok(())
}

#[test]
fn many_threads_update_shared_objects_under_a_managed_lock() {
    let m = Manager().unwrap();
    let total = m.value("q", 0i64).unwrap();
    let lock = m.lock().unwrap();
    let counts: DictProxy<String, i64> = m.dict().unwrap();
    let ps: Vec<Process> = (0..8)
        .map(|i| {
            Process::builder(add_many, (total.clone(), lock.clone(), counts.clone(), 250))
                .name(format!("adder-{i}"))
                .build()
        })
        .collect();
    for p in &ps {
        p.start().unwrap();
    }
    for p in &ps {
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(total.get().unwrap(), 2000);
    assert_eq!(counts.len().unwrap(), 8);
    assert!(counts.values().unwrap().iter().all(|&c| c == 250));
}

// ---------------------------------------------------------------------------------------------
// Proxies as handles
// ---------------------------------------------------------------------------------------------

#[test]
fn proxies_travel_through_dummy_connections_and_queues_as_the_same_object() {
    let m = Manager().unwrap();
    let d: DictProxy<String, i32> = m.dict().unwrap();
    let (a, b) = mp::dummy::Pipe(true).unwrap();
    a.send(&(d.clone(), m.lock().unwrap())).unwrap();
    let (d2, l2): (DictProxy<String, i32>, mp::dummy::managers::LockProxy) = b.recv().unwrap();
    d2.set("via pipe", 1).unwrap();
    assert_eq!(d.get_item(&"via pipe").unwrap(), 1);
    assert_eq!(d2.base().token(), d.base().token());
    assert!(l2.try_acquire().unwrap());
    // The receiver may read it with other type parameters, as with mp's proxies.
    a.send(&d).unwrap();
    let dynamic: DictProxy = b.recv().unwrap();
    assert_eq!(dynamic.get_item(&"via pipe").unwrap(), Value::from(1));
    a.send(&d).unwrap();
    let e = b.recv::<ListProxy>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization);
    assert!(e.to_string().contains("is not a `list` object"), "{e}");
    // A dummy queue moves the proxy.
    let q = mp::dummy::Queue::new(0).unwrap();
    q.put(d.clone()).unwrap();
    q.get().unwrap().set("via queue", 2).unwrap();
    assert_eq!(d.len().unwrap(), 2);
    // A managed queue of proxies: converted to references and back.
    let mq = m.queue::<DictProxy<String, i32>>(0).unwrap();
    mq.put(d.clone()).unwrap();
    mq.get().unwrap().set("via managed queue", 3).unwrap();
    assert_eq!(d.len().unwrap(), 3);
    drop((d2, l2, dynamic));
    drop(mq);
    drop(d);
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

#[mp::test]
fn proxies_cannot_cross_to_another_process_and_say_so() {
    let m = Manager().unwrap();
    let l: ListProxy = m.list().unwrap();
    // Through an mp Connection: a serialization error, nothing sent.
    let (a, b) = mp::Pipe(true).unwrap();
    let e = a.send(&l).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization);
    assert!(e.to_string().contains("mp::dummy"), "{e}");
    a.send(&1u8).unwrap();
    assert_eq!(b.recv::<u8>().unwrap(), 1);
    // Encoded inside a `Value` (the codec keeps only the id): reading it back is a clear
    // error, not a dangling reference.
    let (x, y) = mp::dummy::Pipe(true).unwrap();
    x.send(&Value::List(vec![Value::from(&l)])).unwrap();
    let v: Value = y.recv().unwrap();
    let Value::List(items) = v else {
        panic!("not a list")
    };
    let e = from_value::<ListProxy>(items[0].clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type);
    assert!(e.message().contains("send the proxy itself"), "{e}");
    // A real manager's proxies are the same type: a reference read back is a proxy on the
    // same object, wherever it lives.
    let real = mp::managers::SyncManager::builder()
        .start_method(mp::StartMethod::Fork)
        .start()
        .unwrap();
    let rl: mp::managers::ListProxy = real.list().unwrap();
    let rl2 = from_value::<ListProxy>(Value::from(&rl)).unwrap();
    rl2.append(1).unwrap();
    assert_eq!(rl.len().unwrap(), 1);
    let l2: mp::managers::ListProxy = from_value(Value::from(&l)).unwrap();
    l2.append(2).unwrap();
    assert_eq!(l.to_string(), "[2]");
    // A dummy proxy stored in a real manager's list comes back as a reference only.
    rl.append(&l).unwrap();
    let e = rl.get_as::<ListProxy>(1).unwrap_err();
    assert!(e.message().contains("send the proxy itself"), "{e}");
    real.shutdown().unwrap();
}

#[test]
fn the_manager_has_nothing_to_start_or_stop() {
    let m = SyncManager::new();
    m.start().unwrap();
    m.start().unwrap();
    m.connect().unwrap();
    assert_eq!((m.address(), m.pid()), (None, None));
    let l: ListProxy<i32> = m.list_from([1]).unwrap();
    let m2 = m.clone();
    let d: DictProxy = m2.dict().unwrap();
    assert_eq!(m.number_of_objects().unwrap(), 2); // clones are the same manager
    m.shutdown().unwrap();
    m.shutdown().unwrap();
    // The objects work after shutdown (CPython's dummy objects are plain objects).
    l.append(2).unwrap();
    d.set(1, 2).unwrap();
    assert_eq!(l.copy().unwrap(), [1, 2]);
    let other = Manager().unwrap();
    assert_eq!(other.number_of_objects().unwrap(), 0);
    drop((l, d));
    assert_eq!(m.number_of_objects().unwrap(), 0);
    assert!(format!("{m:?}").contains("SyncManager"));
    // Errors coming back hold no reference to the objects (TestManagerExceptions).
    let q = m.queue::<i32>(0).unwrap();
    let nested: ListProxy = m.list().unwrap();
    nested.append(&q).unwrap();
    let errors = [
        q.get_nowait().unwrap_err(),
        q.get_timeout(Duration::from_millis(1)).unwrap_err(),
        nested.get_as::<DictProxy>(0).unwrap_err(),
        nested.base().call_method("nope", ()).unwrap_err(),
    ];
    drop((q, nested));
    assert_eq!(m.number_of_objects().unwrap(), 0);
    assert_eq!(errors.len(), 4);
    // Many objects: dead ones are pruned as new ones come.
    for _ in 0..1000 {
        let _ = m.event().unwrap();
    }
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Parity: one program, compiled against mp::Manager() and mp::dummy::Manager()
// ---------------------------------------------------------------------------------------------

macro_rules! same_program {
    ($name:ident, $($api:ident)::+) => {
        mod $name {
            use std::time::Duration;

            use $($api)::+::{Manager, Process};
            use $($api)::+::managers::{
                BarrierProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy,
                ListProxy, LockProxy, NamespaceProxy, QueueProxy, SyncManager, Value,
                ValueProxy, from_value, to_value,
            };

            use super::LONG;

            #[mp::task]
            pub(crate) fn fill(d: DictProxy, l: ListProxy) -> mp::Result<()> {
                d.set(1, "1")?;
                d.set("2", 2)?;
                d.set(0.25, Value::None)?;
                l.reverse()
            }

            #[mp::task]
            pub(crate) fn worker(
                q: JoinableQueueProxy<i64>,
                squares: ListProxy<i64>,
                total: ValueProxy<i64>,
                lock: LockProxy,
            ) -> mp::Result<()> {
                loop {
                    let x = q.get()?;
                    if x < 0 {
                        return q.task_done();
                    }
                    squares.append(x * x)?;
                    lock.acquire()?;
                    let r = total.get().and_then(|t| total.set(t + x));
                    lock.release()?;
                    r?;
                    q.task_done()?;
                }
            }

            #[mp::task]
            pub(crate) fn notifier(c: ConditionProxy, ns: NamespaceProxy, go: EventProxy) -> mp::Result<()> {
                go.wait()?;
                c.acquire()?;
                ns.set("ready", true)?;
                c.notify_all()?;
                c.release()
            }

            #[mp::task]
            pub(crate) fn party(b: BarrierProxy) -> mp::Result<()> {
                b.wait_timeout(LONG).map(drop)
            }

            #[mp::task]
            pub(crate) fn through_nested(d: DictProxy) -> mp::Result<()> {
                let q: QueueProxy<String> = d.get_as(&"queue")?;
                q.put("hello through the dict".into())
            }

            fn started(p: &Process) -> mp::Result<()> {
                p.start()?;
                Ok(())
            }

            fn joined(p: &Process) -> mp::Result<String> {
                p.join_timeout(LONG)?;
                Ok(format!("{:?}", p.exitcode()))
            }

            fn err(e: mp::Error) -> String {
                format!("{:?}: {}", e.kind(), e.message())
            }

            /// The program: everything it observes goes into the transcript.
            pub(crate) fn run() -> mp::Result<Vec<String>> {
                let mut log = Vec::new();
                let m: SyncManager = Manager()?;

                // --- the Python docs' program ---
                let d: DictProxy = m.dict()?;
                let l: ListProxy = m.list_from(0..10)?;
                let p = Process::new(fill, (d.clone(), l.clone()));
                started(&p)?;
                log.push(format!("seed exit {}", joined(&p)?));
                log.push(format!("{d}"));
                log.push(format!("{l}"));

                // --- dict ---
                let t: DictProxy<String, i64> = m.dict_from([("a", 1), ("b", 2)])?;
                log.push(format!("keys {:?} values {:?} items {:?}", t.keys()?, t.values()?, t.items()?));
                log.push(format!("get {:?} {:?} missing {}", t.get(&"a")?, t.get(&"z")?, err(t.get_item(&"z").unwrap_err())));
                log.push(format!("setdefault {} {}", t.setdefault("c", 3)?, t.setdefault("c", 4)?));
                t.update([("d".to_string(), 4)])?;
                log.push(format!("pop {} popitem {:?} len {} contains {}", t.pop(&"a")?, t.popitem()?, t.len()?, t.contains(&"b")?));
                log.push(format!("pop missing {}", err(t.pop(&"a").unwrap_err())));
                t.clear()?;
                log.push(format!("cleared {t} popitem {}", err(t.popitem().unwrap_err())));
                let dynamic: DictProxy = m.dict()?;
                log.push(format!("unhashable {}", err(dynamic.set(Value::from(vec![1]), 1).unwrap_err())));
                dynamic.set(1, "one")?;
                log.push(format!("1.0 is 1: {}, True is 1: {}", dynamic.get_item(&1.0)?, dynamic.get_item(&true)?));
                let typed: DictProxy<String, i64> = from_value(Value::from(&dynamic))?;
                log.push(format!("typed view: {}", err(typed.keys().unwrap_err())));

                // --- list ---
                let n: ListProxy<i64> = m.list_from([3, 1, 2])?;
                n.sort()?;
                log.push(format!("sorted {:?} slice {:?} last {}", n.copy()?, n.slice(1..)?, n.get(-1)?));
                n.imul(2)?;
                log.push(format!("imul {n} mul {:?} add {:?}", n.mul(0)?, n.add([9])?));
                log.push(format!("count {} index {} contains {}", n.count(&1)?, n.index(&3)?, n.contains(&7)?));
                n.sort_reverse()?;
                n.set_slice(..2, [30, 20, 10])?;
                n.del_slice(-2..)?;
                n.insert(0, 0)?;
                log.push(format!("edited {n} pop {} pop_at {}", n.pop()?, n.pop_at(0)?));
                log.push(format!("errors {} | {} | {}", err(n.get(99).unwrap_err()), err(n.remove(&99).unwrap_err()), err(n.index(&99).unwrap_err())));
                let iterated: Vec<i64> = n.iter().collect::<mp::Result<_>>()?;
                log.push(format!("iter {iterated:?} len {} empty {}", n.len()?, n.is_empty()?));
                let h: ListProxy = m.list_from([Value::from(1), Value::from("a"), Value::from((2, 3.5))])?;
                log.push(format!("mixed {h} sort {}", err(h.sort().unwrap_err())));
                n.clear()?;
                log.push(format!("pop empty {}", err(n.pop().unwrap_err())));

                // --- nesting ---
                let outer: ListProxy = m.list()?;
                let inner: DictProxy<String, i64> = m.dict()?;
                outer.append(&inner)?;
                outer.append(vec![1, 2])?;
                outer.get_as::<DictProxy<String, i64>>(0)?.set("x", 1)?;
                log.push(format!("inner {inner} plain {}", outer.get(1)?));
                if let Value::Proxy(r) = outer.get(0)? {
                    log.push(format!("nested ref {} {}", r.typeid(), r.proxytype()));
                }
                let q: QueueProxy<String> = m.queue(0)?;
                let holder: DictProxy = m.dict()?;
                holder.set("queue", &q)?;
                let p = Process::new(through_nested, (holder.clone(),));
                started(&p)?;
                log.push(format!("nested queue exit {} got {:?}", joined(&p)?, q.get_timeout(LONG)?));

                // --- Namespace ---
                let ns = m.namespace()?;
                ns.set("x", 10)?;
                ns.set("y", "hello")?;
                ns.set("_z", 12.3)?;
                log.push(format!("{ns} x {} _z {} names {:?}", ns.get::<i64>("x")?, ns.get::<f64>("_z")?, ns.names()?));
                ns.del("y")?;
                log.push(format!("del {ns} again {}", err(ns.del("y").unwrap_err())));

                // --- queues ---
                let bq: QueueProxy<i64> = m.queue(2)?;
                bq.put(1)?;
                bq.put_timeout(2, LONG)?;
                log.push(format!("full {} qsize {} put_nowait {}", bq.full()?, bq.qsize()?, err(bq.put_nowait(3).unwrap_err())));
                log.push(format!("put_timeout {}", err(bq.put_timeout(3, Duration::from_millis(20)).unwrap_err())));
                log.push(format!("fifo {} {} empty {}", bq.get()?, bq.get_nowait()?, bq.empty()?));
                log.push(format!("get_nowait {} get_timeout {}", err(bq.get_nowait().unwrap_err()), err(bq.get_timeout(Duration::from_millis(20)).unwrap_err())));
                let jq: JoinableQueueProxy<i64> = m.joinable_queue(0)?;
                let squares: ListProxy<i64> = m.list()?;
                let total = m.value("q", 0i64)?;
                let lock = m.lock()?;
                let workers: Vec<Process> = (0..2)
                    .map(|_| Process::new(worker, (jq.clone(), squares.clone(), total.clone(), lock.clone())))
                    .collect();
                for w in &workers {
                    started(w)?;
                }
                for i in 1..=10 {
                    jq.put(i)?;
                }
                jq.join()?;
                squares.sort()?;
                log.push(format!("squares {squares} total {} ({total})", total.get()?));
                for _ in &workers {
                    jq.put(-1)?;
                }
                for w in &workers {
                    log.push(format!("worker exit {}", joined(w)?));
                }
                log.push(format!("task_done {}", err(jq.task_done().unwrap_err())));

                // --- locks and semaphores ---
                log.push(format!("lock {lock} try {} {}", lock.try_acquire()?, lock.try_acquire()?));
                lock.release()?;
                log.push(format!("release unlocked {}", err(lock.release().unwrap_err())));
                let r = m.rlock()?;
                r.acquire()?;
                r.acquire()?;
                log.push(format!("rlock {r}"));
                r.release()?;
                r.release()?;
                log.push(format!("rlock over-release {}", err(r.release().unwrap_err())));
                let s = m.semaphore(1)?;
                log.push(format!("semaphore {} {} timeout {} {s}", s.try_acquire()?, s.try_acquire()?, s.acquire_timeout(Duration::from_millis(10))?));
                let bs = m.bounded_semaphore(1)?;
                log.push(format!("bounded {bs} over-release {}", err(bs.release().unwrap_err())));

                // --- Condition, Event, Barrier ---
                let c = m.condition()?;
                let go = m.event()?;
                let p = Process::new(notifier, (c.clone(), ns.clone(), go.clone()));
                started(&p)?;
                c.acquire()?;
                go.set()?;
                let ok = c.wait_for(|| ns.get::<bool>("ready").unwrap_or(false), Some(LONG))?;
                c.release()?;
                log.push(format!("condition {ok} exit {} wait unowned {}", joined(&p)?, err(c.wait().unwrap_err())));
                log.push(format!("event {} {}", go.is_set()?, go.wait_timeout(Duration::ZERO)?));
                go.clear()?;
                log.push(format!("event cleared {}", go.wait_timeout(Duration::from_millis(10))?));
                let b = m.barrier(3)?;
                let parties: Vec<Process> = (0..2).map(|_| Process::new(party, (b.clone(),))).collect();
                for p in &parties {
                    started(p)?;
                }
                let i = b.wait_timeout(LONG)?;
                for p in &parties {
                    log.push(format!("party exit {}", joined(p)?));
                }
                log.push(format!("barrier index < 3: {} parties {} waiting {}", i < 3, b.parties()?, b.n_waiting()?));
                log.push(format!("barrier timeout {} broken {}", err(b.wait_timeout(Duration::from_millis(20)).unwrap_err()), b.broken()?));
                b.reset()?;
                b.abort()?;
                log.push(format!("aborted {}", err(b.wait().unwrap_err())));
                log.push(format!("barrier(0) {}", err(m.barrier(0).unwrap_err())));

                // --- Value, Array ---
                let v = m.value("d", 0.5)?;
                v.set(2.5)?;
                let a = m.array("i", [1, 2, 3])?;
                a.set(-1, 30)?;
                log.push(format!("{v} {a} {} {:?} {}", v.get()?, a.to_vec()?, err(a.get(3).unwrap_err())));

                // --- BaseProxy ---
                let bl: ListProxy<i64> = m.list_from([3, 1, 2])?;
                let base = bl.base();
                base.call_method("sort", ())?;
                log.push(format!(
                    "call_method {} {} {} getvalue {} str {}",
                    base.call_method("__getitem__", (0,))?,
                    base.call_method_as::<usize>("__len__", ())?,
                    base.call_method("__getitem__", (Value::slice(1, None),))?,
                    base.get_value()?,
                    base.str()?
                ));
                log.push(format!("not exposed {}", err(base.call_method("__class__", ()).unwrap_err())));
                log.push(format!("typeid {} proxytype {} exposed {:?}", base.token().typeid(), base.proxytype(), base.exposed()?));
                log.push(format!("lock getvalue {:?}", lock.base().get_value().unwrap_err().kind()));
                let lb = lock.base();
                log.push(format!(
                    "lock calls {} {} {} {} {} | {} | {} | {}",
                    lb.call_method("acquire", (false,))?,
                    lb.call_method("locked", ())?,
                    lb.call_method("acquire", (true, 0.01))?,
                    lb.call_method("release", ())?,
                    lb.call_method("acquire", (true, Value::None))?,
                    err(lb.call_method("acquire", (false, 1.0)).unwrap_err()),
                    err(lb.call_method("acquire", (1, 2, 3)).unwrap_err()),
                    err(lb.call_method("wait", ()).unwrap_err()),
                ));
                lock.release()?;
                log.push(format!("{lock} {} {}", lb.str()?, lb.proxytype()));
                let nb = ns.base();
                nb.call_method("__setattr__", ("w", vec![5]))?;
                log.push(format!(
                    "namespace calls {} {} {} | {} | {} | {}",
                    nb.call_method("__getattribute__", ("w",))?,
                    nb.call_method("__dir__", ())?,
                    nb.get_value()?,
                    err(nb.call_method("__getattribute__", (1,)).unwrap_err()),
                    err(nb.call_method("__getattribute__", ()).unwrap_err()),
                    err(nb.call_method("__delattr__", ("nope",)).unwrap_err()),
                ));
                nb.call_method("__delattr__", ("w",))?;
                log.push(format!("{ns} {:?}", nb.exposed()?));
                log.push(format!("to_value {}", to_value(&(1, "two", [3.0]))?));

                m.shutdown()?;
                Ok(log)
            }
        }
    };
}

same_program!(with_processes, mp);
same_program!(with_threads, mp::dummy);

#[mp::test]
fn same_code_same_transcript() {
    let threads = with_threads::run().expect("the program with mp::dummy");
    for method in mp::get_all_start_methods() {
        mp::set_start_method(&method.to_string(), true).unwrap();
        let processes = with_processes::run().unwrap_or_else(|e| panic!("{method}: {e}"));
        for (a, b) in processes.iter().zip(&threads) {
            assert_eq!(a, b, "{method}");
        }
        assert_eq!(processes.len(), threads.len(), "{method}");
    }
    assert!(threads.len() > 50, "{threads:#?}");
    for line in &threads {
        println!("{line}");
    }
}

/// The typed fast paths (strings and numbers converted without serde) give what serde gives:
/// the same values, and the same errors for an integer out of a type's range or a mismatch.
#[test]
fn typed_reads_and_writes_match_the_serde_conversions() {
    use mp::dummy::managers::{Value, from_value};
    let m = Manager().unwrap();
    let d: DictProxy = m.dict().unwrap();
    d.set("big", Value::from(1i64 << 40)).unwrap();
    d.set("neg", Value::from(-5i64)).unwrap();
    d.set("s", Value::from("text")).unwrap();
    d.set("f", Value::from(2.5f64)).unwrap();
    d.set("b", Value::from(true)).unwrap();
    let serde = |k: &str| d.get_item(&k).unwrap();
    assert_eq!(d.get_as::<i64, _>("big").unwrap(), 1i64 << 40);
    assert_eq!(d.get_as::<u64, _>("big").unwrap(), 1u64 << 40);
    assert_eq!(d.get_as::<usize, _>("big").unwrap(), 1usize << 40);
    assert_eq!(d.get_as::<i32, _>("neg").unwrap(), -5);
    assert_eq!(d.get_as::<String, _>("s").unwrap(), "text");
    assert_eq!(d.get_as::<f64, _>("f").unwrap(), 2.5);
    assert!(d.get_as::<bool, _>("b").unwrap());
    assert_eq!(d.get_as::<Value, _>("s").unwrap(), Value::from("text"));
    // Out of range or of another type: serde's error, kind and message.
    for (key, err) in [
        ("big", d.get_as::<i32, _>("big").unwrap_err()),
        ("neg", d.get_as::<u64, _>("neg").unwrap_err()),
        ("s", d.get_as::<i64, _>("s").unwrap_err()),
        ("f", d.get_as::<String, _>("f").unwrap_err()),
    ] {
        assert_eq!(err.kind(), ErrorKind::Type, "{key}");
        let expected = match key {
            "big" => from_value::<i32>(serde(key)).unwrap_err(),
            "neg" => from_value::<u64>(serde(key)).unwrap_err(),
            "s" => from_value::<i64>(serde(key)).unwrap_err(),
            _ => from_value::<String>(serde(key)).unwrap_err(),
        };
        assert_eq!(err.message(), expected.message(), "{key}");
    }
    // Typed writes store what serde would: a typed dict reads back through `Value`.
    let t: DictProxy<String, i64> = m.dict().unwrap();
    t.set("k".to_string(), 7).unwrap();
    assert_eq!(t.get_item(&"k").unwrap(), 7);
    assert_eq!(t.to_string(), "{'k': 7}");
    let u: DictProxy<u32, bool> = m.dict().unwrap();
    u.set(3u32, true).unwrap();
    assert_eq!(u.to_string(), "{3: True}");
}
