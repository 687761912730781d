#!/usr/bin/env python3
"""mailconform against the refmaild program, as a CI pipeline would run it.

usage: run_against_refmaild.py MAILCONFORM REFMAILD SUITE_DIR

Makes a "refmaild quickstart" setup in a temporary directory, starts refmaild on kernel-chosen
loopback ports, runs the whole suite with STARTTLS verified against the quickstart certificate,
and checks: exit status 0, the summary line with no failure and no skip, and that the JUnit, TAP
and JSON reports agree with it. refmaild is stopped by its PID.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET


def main():
    mailconform, refmaild, suite = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="mailconform-refmaild-") as tmp:
        subprocess.run([refmaild, "quickstart", tmp, "--no-run"], check=True, stdout=subprocess.DEVNULL)
        # The suite sends one overlong command line on purpose; the quickstart setup has the
        # long-line ban off (policy.long_line_ban: 0s), or 127.0.0.1 would be refused afterwards.
        with open(os.path.join(tmp, "refmaild.yaml")) as f:
            assert "long_line_ban: 0s" in f.read(), "quickstart config must disable the long-line ban"
        ports_file = os.path.join(tmp, "ports")
        server = subprocess.Popen([refmaild, "--config", os.path.join(tmp, "refmaild.yaml"), "--ports-file", ports_file],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(ports_file):
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("refmaild did not start (exit status %s)" % server.poll())
                time.sleep(0.05)
            ports = dict(line.split() for line in open(ports_file) if line.strip())
            alice_password = dict(line.split() for line in open(os.path.join(tmp, "credentials")))["alice@example.test"]
            reports = {k: os.path.join(tmp, "report." + k) for k in ("xml", "tap", "json", "html", "md")}
            run = subprocess.run(
                [mailconform, "--host", "localhost", "--port", ports["smtp"], "--tls", "starttls",
                 "--cafile", os.path.join(tmp, "tls", "cert.pem"), "--local-domain", "example.test",
                 "--remote-domain", "example.net", "--rcpt", "bob@example.test", "--suite", suite,
                 "--user", "alice@example.test", "--password", alice_password,
                 "--timeout", "5000", "--quiet-time", "500", "--allow-destructive",
                 "--junit", reports["xml"], "--tap", reports["tap"], "--json", reports["json"],
                 "--html", reports["html"], "--markdown", reports["md"]],
                capture_output=True, text=True, timeout=300)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        problems = []
        if run.returncode != 0:
            problems.append("exit status %d" % run.returncode)
        last = run.stdout.rstrip("\n").split("\n")[-1]
        m = re.fullmatch(r"(\d+) passed, (\d+) failed, (\d+) skipped", last)
        if not m:
            problems.append("last line is not the summary: %r" % last)
        else:
            passed, failed, skipped = map(int, m.groups())
            if passed < 15 or failed or skipped:
                problems.append("expected >= 15 passed and nothing failed or skipped: " + last)
            doc = json.load(open(reports["json"]))
            if doc["summary"] != {"passed": passed, "failed": failed, "skipped": skipped}:
                problems.append("JSON summary %r disagrees" % doc["summary"])
            suite_el = ET.parse(reports["xml"]).getroot().find("testsuite")
            if int(suite_el.get("tests")) != passed + failed + skipped or int(suite_el.get("failures")) != failed:
                problems.append("JUnit counts disagree")
            tap = open(reports["tap"]).read()
            if "1..%d\n" % (passed + failed + skipped) not in tap or ("not ok" in tap) != (failed > 0):
                problems.append("TAP disagrees")
            if doc.get("format") != "mailharness.mailconform.results/1" or not doc.get("run", {}).get("target", "").endswith(ports["smtp"]):
                problems.append("JSON has no format or run (reports/schema/conformance-run.schema.json)")
            page = open(reports["html"]).read()
            if "%d passed, %d failed, %d skipped" % (passed, failed, skipped) not in page or 'data-protocol="smtp"' not in page:
                problems.append("HTML page disagrees")
            if "%d passed, %d failed" % (passed, failed) not in open(reports["md"]).read():
                problems.append("Markdown disagrees")
        if problems:
            sys.exit("FAILED: " + "; ".join(problems))


if __name__ == "__main__":
    main()
