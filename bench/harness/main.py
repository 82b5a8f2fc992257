"""`python3 -m bench.harness.main quick|full`: runs every measurement in one go against the
running test environment and writes bench/results/<mode>.{md,csv}."""

import os
import sys
import time

from . import kafka, report, scenarios, util
from .remote_s3 import LATENCY_MS, BANDWIDTH_KB_S, RemoteS3
from .s3 import bench_session
from .tls_s3 import TlsS3
from .workers import FLUSH_BYTES, Peer, Skiff

PARTITIONS = 4
MODES = {
    # (record size, records): quick keeps the whole run under two minutes on 2 cores.
    "quick": {"sizes": [(100, 600_000), (1024, 150_000)], "tasks": [1, 2],
              "scaling": [(10, 200), (100, 20)], "put_objects": 16, "starts": 5,
              "like_for_like": False},
    # The 1 KiB case is the 1 GB backup whose restore time the issue asks for.
    "full": {"sizes": [(100, 2_000_000), (1024, 1_000_000), (102_400, 10_000)], "tasks": [1, 2],
             "scaling": [(10, 1000), (1000, 20), (10_000, 2)], "put_objects": 100, "starts": 5,
             "like_for_like": True},
}


def run(mode, with_peer):
    cfg = MODES[mode]
    env, s3, run_id, bucket = bench_session(mode)
    bootstrap = env["KAFKA_BOOTSTRAP"]
    res = {"mode": mode, "flush_bytes": FLUSH_BYTES, "limits": [], "runs": [], "scaling": [],
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "peer": with_peer,
           "remote_latency_ms": LATENCY_MS, "remote_bandwidth_kb_s": BANDWIDTH_KB_S}
    t_start = time.monotonic()

    util.say("cold start: skiff-worker spawn to /health 200")
    res["skiff_start"] = scenarios.cold_start(lambda: Skiff(env), cfg["starts"])
    util.say(f"  median {res['skiff_start']['start_median_s'] * 1000:.0f} ms, idle RSS "
             f"{res['skiff_start']['idle_rss'] / 2**20:.1f} MiB")

    topics = {}
    for size, records in cfg["sizes"]:
        topic = f"bench-{run_id}-{size}"
        util.say(f"producing {records} records of {size} B into {topic} ({PARTITIONS} partitions)")
        kafka.create_topic(bootstrap, topic, PARTITIONS)
        produce_rps = kafka.produce(bootstrap, topic, records, size)
        lim = scenarios.pipe_limit(env, s3, bucket, topic, records, size, cfg["put_objects"],
                                   FLUSH_BYTES)
        lim |= {"size": size, "produce_rps": produce_rps, "produce_mbps": produce_rps * size / 1e6}
        util.say(f"  limit: consume {lim['consume_mbps']:.1f} MB/s, S3 PUT {lim['put_mbps']:.1f} "
                 f"MB/s, produce {lim['produce_mbps']:.1f} MB/s")
        res["limits"].append(lim)
        topics[size] = (topic, records)

    workers = [Skiff] + ([Peer] if with_peer else [])
    tls = TlsS3(env) if with_peer else None
    if tls:
        util.say(f"both workers reach S3 over https in this run ({tls.endpoint}): see tls_s3.py")
        res["s3_tls"] = True
    worker_env = tls.worker_env(env) if tls else env
    for cls in workers:
        w = cls(worker_env).start()
        util.say(f"{w.name} up in {w.startup_s:.2f} s (pid {w.pid}, log {w.dir}/worker.log)")
        if cls is Peer:
            time.sleep(2)
            res["peer_start"] = {"start_s": w.startup_s, "idle_rss": scenarios.rss_bytes(w.pid)}
        try:
            for size, (topic, records) in topics.items():
                for tasks in cfg["tasks"]:
                    tag = f"{w.name}-{run_id}-{size}-t{tasks}"
                    prefix = f"{w.name}/{size}/t{tasks}"
                    util.say(f"{w.name}: backup {records} x {size} B, tasks.max={tasks}")
                    b = scenarios.backup(w, s3, bucket, f"b-{tag}", prefix, topic, records, size,
                                         tasks)
                    util.say(f"  {b['rps']:.0f} rec/s, {b['mbps']:.1f} MB/s, "
                             f"{b['cpu_s_per_gb']:.1f} CPU s/GB, peak {b['peak_rss'] / 2**20:.0f} MiB")
                    if cls is Skiff and cfg["like_for_like"]:
                        res["runs"].append(like_for_like_backup(w, s3, bucket, tag, topic, records,
                                                                size, tasks))
                    target = cls.restore_target(topic, f"r{size}t{tasks}{w.name}")
                    util.say(f"{w.name}: restore into {target}, tasks.max={tasks}")
                    r = scenarios.restore(w, bootstrap, bucket, f"r-{tag}", prefix, topic, target,
                                          PARTITIONS, records, size, tasks)
                    util.say(f"  {r['rps']:.0f} rec/s, {r['mbps']:.1f} MB/s, "
                             f"{r['cpu_s_per_gb']:.1f} CPU s/GB, peak {r['peak_rss'] / 2**20:.0f} MiB")
                    res["runs"] += [b, r]
        finally:
            w.stop()
    if tls:
        tls.stop()

    res["remote"] = remote_s3_backups(env, s3, bucket, run_id, topics[1024])

    for partitions, per in cfg["scaling"]:
        res["scaling"].append(scenarios.partition_scaling(
            lambda: Skiff(env), s3, env, bucket, run_id, partitions, per, 1024))
        util.say(f"  peak RSS {res['scaling'][-1]['peak_rss'] / 2**20:.1f} MiB")

    util.say(f"deleting the objects of s3://{bucket}")
    s3.delete_prefix(bucket)
    res["wall_s"] = time.monotonic() - t_start
    out = os.path.join(util.REPO, "bench", "results")
    report.write(res, out)
    util.say(f"done in {res['wall_s']:.0f} s: {out}/{mode}.md")


