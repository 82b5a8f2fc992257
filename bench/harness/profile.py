"""`python3 -m bench.harness.profile [records]`: where a backup spends its CPU. Backs one topic
of 1 KiB records (1,000,000 by default, 1 GB) up three times, with zstd at its default level,
at level 1 and uncompressed, and samples the default run's worker with `perf record`; writes
bench/results/profile.md (throughput, CPU per GB, and the hottest functions, grouped)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from . import kafka, scenarios, util
from .s3 import bench_session
from .workers import Skiff

SIZE = 1024
PARTITIONS = 4
SETTINGS = [("zstd, level 3 (default)", {}), ("zstd, level 1", {"compression.level": "1"}),
            ("none", {"compression": "none"})]
# Symbol prefixes of each part of the hot path, for the grouped shares.
GROUPS = [("zstd compression", ("ZSTD_", "HUF_", "HIST_", "FSE_")),
          ("librdkafka (fetch, decode)", ("rd_",)),
          ("SigV4 payload hash (sha256)", ("sha2::",)),
          ("CRC32C checksums", ("crc32c::",)),
          ("memory copies and allocation", ("__memmove", "__memcpy", "__memset", "_int_", "malloc",
                                            "free", "cfree", "realloc")),
          ("kernel (network, page faults)", ("[k]",))]
TOP = 20


def perf_top(data):
    """(share %, symbol) of the hottest functions in a perf.data file."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", "symbol"], capture_output=True, text=True, timeout=300).stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "%" not in line.split()[0]:
            continue
        share, rest = line.split(None, 1)
        # Drop the empty source-line columns perf prints after the symbol.
        rows.append((float(share.rstrip("%")), re.sub(r"(\s+-)+$", "", rest).strip()))
    return rows


def grouped(rows):
    shares = []
    for name, prefixes in GROUPS:
        total = 0.0
        for share, sym in rows:
            kernel = sym.startswith("[k]")
            bare = sym.split("] ", 1)[-1]
            if ("[k]" in prefixes and kernel) or (not kernel and bare.startswith(prefixes)):
                total += share
        shares.append((name, total))
    return shares


def main():
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    env, s3, run_id, bucket = bench_session("profile")
    topic = f"profile-{run_id}"
    util.say(f"producing {records} records of {SIZE} B into {topic}")
    kafka.create_topic(env["KAFKA_BOOTSTRAP"], topic, PARTITIONS)
    kafka.produce(env["KAFKA_BOOTSTRAP"], topic, records, SIZE)
    have_perf = shutil.which("perf") is not None
    data = os.path.join(util.REPO, "target", "profile-backup.perf.data")
    results = []
    for i, (label, overrides) in enumerate(SETTINGS):
        w = Skiff(env).start()
        perf = None
        try:
            if i == 0 and have_perf:
                perf = subprocess.Popen(["perf", "record", "-F", "499", "-o", data, "-p",
                                         str(w.pid)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            util.say(f"backup, compression {label}")
            r = scenarios.backup(w, s3, bucket, f"profile-{run_id}-{i}", f"p{i}", topic, records,
                                 SIZE, 1, overrides)
            util.say(f"  {r['mbps']:.1f} MB/s, {r['cpu_s_per_gb']:.1f} CPU s/GB")
            results.append((label, r))
        finally:
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=60)
            w.stop()
    s3.delete_prefix(bucket)
    rows = perf_top(data) if have_perf and os.path.exists(data) else []
    write(records, results, rows)


def write(records, results, rows):
    lines = ["# Where a backup spends its CPU", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M:%S')} on {os.cpu_count()} cores; Kafka, S3 "
             "(versitygw) and the worker share the machine. One task backs up "
             f"{records:,} records of {SIZE} B ({records * SIZE / 1e9:.2f} GB, {PARTITIONS} "
             "partitions, values of random letters as Kafka's ProducerPerformance writes them) "
             "into 5 MiB objects; `make bench-profile` (bench/harness/profile.py).", "",
             "| compression | MB/s | CPU s/GB | peak RSS |", "|---|---|---|---|"]
    for label, r in results:
        lines.append(f"| {label} | {r['mbps']:.1f} | {r['cpu_s_per_gb']:.1f} | "
                     f"{r['peak_rss'] / 2**20:.1f} MiB |")
    lines += ["", "MB/s: wall time from `POST /connectors` until every record is committed, so "
              "it includes the start and the last objects' 2 s age limit.", ""]
    if rows:
        lines += ["## Profile of the default run", "",
                  "`perf record -F 499` of the worker (all threads) during the first backup; "
                  "shares of its CPU samples.", "", "| part | share |", "|---|---|"]
        lines += [f"| {name} | {share:.1f}% |" for name, share in grouped(rows)]
        lines += ["", f"Hottest {TOP} functions:", "", "| share | function |", "|---|---|"]
        lines += [f"| {share:.2f}% | `{sym}` |" for share, sym in rows[:TOP]]
    else:
        lines += ["No profile: `perf` is not installed (Debian's linux-perf)."]
    util.write_results("profile.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    util.entry(main)
