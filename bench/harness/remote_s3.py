"""A remote-looking S3 for the backup: toxiproxy (from the test environment) in front of the
local S3 server, adding per-request latency and a per-connection bandwidth cap, so the effect of
uploading while consuming shows on one machine."""

import json
import urllib.request

from . import util

LATENCY_MS = 60
BANDWIDTH_KB_S = 100_000


def _api(base, method, path, body):
    req = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=util.HTTP_TIMEOUT_S) as r:
        return json.loads(r.read() or b"null")


class RemoteS3:
    """A toxiproxy proxy to the S3 server; `endpoint` is None when toxiproxy is not running."""

    def __init__(self, env, name):
        self.endpoint = None
        try:
            self.base = util.testenv_env(("toxiproxy",))["TOXIPROXY_URL"]
        except (OSError, KeyError):
            return
        self.name = name
        port = util.free_port()
        upstream = env["S3_ENDPOINT"].removeprefix("http://")
        _api(self.base, "POST", "/proxies",
             {"name": name, "listen": f"127.0.0.1:{port}", "upstream": upstream})
        _api(self.base, "POST", f"/proxies/{name}/toxics",
             {"name": "latency", "type": "latency", "stream": "upstream",
              "attributes": {"latency": LATENCY_MS}})
        _api(self.base, "POST", f"/proxies/{name}/toxics",
             {"name": "bandwidth", "type": "bandwidth", "stream": "upstream",
              "attributes": {"rate": BANDWIDTH_KB_S}})
        self.endpoint = f"http://127.0.0.1:{port}"

    def close(self):
        if self.endpoint:
            req = urllib.request.Request(f"{self.base}/proxies/{self.name}", method="DELETE")
            urllib.request.urlopen(req, timeout=util.HTTP_TIMEOUT_S).close()
