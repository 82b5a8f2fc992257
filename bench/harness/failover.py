"""`python3 -m bench.harness.failover`: how long a two-worker distributed cluster stops moving
data when one worker dies, Skiff against Apache Kafka Connect (ConnectDistributed), side by side
on the same Kafka, with the same connectors and settings.

Each cluster: two workers in one group, Connect's defaults for the group (session.timeout.ms
10 s, heartbeat.interval.ms 3 s, Apache's scheduled.rebalance.max.delay.ms 5 min), offsets
flushed every second. Connectors: Apache's FileStreamSource (one task, a file to Kafka) and
FileStreamSink with `tasks.max` 6 over a 6-partition topic, so the worker that runs the source
task runs sink tasks too. Nothing else is tuned: each worker's sink consumers keep their own
defaults.

Two scenarios per cluster, each timed from the SIGKILL of the worker running the source task:
- kill: that worker stays dead;
- restart: it is started again at once with the same properties (Skiff's carry a
  `group.instance.id`, as the operator's pods do; Apache Connect has no static membership).
Lines are appended to the source's file and records produced to the sink's topic right after
the kill; the figures are the times until the source's committed file position covers every
line and until the sink's committed offsets cover every record (both read through the REST API
of the worker that was not killed).

Results: bench/results/failover.md. Apache's figures take minutes (its 5-minute delay), so the
run takes about 15 minutes; progress is printed every 5 s."""

import os
import signal
import subprocess
import sys
import tempfile
import time

from . import kafka, util, workers

SINK_PARTITIONS = 6
RECORDS_AFTER_KILL = 6000
LINES_AFTER_KILL = 500
TIMEOUT_S = 900
STRING = "org.apache.kafka.connect.storage.StringConverter"
COMMON = ("session.timeout.ms=10000\nheartbeat.interval.ms=3000\n"
          "offset.flush.interval.ms=1000\n"
          "config.storage.replication.factor=1\noffset.storage.replication.factor=1\n"
          "status.storage.replication.factor=1\n"
          f"key.converter={STRING}\nvalue.converter={STRING}\n")


