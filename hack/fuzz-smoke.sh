#!/usr/bin/env bash
# A short coverage-guided fuzzing run of every cargo-fuzz target under fuzz/ (CI runs it from
# `make test`). Each target runs FUZZ_SECONDS (default 30) from a random libFuzzer seed, printed
# (FUZZ_SEED sets it; a time-bounded run on a growing corpus is not replayed exactly by it). A
# crash fails the run and leaves its input under fuzz/artifacts/<target>/, which
# `cargo fuzz run -s none -a <target> <file>` replays. The stable toolchain builds the targets
# without a sanitizer (`-s none`), with debug assertions (`-a`) so overflows panic: the code
# under test is safe Rust, so a panic is what the run looks for. Inputs under
# fuzz/seeds/<target>/ start each run (valid objects and keys, so the fuzzer starts deep).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/testenv.sh up fuzz
# shellcheck source=/dev/null
. "${SKIFF_TESTENV_STATE:-$PWD/target/testenv}/fuzz.env"
secs="${FUZZ_SECONDS:-30}"
seed="${FUZZ_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}"
cd fuzz
targets="$("$CARGO_FUZZ" list)"
[ -n "$targets" ] || { echo "[fuzz] cargo fuzz list found no targets under fuzz/" >&2; exit 1; }
mkdir -p ../target
for target in $targets; do
  echo "[fuzz] $target: ${secs}s from seed $seed"
  log="../target/fuzz-$target.log"
  status=0
  mkdir -p "corpus/$target"
  "$CARGO_FUZZ" run "$target" -s none -a "corpus/$target" "seeds/$target" -- \
    -max_total_time="$secs" -seed="$seed" -print_final_stats=1 >"$log" 2>&1 || status=$?
  # libFuzzer prints a line per new input; the stats and any crash report are what matter.
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "[fuzz] $target failed (exit $status); the input is under fuzz/artifacts/$target/"
    exit "$status"
  fi
done
