# Sourced by the bench scripts: moves to the repository's root and builds the release binaries
# named by `bench_build`'s arguments (`skiff-worker`, `skiff-operator`) into
# SKIFF_BENCH_TARGET_DIR (target/bench-build by default), apart from the workspace's target/,
# so a benchmark build never waits on other builds.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SKIFF_BENCH_TARGET_DIR="${SKIFF_BENCH_TARGET_DIR:-$root/target/bench-build}"

bench_build() {
  local args=() bin
  for bin in "$@"; do
    args+=(-p "$bin" --bin "$bin")
  done
  echo "[bench] building $* (release) into $SKIFF_BENCH_TARGET_DIR"
  CARGO_TARGET_DIR="$SKIFF_BENCH_TARGET_DIR" nice -n 10 cargo build -q --release "${args[@]}"
}
