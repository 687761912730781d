#!/usr/bin/env python3
"""Loads a mailharness HTML page in headless Chromium: it must load with no console messages
(no errors, no uncaught exceptions), its charts must be present and drawn, and a screenshot is
taken.

usage: check_page.py PAGE.html [--chromium PATH] [--min-charts N] [--screenshot PNG]
                     [--require TEXT ...]

Chromium renders the page; the page's inline script (reports/ html.hpp) measures the drawn
length of every data series (SVG getTotalLength) and stores it on each <svg class="chart"> as
data-drawn, and the number of charts on <body data-charts-checked>. The DOM as Chromium left it
(--dump-dom) is then checked: every chart must have data series with points and a drawn length
> 0; every --require text must be in it. Console output is read from Chromium's log
(--enable-logging=stderr: "INFO:CONSOLE" lines); the pages log nothing, so any line fails.
Exit 0 when all holds, 1 when not, 77 (skip) when Chromium is not installed.
"""
import argparse
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


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


def chromium(binary, args, url):
    profile = tempfile.mkdtemp(prefix="mailharness-chromium-")
    try:
        return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--min-charts", type=int, default=3)
    ap.add_argument("--screenshot", help="PNG to write (default: beside the page, .png)")
    ap.add_argument("--require", action="append", default=[], help="text the rendered DOM must contain")
    args = ap.parse_args()
    if not (os.path.exists(args.chromium) and os.access(args.chromium, os.X_OK)):
        print(f"SKIP: {args.chromium} not installed")
        return 77
    url = "file://" + os.path.abspath(args.page)
    r = chromium(args.chromium, ["--dump-dom"], url)
    dom = r.stdout.decode("utf-8", "replace")
    log = r.stderr.decode("utf-8", "replace")
    if r.returncode != 0 or "<body" not in dom:
        print(f"FAIL: chromium exited {r.returncode}; stderr:\n{log[-2000:]}")
        return 1
    problems = []
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    problems += [f"console: {line}" for line in console]
    p = charts_parser()
    p.feed(dom)
    if p.body_checked is None:
        problems.append("the page's check script did not run (no data-charts-checked on <body>)")
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
    for text in args.require:
        if text not in dom:
            problems.append(f"the page does not contain {text!r}")
    shot = args.screenshot or os.path.splitext(args.page)[0] + ".png"
    s = chromium(args.chromium, [f"--screenshot={os.path.abspath(shot)}", "--window-size=1200,2400", "--hide-scrollbars"], url)
    if s.returncode != 0 or not os.path.exists(shot) or os.path.getsize(shot) < 1000:
        problems.append(f"no screenshot at {shot} (chromium exited {s.returncode})")
    for c in p.charts:
        print(f"chart {c['id']}: {len(c['series'])} series, points {[x[0] for x in c['series']]}, drawn {c['drawn']}")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print(f"OK: {len(p.charts)} charts, all drawn, no console messages; screenshot {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
