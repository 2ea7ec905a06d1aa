//! Managed containers (CONFORMANCE section 14: list, dict, Namespace, nesting, queues) under
//! every start method: the manager's server process is started with each method, and the
//! child processes that use the proxies too.
//!
//! Every test holds `mp_tests::global_lock()`: a fork child holds a reference on every
//! live proxy of this process until it exits, so counting a manager's objects while another
//! test forks would count those too.

use std::time::Duration;

use mp::managers::{
    DictProxy, JoinableQueueProxy, ListProxy, QueueProxy, SyncManager, Value, from_value,
};
use mp::{ErrorKind, StartMethod};

const LONG: Duration = Duration::from_secs(60);

fn manager(method: StartMethod) -> SyncManager {
    SyncManager::builder()
        .start_method(method)
        .start()
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn run<F, A>(method: StartMethod, f: F, args: A)
where
    F: mp::process::Target<A>,
    F::Output: mp::process::ProcessOutput,
    A: serde::Serialize + Send + 'static,
{
    let p = mp::Process::builder(f, args).start_method(method).build();
    p.start().unwrap();
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(0), "{method}: child failed");
}

#[mp::task]
fn fill_and_reverse(d: DictProxy, l: ListProxy) -> mp::Result<()> {
    d.set(1, "1")?;
    d.set("2", 2)?;
    d.set(0.25, Value::None)?;
    l.reverse()
}

