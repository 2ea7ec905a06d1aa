//! mp's records reach the logger the program installed, with no call to mp first (the level of
//! `get_logger()` starts unset, as a Python logger's NOTSET), and `set_level` filters them on
//! top as in Python. One test: the `log` logger is global to this test binary.

use std::sync::Mutex;

static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        // What `RUST_LOG=multiprocessing=info` means to env_logger.
        m.target() == mp::logging::TARGET && m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            RECORDS
                .lock()
                .unwrap()
                .push((r.target().to_string(), r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn taken() -> Vec<(String, log::Level, String)> {
    std::mem::take(&mut *RECORDS.lock().unwrap())
}

fn manager_round() {
    let m = mp::Manager().unwrap();
    let d = m.dict::<String, i32>().unwrap();
    d.set("a".to_string(), 1).unwrap();
    m.shutdown().unwrap();
}

#[mp::test]
fn records_reach_the_programs_logger_and_set_level_filters_on_top() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    assert!(!mp::get_logger().level_is_set());
    assert_eq!(mp::get_logger().level(), log::LevelFilter::Info);

    manager_round();
    let got = taken();
    assert!(
        got.iter().any(|(t, l, m)| t == "multiprocessing"
            && *l == log::Level::Info
            && m.contains("sending shutdown message to manager")),
        "{got:?}"
    );
    assert!(got.iter().all(|(t, _, _)| t == "multiprocessing"));

    // Python's behaviour on top: a level set on mp's logger drops what is below it.
    mp::get_logger().set_level(log::LevelFilter::Warn);
    manager_round();
    let got = taken();
    assert!(
        got.iter().all(|(_, l, _)| *l <= log::Level::Warn),
        "{got:?}"
    );

    // log_to_stderr keeps the program's logger (it only sets the level).
    let logger = mp::log_to_stderr(log::LevelFilter::Info);
    assert_eq!(logger.level(), log::LevelFilter::Info);
    manager_round();
    assert!(
        taken()
            .iter()
            .any(|(_, _, m)| m.contains("sending shutdown message to manager"))
    );
}
