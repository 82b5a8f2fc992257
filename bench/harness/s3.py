"""A minimal S3 client (path-style, SigV4, standard library only) for the benchmark's own calls:
bucket creation, listing, deletion and the raw PUT-rate probe. The workers under test use their
own SDKs; this one only has to be cheap and predictable."""

import datetime
import hashlib
import hmac
import http.client
import time
import urllib.parse
import xml.etree.ElementTree as ET

from . import util

TIMEOUT_S = 30
UNSIGNED = "UNSIGNED-PAYLOAD"


class S3Error(Exception):
    """An S3 call answered with a status outside 2xx."""


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _quote(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


class S3:
    """One endpoint and one key pair; each call opens or reuses one HTTP connection."""

    def __init__(self, endpoint, access_key, secret_key, region):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port or 80
        self.netloc = u.netloc
        self.access_key, self.secret_key, self.region = access_key, secret_key, region

    @classmethod
    def from_env(cls, env):
        """The test environment's S3 server (`util.testenv_env()`)."""
        return cls(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], env["S3_REGION"])

    def connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)

    def _headers(self, method, path, query):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        cq = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
        headers = {"host": self.netloc, "x-amz-content-sha256": UNSIGNED, "x-amz-date": amz_date}
        names = ";".join(sorted(headers))
        canon_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
        canonical = "\n".join([method, _quote(path, "/-_.~"), cq, canon_headers, names, UNSIGNED])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = _hmac(("AWS4" + self.secret_key).encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={sig}"
        )
        return headers, cq

    def request(self, method, path, query=None, body=b"", conn=None):
        """Sends one signed request; returns the body. `conn` lets a caller keep a connection."""
        query = query or {}
        headers, cq = self._headers(method, path, query)
        own = conn is None
        conn = conn or self.connection()
        try:
            url = _quote(path, "/-_.~") + (f"?{cq}" if cq else "")
            conn.request(method, url, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status // 100 != 2:
                raise S3Error(f"{method} {path}: {resp.status} {data[:200]!r}")
            return data
        finally:
            if own:
                conn.close()

    def create_bucket(self, bucket):
        self.request("PUT", f"/{bucket}")

    def list_keys(self, bucket, prefix="", max_keys=1000):
        """Yields (key, size) of every object under `prefix`."""
        token = None
        while True:
            q = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)}
            if token:
                q["continuation-token"] = token
            root = ET.fromstring(self.request("GET", f"/{bucket}", q))
            ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
            for c in root.iter(f"{ns}Contents"):
                yield c.find(f"{ns}Key").text, int(c.find(f"{ns}Size").text)
            token_el = root.find(f"{ns}NextContinuationToken")
            if root.findtext(f"{ns}IsTruncated") != "true" or token_el is None:
                return
            token = token_el.text

    def any_object(self, bucket, prefix):
        """True once at least one object exists under `prefix`."""
        return next(iter(self.list_keys(bucket, prefix, max_keys=1)), None) is not None

    def delete_prefix(self, bucket, prefix=""):
        conn = self.connection()
        try:
            for key, _ in list(self.list_keys(bucket, prefix)):
                self.request("DELETE", f"/{bucket}/{key}", conn=conn)
        finally:
            conn.close()


def bench_session(tag):
    """The test environment, its S3 server, this run's id (the time) and a new bucket named for
    `tag` and the id."""
    env = util.testenv_env()
    s3 = S3.from_env(env)
    run_id = time.strftime("%H%M%S")
    bucket = f"skiff-bench-{tag}-{run_id}"
    s3.create_bucket(bucket)
    return env, s3, run_id, bucket
