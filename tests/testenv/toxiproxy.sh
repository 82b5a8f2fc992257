# A fault-injecting TCP proxy: toxiproxy (MIT), built from the Go module proxy. Tests put it
# between a worker and S3 or Kafka and cut, slow down or reset connections through its HTTP API.
# Sourced by tests/testenv.sh.
#
#   install: $CACHE/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server
#   up:      API on 127.0.0.1, log $STATE/toxiproxy/toxiproxy.log; writes $STATE/toxiproxy.env
#            with TOXIPROXY_URL

toxiproxy_bin() { echo "$CACHE/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server"; }

toxiproxy_install() {
  [ -x "$(toxiproxy_bin)" ] && return 0
  local home tmp
  home="$CACHE/toxiproxy-$TOXIPROXY_VERSION"; tmp="$home.partial"
  rm -rf "$tmp"; mkdir -p "$tmp"
  GOBIN="$tmp" GOCACHE="$tmp/gocache" GOFLAGS=-buildvcs=false nice -n 10 go install -trimpath -ldflags "-s -w" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >"$tmp/go.log" 2>&1 \
    || { cat "$tmp/go.log" >&2; die "building toxiproxy $TOXIPROXY_VERSION failed"; }
  mv "$tmp/server" "$tmp/toxiproxy-server"
  rm -rf "$tmp/go.log" "$tmp/gocache" "$home"; mv "$tmp" "$home"
}

toxiproxy_up() {
  [ -x "$(toxiproxy_bin)" ] || die "toxiproxy is not installed: run \`make testenv\`"
  local dir port
  dir="$STATE/toxiproxy"
  toxiproxy_down
  mkdir -p "$dir"
  port="$(free_port)"
  start_bg "$dir/pid" "$dir/toxiproxy.log" "$(toxiproxy_bin)" -host 127.0.0.1 -port "$port"
  wait_alive "$dir/pid" 30 "$dir/toxiproxy.log" "toxiproxy" \
    curl -sSf -m 2 -o /dev/null "http://127.0.0.1:$port/version" \
    || { stop_pid "$dir/pid"; die "toxiproxy did not start (logs: $dir)"; }
  echo "TOXIPROXY_URL=http://127.0.0.1:$port" >"$STATE/toxiproxy.env"
  log "toxiproxy up: http://127.0.0.1:$port ($TOXIPROXY_VERSION)"
}

toxiproxy_down() {
  stop_pid "$STATE/toxiproxy/pid"
  rm -f "$STATE/toxiproxy.env"
  rm -rf "$STATE/toxiproxy"
}

toxiproxy_status() { [ -f "$STATE/toxiproxy.env" ] && pid_alive "$STATE/toxiproxy/pid"; }
