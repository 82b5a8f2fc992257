"""`python3 -m bench.harness.operator N`: the operator's figures. Runs the release skiff-operator
against the test environment's real API server and a Skiff worker (an `external`
ConnectCluster), applies N KafkaConnectors at once (stopped FileStream sinks, so the worker
runs no tasks and only the operator's work is timed), and measures the time until every one reports
Ready, and the operator's resident memory idle and at its peak. Writes
bench/results/operator.md."""

import json
import os
import subprocess
import sys
import tempfile
import time

from . import util
from .procstat import Sampler, rss_bytes
from .workers import Skiff

FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"

READY_TIMEOUT_S = 900


def env_file(component):
    state = os.environ.get("SKIFF_TESTENV_STATE", os.path.join(util.REPO, "target", "testenv"))
    with open(os.path.join(state, f"{component}.env")) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def kubectl(k8s, *args, stdin=None):
    out = subprocess.run([k8s["KUBECTL"], *args], input=stdin, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "KUBECONFIG": k8s["KUBECONFIG"]})
    if out.returncode != 0:
        raise util.BenchError(f"kubectl {' '.join(args[:3])}: {out.stderr.strip()[:500]}")
    return out.stdout


def ready_count(k8s, ns):
    items = json.loads(kubectl(k8s, "get", "kafkaconnectors", "-n", ns, "-o", "json"))["items"]
    return sum(1 for kc in items
               if any(c.get("type") == "Ready" and c.get("status") == "True"
                      for c in kc.get("status", {}).get("conditions", [])))


def run(count):
    k8s = env_file("k8s")
    env = util.testenv_env()
    run_id = time.strftime("%H%M%S")
    ns = f"bench-operator-{run_id}"
    kubectl(k8s, "apply", "--server-side", "-f", os.path.join(util.REPO, "crds"))
    kubectl(k8s, "create", "namespace", ns)
    worker = Skiff(env).start()
    operator_bin = os.path.join(util.TARGET_DIR, "release", "skiff-operator")
    log_dir = tempfile.mkdtemp(prefix="skiff-bench-operator-")
    log = open(os.path.join(log_dir, "operator.log"), "wb")
    op = subprocess.Popen(
        [operator_bin, "--namespace", ns, "--listen", f"127.0.0.1:{util.free_port()}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "KUBECONFIG": k8s["KUBECONFIG"], "SKIFF_LEADER_ELECTION": "false",
             "POD_NAMESPACE": ns, "RUST_LOG": "warn"})
    try:
        time.sleep(3)
        idle = rss_bytes(op.pid)
        docs = [{"apiVersion": "skiff.dev/v1alpha1", "kind": "ConnectCluster",
                 "metadata": {"name": "skiff", "namespace": ns},
                 "spec": {"external": {"url": worker.url}}}]
        for i in range(count):
            docs.append({
                "apiVersion": "skiff.dev/v1alpha1", "kind": "KafkaConnector",
                "metadata": {"name": f"sink-{i:05d}", "namespace": ns},
                "spec": {"clusterRef": "skiff", "class": FILE_SINK, "state": "stopped",
                         "config": {"topics": f"bench-operator-{i}",
                                    "file": os.path.join(log_dir, f"sink-{i}.txt")}}})
        manifest = "\n---\n".join(json.dumps(d) for d in docs)
        util.say(f"applying {count} KafkaConnectors to {ns}")
        with Sampler(op.pid, period=0.2) as smp:
            t0 = time.monotonic()
            kubectl(k8s, "apply", "-f", "-", stdin=manifest)
            applied = time.monotonic() - t0
            util.wait_until(f"{count} Ready KafkaConnectors", lambda: ready_count(k8s, ns) >= count,
                            READY_TIMEOUT_S, period=1.0,
                            progress=lambda: f"  {ready_count(k8s, ns)}/{count} Ready")
            secs = time.monotonic() - t0
        res = {"count": count, "apply_s": applied, "ready_s": secs, "idle_rss": idle,
               "peak_rss": smp.peak, "cpu_s": smp.cpu, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    finally:
        op.terminate()
        try:
            op.wait(timeout=20)
        except subprocess.TimeoutExpired:
            op.kill()
        worker.stop()
        subprocess.run([k8s["KUBECTL"], "delete", "namespace", ns, "--wait=false"],
                       capture_output=True, env={**os.environ, "KUBECONFIG": k8s["KUBECONFIG"]})
    return res


def markdown(r):
    mib = 2 ** 20
    return "\n".join([
        "# Skiff operator benchmark", "",
        f"Run {r['started']} on this machine with the test environment's API server (etcd, "
        f"kube-apiserver) and one Skiff worker behind an `external` ConnectCluster, all sharing "
        f"2 cores. {r['count']} KafkaConnectors (FileStream sinks with `state: stopped`, so the "
        "worker runs no tasks) applied with one `kubectl apply`; the clock runs from the apply until "
        "every one has `Ready=True`. Each one costs the operator a finalizer patch, a config PUT, a "
        "stop, status reads and a status patch.", "",
        "| figure | value |", "|---|---|",
        f"| KafkaConnectors | {r['count']:,} |",
        f"| `kubectl apply` of all of them | {r['apply_s']:.1f} s |",
        f"| until all Ready | {r['ready_s']:.1f} s ({r['count'] / r['ready_s']:.1f} per s) |",
        f"| operator CPU in that time | {r['cpu_s']:.1f} s |",
        f"| operator RSS idle (watching, no resources) | {r['idle_rss'] / mib:.1f} MiB |",
        f"| operator RSS peak | {r['peak_rss'] / mib:.1f} MiB |", ""])


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    res = run(count)
    out = os.path.join(util.REPO, "bench", "results")
    os.makedirs(os.path.join(out, "raw"), exist_ok=True)
    with open(os.path.join(out, "raw", "operator.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(out, "operator.md"), "w") as f:
        f.write(markdown(res))
    util.say(f"{count} Ready in {res['ready_s']:.1f} s; operator peak {res['peak_rss'] / 2**20:.1f} "
             f"MiB: {out}/operator.md")


if __name__ == "__main__":
    main()
