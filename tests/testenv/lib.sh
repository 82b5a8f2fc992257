# Shared helpers for the test-environment component scripts. Sourced, not run.
# Every component script defines <name>_install, <name>_up, <name>_down and <name>_status.

TESTENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$TESTENV_DIR/../.." && pwd)"
# shellcheck source=../versions.env
. "$REPO_ROOT/tests/versions.env"

# Installs are cached by version outside the repo: CI clones into a fresh folder.
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/skiff-testenv"
# Running servers keep their data, logs, pids and ports here (one set per checkout).
STATE="${SKIFF_TESTENV_STATE:-$REPO_ROOT/target/testenv}"
mkdir -p "$CACHE" "$STATE"

log() { printf '[testenv] %s\n' "$*" >&2; }
die() { printf '[testenv] error: %s\n' "$*" >&2; exit 1; }

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS LOGFILE DESCRIPTION CMD...: polls CMD until it succeeds; on timeout prints
# the tail of LOGFILE and fails.
wait_for() {
  local secs="$1" logfile="$2" what="$3"; shift 3
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then
      log "$what did not become ready within ${secs}s; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

# pid_alive PIDFILE: true when the process named in PIDFILE runs.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE: TERM, then KILL after 15 s, the process (group) named in PIDFILE.
stop_pid() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# start_bg PIDFILE LOGFILE CMD...: starts CMD in its own process group, detached from this shell.
start_bg() {
  local pidfile="$1" logfile="$2"; shift 2
  setsid "$@" >"$logfile" 2>&1 < /dev/null &
  echo $! >"$pidfile"
}

# wait_alive PIDFILE SECONDS LOGFILE DESCRIPTION CMD...: like wait_for, but fails at once when the
# process named in PIDFILE exits, so a server that crashes at start does not cost the whole wait.
wait_alive() {
  local pidfile="$1" secs="$2" logfile="$3" what="$4"; shift 4
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pidfile"; then
      log "$what exited during start; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    if (( SECONDS >= deadline )); then
      log "$what did not become ready within ${secs}s; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.3
  done
}
