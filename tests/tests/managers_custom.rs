//! Custom managers: `BaseManager` registrations and `#[mp::proxy]` types (CONFORMANCE
//! section 14, `_TestMyManager`, `TestInitializers`), under every start method.
//!
//! Every test holds `mp_tests::global_lock()`: a fork child holds a reference on every
//! live proxy of this process until it exits, so counting a manager's objects while another
//! test forks would count those too.

use std::sync::Mutex;
use std::time::Duration;

use mp::managers::{
    BaseManager, Generator, IteratorProxy, ListProxy, Queue, QueueProxy, Shared, Value,
};
use mp::{ErrorKind, StartMethod};

const LONG: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Foo {
    calls: Mutex<Vec<String>>,
}

#[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))]
impl Foo {
    fn f(&self) -> String {
        self.calls.lock().unwrap().push("f".into());
        "you called Foo.f()".into()
    }
    fn g(&self) -> String {
        self.calls.lock().unwrap().push("g".into());
        "you called Foo.g()".into()
    }
    fn _h(&self) -> String {
        self.calls.lock().unwrap().push("_h".into());
        "you called Foo._h()".into()
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[mp::task]
fn new_foo() -> Shared<Foo> {
    Shared::new(Foo::default())
}

#[derive(Default)]
struct Counter {
    n: i64,
}

#[derive(Debug)]
struct MyError(String);

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "my error: {}", self.0)
    }
}

#[mp::proxy(CounterProxy)]
impl Counter {
    /// Adds to the counter.
    fn add(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }
    fn get(&self) -> i64 {
        self.n
    }
    fn check(&self, limit: i64) -> mp::Result<i64> {
        if self.n > limit {
            return Err(mp::Error::new(
                ErrorKind::Value,
                format!("{} > {limit}", self.n),
            ));
        }
        Ok(self.n)
    }
    fn custom_error(&self) -> Result<(), MyError> {
        Err(MyError("nope".into()))
    }
    fn explode(&self) -> i64 {
        panic!("boom in the server")
    }
    fn child(&self) -> Shared<Counter> {
        Shared::new(Counter { n: self.n * 10 })
    }
    fn pow(&self, base: u128, exp: u32) -> u128 {
        base.pow(exp)
    }
}

#[mp::task]
fn new_counter(start: i64) -> Shared<Counter> {
    Shared::new(Counter { n: start })
}

#[mp::task]
fn baz() -> Shared<Generator> {
    Shared::new(Generator::new((0..10).map(|i| i * i)))
}

fn my_manager(method: StartMethod) -> mp::managers::ManagerBuilder {
    BaseManager::builder()
        .name("MyManager")
        .start_method(method)
        .register::<Foo1Proxy, _>("Foo1", new_foo)
        .register::<Foo2Proxy, _>("Foo2", new_foo)
        .register::<CounterProxy, _>("Counter", new_counter)
        .register::<IteratorProxy<i64>, _>("baz", baz)
}

#[mp::test]
fn exposed_sets_default_and_override() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = my_manager(method).start().unwrap();
        let f1: Foo1Proxy = m.create("Foo1", ()).unwrap();
        assert_eq!(f1.f().unwrap(), "you called Foo.f()");
        assert_eq!(f1.g().unwrap(), "you called Foo.g()");
        let mut e = f1.base().exposed().unwrap();
        e.sort();
        assert_eq!(e, ["calls", "f", "g"]);
        // `_h` is not exposed on Foo1: calling it by name is a RemoteError.
        assert_eq!(
            f1.base().call_method("_h", ()).unwrap_err().kind(),
            ErrorKind::Remote
        );
        let f2: Foo2Proxy = m.create("Foo2", ()).unwrap();
        assert_eq!(f2.g().unwrap(), "you called Foo.g()");
        assert_eq!(f2._h().unwrap(), "you called Foo._h()");
        let mut e = f2.base().exposed().unwrap();
        e.sort();
        assert_eq!(e, ["_h", "g"]);
        assert_eq!(
            f2.base().call_method("f", ()).unwrap_err().kind(),
            ErrorKind::Remote,
            "{method}"
        );
        // The calls really ran in the server, on f2's own object.
        let calls: Vec<String> = f1.base().call_method_as("calls", ()).unwrap();
        assert_eq!(calls, ["f", "g"]);
        m.shutdown().unwrap();
    }
}

