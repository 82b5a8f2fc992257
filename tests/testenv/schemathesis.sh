# Component schemathesis: the `st` CLI (MIT, from PyPI) in its own virtualenv, for the REST API
# test against the worker's OpenAPI document. Nothing runs; `up` only publishes the path.
# Sourced by tests/testenv.sh.
#
#   install: $CACHE/schemathesis-$SCHEMATHESIS_VERSION/bin/st
#   up:      writes $STATE/schemathesis.env with SCHEMATHESIS (the st binary)

SCHEMATHESIS_HOME="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"

schemathesis_install() {
  [ -x "$SCHEMATHESIS_HOME/bin/st" ] && return 0
  local tmp="$SCHEMATHESIS_HOME.partial"
  rm -rf "$tmp"
  python3 -m venv "$tmp" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$tmp/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >"$tmp.log" 2>&1 \
    || { cat "$tmp.log" >&2; die "installing schemathesis $SCHEMATHESIS_VERSION failed"; }
  rm -f "$tmp.log"
  # A virtualenv's scripts name its interpreter by absolute path: build in place, then move.
  rm -rf "$SCHEMATHESIS_HOME"; mv "$tmp" "$SCHEMATHESIS_HOME"
  sed -i "1s|^#!.*|#!$SCHEMATHESIS_HOME/bin/python3|" "$SCHEMATHESIS_HOME"/bin/st
  sed -i "s|$tmp|$SCHEMATHESIS_HOME|g" "$SCHEMATHESIS_HOME/bin/activate" "$SCHEMATHESIS_HOME/pyvenv.cfg"
  "$SCHEMATHESIS_HOME/bin/st" --version >/dev/null || die "schemathesis does not run after install"
}

schemathesis_up() {
  [ -x "$SCHEMATHESIS_HOME/bin/st" ] || die "schemathesis is not installed: run \`make testenv\`"
  printf 'SCHEMATHESIS=%s\n' "$SCHEMATHESIS_HOME/bin/st" >"$STATE/schemathesis.env"
}

schemathesis_down() { rm -f "$STATE/schemathesis.env"; }

schemathesis_status() { [ -x "$SCHEMATHESIS_HOME/bin/st" ] && [ -f "$STATE/schemathesis.env" ]; }
