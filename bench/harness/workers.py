"""The two workers under test, each a real process in standalone mode driven through the Connect
REST API: Skiff's release binary and Apache Kafka Connect with Instaclustr's S3 connectors."""

import glob
import os
import signal
import subprocess
import tempfile
import time

from . import util

START_TIMEOUT_S = 120
SINK_CLASS = "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector"
SOURCE_CLASS = "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceConnector"
BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
# Both workers close an object at 5 MiB (Instaclustr's fixed per-partition buffer) and after
# FLUSH_INTERVAL_MS (Skiff's flush.interval.ms; the peer's offset.flush.interval.ms, which is
# when Instaclustr's sink uploads what it holds).
FLUSH_BYTES = 5 * 1024 * 1024
FLUSH_INTERVAL_MS = 2000


def skiff_binary():
    path = os.path.join(util.TARGET_DIR, "release", "skiff-worker")
    if not os.path.exists(path):
        raise util.BenchError(f"{path} is missing: bench/run.sh builds it")
    return path


class Worker:
    """A started worker process: its pid, REST URL and a scratch folder for its files."""

    name = "worker"

    def __init__(self, env):
        self.env = env
        self.dir = tempfile.mkdtemp(prefix=f"skiff-bench-{self.name}-")
        self.port = util.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.startup_s = None

    def command(self):
        raise NotImplementedError

    def ready(self):
        return util.http("GET", f"{self.url}/health")[0] == 200

    def start(self):
        log = open(os.path.join(self.dir, "worker.log"), "wb")
        cmd, extra_env = self.command()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env={**os.environ, **extra_env},
                                     start_new_session=True)
        deadline = t0 + START_TIMEOUT_S
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise util.BenchError(f"{self.name} did not start (log: {self.dir}/worker.log)")
            time.sleep(0.005)
        self.startup_s = time.monotonic() - t0
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def create(self, name, config):
        status, body = util.http("POST", f"{self.url}/connectors", {"name": name, "config": config})
        if status != 201:
            raise util.BenchError(f"{self.name}: POST /connectors {name}: {status} {body}")

    def delete(self, name):
        util.http("DELETE", f"{self.url}/connectors/{name}")

    def committed(self, name, topic):
        """Records of `topic` the sink connector has committed (sum of its next offsets). Only
        `topic` counts: the connector's consumer group may hold offsets of other topics."""
        status, body = util.http("GET", f"{self.url}/connectors/{name}/offsets")
        if status != 200 or not isinstance(body, dict):
            return 0
        return sum(int(o.get("offset", {}).get("kafka_offset") or 0) for o in body["offsets"]
                   if o.get("partition", {}).get("kafka_topic") == topic)

    def failed(self, name):
        status, body = util.http("GET", f"{self.url}/connectors/{name}/status")
        if status != 200:
            return None
        states = [body["connector"]["state"]] + [t["state"] for t in body.get("tasks", [])]
        traces = [t.get("trace", "") for t in body.get("tasks", []) if t["state"] == "FAILED"]
        return (traces or ["FAILED"])[0][:600] if "FAILED" in states else None


