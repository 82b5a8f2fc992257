# An S3 server: versitygw (Apache-2.0) with its posix backend, built from the Go module proxy.
# Sourced by tests/testenv.sh.
#
#   install: $CACHE/versitygw-$VERSITYGW_VERSION/versitygw
#   up:      buckets are folders under $STATE/s3/data, log $STATE/s3/s3.log; writes $STATE/s3.env
#            with S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY (random per start) and S3_REGION

s3_bin() { echo "$CACHE/versitygw-$VERSITYGW_VERSION/versitygw"; }

s3_install() {
  [ -x "$(s3_bin)" ] && return 0
  local home tmp
  home="$CACHE/versitygw-$VERSITYGW_VERSION"; tmp="$home.partial"
  rm -rf "$tmp"; mkdir -p "$tmp"
  GOBIN="$tmp" GOCACHE="$tmp/gocache" GOFLAGS=-buildvcs=false nice -n 10 go install -trimpath -ldflags "-s -w" \
    "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >"$tmp/go.log" 2>&1 \
    || { cat "$tmp/go.log" >&2; die "building versitygw $VERSITYGW_VERSION failed"; }
  rm -rf "$tmp/go.log" "$tmp/gocache" "$home"; mv "$tmp" "$home"
}

s3_up() {
  [ -x "$(s3_bin)" ] || die "s3 is not installed: run \`make testenv\`"
  local dir port access secret
  dir="$STATE/s3"
  s3_down
  mkdir -p "$dir/data"
  port="$(free_port)"
  access="$(python3 -c 'import secrets,string; print("".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20)))')"
  secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')"
  # The keys go through the environment, not the command line, so `ps` does not show them.
  ROOT_ACCESS_KEY_ID="$access" ROOT_SECRET_ACCESS_KEY="$secret" \
    start_bg "$dir/pid" "$dir/s3.log" "$(s3_bin)" --port "127.0.0.1:$port" --region us-east-1 \
    --quiet posix "$dir/data"
  wait_alive "$dir/pid" 30 "$dir/s3.log" "s3" \
    curl -sS -m 2 -o /dev/null "http://127.0.0.1:$port/" \
    || { stop_pid "$dir/pid"; die "versitygw did not start (logs: $dir)"; }
  cat >"$STATE/s3.env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$port
S3_ACCESS_KEY=$access
S3_SECRET_KEY=$secret
S3_REGION=us-east-1
EOF
  chmod 600 "$STATE/s3.env"
  log "s3 up: http://127.0.0.1:$port (versitygw $VERSITYGW_VERSION)"
}

s3_down() {
  stop_pid "$STATE/s3/pid"
  rm -f "$STATE/s3.env"
  rm -rf "$STATE/s3"
}

s3_status() { [ -f "$STATE/s3.env" ] && pid_alive "$STATE/s3/pid"; }
