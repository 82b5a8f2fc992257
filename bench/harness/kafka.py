"""Kafka-side helpers: topics and data through Kafka's own tools (the jars the test environment
installed), and the raw consumer rate and end offsets through kcat (librdkafka)."""

import glob
import os
import re
import shutil
import subprocess
import time

from . import util

TOOL_TIMEOUT_S = 600


def kafka_lib():
    libs = glob.glob(os.path.join(util.cache_dir(), "kafka-*", "lib"))
    if not libs:
        raise util.BenchError("Kafka is not installed: run `make testenv`")
    return sorted(libs)[-1]


def tool(cls, *args, timeout=TOOL_TIMEOUT_S):
    """Runs one org.apache.kafka.tools class; returns its stdout."""
    cmd = ["java", "-Xmx512m", "-cp", f"{kafka_lib()}/*", f"org.apache.kafka.tools.{cls}", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        # TopicCommand prints its errors to stdout.
        raise util.BenchError(f"{cls} failed: {(p.stderr or p.stdout)[-800:]}")
    return p.stdout


# Kafka 4's controller refuses a request that would add more than 10,000 records (one per
# partition and more), so larger topics are created, then grown, in steps of this many.
PARTITIONS_PER_REQUEST = 5000


def create_topic(bootstrap, topic, partitions):
    step = min(partitions, PARTITIONS_PER_REQUEST)
    tool("TopicCommand", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
         "--partitions", str(step), "--replication-factor", "1")
    while step < partitions:
        step = min(partitions, step + PARTITIONS_PER_REQUEST)
        grow(bootstrap, topic, step)
    wait_led(bootstrap, topic, partitions)


def wait_led(bootstrap, topic, partitions, timeout_s=180):
    """Waits until the broker answers for every partition of `topic` as its leader. A worker
    started earlier met "not leader for partition" on thousands of partitions, and librdkafka
    read the whole topic's metadata (1 MB at 10,000 partitions) again after each: hundreds of
    MiB of the 10,000-partition case's peak came from that, not from the backup."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            out = tool("GetOffsetShell", "--bootstrap-server", bootstrap, "--topic", topic,
                       "--time", "-1")
        except util.BenchError:
            out = ""
        answered = sum(1 for line in out.splitlines() if line.startswith(f"{topic}:"))
        if answered >= partitions:
            return
        if time.monotonic() > deadline:
            raise util.BenchError(f"{topic}: the broker leads {answered} of {partitions} "
                                  f"partitions after {timeout_s} s")
        time.sleep(1)


def grow(bootstrap, topic, partitions, attempts=10):
    """Raises `topic` to `partitions`. The broker may not list a topic of thousands of
    partitions yet right after creating it, so "does not exist" is asked again."""
    for attempt in range(attempts):
        try:
            tool("TopicCommand", "--bootstrap-server", bootstrap, "--alter", "--topic", topic,
                 "--partitions", str(partitions))
            return
        except util.BenchError as e:
            if "does not exist" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(2)


def delete_topic(bootstrap, topic):
    tool("TopicCommand", "--bootstrap-server", bootstrap, "--delete", "--topic", topic)


def produce(bootstrap, topic, records, size, *extra_props):
    """Fills `topic` with `records` random values of `size` bytes (no keys), as fast as the
    producer goes; returns records/s as the producer saw it. `extra_props` are more producer
    settings (`key=value`)."""
    out = tool("ProducerPerformance", "--topic", topic, "--num-records", str(records),
               "--record-size", str(size), "--throughput", "-1", "--producer-props",
               f"bootstrap.servers={bootstrap}", "acks=1", "linger.ms=10", "batch.size=524288",
               "compression.type=none", *extra_props)
    m = re.findall(r"([\d.]+) records/sec", out)
    return float(m[-1]) if m else 0.0


def have_kcat():
    return shutil.which("kcat") is not None


def consume_rate(bootstrap, topic, records):
    """Reads the whole topic once with one consumer; returns (seconds, client name)."""
    if have_kcat():
        t0 = time.monotonic()
        p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                            "-q", "-f", "x"], capture_output=True, timeout=TOOL_TIMEOUT_S)
        secs = time.monotonic() - t0
        if len(p.stdout) != records:
            raise util.BenchError(f"kcat read {len(p.stdout)} of {records} records of {topic}")
        return secs, "kcat (librdkafka)"
    out = tool("ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic,
               "--messages", str(records), "--timeout", "60000")
    # start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms, ...
    last = out.strip().splitlines()[-1].split(",")
    return int(last[7].strip()) / 1000.0, "ConsumerPerformance (Java client)"


def end_offsets_sum(bootstrap, topic, partitions):
    """Sum of the end offsets of `topic` (how many records it holds when it starts at 0)."""
    if not have_kcat():
        out = tool("GetOffsetShell", "--bootstrap-server", bootstrap, "--topic", topic)
        return sum(int(line.rsplit(":", 1)[1]) for line in out.split() if ":" in line)
    args = ["kcat", "-Q", "-b", bootstrap]
    for p in range(partitions):
        args += ["-t", f"{topic}:{p}:-1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    return sum(int(x) for x in re.findall(r"offset (-?\d+)", out) if int(x) > 0)
