#!/usr/bin/env bash
# `make demo`: builds the worker and the demo driver, then runs the backup-and-restore round trip
# (worker/examples/demo.rs) against Kafka and an S3 server started on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[demo] building skiff-worker ..."
cargo build -q -p skiff-worker --bin skiff-worker --example demo
exec target/debug/examples/demo
