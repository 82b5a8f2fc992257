# Component fuzz: cargo-fuzz (from crates.io), for the short fuzzing run of `make fuzz-smoke`.
# Nothing runs; `up` only publishes the path. Sourced by tests/testenv.sh.
#
#   install: $CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION/bin/cargo-fuzz
#   up:      writes $STATE/fuzz.env with CARGO_FUZZ (the binary)

CARGO_FUZZ_HOME="$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"

fuzz_install() {
  [ -x "$CARGO_FUZZ_HOME/bin/cargo-fuzz" ] && return 0
  local tmp="$CARGO_FUZZ_HOME.partial"
  rm -rf "$tmp"
  nice -n 10 cargo install -q --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$tmp" \
    >"$tmp.log" 2>&1 || { cat "$tmp.log" >&2; die "installing cargo-fuzz $CARGO_FUZZ_VERSION failed"; }
  rm -f "$tmp.log" "$tmp/.crates.toml" "$tmp/.crates2.json"
  rm -rf "$CARGO_FUZZ_HOME"; mv "$tmp" "$CARGO_FUZZ_HOME"
}

fuzz_up() {
  [ -x "$CARGO_FUZZ_HOME/bin/cargo-fuzz" ] || die "cargo-fuzz is not installed: run \`make testenv\`"
  printf 'CARGO_FUZZ=%s\n' "$CARGO_FUZZ_HOME/bin/cargo-fuzz" >"$STATE/fuzz.env"
}

fuzz_down() { rm -f "$STATE/fuzz.env"; }

fuzz_status() { [ -x "$CARGO_FUZZ_HOME/bin/cargo-fuzz" ] && [ -f "$STATE/fuzz.env" ]; }
