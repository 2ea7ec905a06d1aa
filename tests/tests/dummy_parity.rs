//! API parity of `mp::dummy` with `mp` (CONFORMANCE section 17: "the `WithThreads` variants run
//! the same suites"): one program, written once in a macro, is compiled twice — against `mp`
//! (processes, the default start method) and against `mp::dummy` (threads) — by changing only
//! the `use` line, and both runs must produce the same transcript.
//!
//! Compiling is half of the test: every type, method, argument and return type used here has
//! to exist with the same shape in both modules.

use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

macro_rules! same_program {
    ($name:ident, $($api:ident)::+) => {
        mod $name {
            use std::error::Error as _;
            use std::time::Duration;

            use mp::ErrorKind;
            use mp::pool::RemoteTraceback;
            use $($api)::+::{
                Array, Barrier, BoundedSemaphore, Condition, Connection, Event, JoinableQueue,
                Lock, Pipe, Pool, Process, Queue, RLock, RawArray, RawValue, Semaphore, SimpleQueue,
                Value,
            };
            use $($api)::+::sharedctypes::{copy, synchronized};

            use super::LONG;

            #[mp::task]
            pub(crate) fn square(x: u64) -> u64 {
                x * x
            }

            #[mp::task]
            pub(crate) fn mul(a: u64, b: u64) -> u64 {
                a * b
            }

            #[mp::task]
            pub(crate) fn half(x: u64) -> Result<u64, String> {
                if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
            }

            #[mp::task]
            pub(crate) fn producer(q: Queue<u64>, n: u64) -> mp::Result<()> {
                for i in 0..n {
                    q.put(i * 100)?;
                }
                Ok(())
            }

            #[mp::task]
            pub(crate) fn fails() -> Result<(), String> {
                Err("this process fails on purpose".into())
            }

            #[mp::task]
            pub(crate) fn add_many(v: Value<u64>, n: u64) -> mp::Result<()> {
                for _ in 0..n {
                    *v.lock()? += 1;
                }
                Ok(())
            }

            #[mp::task]
            pub(crate) fn fill(a: Array<i32>, lock: Lock, k: i32) -> mp::Result<()> {
                let _g = lock.lock()?;
                for i in 0..a.len() {
                    a.set(i, a.get(i)? + k)?;
                }
                Ok(())
            }

            #[mp::task]
            pub(crate) fn echo(conn: Connection) -> mp::Result<()> {
                let x: String = conn.recv()?;
                conn.send(&format!("echo {x}"))?;
                conn.send_bytes(b"raw bytes")?;
                Ok(())
            }

            #[mp::task]
            pub(crate) fn consumer(q: JoinableQueue<Option<u64>>, out: SimpleQueue<u64>) -> mp::Result<()> {
                while let Some(x) = q.get()? {
                    out.put(x * 10)?;
                    q.task_done()?;
                }
                q.task_done()?;
                Ok(())
            }

            #[mp::task]
            pub(crate) fn party(b: Barrier, started: Semaphore) -> mp::Result<usize> {
                started.release()?;
                b.wait()
            }

            #[mp::task]
            pub(crate) fn notifier(c: Condition, flag: Value<u32>, go: Event) -> mp::Result<()> {
                go.wait();
                let _g = c.lock()?;
                flag.set(1)?;
                c.notify_all()
            }

            /// The program: everything it observes goes into the transcript.
            pub(crate) fn run() -> mp::Result<Vec<String>> {
                let mut log = Vec::new();

                // --- Pool ---
                let pool = Pool::new(2)?;
                log.push(format!("processes {}", pool.processes()));
                log.push(format!("map {:?}", pool.map(square, 0..10u64)?));
                log.push(format!("chunked {:?}", pool.chunksize(3).map(square, 0..7u64)?));
                log.push(format!("starmap {:?}", pool.starmap(mul, vec![(2, 3), (4, 5)])?));
                let r = pool.apply_async(square, (12,))?;
                log.push(format!("apply_async {}", r.get_timeout(LONG)?));
                log.push(format!("ready {} successful {}", r.ready(), r.successful()?));
                let e = pool.apply(half, (3,)).unwrap_err();
                log.push(format!("apply error {:?}: {e}", e.kind()));
                let tb = e.source().and_then(|s| s.downcast_ref::<RemoteTraceback>());
                log.push(format!(
                    "traceback {:?} panicked {:?}",
                    tb.map(|t| t.message().to_string()),
                    tb.map(|t| t.panicked())
                ));
                let e = pool.chunksize(2).map(half, [2, 4, 6, 7]).unwrap_err();
                log.push(format!(
                    "map error {:?}: {e} at {:?}",
                    e.kind(),
                    e.source()
                        .and_then(|s| s.downcast_ref::<RemoteTraceback>())
                        .map(|t| t.index_in_chunk())
                ));
                let v: Vec<u64> = pool.imap(square, 0..5u64)?.collect::<mp::Result<_>>()?;
                log.push(format!("imap {v:?}"));
                let mut u: Vec<u64> = pool
                    .imap_unordered(square, 0..5u64)?
                    .collect::<mp::Result<_>>()?;
                u.sort_unstable();
                log.push(format!("imap_unordered {u:?}"));
                let mut it = pool.imap(half, [2u64, 3, 4])?;
                let items: Vec<String> = (0..3)
                    .map(|_| match it.next_timeout(LONG) {
                        Some(Ok(v)) => format!("ok {v}"),
                        Some(Err(e)) => format!("err {:?}", e.kind()),
                        None => "end".to_string(),
                    })
                    .collect();
                log.push(format!("imap items {items:?} then {:?}", it.next().is_none()));
                let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                let s2 = seen.clone();
                let r = pool
                    .map_async(square, [3u64, 4])?
                    .callback(move |v| s2.lock().unwrap().push(v.clone()));
                r.wait();
                log.push(format!("map_async {:?}", r.get()?));
                log.push(format!("get again {:?}", r.get().unwrap_err().kind()));
                pool.close()?;
                pool.join()?;
                log.push(format!("callback saw {:?}", seen.lock().unwrap()));
                let e = pool.map(square, [1u64]).unwrap_err();
                log.push(format!("after close {:?}: {e}", e.kind()));
                log.push(format!("Pool(0) {:?}", Pool::new(0).unwrap_err().kind()));

                // --- Process and Queue ---
                let q = Queue::new(0)?;
                let p = Process::new(producer, (q.clone(), 3));
                log.push(format!("before start alive {} exitcode {:?}", p.is_alive(), p.exitcode()));
                p.start()?;
                let got: Vec<u64> = (0..3).map(|_| q.get_timeout(LONG)).collect::<Result<_, _>>()?;
                p.join()?;
                log.push(format!("produced {got:?} exitcode {:?}", p.exitcode()));
                log.push(format!("join before start {:?}", Process::new(square, (1,)).join().unwrap_err().kind()));
                let f = Process::builder(fails, ()).name("failing").daemon(true).start()?;
                f.join_timeout(LONG)?;
                log.push(format!("{} daemon {} exitcode {:?}", f.name(), f.daemon(), f.exitcode()));
                log.push(format!("start twice {:?}", f.start().unwrap_err().kind()));
                log.push(format!("get_timeout {:?}", q.get_timeout(Duration::from_millis(10)).unwrap_err().kind()));
                let small = Queue::new(1)?;
                small.put("first".to_string())?;
                let e = small.put_nowait("second".to_string()).unwrap_err();
                log.push(format!("full {:?} {} gives back {:?}", e.kind(), small.full(), e.into_inner()));
                small.shutdown(false)?;
                log.push(format!(
                    "after shutdown: put {:?}, get {:?}, get {:?}",
                    small.put("x".into()).unwrap_err().kind(),
                    small.get()?,
                    small.get().unwrap_err().kind()
                ));

                // --- Value, Array, Lock across workers ---
                let v = Value::new(0u64)?;
                let ps: Vec<Process> = (0..3).map(|_| Process::new(add_many, (v.clone(), 200))).collect();
                for p in &ps { p.start()?; }
                for p in &ps { p.join()?; }
                log.push(format!("value {}", v.get()?));
                let a = Array::from_values([1i32, 2, 3])?;
                let lock = Lock::new()?;
                let ps: Vec<Process> = (1..=2).map(|k| Process::new(fill, (a.clone(), lock.clone(), k))).collect();
                for p in &ps { p.start()?; }
                for p in &ps { p.join()?; }
                log.push(format!("array {:?}", a.to_vec()?));
                log.push(format!("lock locked {} after", lock.locked()));
                log.push(format!("index error {:?}", a.get(3).unwrap_err().kind()));
                let raw = RawArray::from_slice(&[1i32, 2, 3])?;
                let synced = synchronized(&raw, None)?;
                synced.set(0, 10)?;
                let copied = copy(&synced)?;
                synced.set(1, 20)?;
                log.push(format!("raw {:?} copy {:?}", raw.to_vec()?, copied.to_vec()?));
                let rv = RawValue::new(1.25f64)?;
                let same = synchronized(&rv, Lock::new()?)?;
                same.set(2.5)?;
                log.push(format!("raw value {} {}", rv.get()?, copy(&rv)? == rv));

                // --- Pipe ---
                let (here, there) = Pipe(true)?;
                let p = Process::new(echo, (there,));
                p.start()?;
                here.send(&"hi".to_string())?;
                log.push(format!("recv {:?}", here.recv::<String>()?));
                log.push(format!("recv_bytes {:?}", here.recv_bytes()?));
                p.join()?;
                log.push(format!("eof {:?}", here.recv_bytes().unwrap_err().kind()));
                let (r, w) = Pipe(false)?;
                log.push(format!("one-way {:?}", r.send_bytes(b"x").unwrap_err().kind()));
                w.send_bytes(b"")?;
                log.push(format!("poll {} {:?}", r.poll_timeout(LONG)?, r.recv_bytes()?));

                // --- JoinableQueue, SimpleQueue ---
                let jq = JoinableQueue::new(0)?;
                let out = SimpleQueue::new()?;
                let c = Process::new(consumer, (jq.clone(), out.clone()));
                c.start()?;
                for i in 1..=3 {
                    jq.put(Some(i))?;
                }
                jq.join()?;
                let outs: Vec<u64> = (0..3).map(|_| out.get()).collect::<Result<_, _>>()?;
                log.push(format!("consumed {outs:?} unfinished {}", jq.unfinished_tasks()));
                jq.put(None)?;
                c.join()?;
                log.push(format!("consumer exit {:?} empty {}", c.exitcode(), out.empty()?));

                // --- Barrier, Condition, Event, Semaphores, RLock ---
                let b = Barrier::new(3)?;
                let started = Semaphore::new(0)?;
                let ps: Vec<Process> = (0..2).map(|_| Process::new(party, (b.clone(), started.clone()))).collect();
                for p in &ps { p.start()?; }
                for _ in 0..2 { started.acquire()?; }
                let i = b.wait()?;
                for p in &ps { p.join()?; }
                log.push(format!("barrier index < 3: {} broken {}", i < 3, b.broken()));
                b.abort();
                log.push(format!("aborted {:?}", b.wait().unwrap_err().kind()));
                let c = Condition::new()?;
                let flag = Value::new(0u32)?;
                let go = Event::new()?;
                let p = Process::new(notifier, (c.clone(), flag.clone(), go.clone()));
                p.start()?;
                {
                    let _g = c.lock()?;
                    go.set();
                    let ok = c.wait_for_timeout(|| flag.get().unwrap_or(0) == 1, LONG)?;
                    log.push(format!("condition {ok}"));
                }
                p.join()?;
                log.push(format!("event set {} wait {}", go.is_set(), go.wait_timeout(Duration::ZERO)));
                let s = BoundedSemaphore::new(1)?;
                s.acquire()?;
                log.push(format!("try {} value {}", s.try_acquire()?, s.get_value()));
                s.release()?;
                log.push(format!("over-release {:?}", s.release().unwrap_err().kind()));
                let r = RLock::new()?;
                r.acquire()?;
                r.acquire()?;
                log.push(format!("rlock count {} locked {}", r.count(), r.locked()));
                r.release()?;
                r.release()?;
                log.push(format!("rlock released {}", !r.locked()));
                let l = Lock::new()?;
                log.push(format!("lock {} {} {}", l.try_acquire()?, l.try_acquire()?, l.locked()));
                l.release()?;
                log.push(format!("kinds differ by design: {}", matches!(
                    l.release().unwrap_err().kind(),
                    ErrorKind::Value | ErrorKind::Runtime
                )));
                Ok(log)
            }
        }
    };
}

same_program!(with_processes, mp);
same_program!(with_threads, mp::dummy);

#[mp::test]
fn same_code_same_transcript() {
    let processes = with_processes::run().expect("the program with mp");
    let threads = with_threads::run().expect("the program with mp::dummy");
    for (a, b) in processes.iter().zip(&threads) {
        assert_eq!(a, b);
    }
    assert_eq!(processes.len(), threads.len());
    assert!(processes.len() > 40, "{processes:#?}");
}