#[mp::task]
fn bump(c: CounterProxy, times: usize) -> mp::Result<()> {
    for _ in 0..times {
        c.add(1)?;
    }
    Ok(())
}

#[mp::test]
fn mutable_referent_shared_by_children_of_every_method() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = my_manager(method).start().unwrap();
        let c: CounterProxy = m.create("Counter", (5i64,)).unwrap();
        let children: Vec<mp::Process> = mp::get_all_start_methods()
            .into_iter()
            .map(|child| {
                let p = mp::Process::builder(bump, (c.clone(), 50))
                    .start_method(child)
                    .build();
                p.start().unwrap();
                p
            })
            .collect();
        for p in &children {
            p.join_timeout(LONG).unwrap();
            assert_eq!(p.exitcode(), Some(0), "{method}");
        }
        assert_eq!(c.get().unwrap(), 5 + 50 * children.len() as i64);
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn errors_keep_their_kind_and_panics_do_not_kill_the_server() {
    let _serial = mp_tests::global_lock();
    let m = my_manager(StartMethod::Fork).start().unwrap();
    let c: CounterProxy = m.create("Counter", (10i64,)).unwrap();
    let e = c.check(3).unwrap_err();
    assert_eq!((e.kind(), e.message()), (ErrorKind::Value, "10 > 3"));
    assert_eq!(c.check(100).unwrap(), 10);
    let e = c.custom_error().unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Remote, "my error: nope")
    );
    let e = c.explode().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(e.message().contains("boom in the server"), "{e}");
    // Still serving, and the object is intact.
    assert_eq!(c.add(1).unwrap(), 11);
    // Bad arguments through call_method are a TypeError, not a crash.
    assert_eq!(
        c.base().call_method("add", ("x",)).unwrap_err().kind(),
        ErrorKind::Type
    );
    assert_eq!(
        c.base().call_method("add", (1, 2)).unwrap_err().kind(),
        ErrorKind::Type
    );
}

#[mp::test]
fn a_method_returning_shared_returns_a_proxy_and_big_ints_are_exact() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = my_manager(method).start().unwrap();
        let c: CounterProxy = m.create("Counter", (4i64,)).unwrap();
        let child: CounterProxy = c.child().unwrap();
        assert_eq!(child.get().unwrap(), 40);
        assert_eq!(child.add(2).unwrap(), 42);
        assert_eq!(c.get().unwrap(), 4);
        assert_ne!(child.base().token().id(), c.base().token().id());
        assert_eq!(c.pow(2, 94).unwrap(), 19807040628566084398385987584);
        let before = m.number_of_objects().unwrap();
        drop(child);
        assert_eq!(m.number_of_objects().unwrap(), before - 1);
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn generator_registered_with_an_iterator_proxy() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let m = my_manager(method).start().unwrap();
        let it: IteratorProxy<i64> = m.create("baz", ()).unwrap();
        let v: Vec<i64> = it.collect::<mp::Result<_>>().unwrap();
        assert_eq!(v, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81], "{method}");
        let it: IteratorProxy<i64> = m.create("baz", ()).unwrap();
        assert_eq!(it.next_item().unwrap(), Some(0));
        let e = it.base().call_method("__next__", ()).unwrap();
        assert_eq!(e, Value::from(1));
        m.shutdown().unwrap();
    }
}

#[mp::test]
fn create_checks_typeids_and_proxy_types() {
    let _serial = mp_tests::global_lock();
    let m = my_manager(StartMethod::Fork).start().unwrap();
    let e = m.create::<CounterProxy, _>("Nope", ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Key);
    let e = m.create::<Foo1Proxy, _>("Counter", (1i64,)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type, "{e}");
    let e = m
        .create::<CounterProxy, _>("Counter", ("not an int",))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type, "{e}");
    // Nothing leaked by the failures.
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