class Member:
    """One worker process of a distributed cluster, started again with the same files."""

    def __init__(self, kind, env, group, index, folder):
        self.kind, self.env, self.group, self.index = kind, env, group, index
        self.port = util.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.id = f"127.0.0.1:{self.port}"
        self.dir = os.path.join(folder, f"{kind}-{index}")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def command(self):
        props = os.path.join(self.dir, "worker.properties")
        with open(props, "w") as f:
            f.write(f"bootstrap.servers={self.env['KAFKA_BOOTSTRAP']}\n"
                    f"group.id={self.group}\nconfig.storage.topic={self.group}-configs\n"
                    f"offset.storage.topic={self.group}-offsets\n"
                    f"status.storage.topic={self.group}-status\n"
                    f"listeners=http://127.0.0.1:{self.port}\n" + COMMON)
            if self.kind == "skiff":
                f.write(f"group.instance.id={self.group}-{self.index}\n")
            else:
                home = workers.connect_home()
                f.write(f"rest.advertised.host.name=127.0.0.1\nrest.advertised.port={self.port}\n"
                        f"plugin.path={home}/plugins\nplugin.discovery=service_load\n")
        if self.kind == "skiff":
            return [workers.skiff_binary(), "distributed", props]
        return workers.connect_command(self.dir, "ConnectDistributed", props,
                                       quiet=("org.reflections",))

    def start(self):
        log = open(os.path.join(self.dir, "worker.log"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        util.wait_until(f"{self.kind} worker {self.index} to answer",
                        lambda: util.http("GET", f"{self.url}/connectors")[0] == 200, 180)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def owners(url, name):
    """worker_id of each RUNNING task of `name`, or None unless every task runs."""
    status, body = util.http("GET", f"{url}/connectors/{name}/status")
    if status != 200 or not body.get("tasks"):
        return None
    if any(t["state"] != "RUNNING" for t in body["tasks"]):
        return None
    return [t["worker_id"] for t in body["tasks"]]


def sink_group_settled(bootstrap, group, tasks):
    """True once `group` has `tasks` members holding one partition each (Kafka's own tool)."""
    out = kafka.tool("consumer.group.ConsumerGroupCommand", "--bootstrap-server", bootstrap,
                     "--describe", "--members", "--group", group, timeout=60)
    counts = [line.split()[-1] for line in out.splitlines()
              if line.startswith(group + " ") or line.startswith(group + "\t")]
    return len(counts) == tasks and all(c == "1" for c in counts)


def source_position(url, name, path):
    status, body = util.http("GET", f"{url}/connectors/{name}/offsets")
    if status != 200:
        return -1
    for o in body.get("offsets", []):
        if o.get("partition", {}).get("filename") == path:
            return int(o.get("offset", {}).get("position") or 0)
    return -1


def sink_committed(url, name, topic):
    status, body = util.http("GET", f"{url}/connectors/{name}/offsets")
    if status != 200:
        return -1
    return sum(int(o.get("offset", {}).get("kafka_offset") or 0) for o in body.get("offsets", [])
               if o.get("partition", {}).get("kafka_topic") == topic)


def create(url, name, config):
    """POSTs a connector; true once it exists (409 also answers "no leader yet")."""
    status, _ = util.http("POST", f"{url}/connectors", {"name": name, "config": config})
    return status == 201 or (status == 409 and util.http("GET", f"{url}/connectors/{name}")[0] == 200)


def produce(bootstrap, topic, records):
    """`records` records of 100 B spread evenly over every partition of `topic`."""
    kafka.produce(bootstrap, topic, records, 100, "batch.size=4096",
                  "partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner")


def append_lines(path, start, count):
    with open(path, "a") as f:
        for i in range(start, start + count):
            f.write(f"line-{i}\n")
    return start + count


def scenario(kind, env, restart):
    """Runs one scenario on a fresh cluster; returns its figures."""
    run = f"fo-{kind}-{'restart' if restart else 'kill'}-{time.strftime('%H%M%S')}"
    folder = tempfile.mkdtemp(prefix=f"skiff-bench-{run}-")
    bootstrap = env["KAFKA_BOOTSTRAP"]
    members = [Member(kind, env, run, i, folder) for i in (0, 1)]
    try:
        for m in members:
            m.start()
        src_file = os.path.join(folder, "in.txt")
        lines = append_lines(src_file, 0, LINES_AFTER_KILL)
        sink_topic = f"{run}-sink"
        kafka.create_topic(bootstrap, sink_topic, SINK_PARTITIONS)
        kafka.create_topic(bootstrap, f"{run}-src", 1)
        produced = RECORDS_AFTER_KILL
        produce(bootstrap, sink_topic, produced)
        src, sink = f"{run}-src", f"{run}-sink"
        for name, config in (
                (src, {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                            "file": src_file, "topic": f"{run}-src", "tasks.max": "1"}),
                (sink, {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                             "file": os.path.join(folder, "out.txt"), "topics": sink_topic,
                             "tasks.max": str(SINK_PARTITIONS)})):
            util.wait_until(f"{name} to be created",
                            lambda: create(members[0].url, name, config), 120, period=1)
        size = os.path.getsize(src_file)
        util.wait_until("the connectors to run and catch up", lambda: (
            owners(members[0].url, src) and owners(members[0].url, sink)
            and source_position(members[0].url, src, src_file) == size
            and sink_committed(members[0].url, sink, sink_topic) == produced), 300, period=0.5)
        # Each sink task's consumer holds its partition (not the first ones to join all six).
        util.wait_until("the sink's consumer group to settle",
                        lambda: sink_group_settled(bootstrap, f"connect-{sink}", SINK_PARTITIONS),
                        120, period=1)
        src_owner = owners(members[0].url, src)[0]
        victim = next(m for m in members if m.id == src_owner)
        other = next(m for m in members if m is not victim)
        sink_tasks = owners(other.url, sink).count(victim.id)
        util.say(f"{kind}: killing {victim.id} (source task, {sink_tasks} of {SINK_PARTITIONS} "
                 f"sink tasks){', then starting it again' if restart else ''}")
        killed = time.monotonic()
        victim.kill()
        if restart:
            victim.start()
        lines = append_lines(src_file, lines, LINES_AFTER_KILL)
        size = os.path.getsize(src_file)
        produce(bootstrap, sink_topic, RECORDS_AFTER_KILL)
        produced += RECORDS_AFTER_KILL
        resumed = {}

        def check():
            now = time.monotonic() - killed
            if "source" not in resumed and source_position(other.url, src, src_file) >= size:
                resumed["source"] = now
            if "sink" not in resumed and sink_committed(other.url, sink, sink_topic) >= produced:
                resumed["sink"] = now
            return len(resumed) == 2

        util.wait_until(f"{kind} to move data again", check, TIMEOUT_S, period=0.2,
                        progress=lambda: f"  {kind}: {time.monotonic() - killed:.0f} s after the "
                                         f"kill, resumed so far: {resumed or 'nothing'}")
        util.say(f"  {kind} {'restart' if restart else 'kill'}: source resumed after "
                 f"{resumed['source']:.1f} s, sink after {resumed['sink']:.1f} s")
        return {"worker": kind, "scenario": "restart" if restart else "kill",
                "source_s": resumed["source"], "sink_s": resumed["sink"],
                "victim_sink_tasks": sink_tasks}
    finally:
        for m in members:
            m.stop()


def markdown(rows, started):
    by = {(r["worker"], r["scenario"]): r for r in rows}
    out = [f"# Failover: Skiff against Apache Kafka Connect ({started})", "",
           "Two distributed workers per cluster on one Kafka broker, Connect's group defaults "
           "(session 10 s, heartbeat 3 s; Apache's scheduled.rebalance.max.delay.ms 5 min), "
           "FileStreamSource (1 task) and FileStreamSink (6 tasks, 6 partitions). Seconds from "
           "the SIGKILL of the worker running the source task until every line appended to the "
           "source's file is committed, and every record produced to the sink's topic is "
           "committed. Restart: the killed worker is started again at once with the same "
           "properties (Skiff's with `group.instance.id`). `bench/harness/failover.py`.", "",
           "| Scenario | Path | Skiff | Apache Connect 4.3.1 | Apache / Skiff |",
           "|---|---|---|---|---|"]
    fmt = lambda v: f"{v:.1f} s" if v is not None else "n/a"
    for sc in ("kill", "restart"):
        for path in ("source", "sink"):
            s, a = (by.get((w, sc), {}).get(f"{path}_s") for w in ("skiff", "apache"))
            ratio = f"{a / s:.1f}x" if s and a else "n/a"
            out.append(f"| {sc} | {path} | {fmt(s)} | {fmt(a)} | {ratio} |")
    out += ["", "Sink tasks on the killed worker: " + ", ".join(
        f"{r['worker']} {r['scenario']}: {r['victim_sink_tasks']}" for r in rows), ""]
    return "\n".join(out)


def main():
    env = util.testenv_env(("kafka",))
    started = time.strftime("%Y-%m-%d %H:%M")
    rows = []
    for kind in ("skiff", "apache"):
        for restart in (False, True):
            rows.append(scenario(kind, env, restart))
    util.write_results("failover.md", markdown(rows, started))
    print(markdown(rows, started))


if __name__ == "__main__":
    try:
        main()
    except util.BenchError as e:
        util.say(f"failed: {e}")
        sys.exit(1)
