#!/usr/bin/env bash
# Failover of a two-worker distributed cluster, Skiff against Apache Kafka Connect 4.3.1, on the
# test environment's Kafka: bench/results/failover.md. About 15 minutes, most of it Apache's
# 5-minute scheduled rebalance delay; progress every 5 s. See bench/harness/failover.py.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
bench_build skiff-worker
tests/testenv.sh install connect
tests/testenv.sh up kafka
exec python3 -m bench.harness.failover