class Skiff(Worker):
    name = "skiff"

    def command(self):
        props = os.path.join(self.dir, "worker.properties")
        with open(props, "w") as f:
            f.write(f"bootstrap.servers={self.env['KAFKA_BOOTSTRAP']}\n"
                    f"listeners=http://127.0.0.1:{self.port}\n"
                    f"offset.storage.file.filename={self.dir}/offsets.json\n"
                    "offset.flush.interval.ms=1000\n")
        extra = {
            "AWS_ACCESS_KEY_ID": self.env["S3_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": self.env["S3_SECRET_KEY"],
            "AWS_REGION": self.env["S3_REGION"],
            "AWS_ENDPOINT_URL": self.env["S3_ENDPOINT"],
        }
        if "S3_CA_FILE" in self.env:
            # The S3 client's roots come from rustls-native-certs, which reads SSL_CERT_FILE.
            extra["SSL_CERT_FILE"] = self.env["S3_CA_FILE"]
        return [skiff_binary(), "standalone", props], extra

    def sink_config(self, bucket, prefix, topic, tasks):
        return {"connector.class": SINK_CLASS, "aws.s3.bucket": bucket, "prefix": prefix,
                "topics": topic, "tasks.max": str(tasks), "flush.size.bytes": str(FLUSH_BYTES),
                "flush.interval.ms": str(FLUSH_INTERVAL_MS)}

    def source_config(self, bucket, prefix, topic, target, tasks):
        return {"connector.class": SOURCE_CLASS, "aws.s3.bucket": bucket, "prefix": prefix,
                "s3.topics": topic, "topics.mapping": f"{topic}:{target}",
                "tasks.max": str(tasks)}

    @staticmethod
    def restore_target(topic, tag):
        return f"{topic}-{tag}"


def connect_home():
    homes = sorted(glob.glob(os.path.join(util.cache_dir(), "connect-*")))
    if not homes:
        raise util.BenchError("Apache Connect is not installed: tests/testenv.sh install connect")
    return homes[-1]


def connect_command(folder, cli, props, quiet=(), java_opts=()):
    """The java command line of an Apache Connect worker (`cli`: ConnectStandalone or
    ConnectDistributed) logging to stdout, its Log4j2 file written into `folder`; `quiet` names
    loggers kept to errors; `java_opts` go before the class path."""
    log4j = os.path.join(folder, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write("rootLogger.level = info\nrootLogger.appenderRef.stdout.ref = STDOUT\n"
                "appender.stdout.type = Console\nappender.stdout.name = STDOUT\n"
                "appender.stdout.layout.type = PatternLayout\n"
                "appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n")
        for i, logger in enumerate(quiet):
            f.write(f"logger.quiet{i}.name = {logger}\nlogger.quiet{i}.level = error\n")
    return ["java", "-Xms128m", "-Xmx512m", f"-Dlog4j2.configurationFile={log4j}",
            *java_opts, "-cp", f"{connect_home()}/lib/*", f"org.apache.kafka.connect.cli.{cli}", props]


def peer_plugin():
    plugin = os.environ.get("SKIFF_BENCH_PEER_PLUGIN", "")
    if not os.path.isdir(plugin):
        raise util.BenchError("SKIFF_BENCH_PEER_PLUGIN must name a folder with the peer's S3 connector jars")
    return plugin


class Peer(Worker):
    """Apache Kafka Connect (ConnectStandalone) with Instaclustr's S3 sink and source (0.1.5)."""

    name = "peer"

    def command(self):
        props = os.path.join(self.dir, "worker.properties")
        with open(props, "w") as f:
            f.write(f"bootstrap.servers={self.env['KAFKA_BOOTSTRAP']}\n"
                    f"listeners=http://127.0.0.1:{self.port}\n"
                    f"offset.storage.file.filename={self.dir}/offsets\n"
                    f"offset.flush.interval.ms={FLUSH_INTERVAL_MS}\n"
                    f"key.converter={BYTES}\nvalue.converter={BYTES}\n"
                    f"plugin.path={peer_plugin()}\nplugin.discovery=hybrid_warn\n")
        trust = []
        if "S3_TRUST_STORE" in self.env:
            trust = [f"-Djavax.net.ssl.trustStore={self.env['S3_TRUST_STORE']}",
                     "-Djavax.net.ssl.trustStorePassword=changeit",
                     "-Djavax.net.ssl.trustStoreType=PKCS12"]
        return connect_command(self.dir, "ConnectStandalone", props, java_opts=trust), {}

    def ready(self):
        return util.http("GET", f"{self.url}/connector-plugins")[0] == 200 and super().ready()

    def _s3(self, bucket, prefix):
        return {"aws.s3.bucket": bucket, "prefix": prefix,
                "aws.accessKeyId": self.env["S3_ACCESS_KEY"],
                "aws.secretKey": self.env["S3_SECRET_KEY"], "aws.region": self.env["S3_REGION"],
                "s3.endpoint": self.env["S3_ENDPOINT"], "s3.enablePathStyle": "true",
                "key.converter": BYTES, "value.converter": BYTES}

    def sink_config(self, bucket, prefix, topic, tasks):
        return {"connector.class": SINK_CLASS, "topics": topic, "tasks.max": str(tasks),
                **self._s3(bucket, prefix)}

    def source_config(self, bucket, prefix, topic, target, tasks):
        tag = target.split("-", 1)[0]
        return {"connector.class": SOURCE_CLASS, "s3.topics": topic, "kafka.topicPrefix": tag,
                "tasks.max": str(tasks), "maxRecordsPerSecond": "1000000000",
                **self._s3(bucket, prefix)}

    @staticmethod
    def restore_target(topic, tag):
        # Instaclustr's source writes to "<kafka.topicPrefix>-<topic>"; the prefix is alphanumeric.
        return f"{tag.replace('-', '')}-{topic}"
