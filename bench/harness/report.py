"""Turns one run's measurements into bench/results/<mode>.md (tables and the targets), <mode>.csv
(one row per figure) and raw/<mode>.json (everything, not committed)."""

import csv
import json
import os
import platform

MIB = 2**20


def _machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}"


def _by(res, worker, op, size, tasks):
    for r in res["runs"]:
        if (r["worker"], r["op"], r["size"], r["tasks"]) == (worker, op, size, tasks):
            return r
    return None


def _limit_mbps(lim, op):
    """The pipe's limit for an operation: the smaller of the Kafka side and the S3 side."""
    kafka_side = lim["consume_mbps"] if op == "backup" else lim["produce_mbps"]
    return min(kafka_side, lim["put_mbps"])


def _f(v, fmt="{:.1f}"):
    return "–" if v is None else fmt.format(v)


def markdown(res):
    limits = {lim["size"]: lim for lim in res["limits"]}
    out = [f"# Skiff benchmark ({res['mode']})", "",
           f"Run {res['started']} on {_machine()}, in {res['wall_s']:.0f} s. Kafka, S3 (versitygw), "
           "both workers and the load all share this machine; every figure below comes from this "
           "one run. MB = 10^6 bytes of record values. Objects close at "
           f"{res['flush_bytes'] // MIB} MiB or 2 s (Skiff `flush.size.bytes`/`flush.interval.ms`; "
           "the peer's fixed 5 MiB buffer and `offset.flush.interval.ms`).", "",
           "Peer: Apache Kafka Connect 4.3.1 (ConnectStandalone, -Xmx512m) with the S3 connector "
           "jars in SKIFF_BENCH_PEER_PLUGIN: Instaclustr's S3 sink and source, the connector Skiff "
           "replaces, built by hand from its repository (kafka-connect-connectors at 47760c7, the "
           "last commit with both; its s3 module is 0.1.5) with Maven, since Maven Central, the "
           "only registry here, serves no S3 connector. Without that folder the peer is not "
           "measured.", ""]
    if res.get("s3_tls"):
        out += ["In this run both workers reached S3 over https (a second versitygw on the same "
                "folders, `harness/tls_s3.py`): the peer's AWS SDK v1 never finishes an upload over "
                "http here. The S3 PUT limit below is measured over http.", ""]
    out += ["## The pipe's limit", "",
            "| record | one consumer (" + res["limits"][0]["consumer"] + ") | producer (acks=1) "
            f"| S3 PUT of {res['flush_bytes'] // MIB} MiB objects, 2 streams |",
            "|---|---|---|---|"]
    for lim in res["limits"]:
        out.append(f"| {lim['size']} B | {lim['consume_rps']:,.0f} rec/s, {lim['consume_mbps']:.1f} MB/s "
                   f"| {lim['produce_rps']:,.0f} rec/s, {lim['produce_mbps']:.1f} MB/s "
                   f"| {lim['put_objects_s']:.1f} obj/s, {lim['put_mbps']:.1f} MB/s |")
    out += ["", "## Throughput", "",
            "Wall time from `POST /connectors` until every record is committed (backup: the "
            "connector's committed offsets) or in the target topic (restore: its end offsets). "
            "% of limit: against the smaller of one consumer (backup) or the producer (restore) "
            "and S3 PUT. CPU s/GB: the worker process's user+system CPU per GB of values. "
            "Per-core ratio: the peer's CPU s/GB over Skiff's.", "",
            "| op | record | tasks | Skiff rec/s | Skiff MB/s | % of limit | Skiff CPU s/GB "
            "| peer rec/s | peer MB/s | peer CPU s/GB | Skiff/peer throughput | Skiff/peer per core |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for op in ("backup", "restore"):
        for lim in res["limits"]:
            for tasks in sorted({r["tasks"] for r in res["runs"]}):
                s = _by(res, "skiff", op, lim["size"], tasks)
                p = _by(res, "peer", op, lim["size"], tasks)
                if not s:
                    continue
                pct = 100 * s["mbps"] / _limit_mbps(limits[lim["size"]], op)
                out.append(
                    f"| {op} | {lim['size']} B | {tasks} | {s['rps']:,.0f} | {s['mbps']:.1f} | {pct:.0f}% "
                    f"| {s['cpu_s_per_gb']:.1f} | {_f(p and p['rps'], '{:,.0f}')} | {_f(p and p['mbps'])} "
                    f"| {_f(p and p['cpu_s_per_gb'])} | {_f(p and s['rps'] / p['rps'], '{:.2f}x')} "
                    f"| {_f(p and p['cpu_s_per_gb'] / s['cpu_s_per_gb'], '{:.2f}x')} |")
    like = [r for r in res["runs"] if r["worker"] == "skiff-v0"]
    if like:
        out += ["", "## Backup like for like: Skiff writing the peer's format", "",
                "Skiff's default objects are zstd-compressed and checksummed; the peer's are not. "
                "Here Skiff writes `format=instaclustr-v0`, the peer's own uncompressed format, so "
                "both store the same bytes.", "",
                "| record | tasks | Skiff v0 rec/s | Skiff v0 MB/s | Skiff v0 CPU s/GB "
                "| peer CPU s/GB | Skiff v0/peer throughput | Skiff v0/peer per core |",
                "|---|---|---|---|---|---|---|---|"]
        for s in like:
            p = _by(res, "peer", "backup", s["size"], s["tasks"])
            out.append(
                f"| {s['size']} B | {s['tasks']} | {s['rps']:,.0f} | {s['mbps']:.1f} "
                f"| {s['cpu_s_per_gb']:.1f} | {_f(p and p['cpu_s_per_gb'])} "
                f"| {_f(p and s['rps'] / p['rps'], '{:.2f}x')} "
                f"| {_f(p and p['cpu_s_per_gb'] / s['cpu_s_per_gb'], '{:.2f}x')} |")
    out += ["", "## Memory and latency", "",
            "| figure | Skiff | peer |", "|---|---|---|"]
    ss, ps = res["skiff_start"], res.get("peer_start")
    skiff_peak = max(r["peak_rss"] for r in res["runs"] + res.get("remote", [])
                     if r["worker"].startswith("skiff"))
    peer_runs = [r for r in res["runs"] if r["worker"] == "peer"]
    out += [
        f"| cold start to `/health` 200 (median of {len(ss['start_runs'])}) | "
        f"{ss['start_median_s'] * 1000:.0f} ms | {_f(ps and ps['start_s'] * 1000, '{:.0f} ms')} (one start) |",
        f"| RSS idle (2 s after start) | {ss['idle_rss'] / MIB:.1f} MiB | {_f(ps and ps['idle_rss'] / MIB, '{:.1f} MiB')} |",
        f"| RSS peak under load (all cases above) | {skiff_peak / MIB:.1f} MiB | "
        f"{_f(max(r['peak_rss'] for r in peer_runs) / MIB if peer_runs else None, '{:.1f} MiB')} |",
    ]
    for op in ("backup",):
        for lim in res["limits"]:
            s, p = _by(res, "skiff", op, lim["size"], 1), _by(res, "peer", op, lim["size"], 1)
            if s:
                out.append(f"| `POST /connectors` to first object in S3 ({lim['size']} B, 1 task) | "
                           f"{_f(s['first_object_s'], '{:.2f} s')} | {_f(p and p['first_object_s'], '{:.2f} s')} |")
    restore_1k = _by(res, "skiff", "restore", 1024, 2)
    if restore_1k:
        p = _by(res, "peer", "restore", 1024, 2)
        gb = restore_1k["records"] * 1024 / 1e9
        out.append(f"| restore of the {gb:.2f} GB 1 KiB backup, 2 tasks | {restore_1k['seconds']:.1f} s | "
                   f"{_f(p and p['seconds'], '{:.1f} s')} |")
    if res.get("remote"):
        out += ["", "## Backup to a remote-looking S3 (Skiff, 1 KiB records, 1 task)", "",
                f"Through toxiproxy in front of the S3 server: {res['remote_latency_ms']} ms added to "
                f"each request and {res['remote_bandwidth_kb_s'] // 1000} MB/s per connection. "
                "`s3.upload.concurrency` = 1 uploads one object at a time; the default 4 uploads "
                "several partitions' objects at once while the task goes on consuming.", "",
                "| s3.upload.concurrency | rec/s | MB/s | CPU s/GB | peak RSS |", "|---|---|---|---|---|"]
        for r in res["remote"]:
            out.append(f"| {r['lanes']} | {r['rps']:,.0f} | {r['mbps']:.1f} | {r['cpu_s_per_gb']:.1f} "
                       f"| {r['peak_rss'] / MIB:.1f} MiB |")
    out += ["", "## Peak RSS as partitions grow (Skiff, 1 KiB records, 2 tasks, fresh worker each)", "",
            "| partitions | records | RSS idle | RSS peak | backup time |", "|---|---|---|---|---|"]
    for sc in res["scaling"]:
        out.append(f"| {sc['partitions']:,} | {sc['records']:,} | {sc['idle_rss'] / MIB:.1f} MiB "
                   f"| {sc['peak_rss'] / MIB:.1f} MiB | {sc['seconds']:.1f} s |")
    out += ["", "## Targets (reported, not asserted)", ""]
    out += _targets(res, skiff_peak, limits)
    return "\n".join(out) + "\n"


def _targets(res, skiff_peak, limits):
    lines = []
    ratios = [p["cpu_s_per_gb"] / s["cpu_s_per_gb"]
              for s in res["runs"] if s["worker"] == "skiff"
              for p in [_by(res, "peer", s["op"], s["size"], s["tasks"])] if p]
    if ratios:
        lines.append(f"- Throughput per CPU core at least 3x the peer's: {min(ratios):.1f}x to "
                     f"{max(ratios):.1f}x — {'met' if min(ratios) >= 3 else 'not met in every case'}")
    like = [p["cpu_s_per_gb"] / s["cpu_s_per_gb"]
            for s in res["runs"] if s["worker"] == "skiff-v0"
            for p in [_by(res, "peer", "backup", s["size"], s["tasks"])] if p]
    if like:
        lines.append(f"  - backups like for like (both writing the peer's uncompressed format): "
                     f"{min(like):.1f}x to {max(like):.1f}x")
    pcts = [100 * s["mbps"] / _limit_mbps(limits[s["size"]], s["op"])
            for s in res["runs"] if s["worker"] == "skiff"]
    lines.append(f"- At least 60% of the pipe's limit: {min(pcts):.0f}% to {max(pcts):.0f}% — "
                 f"{'met' if min(pcts) >= 60 else 'not met in every case'}")
    idle = res["skiff_start"]["idle_rss"] / MIB
    lines.append(f"- Idle memory under 30 MB: {idle:.1f} MiB — {'met' if idle < 30 else 'not met'}")
    peak = max([skiff_peak] + [sc["peak_rss"] for sc in res["scaling"]]) / MIB
    lines.append(f"- Under 150 MB at full load: peak {peak:.1f} MiB — {'met' if peak < 150 else 'not met'}")
    cs = res["skiff_start"]["start_median_s"]
    lines.append(f"- Cold start under 0.5 s: {cs * 1000:.0f} ms — {'met' if cs < 0.5 else 'not met'}")
    return lines


def rows(res):
    """(section, worker, op, record_bytes, tasks, partitions, metric, value, unit)."""
    out = []
    for lim in res["limits"]:
        for k, unit in (("consume_rps", "rec/s"), ("consume_mbps", "MB/s"), ("produce_rps", "rec/s"),
                        ("produce_mbps", "MB/s"), ("put_objects_s", "obj/s"), ("put_mbps", "MB/s")):
            out.append(("limit", "", "", lim["size"], "", "", k, lim[k], unit))
    for r in res["runs"]:
        for k, unit in (("rps", "rec/s"), ("mbps", "MB/s"), ("seconds", "s"), ("cpu_s_per_gb", "s/GB"),
                        ("peak_rss", "bytes"), ("first_object_s", "s")):
            if r.get(k) is not None:
                out.append(("throughput", r["worker"], r["op"], r["size"], r["tasks"], 4, k, r[k], unit))
    for r in res.get("remote", []):
        for k, unit in (("rps", "rec/s"), ("mbps", "MB/s"), ("cpu_s_per_gb", "s/GB"), ("peak_rss", "bytes")):
            out.append((f"remote-s3 lanes={r['lanes']}", "skiff", "backup", 1024, 1, 4, k, r[k], unit))
    out.append(("start", "skiff", "", "", "", "", "start_median_s", res["skiff_start"]["start_median_s"], "s"))
    out.append(("start", "skiff", "", "", "", "", "idle_rss", res["skiff_start"]["idle_rss"], "bytes"))
    if res.get("peer_start"):
        out.append(("start", "peer", "", "", "", "", "start_s", res["peer_start"]["start_s"], "s"))
        out.append(("start", "peer", "", "", "", "", "idle_rss", res["peer_start"]["idle_rss"], "bytes"))
    for sc in res["scaling"]:
        out.append(("partitions", "skiff", "backup", 1024, 2, sc["partitions"], "peak_rss", sc["peak_rss"], "bytes"))
    return out


def write(res, folder):
    os.makedirs(os.path.join(folder, "raw"), exist_ok=True)
    mode = res["mode"]
    # The measurements first: a bug in the tables below must not lose a run.
    with open(os.path.join(folder, "raw", f"{mode}.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(folder, f"{mode}.md"), "w") as f:
        f.write(markdown(res))
    with open(os.path.join(folder, f"{mode}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "worker", "op", "record_bytes", "tasks", "partitions", "metric", "value", "unit"])
        for r in rows(res):
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in r])
    plot(res, os.path.join(folder, f"{mode}.png"))


def plot(res, path):
    """A bar chart of throughput when matplotlib is installed; skipped otherwise."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    labels, skiff, peer = [], [], []
    for s in res["runs"]:
        if s["worker"] != "skiff":
            continue
        p = _by(res, "peer", s["op"], s["size"], s["tasks"])
        labels.append(f"{s['op']}\n{s['size']}B t{s['tasks']}")
        skiff.append(s["mbps"])
        peer.append(p["mbps"] if p else 0)
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 1.1), 4))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], skiff, 0.4, label="Skiff")
    ax.bar([x + 0.2 for x in xs], peer, 0.4, label="Connect + Instaclustr S3")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_ylabel("MB/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
