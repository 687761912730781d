#!/usr/bin/env python3
"""Loads a mailload report.html in headless Chromium and fails if any chart is empty.

usage: check_report.py REPORT.html [--chromium PATH] [--min-charts N]

Chromium renders the page; the report's inline script measures the drawn length of every data
series (SVG getTotalLength) and stores it on each <svg class="chart"> as data-drawn. The DOM as
Chromium left it (--dump-dom) is then checked: every chart must have data series with points
and a drawn length > 0. Exit 0 when all charts have data, 1 when one is empty, 77 (skip) when
Chromium is not installed.
"""
import argparse
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class charts_parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts = []      # dicts: id, drawn, series (list of point counts)
        self.body_checked = None
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body_checked = a.get("data-charts-checked")
        if tag == "svg" and "chart" in (a.get("class") or "").split():
            self._in = {"id": a.get("data-chart"), "drawn": a.get("data-drawn"), "series": []}
            self.charts.append(self._in)
        elif tag == "path" and self._in is not None and "series" in (a.get("class") or "").split():
            d = a.get("d") or ""
            self._in["series"].append((int(a.get("data-points") or 0), d.count("L") + d.count("h") + (1 if d.startswith("M") else 0)))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._in = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--min-charts", type=int, default=3)
    args = ap.parse_args()
    if not (os.path.exists(args.chromium) and os.access(args.chromium, os.X_OK)):
        print(f"SKIP: {args.chromium} not installed")
        return 77
    profile = tempfile.mkdtemp(prefix="mailload-chromium-")
    try:
        url = "file://" + os.path.abspath(args.report)
        r = subprocess.run([args.chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                           capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    dom = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0 or "<svg" not in dom:
        print(f"FAIL: chromium exited {r.returncode}; stderr:\n{r.stderr.decode(errors='replace')[-2000:]}")
        return 1
    p = charts_parser()
    p.feed(dom)
    problems = []
    if p.body_checked is None:
        problems.append("the report's check script did not run (no data-charts-checked on <body>)")
    if len(p.charts) < args.min_charts:
        problems.append(f"only {len(p.charts)} charts, expected at least {args.min_charts}")
    for c in p.charts:
        if not c["series"]:
            problems.append(f"chart {c['id']}: no data series")
            continue
        if c["drawn"] is None or float(c["drawn"]) <= 0:
            problems.append(f"chart {c['id']}: nothing drawn (data-drawn={c['drawn']})")
        if all(points == 0 for points, _ in c["series"]):
            problems.append(f"chart {c['id']}: every series is empty")
    for c in p.charts:
        print(f"chart {c['id']}: {len(c['series'])} series, points {[s[0] for s in c['series']]}, drawn {c['drawn']}")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print(f"OK: {len(p.charts)} charts, all drawn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
