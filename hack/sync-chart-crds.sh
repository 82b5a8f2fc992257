#!/usr/bin/env bash
# Copies the generated CRDs (crds/, from `make crds`) into the Helm chart, so the chart cannot
# drift from the Rust types. With --check, fails when the chart's copies differ instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/crds" dst="$root/charts/skiff/crds"
if [ "${1:-}" = "--check" ]; then
  diff -ru "$src" "$dst" || { echo "charts/skiff/crds differs from crds/: run 'make chart'" >&2; exit 1; }
  exit 0
fi
mkdir -p "$dst"
rm -f "$dst"/*.yaml
cp "$src"/*.yaml "$dst"/
