# Go build helpers shared by k8s.sh and helm.sh. Sourced, not run.
# Everything here is built from the Go module proxy; nothing else is downloaded.

# Wrapper Go modules that pin the Kubernetes and etcd builds (committed with their go.sum).
# shellcheck disable=SC2034 # used by k8s.sh and pin-kubernetes.sh
K8S_MODULES="$TESTENV_DIR/k8s"

# go_cached_build NAME BUILD_FN: runs `BUILD_FN HOME` (binaries go to HOME/bin) in a scratch folder
# that becomes $CACHE/NAME only when it succeeded, so a failed or interrupted build is never used.
go_cached_build() {
  local name="$1" build="$2" dest="$CACHE/$1" tmp start=$SECONDS
  [ -d "$dest" ] && return 0
  command -v go >/dev/null || die "go is not installed (needed to build $name)"
  tmp="$(mktemp -d "$CACHE/.$name.XXXXXX")"
  chmod 755 "$tmp"
  mkdir -p "$tmp/bin"
  log "building $name (first time only; log: $tmp/build.log)"
  # A scratch build cache, dropped afterwards: the Kubernetes build leaves gigabytes there.
  if ! GOCACHE="$tmp/gocache" "$build" "$tmp" >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    rm -rf "$tmp"
    die "building $name failed"
  fi
  rm -rf "$tmp/gocache"
  mv -T "$tmp" "$dest"
  log "built $name in $((SECONDS - start))s"
}

# go_env CMD...: runs a Go command without a workspace, cgo or toolchain switching, at low priority.
go_env() { GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false nice -n 10 "$@"; }

# go_module_dir MODULE@VERSION: prints the module's folder in the Go module cache, downloading it.
go_module_dir() {
  go_env go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}
