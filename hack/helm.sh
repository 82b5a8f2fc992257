# shellcheck shell=bash disable=SC2015
# Sourced by the hack/ scripts: sets HELM to a helm binary — $HELM, the test environment's
# (tests/testenv.sh up helm), or one on PATH.
if [ -z "${HELM:-}" ]; then
  _env="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/testenv/helm.env"
  if [ ! -f "$_env" ]; then
    bash "$(dirname "${BASH_SOURCE[0]}")/../tests/testenv.sh" up helm >/dev/null 2>&1 || true
  fi
  if [ -f "$_env" ]; then
    HELM="$(sed -n 's/^HELM=//p' "$_env")"
  else
    HELM="$(command -v helm || true)"
  fi
  unset _env
fi
[ -n "$HELM" ] && [ -x "$HELM" ] || { echo "helm not found: run 'make testenv' or set HELM" >&2; exit 1; }
# The Kubernetes version charts are rendered for (the test environment's API server).
KUBE_VERSION="${KUBE_VERSION:-$(sed -n 's/^KUBERNETES_VERSION=//p' "$(dirname "${BASH_SOURCE[0]}")/../tests/versions.env")}"
