#!/usr/bin/env bash
# The operator's figures: time for N KafkaConnectors (default 1,000) to become Ready, and the
# operator's memory, against the test environment's real API server and a Skiff worker.
# Results: bench/results/operator.md.
set -euo pipefail
count="${1:-1000}"
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
bench_build skiff-worker skiff-operator
tests/testenv.sh up kafka s3 k8s
exec python3 -m bench.harness.operator "$count"
