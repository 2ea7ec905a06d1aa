//! Executors for the async tests: each future runs on a fresh single-threaded executor (tokio's
//! current-thread runtime, or async-io's `block_on`) in a thread of its own, and the test fails
//! if it does not finish within `LONG`. Single-threaded on purpose: a future that blocked its
//! executor's only thread would starve the other half of the test (see `both`) and time out.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

pub const LONG: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub enum Rt {
    Tokio,
    AsyncIo,
}

pub const RUNTIMES: [Rt; 2] = [Rt::Tokio, Rt::AsyncIo];

/// Runs the future that `make` builds on `rt`, bounded by `LONG`.
pub fn run<R, F>(rt: Rt, make: impl FnOnce() -> F + Send + 'static) -> R
where
    R: Send + 'static,
    F: Future<Output = R> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = match rt {
            Rt::Tokio => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(make()),
            Rt::AsyncIo => async_io::block_on(make()),
        };
        let _ = tx.send(r);
    });
    rx.recv_timeout(LONG)
        .unwrap_or_else(|_| panic!("the future did not finish within {LONG:?} on {rt:?}"))
}

/// Polls `a` and `b` together on the current task until both are done.
pub async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// `Some(output)` if `f` finishes before `limit`, else `None` (and `f` is dropped: what a
/// cancelled future leaves is then checked by the caller).
pub async fn within<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    let mut f = Box::pin(f);
    let mut timer: Pin<Box<async_io::Timer>> = Box::pin(async_io::Timer::after(limit));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Sleeps without blocking the executor.
pub async fn nap(d: Duration) {
    async_io::Timer::after(d).await;
}

/// The next item of a stream.
pub async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Runs `f` beside a counter that naps 10 ms three times, and returns `f`'s output with the
/// count: 3 if `f` left the executor's thread free while it waited.
pub async fn beside_a_counter<F: Future>(f: F) -> (F::Output, u32) {
    let mut ticks = 0;
    let counting = async {
        while ticks < 3 {
            nap(Duration::from_millis(10)).await;
            ticks += 1;
        }
    };
    let (out, ()) = both(f, counting).await;
    (out, ticks)
}
