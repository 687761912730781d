#!/usr/bin/env python3
"""mailreport on the fixtures make_fixtures wrote: every subcommand, its outputs and exit status.

usage: run_mailreport.py MAILREPORT FIXTURE_DIR OUT_DIR SCHEMA_DIR

Writes the pages the Chromium tests load into OUT_DIR: conformance.html, matrix.html,
compare.html, compare-conformance.html, trend.html.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

failures = []


def run(args, expect):
    r = subprocess.run([MAILREPORT, *args], capture_output=True, text=True, timeout=60)
    shown = " ".join(args)
    if r.returncode != expect:
        failures.append(f"mailreport {shown}: exit {r.returncode}, expected {expect}\n{r.stdout}{r.stderr}")
    else:
        print(f"ok   exit {r.returncode}  mailreport {shown}")
    return r


def check(cond, what):
    if not cond:
        failures.append(what)
    else:
        print(f"ok   {what}")


def text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


MAILREPORT, FIX, OUT, SCHEMA = sys.argv[1:5]
os.makedirs(OUT, exist_ok=True)
o = lambda name: os.path.join(OUT, name)
f = lambda name: os.path.join(FIX, name)

# render: a load run
r = run(["render", f("load/base.json"), "--html", o("load.html"), "--junit", o("load.xml"), "--markdown", o("load.md")], 0)
check("mailload: smoke" in r.stdout, "render load prints the summary")
check(ET.parse(o("load.xml")).getroot().tag == "testsuites", "load JUnit is XML")
check("| smtp.data |" in text(o("load.md")), "load Markdown has the latency table")
check('data-chart="throughput"' in text(o("load.html")), "load HTML has its charts")
run(["render", f("load/base.json"), "--tap", o("x.tap")], 2)  # TAP is for conformance runs

# render: a conformance run, every output
r = run(["render", f("conformance/postfix.json"), "--html", o("conformance.html"), "--junit", o("conformance.xml"),
         "--tap", o("conformance.tap"), "--markdown", o("conformance.md"), "--sarif", o("conformance.sarif")], 0)
check(r.stdout.endswith("3 passed, 2 failed, 1 skipped\n") or "2 failed" in r.stdout, "render conformance prints the summary")
junit = ET.parse(o("conformance.xml")).getroot()
check(junit.find("testsuite").get("failures") == "2", "conformance JUnit counts 2 failures")
check(text(o("conformance.tap")).startswith("TAP version 13\n1..5\n"), "conformance TAP header")
sarif = json.loads(text(o("conformance.sarif")))
check(sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 2, "SARIF has the 2 failures")
html = text(o("conformance.html"))
check("S: 250 2.1.5 Ok" in html and 'class="transcript decisive"' in html, "conformance page shows the decisive lines")
run(["render", f("conformance/old-format.json"), "--quiet", "--html", o("old.html")], 0)

# matrix
run(["matrix", f("conformance/refmaild.json"), f("conformance/postfix.json"), "--name", "refmaild", "--name", "postfix",
     "--html", o("matrix.html")], 0)
check(">postfix<br>" in text(o("matrix.html")), "matrix has the postfix column")

# compare: load, both ways, with flags and a thresholds file
run(["compare", f("load/base.json"), f("load/same.json"), "--markdown", o("same.md")], 0)
r = run(["compare", f("load/base.json"), f("load/slower.json"), "--max-p99-growth", "10%", "--max-throughput-drop", "5%",
         "--html", o("compare.html"), "--markdown", o("compare.md")], 1)
check("REGRESSION" in r.stdout and "smtp.data p99" in r.stdout, "compare names the regressed p99")
check("**REGRESSION**" in text(o("compare.md")), "compare Markdown marks the regression")
run(["compare", f("load/base.json"), f("load/slower.json"), "--thresholds", f("thresholds.json")], 0)
run(["compare", f("load/base.json"), f("load/slower.json"), "--thresholds", f("thresholds.json"), "--max-p99-growth", "20%"], 1)
run(["compare", f("load/slower.json"), f("load/base.json")], 0)  # faster is no regression
run(["compare", f("load/base.json"), f("load/slower.json"), "--max-p99-growth", "lots"], 2)

# compare: conformance, both ways; mixed kinds refused
r = run(["compare", f("conformance/refmaild.json"), f("conformance/postfix.json"), "--html", o("compare-conformance.html"),
         "--markdown", o("compare-conformance.md")], 1)
check("regression  smtp-relay-percent-hack: passed -> failed" in r.stdout, "compare names the case that broke")
run(["compare", f("conformance/postfix.json"), f("conformance/refmaild.json")], 0)
run(["compare", f("load/base.json"), f("conformance/refmaild.json")], 2)

# trend
r = run(["trend", os.path.join(FIX, "history"), "--html", o("trend.html")], 0)
check("12 load runs, 3 conformance runs" in r.stdout, "trend reads every run")
trend = text(o("trend.html"))
check('data-chart="trend-smoke-smtp.data"' in trend and 'data-chart="trend-conformance"' in trend, "trend has its charts")

# bad input
run(["render", os.path.join(FIX, "thresholds.json")], 2)
run(["render", os.path.join(FIX, "missing.json")], 2)

# what mailreport reads is what the schemas describe (structure checked again by the library's tests)
for name, schema in [("load/base.json", "load-run.schema.json"), ("conformance/postfix.json", "conformance-run.schema.json")]:
    doc, s = json.loads(text(f(name))), json.loads(text(os.path.join(SCHEMA, schema)))
    check(all(k in doc for k in s["required"]), f"{name} has the top-level keys of {schema}")

if failures:
    print("FAIL:\n" + "\n".join(failures))
    sys.exit(1)
print("OK")
