#!/usr/bin/env bash
# Failover of a two-worker distributed cluster, Skiff against Apache Kafka Connect 4.3.1, on the
# test environment's Kafka: bench/results/failover.md. About 15 minutes, most of it Apache's
# 5-minute scheduled rebalance delay; progress every 5 s. See bench/harness/failover.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SKIFF_BENCH_TARGET_DIR="${SKIFF_BENCH_TARGET_DIR:-$root/target/bench-build}"
echo "[bench] building skiff-worker (release) into $SKIFF_BENCH_TARGET_DIR"
CARGO_TARGET_DIR="$SKIFF_BENCH_TARGET_DIR" nice -n 10 cargo build -q --release -p skiff-worker --bin skiff-worker
tests/testenv.sh install connect
tests/testenv.sh up kafka
exec python3 -m bench.harness.failover
