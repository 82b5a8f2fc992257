#!/usr/bin/env bash
# Benchmarks: Skiff against Apache Kafka Connect (Instaclustr's S3 connectors) and against the
# pipe's limit, on this machine, in one run. Results: bench/results/<mode>.{md,csv}.
#
#   bash bench/run.sh quick   under two minutes once built (make bench-quick)
#   bash bench/run.sh full    larger data, 100 KiB records, 10,000 partitions (make bench)
#
# The Java peer runs when SKIFF_BENCH_PEER_PLUGIN names a plugin.path folder holding an S3
# connector for Apache Connect with Instaclustr's class names (a folder of its jars and their
# dependencies, built from github.com/instaclustr/kafka-connect-connectors at 47760c7 with
# `mvn -pl s3 package`); both workers then reach S3 over https (bench/README.md). Maven Central,
# the only registry this machine reaches, serves none, so it is skipped by default and
# the report says so. The release binary is built into target/bench-build
# (SKIFF_BENCH_TARGET_DIR), apart from the workspace's target/, so it never waits on other builds.
set -euo pipefail
mode="${1:-quick}"
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
bench_build skiff-worker

if [ -n "${SKIFF_BENCH_PEER_PLUGIN:-}" ]; then
  tests/testenv.sh install connect
fi
tests/testenv.sh up kafka s3 toxiproxy
command -v kcat >/dev/null || echo "[bench] kcat not found: the consumer limit uses Kafka's Java ConsumerPerformance (apt-get install kcat for librdkafka)"
exec python3 -m bench.harness.main "$mode"
