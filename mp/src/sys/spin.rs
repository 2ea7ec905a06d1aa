//! Whether a waiter should spin before it sleeps: adapted per thread to what spinning earned.
//!
//! On a VM, waking a process that sleeps on another CPU costs ~30 us each way, far more than a
//! peer that answers at once takes, so a waiter spins a little first (only when the thread
//! may run on more than one CPU: see [`super::spinning_pays`]). Spinning pays only while the
//! peer answers within the window: with more runnable processes than CPUs (say eight
//! ping-pong pairs on two CPUs) the peer is not running, every spin ends in a sleep anyway,
//! and the spinning keeps the peers from running (each round trip burnt 70-84 us of CPU, and
//! the pairs made a quarter of CPython's round trips). So after [`GIVE_UP`] spins in a row
//! that ended in a sleep, the thread sleeps at once, and spins on one wait in [`PROBE_EVERY`]
//! to notice when spinning pays again; a spin that gets its answer starts over. Used by
//! `Connection` reads and the queues' waits.

use std::cell::Cell;

/// Spins in a row that ended in a sleep before the thread stops spinning.
pub(crate) const GIVE_UP: u32 = 2;
/// While it does not spin, one wait in this many spins anyway (a probe).
pub(crate) const PROBE_EVERY: u32 = 64;

thread_local! {
    /// Waits since the last spin that paid (past `GIVE_UP`: not spinning).
    static MISSES: Cell<u32> = const { Cell::new(0) };
}

/// Whether this wait should spin first; when not, the wait is counted.
pub(crate) fn first() -> bool {
    if !super::spinning_pays() {
        return false;
    }
    MISSES
        .try_with(|m| {
            let n = m.get();
            if n < GIVE_UP || (n - GIVE_UP) % PROBE_EVERY == PROBE_EVERY - 1 {
                return true;
            }
            m.set(n.saturating_add(1));
            false
        })
        .unwrap_or(false)
}

/// Records how a spin that [`first`] allowed ended: `paid` if the answer came while spinning.
pub(crate) fn ended(paid: bool) {
    let _ = MISSES.try_with(|m| m.set(if paid { 0 } else { m.get().saturating_add(1) }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_stops_after_misses_and_probes_again() {
        if !crate::sys::spinning_pays() {
            return; // one CPU: never spins
        }
        ended(true);
        assert!(first());
        for _ in 0..GIVE_UP {
            ended(false);
        }
        // Not spinning now, except one wait in PROBE_EVERY (a probe that does not pay).
        let mut spins = 0;
        for _ in 0..PROBE_EVERY * 2 {
            if first() {
                spins += 1;
                ended(false);
            }
        }
        assert_eq!(spins, 2);
        // A spin that pays starts over.
        ended(true);
        assert!(first() && first());
    }
}
