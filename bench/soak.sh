#!/usr/bin/env bash
# Memory of a long-lived worker: round after round of backup and restore on one worker process.
# Results: bench/results/soak.md.
set -euo pipefail
rounds="${1:-12}"
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
bench_build skiff-worker
tests/testenv.sh up kafka s3
exec python3 -m bench.harness.soak "$rounds"
