#!/usr/bin/env bash
# Where a backup spends its CPU: a 1 GB backup with three compression settings, the default one
# sampled with perf. Results: bench/results/profile.md.
set -euo pipefail
records="${1:-1000000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SKIFF_BENCH_TARGET_DIR="${SKIFF_BENCH_TARGET_DIR:-$root/target/bench-build}"
echo "[bench] building skiff-worker (release) into $SKIFF_BENCH_TARGET_DIR"
CARGO_TARGET_DIR="$SKIFF_BENCH_TARGET_DIR" nice -n 10 cargo build -q --release -p skiff-worker --bin skiff-worker
tests/testenv.sh up kafka s3
command -v perf >/dev/null || echo "[bench] perf not found: throughput only (apt-get install linux-perf)"
exec python3 -m bench.harness.profile "$records"
