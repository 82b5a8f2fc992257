#!/usr/bin/env bash
# The operator's figures: time for N KafkaConnectors (default 1,000) to become Ready, and the
# operator's memory, against the test environment's real API server and a Skiff worker.
# Results: bench/results/operator.md.
set -euo pipefail
count="${1:-1000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SKIFF_BENCH_TARGET_DIR="${SKIFF_BENCH_TARGET_DIR:-$root/target/bench-build}"
echo "[bench] building skiff-worker and skiff-operator (release) into $SKIFF_BENCH_TARGET_DIR"
CARGO_TARGET_DIR="$SKIFF_BENCH_TARGET_DIR" nice -n 10 cargo build -q --release \
  -p skiff-worker --bin skiff-worker -p skiff-operator --bin skiff-operator
tests/testenv.sh up kafka s3 k8s
exec python3 -m bench.harness.operator "$count"
