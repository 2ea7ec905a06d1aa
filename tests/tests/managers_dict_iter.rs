//! `iter(d)` on a DictProxy (CONFORMANCE section 14, `test_dict_iter`): the keys once, in
//! order, through an Iterator proxy; mutating the dict during the iteration makes the next
//! step a RuntimeError; an exhausted iterator stays exhausted. Also from child processes of
//! every start method.
//!
//! Every test holds `mp_tests::global_lock()`: a fork child holds a reference on every
//! live proxy of this process until it exits, so counting a manager's objects while another
//! test forks would count those too.

use mp::ErrorKind;
use mp::managers::{DictProxy, IteratorProxy, SyncManager, Value};

fn manager() -> SyncManager {
    SyncManager::builder().start().unwrap()
}

fn filled(m: &SyncManager) -> DictProxy<i64, String> {
    let d: DictProxy<i64, String> = m.dict().unwrap();
    for i in 65..70 {
        d.set(i, char::from(i as u8).to_string()).unwrap();
    }
    d
}

#[mp::test]
fn iter_yields_the_keys_once() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let d = filled(&m);
    let mut it = d.iter().unwrap();
    assert_eq!(it.base().token().typeid(), "Iterator");
    let keys: Vec<i64> = it.by_ref().map(Result::unwrap).collect();
    assert_eq!(keys, [65, 66, 67, 68, 69]);
    assert!(it.next().is_none(), "exhausted");
    // Mutating after exhaustion changes nothing.
    d.set(70, "F").unwrap();
    assert!(it.next().is_none());
    // Values and untyped keys.
    let any: DictProxy = m.dict_from([(Value::from(1), Value::from("a"))]).unwrap();
    any.set("two", 2).unwrap();
    let keys: Vec<Value> = any.iter().unwrap().map(Result::unwrap).collect();
    assert_eq!(keys, [Value::from(1), Value::from("two")]);
    let empty: DictProxy = m.dict().unwrap();
    assert_eq!(empty.iter().unwrap().count(), 0);
}

#[mp::test]
fn a_size_change_during_iteration_is_a_runtime_error() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let d = filled(&m);
    // CPython's test: clear() after iter().
    let mut it = d.iter().unwrap();
    d.clear().unwrap();
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert_eq!(err.message(), "dictionary changed size during iteration");
    // Sticky, as in CPython.
    assert_eq!(it.next().unwrap().unwrap_err().kind(), ErrorKind::Runtime);

    // An insertion in the middle of the iteration.
    let d = filled(&m);
    let mut it = d.iter().unwrap();
    assert_eq!(it.next().unwrap().unwrap(), 65);
    d.set(100, "x").unwrap();
    assert_eq!(it.next().unwrap().unwrap_err().kind(), ErrorKind::Runtime);

    // Same size, other keys: CPython's "dictionary keys changed during iteration", then
    // the end.
    let d = filled(&m);
    let mut it = d.iter().unwrap();
    assert_eq!(it.next().unwrap().unwrap(), 65);
    d.remove(&65).unwrap();
    d.set(200, "y").unwrap();
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert_eq!(err.message(), "dictionary keys changed during iteration");
    assert!(it.next().is_none());

    // Changing a value is not a change of the keys.
    let d = filled(&m);
    let mut it = d.iter().unwrap();
    assert_eq!(it.next().unwrap().unwrap(), 65);
    d.set(65, "changed").unwrap();
    d.set(69, "changed").unwrap();
    let rest: Vec<i64> = it.map(Result::unwrap).collect();
    assert_eq!(rest, [66, 67, 68, 69]);
}

#[mp::test]
fn the_iterator_keeps_the_dict_alive() {
    let _serial = mp_tests::global_lock();
    let m = manager();
    let before = m.number_of_objects().unwrap();
    let d = filled(&m);
    let it = d.iter().unwrap();
    drop(d);
    let keys: Vec<i64> = it.map(Result::unwrap).collect();
    assert_eq!(keys.len(), 5);
    assert!(mp_tests::wait_until(
        std::time::Duration::from_secs(60),
        || m.number_of_objects().unwrap() == before
    ));
}

#[mp::task]
fn sum_keys(it: IteratorProxy<i64>) -> mp::Result<i64> {
    let mut total = 0;
    for k in it {
        total += k?;
    }
    if total != 65 + 66 + 67 + 68 + 69 {
        return Err(mp::Error::new(ErrorKind::Value, format!("sum {total}")));
    }
    Ok(total)
}

#[mp::test]
fn an_iterator_proxy_can_be_consumed_by_a_child() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = SyncManager::builder().start_method(method).start().unwrap();
        let d = filled(&m);
        let it = d.iter().unwrap();
        // The parent keeps its proxy (and so the referent) until the child has its own.
        let p = mp::Process::builder(sum_keys, (it.clone(),))
            .start_method(method)
            .build();
        p.start().unwrap();
        p.join_timeout(std::time::Duration::from_secs(120)).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{method}");
        drop(it);
    }
}