#[mp::test]
fn seed_dict_and_list_filled_by_a_child() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let d: DictProxy = m.dict().unwrap();
        let l: ListProxy = m.list_from(0..10).unwrap();
        for child in mp::get_all_start_methods() {
            d.clear().unwrap();
            run(child, fill_and_reverse, (d.clone(), l.clone()));
            assert_eq!(
                d.to_string(),
                "{1: '1', '2': 2, 0.25: None}",
                "{method}/{child}"
            );
        }
        // Reversed three times.
        assert_eq!(l.to_string(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]", "{method}");
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn list_proxy_slicing_extend_mul_add_and_independence() {
    let _serial = mp_tests::global_lock();
    let m = manager(StartMethod::Fork);
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
    b.clear().unwrap();
    assert_eq!(b.pop().unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(b.get(0).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(b.remove(&1).unwrap_err().kind(), ErrorKind::Value);
    assert_eq!(b.index(&1).unwrap_err().kind(), ErrorKind::Value);
    // A heterogeneous list refuses to sort, and stays as it was.
    let h: ListProxy = m.list_from([Value::from(1), Value::from("a")]).unwrap();
    assert_eq!(h.sort().unwrap_err().kind(), ErrorKind::Type);
    assert_eq!(h.to_string(), "[1, 'a']");
}

#[mp::test]
fn list_iteration_sees_live_changes_and_stays_exhausted() {
    let _serial = mp_tests::global_lock();
    let m = manager(StartMethod::Fork);
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

#[mp::test]
fn nested_list_proxies_print_and_share_their_referent() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
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
        inner.append("again").unwrap(); // same referent
        assert_eq!(b.len().unwrap(), 2);
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
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn a_list_can_contain_itself_and_still_be_dropped() {
    let _serial = mp_tests::global_lock();
    let m = manager(StartMethod::Fork);
    let before = m.number_of_objects().unwrap();
    let a: ListProxy = m.list().unwrap();
    a.append(&a).unwrap();
    assert!(a.to_string().starts_with("[<ListProxy object"));
    let again: ListProxy = a.get_as(0).unwrap();
    assert_eq!(again.base().token(), a.base().token());
    drop(again);
    drop(a);
    // The cycle keeps the referent in the server (as reference counting does); the
    // server still serves and counts it.
    assert!(m.number_of_objects().unwrap() <= before + 1);
}

#[mp::test]
fn dict_proxy_methods_mirror_the_dict() {
    let _serial = mp_tests::global_lock();
    let m = manager(StartMethod::Fork);
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
    assert_eq!(d.popitem().unwrap_err().kind(), ErrorKind::Key);
    // Unhashable keys are a TypeError, in the dynamic mode.
    let dd: DictProxy = m.dict().unwrap();
    assert_eq!(
        dd.set(Value::from(vec![1]), 1).unwrap_err().kind(),
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
}

#[mp::test]
fn nested_dict_proxies_keep_their_referents_alive() {
    let _serial = mp_tests::global_lock();
    // CPython's _TestContainers.test_dict_proxy_nested.
    let m = manager(StartMethod::Fork);
    let pets: DictProxy<String, i32> = m.dict_from([("ferrets", 2), ("hamsters", 4)]).unwrap();
    let supplies: DictProxy<String, i32> = m.dict_from([("water", 10), ("feed", 3)]).unwrap();
    let d: DictProxy = m.dict().unwrap();
    d.set("pets", &pets).unwrap();
    d.set("supplies", &supplies).unwrap();
    assert_eq!(supplies.get_item(&"water").unwrap(), 10);
    let inner = |k: &str| d.get_as::<DictProxy<String, i32>, _>(k).unwrap();
    assert_eq!(inner("supplies").get_item(&"water").unwrap(), 10);
    inner("supplies").set("blankets", 5).unwrap();
    assert_eq!(supplies.get_item(&"blankets").unwrap(), 5);
    inner("supplies").set("water", 7).unwrap();
    assert_eq!(supplies.get_item(&"water").unwrap(), 7);
    drop(pets);
    drop(supplies);
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
}

#[mp::task]
fn put_through_nested(l: ListProxy) -> mp::Result<()> {
    let q: QueueProxy<String> = l.get_as(0)?;
    q.put("through the list".into())
}

#[mp::test]
fn a_queue_stored_in_a_list_works_through_the_nested_proxy() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let q = m.queue::<String>(0).unwrap();
        let l: ListProxy = m.list().unwrap();
        l.append(&q).unwrap();
        run(method, put_through_nested, (l.clone(),));
        assert_eq!(q.get_timeout(LONG).unwrap(), "through the list");
        let d: DictProxy = m.dict().unwrap();
        d.set("q", &q).unwrap();
        let q2: QueueProxy<String> = d.get_as(&"q").unwrap();
        q2.put("x".into()).unwrap();
        assert_eq!(q.get().unwrap(), "x");
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn read_namespace(ns: mp::managers::NamespaceProxy, forked: bool) -> mp::Result<()> {
    if ns.get::<i32>("x")? != 10 || ns.get::<String>("y")? != "hello" {
        return Err(mp::Error::new(ErrorKind::Value, "wrong attributes"));
    }
    // `_z` is an attribute of the parent's proxy only: a forked child has a copy of that
    // proxy (as in CPython), a spawned one a new proxy without it.
    if ns.get::<f64>("_z").is_ok() != forked {
        return Err(mp::Error::new(ErrorKind::Value, "_z crossed over"));
    }
    ns.set("from_child", true)
}

#[mp::test]
fn namespace_public_attributes_are_shared_private_ones_stay_local() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let g = m.namespace().unwrap();
        g.set("x", 10).unwrap();
        g.set("y", "hello").unwrap();
        g.set("_z", 12.3).unwrap();
        assert_eq!(g.to_string(), "Namespace(x=10, y='hello')");
        for child in mp::get_all_start_methods() {
            run(
                child,
                read_namespace,
                (g.clone(), child == StartMethod::Fork),
            );
        }
        assert!(g.get::<bool>("from_child").unwrap());
        g.del("from_child").unwrap();
        assert_eq!(g.del("from_child").unwrap_err().kind(), ErrorKind::Key);
        assert_eq!(g.get::<f64>("_z").unwrap(), 12.3);
        let mut names = g.names().unwrap();
        names.sort();
        assert_eq!(names, ["x", "y"]);
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn drain(q: QueueProxy<i32>, out: ListProxy<i32>) -> mp::Result<()> {
    for _ in 0..3 {
        out.append(q.get()?)?;
    }
    Ok(())
}

#[mp::test]
fn bounded_queue_is_fifo_across_processes() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let q = m.queue::<i32>(2).unwrap();
        assert!(q.empty().unwrap());
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert!(q.full().unwrap());
        assert_eq!(q.qsize().unwrap(), 2);
        assert_eq!(q.put_nowait(3).unwrap_err().kind(), ErrorKind::Full);
        let t0 = std::time::Instant::now();
        assert_eq!(
            q.put_timeout(3, Duration::from_millis(100))
                .unwrap_err()
                .kind(),
            ErrorKind::Full
        );
        assert!(t0.elapsed() >= Duration::from_millis(90));
        let out: ListProxy<i32> = m.list().unwrap();
        let p = mp::Process::builder(drain, (q.clone(), out.clone()))
            .start_method(method)
            .build();
        p.start().unwrap();
        q.put_timeout(3, LONG).unwrap(); // room is made by the child
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0));
        assert_eq!(out.copy().unwrap(), [1, 2, 3]);
        assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
        assert_eq!(
            q.get_timeout(Duration::from_millis(50)).unwrap_err().kind(),
            ErrorKind::Empty
        );
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn consume_and_ack(q: JoinableQueueProxy<i32>) -> mp::Result<()> {
    for _ in 0..2 {
        q.get()?;
        q.task_done()?;
    }
    Ok(())
}

#[mp::test]
fn joinable_queue_join_waits_for_task_done_in_a_child() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = manager(method);
        let q = m.joinable_queue::<i32>(2).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        let p = mp::Process::builder(consume_and_ack, (q.clone(),))
            .start_method(method)
            .build();
        p.start().unwrap();
        q.join().unwrap();
        assert!(q.empty().unwrap());
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0));
        assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn value_and_array_proxies() {
    let _serial = mp_tests::global_lock();
    let m = manager(StartMethod::Fork);
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
}

#[mp::test]
fn call_method_and_get_value_are_callmethod_and_getvalue() {
    let _serial = mp_tests::global_lock();
    let m = manager(StartMethod::Fork);
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
    assert_eq!(
        l.base().get_value().unwrap(),
        Value::from((0..10).collect::<Vec<_>>())
    );
    assert!(format!("{l:?}").starts_with("<ListProxy object, typeid 'list' at 0x"));
    let exposed = l.base().exposed().unwrap();
    assert!(exposed.iter().any(|m| m == "append"));
    // Proxies do not compare by value: compare the copies.
    let l2: ListProxy<i32> = m.list_from([1, 2, 3]).unwrap();
    assert_eq!(l2.copy().unwrap(), [1, 2, 3]);
}
