"""The measurements, one function each. Every function returns plain dicts that report.py turns
into the results table; nothing here formats output."""

import statistics
import threading
import time

from . import kafka, util
from .procstat import Sampler, rss_bytes
from .s3 import S3

PHASE_TIMEOUT_S = 900
PUT_THREADS = 2


def pipe_limit(env, s3: S3, bucket, topic, records, size, put_objects, object_bytes):
    """The rate one librdkafka consumer reads `topic`, and the rate S3 takes flush-size objects."""
    secs, client = kafka.consume_rate(env["KAFKA_BOOTSTRAP"], topic, records)
    body = b"\x5a" * object_bytes
    done = []

    def put(worker):
        conn = s3.connection()
        try:
            for i in range(worker, put_objects, PUT_THREADS):
                s3.request("PUT", f"/{bucket}/put-probe/{size}/{i}", body=body, conn=conn)
                done.append(i)
        finally:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=put, args=(w,)) for w in range(PUT_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    put_s = time.monotonic() - t0
    if len(done) != put_objects:
        raise util.BenchError("the S3 PUT probe failed")
    s3.delete_prefix(bucket, f"put-probe/{size}/")
    return {"consumer": client, "consume_rps": records / secs,
            "consume_mbps": records * size / secs / 1e6, "put_objects_s": put_objects / put_s,
            "put_mbps": put_objects * object_bytes / put_s / 1e6}


def backup(worker, s3: S3, bucket, name, prefix, topic, records, size, tasks, overrides=None):
    """POST a sink connector (its config with `overrides` on top) and wait until it committed
    every record; also the time until the first object appeared under its prefix."""
    first = {}
    with Sampler(worker.pid) as smp:
        t0 = time.monotonic()
        worker.create(name, worker.sink_config(bucket, prefix, topic, tasks) | (overrides or {}))

        def finished():
            if "t" not in first and s3.any_object(bucket, prefix + "/"):
                first["t"] = time.monotonic() - t0
            err = worker.failed(name)
            if err:
                raise util.BenchError(f"{worker.name} {name} failed: {err}")
            return worker.committed(name, topic) >= records

        util.wait_until(f"{worker.name} backup {name}", finished, PHASE_TIMEOUT_S, period=0.25,
                        progress=lambda: f"  {worker.name} {name}: {worker.committed(name, topic)}/{records} committed")
        secs = time.monotonic() - t0
    worker.delete(name)
    return _rates(worker, "backup", size, tasks, records, secs, smp) | {
        "first_object_s": first.get("t")}


def restore(worker, bootstrap, bucket, name, prefix, topic, target, partitions, records, size,
            tasks):
    """POST a source connector and wait until the target topic holds every record."""
    kafka.create_topic(bootstrap, target, partitions)
    with Sampler(worker.pid) as smp:
        t0 = time.monotonic()
        worker.create(name, worker.source_config(bucket, prefix, topic, target, tasks))

        def finished():
            err = worker.failed(name)
            if err:
                raise util.BenchError(f"{worker.name} {name} failed: {err}")
            return kafka.end_offsets_sum(bootstrap, target, partitions) >= records

        util.wait_until(f"{worker.name} restore {name}", finished, PHASE_TIMEOUT_S, period=0.25,
                        progress=lambda: f"  {worker.name} {name}: "
                        f"{kafka.end_offsets_sum(bootstrap, target, partitions)}/{records} restored")
        secs = time.monotonic() - t0
    worker.delete(name)
    return _rates(worker, "restore", size, tasks, records, secs, smp)


def _rates(worker, op, size, tasks, records, secs, smp):
    gb = records * size / 1e9
    return {"worker": worker.name, "op": op, "size": size, "tasks": tasks, "records": records,
            "seconds": secs, "rps": records / secs, "mbps": records * size / secs / 1e6,
            "cpu_s": smp.cpu, "cpu_s_per_gb": smp.cpu / gb, "peak_rss": smp.peak}


def cold_start(make_worker, runs):
    """Median seconds from spawn to /health 200 over `runs` fresh workers, and the idle RSS of a
    worker 2 s after it came up."""
    times, idle = [], []
    for _ in range(runs):
        w = make_worker().start()
        times.append(w.startup_s)
        time.sleep(2)
        idle.append(rss_bytes(w.pid))
        w.stop()
    return {"start_median_s": statistics.median(times), "start_runs": times,
            "idle_rss": statistics.median(idle)}


def partition_scaling(make_worker, s3, env, bucket, run_id, partitions, per_partition, size):
    """Peak RSS of a fresh Skiff worker backing up a topic of `partitions` partitions."""
    bootstrap = env["KAFKA_BOOTSTRAP"]
    topic = f"bench-{run_id}-parts-{partitions}"
    records = partitions * per_partition
    util.say(f"partition scaling: {partitions} partitions, {records} records of {size} B")
    kafka.create_topic(bootstrap, topic, partitions)
    kafka.produce(bootstrap, topic, records, size)
    w = make_worker().start()
    try:
        idle = rss_bytes(w.pid)
        r = backup(w, s3, bucket, f"parts-{run_id}-{partitions}", f"parts/{partitions}", topic, records,
                   size, 2)
    finally:
        w.stop()
        # Every partition keeps files and memory maps open in the broker: after three full runs
        # had left about 21,000 partitions, the test broker failed all its log dirs and shut
        # down (most likely its open-file or memory-map limit).
        kafka.delete_topic(bootstrap, topic)
    return {"partitions": partitions, "records": records, "idle_rss": idle,
            "peak_rss": r["peak_rss"], "seconds": r["seconds"]}
