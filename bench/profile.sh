#!/usr/bin/env bash
# Where a backup spends its CPU: a 1 GB backup with three compression settings, the default one
# sampled with perf. Results: bench/results/profile.md.
set -euo pipefail
records="${1:-1000000}"
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
bench_build skiff-worker
tests/testenv.sh up kafka s3
command -v perf >/dev/null || echo "[bench] perf not found: throughput only (apt-get install linux-perf)"
exec python3 -m bench.harness.profile "$records"
