//! Helpers shared by the `queues_*` integration tests: the process helpers of the parity
//! harness (`parity/mod.rs`).

#![allow(dead_code, unused_imports, unreachable_pub)]

#[path = "../parity/mod.rs"]
pub mod parity;

pub use parity::LONG;
pub use parity::processes::{join_ok, start, start_daemon};
