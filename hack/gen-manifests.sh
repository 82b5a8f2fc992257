#!/usr/bin/env bash
# Renders manifests/skiff.yaml — the plain `kubectl apply -f` bundle (namespace, CRDs, operator,
# RBAC) — from the Helm chart with its default values, so the two cannot drift.
# With --check, fails when the committed bundle differs from a fresh render instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/helm.sh
. "$root/hack/helm.sh"
namespace=skiff

render() {
  cat <<HEADER
# Skiff: CRDs, the operator and its RBAC in namespace "$namespace", watching every namespace.
# Generated from charts/skiff by hack/gen-manifests.sh (make manifests); do not edit by hand.
#   kubectl apply --server-side -f manifests/skiff.yaml
---
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    app.kubernetes.io/part-of: skiff
    pod-security.kubernetes.io/enforce: restricted
HEADER
  "$HELM" template skiff "$root/charts/skiff" --namespace "$namespace" --include-crds \
    --kube-version "$KUBE_VERSION"
}

out="$root/manifests/skiff.yaml"
if [ "${1:-}" = "--check" ]; then
  diff -u "$out" <(render) >&2 || { echo "manifests/skiff.yaml is out of date: run 'make manifests'" >&2; exit 1; }
  exit 0
fi
mkdir -p "$root/manifests"
render >"$out"
