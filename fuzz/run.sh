#!/usr/bin/env bash
# Runs every cargo-fuzz target of mp for a short while (default 30 s each; FUZZ_SECONDS to
# change). Installs cargo-fuzz if it is missing. cargo-fuzz needs nightly features, which
# RUSTC_BOOTSTRAP=1 unlocks on the pinned stable toolchain.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
secs="${FUZZ_SECONDS:-30}"
for target in codec frame_decoder handshake manager_request pickle pool_wire queue_ring; do
    echo "== fuzzing $target for ${secs}s"
    cargo fuzz run "$target" -- -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
done
echo "fuzz: all targets ran without findings"
