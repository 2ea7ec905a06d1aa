#!/usr/bin/env bash
# Runs every fuzz target for a while: `fuzz/run.sh [seconds per target]` (needs nightly and
# cargo-fuzz). Each target is listed here.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-60}"
TARGETS=(
  manager_request
)
for t in "${TARGETS[@]}"; do
  echo "== fuzzing $t for ${SECS}s"
  cargo +nightly fuzz run "$t" -- -max_total_time="$SECS" -rss_limit_mb=2048
done
