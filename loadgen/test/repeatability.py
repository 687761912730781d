#!/usr/bin/env python3
"""Runs one scenario against refmaild several times and checks that mailload measures the same
thing each time: throughput within 5% and p50 latency within 10% of the runs' median.

usage: repeatability.py MAILLOAD REFMAILD SCENARIO [--runs 5] [--duration 10s] [--metric smtp.message]
                        [--rate-tolerance 0.05] [--p50-tolerance 0.10] [--json OUT]

One `refmaild quickstart` server (reference-server/test/interop's harness) serves every run; the
scenario's targets named smtp, submission and smtps get its ports, a users pool named senders
its credentials. Throughput is messages accepted per second of the whole run (all workloads);
p50 is the median of METRIC over all workloads. Each run's message count must also equal the
number of messages refmaild itself acknowledged (its /metrics counter). Prints each run and the
spread; exit 0 when all holds, 1 otherwise.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "reference-server" / "test" / "interop"))
import refmaild_harness as harness  # noqa: E402


def percentile_of(histogram, p):
    """value_at_percentile of a mailharness.histogram/1 JSON (bucket layout as core/stats)."""
    total = histogram["total"]
    if total == 0:
        return 0
    wanted = max(1, -(-total * p // 100))  # ceil
    seen = 0
    # Rebuild the bucket bounds: 2 significant digits, unit 1 -> sub-buckets of 256 (half 128).
    for index, count in histogram["counts"]:
        seen += count
        if seen >= wanted:
            bucket, sub = divmod(index, 128)
            if bucket == 0:
                lo, width = sub, 1
            else:
                sub += 128
                lo, width = sub << (bucket - 1), 1 << (bucket - 1)
            return min(max(lo + width - 1, histogram["min"]), histogram["max"])
    return histogram["max"]


def accepted(server):
    """refmaild's own count of messages it acknowledged (Prometheus /metrics)."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.port('metrics')}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith("refmaild_messages_accepted_total "):
            return int(float(line.split()[1]))
    raise SystemExit("refmaild's /metrics has no refmaild_messages_accepted_total")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mailload")
    ap.add_argument("refmaild")
    ap.add_argument("scenario")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--metric", default="smtp.message")
    ap.add_argument("--rate-tolerance", type=float, default=0.05)
    ap.add_argument("--p50-tolerance", type=float, default=0.10)
    ap.add_argument("--threads", default="1", help="mailload worker threads (1: the load is light, and a second "
                    "worker would compete with refmaild for the cores)")
    ap.add_argument("--json")
    args = ap.parse_args()
    harness.REFMAILD = args.refmaild
    server = harness.refmaild_server().start()
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="mailload-repeat-") as tmp:
            for i in range(args.runs):
                out = pathlib.Path(tmp) / f"run{i}"
                sets = []
                for name in ("smtp", "submission", "smtps"):
                    sets += ["--set", f"targets.{name}.port={server.port(name)}"]
                sets += ["--set", "users.senders={file: %s}" % (server.dir / "credentials")]
                cmd = [args.mailload, "run", args.scenario, "--quiet", "--duration", args.duration, "--threads", args.threads,
                       "--out", str(out), *sets]
                accepted_before = accepted(server)
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                server_accepted = accepted(server) - accepted_before
                if r.returncode not in (0, 1):
                    sys.exit(f"run {i}: mailload exited {r.returncode}\n{r.stderr}")
                res = json.loads((out / "results.json").read_text())
                messages = sum(w["counters"]["messages"] for w in res["workloads"])
                errors = sum(e["count"] for e in res["errors"])
                # all workloads' histograms of the metric, merged by adding bucket counts
                merged = {"total": 0, "counts": {}, "min": None, "max": 0}
                for l in res["latency"]:
                    if l["metric"] != args.metric:
                        continue
                    h = l["histogram"]
                    merged["total"] += h["total"]
                    for index, count in h["counts"]:
                        merged["counts"][index] = merged["counts"].get(index, 0) + count
                    if h["total"]:
                        merged["min"] = h["min"] if merged["min"] is None else min(merged["min"], h["min"])
                        merged["max"] = max(merged["max"], h["max"])
                merged["counts"] = sorted(merged["counts"].items())
                p50 = percentile_of(merged, 50)
                rate = messages / res["run"]["duration_s"]
                runs.append({"rate": rate, "p50_us": p50, "messages": messages, "errors": errors,
                             "server_accepted": server_accepted, "duration_s": res["run"]["duration_s"]})
                print(f"run {i + 1}: {rate:8.1f} msg/s  {args.metric} p50 {p50 / 1000:7.2f} ms  "
                      f"({messages} messages, refmaild counted {server_accepted}, {errors} errors, "
                      f"{res['run']['duration_s']:.2f} s)", flush=True)
    finally:
        server.close()
    med_rate = statistics.median(r["rate"] for r in runs)
    med_p50 = statistics.median(r["p50_us"] for r in runs)
    rate_dev = max(abs(r["rate"] - med_rate) / med_rate for r in runs)
    p50_dev = max(abs(r["p50_us"] - med_p50) / med_p50 for r in runs)
    # mailload's count of accepted messages must be exactly the server's own, run after run.
    counted = all(r["messages"] == r["server_accepted"] for r in runs)
    if not counted:
        print("mailload's message counts differ from refmaild's refmaild_messages_accepted_total")
    ok = (rate_dev <= args.rate_tolerance and p50_dev <= args.p50_tolerance and counted and
          all(r["errors"] == 0 for r in runs))
    print(f"throughput: median {med_rate:.1f} msg/s, largest deviation {rate_dev * 100:.1f}% (limit {args.rate_tolerance * 100:.0f}%)")
    print(f"{args.metric} p50: median {med_p50 / 1000:.2f} ms, largest deviation {p50_dev * 100:.1f}% "
          f"(limit {args.p50_tolerance * 100:.0f}%)")
    print("repeatable" if ok else "NOT repeatable within the limits")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"runs": runs, "rate_deviation": rate_dev, "p50_deviation": p50_dev}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