def like_for_like_backup(w, s3, bucket, tag, topic, records, size, tasks):
    """The same backup by Skiff writing the peer's own object format (`instaclustr-v0`: no
    compression, no checksum), so both workers store the same bytes and their CPU per GB compares
    the work alike; Skiff's default compresses with zstd, which the peer does not do."""
    util.say(f"skiff: backup {records} x {size} B, tasks.max={tasks}, format=instaclustr-v0")
    r = scenarios.backup(w, s3, bucket, f"v0-{tag}", f"skiff-v0/{size}/t{tasks}", topic, records,
                         size, tasks, {"format": "instaclustr-v0"})
    util.say(f"  {r['rps']:.0f} rec/s, {r['mbps']:.1f} MB/s, {r['cpu_s_per_gb']:.1f} CPU s/GB")
    return r | {"worker": "skiff-v0"}


def remote_s3_backups(env, s3, bucket, run_id, topic_records):
    """The 1 KiB backup, 1 task, through a proxy that makes S3 look remote, with one upload at a
    time and with the default background lanes."""
    topic, records = topic_records
    remote = RemoteS3(env, f"bench-remote-s3-{run_id}")
    if not remote.endpoint:
        util.say("toxiproxy is not running: no remote-S3 figures (tests/testenv.sh up toxiproxy)")
        return []
    out = []
    try:
        w = Skiff(env).start()
        try:
            for lanes in (1, 4):
                util.say(f"skiff: backup {records} x 1024 B to remote S3, s3.upload.concurrency={lanes}")
                r = scenarios.backup(w, s3, bucket, f"remote-{run_id}-{lanes}", f"remote/{lanes}",
                                     topic, records, 1024, 1,
                                     {"s3.endpoint": remote.endpoint,
                                      "s3.upload.concurrency": str(lanes)})
                util.say(f"  {r['rps']:.0f} rec/s, {r['mbps']:.1f} MB/s")
                out.append(r | {"lanes": lanes})
        finally:
            w.stop()
    finally:
        remote.close()
    return out


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "quick"
    if mode not in MODES:
        sys.exit(f"usage: {sys.argv[0]} quick|full")
    try:
        run(mode, bool(os.environ.get("SKIFF_BENCH_PEER_PLUGIN")))
    except util.BenchError as e:
        sys.exit(f"[bench] error: {e}")


if __name__ == "__main__":
    main()
