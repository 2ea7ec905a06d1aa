//! Start methods and contexts (CONFORMANCE section 2): `get_context`, `set_start_method`,
//! `get_start_method`, `get_all_start_methods`, and children reporting their method.

use mp::{Connection, Context, ErrorKind, Process, StartMethod};
use mp_tests::{join, recv};

#[mp::task]
fn report_method(conn: Connection) {
    conn.send(&mp::current_process().start_method()).unwrap();
}

#[test]
fn all_start_methods_default_first() {
    let all = mp::get_all_start_methods();
    assert_eq!(
        all,
        [
            StartMethod::Forkserver,
            StartMethod::Spawn,
            StartMethod::Fork
        ]
    );
    for m in &all {
        assert_eq!(m.as_str().parse::<StartMethod>().unwrap(), *m);
        assert_eq!(m.to_string(), m.as_str());
    }
    let e = "Fork".parse::<StartMethod>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
}

#[mp::test]
fn contexts_start_children_with_their_method() {
    for name in ["fork", "spawn", "forkserver"] {
        let ctx = mp::get_context(name).unwrap();
        assert_eq!(ctx.get_start_method().as_str(), name);
        assert_eq!(ctx.get_context(None).unwrap(), ctx);
        assert_eq!(
            ctx.get_context(Some("spawn")).unwrap(),
            mp::get_context("spawn").unwrap()
        );
        // Setting the method of a concrete context is a ValueError, forced or not.
        for force in [false, true] {
            let e = ctx.set_start_method("fork", force).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Value);
        }
        let (a, b) = ctx.pipe(true).unwrap();
        let p = ctx.process(report_method, (b,));
        p.start().unwrap();
        assert_eq!(
            recv::<Option<StartMethod>>(&a),
            Some(ctx.get_start_method())
        );
        assert_eq!(join(&p), Some(0));
    }
    assert_eq!(
        mp::get_context("threads").unwrap_err().kind(),
        ErrorKind::Value
    );
    assert_eq!(
        format!("{:?}", Context::new(StartMethod::Forkserver)),
        "ForkServerContext"
    );
    assert_eq!(
        format!("{:?}", mp::get_context("spawn").unwrap()),
        "SpawnContext"
    );
    assert_eq!(
        format!("{:?}", mp::get_context("fork").unwrap()),
        "ForkContext"
    );
    assert_eq!(format!("{:?}", mp::default_context()), "DefaultContext");
}

// The default start method is process-global: one test walks through its whole life.
#[mp::test]
fn set_and_get_the_default_start_method() {
    let _g = mp_tests::global_lock();
    // Nothing in this binary fixed the method yet (contexts do not).
    assert_eq!(mp::get_start_method_allow_none(), None);
    assert_eq!(
        mp::default_context().get_start_method(),
        StartMethod::Forkserver
    );
    // Asking without allow_none fixes the default.
    assert_eq!(mp::get_start_method(), StartMethod::Forkserver);
    assert_eq!(
        mp::get_start_method_allow_none(),
        Some(StartMethod::Forkserver)
    );
    // Once fixed, setting it again needs force.
    let e = mp::set_start_method("spawn", false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Runtime);
    assert_eq!(
        mp::set_start_method("nope", true).unwrap_err().kind(),
        ErrorKind::Value
    );
    for m in ["fork", "spawn", "forkserver"] {
        mp::default_context().set_start_method(m, true).unwrap();
        assert_eq!(mp::get_start_method().as_str(), m);
        // A process without an explicit method uses the default, and the child knows it.
        let (a, b) = mp::Pipe(true).unwrap();
        let p = Process::new(report_method, (b,));
        p.start().unwrap();
        assert_eq!(recv::<Option<StartMethod>>(&a).map(|m| m.as_str()), Some(m));
        assert_eq!(join(&p), Some(0));
    }
}
