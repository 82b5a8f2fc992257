"""`python3 -m bench.harness.soak [rounds]`: one long-lived Skiff worker backs the same topic up
and restores it again and again (2 tasks, 1 KiB records, a new connector each time). Its resident
memory after each round says whether memory grows with the connectors a worker has run (a leak)
or settles (the allocator reusing what earlier rounds freed). Writes bench/results/soak.md."""

import os
import sys
import time

from . import kafka, scenarios, util
from .procstat import rss_bytes
from .s3 import bench_session
from .workers import Skiff

SIZE = 1024
RECORDS = 100_000
PARTITIONS = 4
TASKS = 2
SETTLE_S = 3


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    env, s3, run_id, bucket = bench_session("soak")
    bootstrap = env["KAFKA_BOOTSTRAP"]
    topic = f"soak-{run_id}"
    util.say(f"producing {RECORDS} records of {SIZE} B into {topic} ({PARTITIONS} partitions)")
    kafka.create_topic(bootstrap, topic, PARTITIONS)
    kafka.produce(bootstrap, topic, RECORDS, SIZE)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.monotonic()
    w = Skiff(env).start()
    rows = []
    try:
        time.sleep(SETTLE_S)
        idle = rss_bytes(w.pid)
        util.say(f"worker up (pid {w.pid}), idle RSS {idle / 2**20:.1f} MiB")
        for i in range(rounds):
            prefix = f"soak/{i}"
            b = scenarios.backup(w, s3, bucket, f"soak-backup-{i}", prefix, topic, RECORDS, SIZE,
                                 TASKS)
            r = scenarios.restore(w, bootstrap, bucket, f"soak-restore-{i}", prefix, topic,
                                  f"{topic}-r{i}", PARTITIONS, RECORDS, SIZE, TASKS)
            time.sleep(SETTLE_S)
            after = rss_bytes(w.pid)
            rows.append({"round": i + 1, "backup_peak": b["peak_rss"], "restore_peak": r["peak_rss"],
                         "after": after, "backup_rps": b["rps"], "restore_rps": r["rps"]})
            util.say(f"round {i + 1}/{rounds}: peaks {b['peak_rss'] / 2**20:.1f} / "
                     f"{r['peak_rss'] / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB")
    finally:
        w.stop()
    write(rows, idle, started, time.monotonic() - t0)


def write(rows, idle, started, secs):
    mib = lambda b: f"{b / 2**20:.1f}"
    lines = [
        "# Memory of a long-lived worker (`make bench-soak`)", "",
        f"Run {started} on {os.cpu_count()} cores, {secs:.0f} s. One standalone Skiff worker "
        f"(release build) runs round after round: a backup of {RECORDS:,} records of {SIZE} B "
        f"({PARTITIONS} partitions, {TASKS} tasks) to a new prefix, then its restore into a new "
        f"topic; each connector is deleted when done. RSS is the worker's resident memory: its "
        f"peak during each phase (sampled every 50 ms), and {SETTLE_S} s after the round.", "",
        f"Idle before the first round: {mib(idle)} MiB.", "",
        "| round | backup peak MiB | restore peak MiB | after MiB | backup rec/s | restore rec/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['round']} | {mib(r['backup_peak'])} | {mib(r['restore_peak'])} | "
                     f"{mib(r['after'])} | {r['backup_rps']:,.0f} | {r['restore_rps']:,.0f} |")
    if len(rows) >= 4:
        half = len(rows) // 2
        first = sum(r["after"] for r in rows[:half]) / half
        last = sum(r["after"] for r in rows[half:]) / (len(rows) - half)
        lines += ["", f"Mean RSS after a round: {mib(first)} MiB over the first {half} rounds, "
                  f"{mib(last)} MiB over the last {len(rows) - half}."]
    util.write_results("soak.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    util.entry(main)
