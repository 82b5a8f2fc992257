# Component helm: the helm CLI, for chart lint/template tests and installs into the k8s component.
# Nothing runs; `up` only publishes the binary's path. Sourced by tests/testenv.sh.
# shellcheck source-path=SCRIPTDIR source=k8s/go-build.sh
. "$TESTENV_DIR/k8s/go-build.sh"

HELM_HOME="$CACHE/helm-$HELM_VERSION"

helm_build() {
  local p=helm.sh/helm/v3/internal/version
  GOBIN="$1/bin" go_env go install -trimpath \
    -ldflags "-s -w -X $p.version=$HELM_VERSION -X $p.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

helm_install() { go_cached_build "helm-$HELM_VERSION" helm_build; }

helm_up() {
  [ -x "$HELM_HOME/bin/helm" ] || die "helm is not installed: run \`make testenv\`"
  printf 'HELM=%s\n' "$HELM_HOME/bin/helm" >"$STATE/helm.env"
}

helm_down() { rm -f "$STATE/helm.env"; }

# Up once installed and published, so `up helm` writes helm.env the first time.
helm_status() { [ -x "$HELM_HOME/bin/helm" ] && [ -f "$STATE/helm.env" ]; }