#[mp::test]
fn closures_work_under_fork_and_are_refused_by_spawned_servers() {
    let _serial = mp_tests::global_lock();
    let shared = Shared::new(Queue::new(0));
    for method in mp::get_all_start_methods() {
        let q = shared.clone();
        let b = BaseManager::builder()
            .start_method(method)
            .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| q.clone());
        if method == StartMethod::Fork {
            let m = b.start().unwrap();
            let q: QueueProxy<String> = m.create("get_queue", ()).unwrap();
            q.put("x".into()).unwrap();
            let again: QueueProxy<String> = m.create("get_queue", ()).unwrap();
            assert_eq!(again.base().token().id(), q.base().token().id());
            assert_eq!(again.get().unwrap(), "x");
            m.shutdown().unwrap();
        } else {
            let e = b.start().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProcessStart, "{method}");
            assert!(e.message().contains("closure"), "{e}");
        }
    }
}

#[mp::task]
fn write_pid(path: String) -> std::io::Result<()> {
    std::fs::write(path, std::process::id().to_string())
}

#[mp::task]
fn failing_init() -> Result<(), String> {
    Err("the initializer says no".into())
}

#[mp::test]
fn initializer_runs_in_the_manager_process() {
    let _serial = mp_tests::global_lock();
    for method in mp::get_all_start_methods() {
        let path =
            std::env::temp_dir().join(format!("mp-test-init-{}-{method}", std::process::id()));
        let m = mp::managers::SyncManager::builder()
            .start_method(method)
            .initializer(write_pid, (path.display().to_string(),))
            .start()
            .unwrap();
        let pid: i32 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        assert_eq!(Some(pid), m.pid(), "{method}");
        let _ = std::fs::remove_file(&path);
        m.shutdown().unwrap();
        let e = mp::managers::SyncManager::builder()
            .start_method(method)
            .initializer(failing_init, ())
            .start()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProcessStart);
        assert!(e.message().contains("the initializer says no"), "{e}");
    }
}

#[mp::task]
fn use_shared_in_child(q: QueueProxy<String>, l: ListProxy<String>) -> mp::Result<()> {
    l.append(q.get()?)
}

#[mp::test]
fn serve_forever_in_this_process_with_closures() {
    let _serial = mp_tests::global_lock();
    let queue = Shared::new(Queue::new(0));
    let q = queue.clone();
    let m = BaseManager::builder()
        .address(("127.0.0.1", 0))
        .authkey(b"abracadabra")
        .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| q.clone())
        .build();
    let server = m.get_server().unwrap();
    let address = server.address().clone();
    let t = std::thread::spawn(move || server.serve_forever());
    let client = mp::managers::SyncManager::builder()
        .address(&address)
        .authkey(b"abracadabra")
        .register_remote::<QueueProxy<String>>("get_queue")
        .connect()
        .unwrap();
    let remote: QueueProxy<String> = client.create("get_queue", ()).unwrap();
    queue.read().put_local("local hello".into()).unwrap();
    assert_eq!(remote.get_timeout(LONG).unwrap(), "local hello");
    // Children of every start method reach the in-process server too.
    let list_server = mp::managers::SyncManager::builder()
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let out: ListProxy<String> = list_server.list().unwrap();
    for method in mp::get_all_start_methods() {
        remote.put(format!("for {method}")).unwrap();
        let p = mp::Process::builder(use_shared_in_child, (remote.clone(), out.clone()))
            .start_method(method)
            .build();
        p.start().unwrap();
        p.join_timeout(LONG).unwrap();
        assert_eq!(p.exitcode(), Some(0), "{method}");
    }
    assert_eq!(out.len().unwrap(), 3);
    client.stop_server().unwrap();
    t.join().unwrap().unwrap();
}
