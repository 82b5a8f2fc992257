"""Paths, logging and small HTTP helpers shared by the harness modules."""

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The release binary is built into its own target dir so a benchmark build never waits on (or
# blocks) the workspace's shared target/ lock.
TARGET_DIR = os.environ.get("SKIFF_BENCH_TARGET_DIR", os.path.join(REPO, "target", "bench-build"))
HTTP_TIMEOUT_S = 10


class BenchError(Exception):
    """A step of the benchmark could not be carried out."""


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(base, "skiff-testenv")


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def entry(main):
    """Runs a benchmark's `main`, turning a BenchError into a one-line exit message."""
    try:
        main()
    except BenchError as e:
        sys.exit(f"[bench] error: {e}")


def write_results(name, text):
    """Writes bench/results/<name> and says where."""
    path = os.path.join(REPO, "bench", "results", name)
    with open(path, "w") as f:
        f.write(text)
    say(f"wrote {path}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    """Returns (status, parsed JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return 0, None


def wait_until(what, fn, timeout_s, period=0.1, progress=None):
    """Polls `fn` until it returns a true value; prints `progress()` every 5 s."""
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        if progress and time.monotonic() - last > 5:
            say(progress())
            last = time.monotonic()
        time.sleep(period)
    raise BenchError(f"timed out after {timeout_s}s waiting for {what}")


def testenv_env(components=("kafka", "s3")):
    """KEY=VALUE pairs the running test environment wrote for `components`."""
    state = os.environ.get("SKIFF_TESTENV_STATE", os.path.join(REPO, "target", "testenv"))
    env = {}
    for c in components:
        with open(os.path.join(state, f"{c}.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env[k] = v
    return env
