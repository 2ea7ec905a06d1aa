//! How fast: mp's hot paths measured in the run itself, a process start + join under each
//! start method, a pipe round trip next to what the kernel alone needs for it (a bare
//! socketpair round trip), and a sequential pool `apply`. Each result is checked; the figures
//! depend on the machine (`docs/performance.md` has the criterion runs next to CPython's).

use std::time::{Duration, Instant};

use mp::{Pipe, Pool, Process, StartMethod};

#[mp::task]
fn noop() {}

#[mp::task]
fn square(x: u64) -> u64 {
    x * x
}

fn per_op(n: u32, mut f: impl FnMut(u32)) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed() / n
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

pub(crate) fn run() -> mp::Result<()> {
    println!("1. process start + join of a no-op task:");
    for (m, n) in [
        (StartMethod::Fork, 200),
        (StartMethod::Forkserver, 100),
        (StartMethod::Spawn, 20),
    ] {
        // The first forkserver start launches the server: not measured.
        let p = Process::builder(noop, ()).start_method(m).start()?;
        p.join()?;
        let t = per_op(n, |_| {
            let p = Process::builder(noop, ())
                .start_method(m)
                .start()
                .expect("start");
            p.join().expect("join");
            assert_eq!(p.exitcode(), Some(0));
        });
        println!("   {m}: {}", us(t));
    }

    println!("2. round trip of a u64 through a Pipe to an echoing child:");
    let (a, b) = Pipe(true)?;
    let echo = Process::builder(
        move || {
            while let Ok(v) = b.recv::<u64>() {
                if v == u64::MAX || b.send(&v).is_err() {
                    break;
                }
            }
        },
        (),
    )
    .start_method(StartMethod::Fork)
    .start()?;
    let t = per_op(5000, |i| {
        a.send(&u64::from(i)).expect("send");
        assert_eq!(a.recv::<u64>().expect("recv"), u64::from(i));
    });
    a.send(&u64::MAX)?;
    echo.join()?;
    let (x, y) = std::os::unix::net::UnixDatagram::pair()?;
    let raw_echo = Process::builder(
        move || {
            let mut buf = [0u8; 8];
            while let Ok(8) = y.recv(&mut buf) {
                if buf == [0xff; 8] || y.send(&buf).is_err() {
                    break;
                }
            }
        },
        (),
    )
    .start_method(StartMethod::Fork)
    .start()?;
    let raw = per_op(5000, |i| {
        let mut buf = u64::from(i).to_le_bytes();
        x.send(&buf).expect("send");
        x.recv(&mut buf).expect("recv");
        assert_eq!(u64::from_le_bytes(buf), u64::from(i));
    });
    x.send(&[0xff; 8])?;
    raw_echo.join()?;
    println!("   mp Pipe send/recv: {}", us(t));
    println!("   raw socketpair send/recv (the floor): {}", us(raw));

    println!("3. Pool(2).apply, one call after the other:");
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()?;
    let t = per_op(2000, |i| {
        let i = u64::from(i);
        assert_eq!(pool.apply(square, (i,)).expect("apply"), i * i);
    });
    println!(
        "   apply: {} (the caller reads the answer from the worker itself)",
        us(t)
    );
    pool.close()?;
    pool.join()?;
    Ok(())
}
