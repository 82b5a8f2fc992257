"""An https door to the test environment's S3 server, for the Java peer: a second versitygw on the
same folders with a certificate for 127.0.0.1 from a throwaway CA. Instaclustr's connector (AWS SDK v1)
signs an upload's body in chunks over http and then never finishes an upload here (its task
waits on its own PipedInputStream; see bench/README.md); over https the SDK sends the body
unsigned. Both workers use this door in a run with the peer, so the comparison is like for like."""

import os
import signal
import subprocess
import tempfile
import time

from . import util


def _versitygw():
    version = None
    with open(os.path.join(util.REPO, "tests", "versions.env")) as f:
        for line in f:
            if line.startswith("VERSITYGW_VERSION="):
                version = line.strip().split("=", 1)[1]
    path = os.path.join(util.cache_dir(), f"versitygw-{version}", "versitygw")
    if not os.path.exists(path):
        raise util.BenchError(f"{path} is missing: tests/testenv.sh install s3")
    return path


def _run(cmd, what):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise util.BenchError(f"{what} failed: {done.stderr.strip()[-400:]}")


class TlsS3:
    """A running https gateway: `endpoint`, its CA certificate as PEM (`ca_file`, what a Rust
    client trusts through SSL_CERT_FILE) and as a PKCS12 trust store (`trust_store`, password
    `changeit`, for Java)."""

    def __init__(self, env):
        state = os.environ.get("SKIFF_TESTENV_STATE", os.path.join(util.REPO, "target", "testenv"))
        data = os.path.join(state, "s3", "data")
        if not os.path.isdir(data):
            raise util.BenchError(f"{data} is missing: the test environment's s3 is not up")
        self.dir = tempfile.mkdtemp(prefix="skiff-bench-tls-s3-")
        path = lambda name: os.path.join(self.dir, name)  # noqa: E731
        self.ca_file, self.trust_store = path("ca.pem"), path("trust.p12")
        key, cert = path("key.pem"), path("cert.pem")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        # rustls takes no CA certificate as a server's own, so a CA signs the server's.
        _run(["openssl", "req", "-x509", *ec, "-keyout", path("ca-key.pem"), "-out", self.ca_file,
              "-days", "2", "-subj", "/CN=skiff bench CA"], "making a CA with openssl")
        _run(["openssl", "req", *ec, "-keyout", key, "-out", path("cert.csr"),
              "-subj", "/CN=127.0.0.1"], "making a certificate request with openssl")
        with open(path("ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        _run(["openssl", "x509", "-req", "-in", path("cert.csr"), "-CA", self.ca_file,
              "-CAkey", path("ca-key.pem"), "-CAcreateserial", "-days", "2", "-out", cert,
              "-extfile", path("ext.cnf")], "signing the certificate with openssl")
        _run(["keytool", "-importcert", "-noprompt", "-alias", "s3", "-file", self.ca_file,
              "-keystore", self.trust_store, "-storetype", "PKCS12", "-storepass", "changeit"],
             "making a Java trust store with keytool")
        port = util.free_port()
        self.endpoint = f"https://127.0.0.1:{port}"
        log = open(os.path.join(self.dir, "s3.log"), "wb")
        # The keys go through the environment, not the command line, so `ps` does not show them.
        self.proc = subprocess.Popen(
            [_versitygw(), "--port", f"127.0.0.1:{port}", "--region", env["S3_REGION"],
             "--cert", cert, "--key", key, "--quiet", "posix", data],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "ROOT_ACCESS_KEY_ID": env["S3_ACCESS_KEY"],
                 "ROOT_SECRET_ACCESS_KEY": env["S3_SECRET_KEY"]})
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-sS", "-m", "2", "--cacert", self.ca_file, "-o",
                              os.devnull, self.endpoint + "/"], capture_output=True).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise util.BenchError(f"the https S3 gateway did not start (log: {self.dir}/s3.log)")
            time.sleep(0.1)

    def worker_env(self, env):
        """`env` with the workers' S3 endpoint moved to this gateway."""
        return {**env, "S3_ENDPOINT": self.endpoint, "S3_CA_FILE": self.ca_file,
                "S3_TRUST_STORE": self.trust_store}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
