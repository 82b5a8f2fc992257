# Component schemathesis: the `st` CLI (MIT, from PyPI) in its own virtualenv, for the REST API
# test against the worker's OpenAPI document. Nothing runs; `up` only publishes the path.
# Sourced by tests/testenv.sh.
#
#   install: $CACHE/schemathesis-$SCHEMATHESIS_VERSION/bin/st
#   up:      writes $STATE/schemathesis.env with SCHEMATHESIS (the st binary)

SCHEMATHESIS_HOME="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"

schemathesis_install() {
  # A virtualenv names its own path in its scripts, so it is built in place; the marker, written
  # last, tells a finished install from an interrupted one.
  [ -f "$SCHEMATHESIS_HOME/.installed" ] && return 0
  rm -rf "$SCHEMATHESIS_HOME"
  python3 -m venv "$SCHEMATHESIS_HOME" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$SCHEMATHESIS_HOME/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    >"$SCHEMATHESIS_HOME/install.log" 2>&1 \
    || { cat "$SCHEMATHESIS_HOME/install.log" >&2; die "installing schemathesis $SCHEMATHESIS_VERSION failed"; }
  "$SCHEMATHESIS_HOME/bin/st" --version >/dev/null || die "schemathesis does not run after install"
  touch "$SCHEMATHESIS_HOME/.installed"
}

schemathesis_up() {
  [ -f "$SCHEMATHESIS_HOME/.installed" ] || die "schemathesis is not installed: run \`make testenv\`"
  printf 'SCHEMATHESIS=%s\n' "$SCHEMATHESIS_HOME/bin/st" >"$STATE/schemathesis.env"
}

schemathesis_down() { rm -f "$STATE/schemathesis.env"; }

schemathesis_status() { [ -f "$SCHEMATHESIS_HOME/.installed" ] && [ -f "$STATE/schemathesis.env" ]; }
