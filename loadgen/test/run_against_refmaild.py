#!/usr/bin/env python3
"""mailload against the refmaild program (real processes, loopback, quickstart setup).

usage: run_against_refmaild.py MAILLOAD REFMAILD SCENARIO_DIR [unittest options]

Starts `refmaild quickstart` in a temporary directory (reference-server/test/interop's harness)
and runs scenarios/smoke.yaml against its smtp and submission ports with the quickstart users,
then checks what mailload reports against what the server stored:
  - the smoke run: exit 0, both workloads ran without errors, every phase has latency samples,
    results.json / junit.xml / report.html are written and agree, and the number of recipients
    mailload counts as accepted is the number of new files in the Maildirs;
  - two shards (--shard 0/2 and 1/2, run at the same time) merged with `mailload merge`;
  - certificate verification with the quickstart CA (passes) and without it (TLS errors);
  - a threshold that cannot hold makes mailload exit 1 with a JUnit failure.
Set MAILLOAD_E2E_OUT=DIR to keep the smoke run's output folder there (the Chromium report test
uses it).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "reference-server" / "test" / "interop"))
import refmaild_harness as harness  # noqa: E402

MAILLOAD = ""
SCENARIOS = pathlib.Path()


def stored_count(server):
    return sum(len(server.delivered(u)) for u in harness.USERS)


class mailload_against_refmaild(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.refmaild_server().start()
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="mailload-e2e-"))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def overrides(self):
        s = self.server
        return ["--set", f"targets.smtp.port={s.port('smtp')}", "--set", f"targets.submission.port={s.port('submission')}",
                "--set", "users.senders={file: %s}" % (s.dir / "credentials")]

    def mailload(self, *args, timeout=120):
        r = subprocess.run([MAILLOAD, *map(str, args)], capture_output=True, text=True, timeout=timeout)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        return r

    def load(self, out):
        return json.loads((out / "results.json").read_text())

    def test_smoke(self):
        out = self.tmp / "smoke"
        before = stored_count(self.server)
        r = self.mailload("run", SCENARIOS / "smoke.yaml", "--out", out, "--quiet", *self.overrides())
        self.assertEqual(r.returncode, 0, "mailload exit status")
        res = self.load(out)
        self.assertEqual(res["format"], "mailharness.mailload.results/1")
        self.assertEqual(res["errors"], [])
        counters = {w["name"]: w["counters"] for w in res["workloads"]}
        self.assertEqual(set(counters), {"relay-in", "submit"})
        for name, c in counters.items():
            self.assertGreater(c["iterations"], 10, name)
            self.assertEqual(c["failed"], 0, name)
            self.assertGreater(c["messages"], 10, name)
            self.assertEqual(c["connections"], c["iterations"] + c["interrupted"], name)
        # relay-in sends 3 messages per session; submit 1
        self.assertEqual(counters["relay-in"]["messages"], 3 * counters["relay-in"]["iterations"])
        self.assertEqual(counters["submit"]["messages"], counters["submit"]["iterations"])
        # the open model kept its schedule: 20/s for 5 s is about 100 arrivals (Poisson: +- 5 sd)
        self.assertLess(abs(counters["submit"]["iterations"] + counters["submit"]["interrupted"] - 100), 50)
        # every phase was measured
        metrics = {(l["workload"], l["metric"]): l["histogram"]["total"] for l in res["latency"]}
        for m in ("smtp.connect", "smtp.greeting", "smtp.ehlo", "smtp.starttls", "smtp.tls_handshake", "smtp.mail",
                  "smtp.rcpt", "smtp.data", "smtp.message", "smtp.quit", "iteration"):
            self.assertGreater(metrics.get(("relay-in", m), 0), 0, m)
        for m in ("smtp.auth", "smtp.bdat", "schedule_lag"):
            self.assertGreater(metrics.get(("submit", m), 0), 0, m)
        self.assertEqual(metrics[("relay-in", "smtp.data")], counters["relay-in"]["messages"])
        # what the server stored: one file per accepted recipient
        recipients = sum(c["recipients"] for c in counters.values())
        self.assertEqual(stored_count(self.server) - before, recipients)
        # a time series, second by second
        seconds = [s["t"] for s in res["series"]]
        self.assertGreaterEqual(len(seconds), 5)
        self.assertEqual(sum(s["workloads"]["relay-in"]["messages"] for s in res["series"]), counters["relay-in"]["messages"])
        # thresholds in results.json and junit.xml
        self.assertTrue(all(t["passed"] for t in res["thresholds"]))
        suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
        self.assertEqual(int(suite.get("tests")), len(res["thresholds"]))
        self.assertEqual(int(suite.get("failures")), 0)
        html = (out / "report.html").read_text()
        self.assertIn('data-chart="throughput"', html)
        self.assertIn('data-chart="spectrum"', html)
        # the summary is printed and saved
        self.assertIn("thresholds:", r.stdout)
        self.assertEqual((out / "summary.txt").read_text().splitlines()[0], r.stdout.splitlines()[0])
        keep = os.environ.get("MAILLOAD_E2E_OUT")
        if keep:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(out, keep)

    def test_shards_merge(self):
        procs, outs = [], []
        for i in range(2):
            out = self.tmp / f"shard{i}"
            outs.append(out)
            procs.append(subprocess.Popen([MAILLOAD, "run", str(SCENARIOS / "smoke.yaml"), "--out", str(out), "--quiet",
                                           "--duration", "3s", "--shard", f"{i}/2", *self.overrides()],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for p in procs:
            text, _ = p.communicate(timeout=120)
            print(text)
            self.assertEqual(p.returncode, 0)
        parts = [self.load(o) for o in outs]
        for i, p in enumerate(parts):
            self.assertEqual(p["run"]["shard"], {"index": i, "count": 2})
            # shard i of the closed model runs VUs i and i+2 of 4
            busy = max(s["workloads"]["relay-in"]["active"] for s in p["series"])
            self.assertEqual(busy, 2)
        merged = self.tmp / "merged"
        r = self.mailload("merge", outs[0] / "results.json", outs[1] / "results.json", "--out", merged)
        self.assertEqual(r.returncode, 0)
        m = self.load(merged)
        self.assertEqual(m["run"]["shards"], [0, 1])
        for w in m["workloads"]:
            for key in ("iterations", "messages", "recipients", "connections", "bytes_sent"):
                self.assertEqual(w["counters"][key],
                                 sum(next(x for x in p["workloads"] if x["name"] == w["name"])["counters"][key] for p in parts), key)
        totals = {(l["workload"], l["metric"]): l["histogram"]["total"] for l in m["latency"]}
        for p in parts:
            for l in p["latency"]:
                self.assertIn((l["workload"], l["metric"]), totals)
        self.assertEqual(totals[("relay-in", "smtp.data")],
                         sum(l["histogram"]["total"] for p in parts for l in p["latency"]
                             if (l["workload"], l["metric"]) == ("relay-in", "smtp.data")))
        self.assertTrue((merged / "report.html").exists())
        # merging a shard with itself is refused
        r = self.mailload("merge", outs[0] / "results.json", outs[0] / "results.json", "--out", self.tmp / "bad")
        self.assertEqual(r.returncode, 2)
        self.assertIn("given twice", r.stderr)

    def test_certificate_verification(self):
        cert = self.server.cert_file
        ok = self.tmp / "verified"
        r = self.mailload("run", SCENARIOS / "smoke.yaml", "--out", ok, "--quiet", "--duration", "2s", *self.overrides(),
                          "--set", "targets.smtp.verify=true", "--set", f"targets.smtp.ca_file={cert}",
                          "--set", "targets.smtp.sni=localhost")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(self.load(ok)["errors"], [])
        bad = self.tmp / "unverified"
        r = self.mailload("run", SCENARIOS / "smoke.yaml", "--out", bad, "--quiet", "--duration", "2s", *self.overrides(),
                          "--set", "targets.smtp.verify=true", "--set", "targets.smtp.sni=localhost")
        self.assertEqual(r.returncode, 1)  # thresholds on errors fail
        errors = self.load(bad)["errors"]
        self.assertTrue(errors)
        self.assertEqual({(e["workload"], e["action"], e["class"]) for e in errors}, {("relay-in", "smtp.tls_handshake", "tls")})
        self.assertIn("certificate verify failed", errors[0]["example"])

    def test_every_action_and_mechanism(self):
        out = self.tmp / "actions"
        s = self.server
        before = stored_count(s)
        r = self.mailload("run", HERE / "fixtures" / "refmaild-actions.yaml", "--out", out, "--quiet",
                          "--set", f"targets.submission.port={s.port('submission')}",
                          "--set", f"targets.smtps.port={s.port('smtps')}",
                          "--set", "users.senders={file: %s}" % (s.dir / "credentials"))
        self.assertEqual(r.returncode, 0)
        res = self.load(out)
        self.assertEqual(res["errors"], [])
        counters = {w["name"]: w["counters"] for w in res["workloads"]}
        self.assertEqual(counters["steps"]["messages"], 2 * 3 * 2)
        self.assertEqual(counters["cram"]["messages"], 10 * 3)
        counts = {(l["workload"], l["metric"]): l["histogram"]["total"] for l in res["latency"]}
        self.assertEqual(counts[("steps", "smtp.auth")], 6)
        self.assertEqual(counts[("steps", "smtp.rset")], 6)
        self.assertEqual(counts[("steps", "smtp.noop")], 6)
        self.assertEqual(counts[("steps", "smtp.bdat")], 6)
        self.assertEqual(counts[("cram", "smtp.auth")], 10)
        self.assertEqual(counts[("cram", "smtp.tls_handshake")], 10)
        self.assertEqual(counts[("cram", "smtp.data")], 20)
        self.assertEqual(counts[("cram", "smtp.bdat")], 10)
        self.assertEqual(stored_count(s) - before, sum(c["recipients"] for c in counters.values()))
        # the .eml file's content arrived (dot-unstuffed by the server): BDAT sends it raw
        found = [m for u in harness.USERS for m in s.delivered(u).values() if b"fixture one" in m or b"fixture two" in m]
        self.assertEqual(len(found), 6)
        self.assertTrue(any(b"\r\n.leading dot line\r\n" in m for m in found))

    def test_failing_threshold_exit_status(self):
        out = self.tmp / "strict"
        r = self.mailload("run", SCENARIOS / "smoke.yaml", "--out", out, "--quiet", "--duration", "1s", *self.overrides(),
                          "--set", "thresholds=['smtp.message p50 < 1us', 'messages count > 0']")
        self.assertEqual(r.returncode, 1)
        res = self.load(out)
        self.assertEqual([t["passed"] for t in res["thresholds"]], [False, True])
        suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
        self.assertEqual(suite.get("failures"), "1")
        self.assertIn("FAIL  smtp.message p50 < 1us", r.stdout)


class mailload_mutual_tls(unittest.TestCase):
    """refmaild with tls.client_cert: required; mailload presents a CA-issued client certificate."""

    @classmethod
    def setUpClass(cls):
        import re
        server = harness.refmaild_server()
        d = server.dir
        harness.run_refmaild("cert", "ca", "--cn", "Load Client CA", "--out", d / "ca")
        harness.run_refmaild("cert", "issue", "--ca-dir", d / "ca", "--cn", "client.load.test", "--client",
                             "--out", d / "client", "--name", "client")
        text = re.sub(r"(  key_file: tls/key.pem\n)", rf"\1  ca_file: {d / 'ca' / 'ca.pem'}\n  client_cert: required\n",
                      server.config.read_text(), count=1)
        server.config.write_text(text)
        cls.server = server.start()
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="mailload-mtls-"))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_smoke(self, out, *extra):
        s = self.server
        r = subprocess.run([MAILLOAD, "run", str(SCENARIOS / "smoke.yaml"), "--out", str(out), "--quiet", "--duration", "1s",
                            "--set", f"targets.smtp.port={s.port('smtp')}", "--set", f"targets.submission.port={s.port('submission')}",
                            "--set", "users.senders={file: %s}" % (s.dir / "credentials"), *extra],
                           capture_output=True, text=True, timeout=120)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        return r, json.loads((out / "results.json").read_text())

    def test_client_certificate(self):
        d = self.server.dir / "client"
        certs = []
        for t in ("smtp", "submission"):
            certs += ["--set", f"targets.{t}.client_cert={d / 'client.pem'}", "--set", f"targets.{t}.client_key={d / 'client-key.pem'}"]
        r, res = self.run_smoke(self.tmp / "with", *certs)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(res["errors"], [])
        self.assertGreater(sum(w["counters"]["messages"] for w in res["workloads"]), 0)
        r, res = self.run_smoke(self.tmp / "without")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(res["errors"])
        self.assertEqual({e["class"] for e in res["errors"]}, {"tls"})
        self.assertEqual(sum(w["counters"]["messages"] for w in res["workloads"]), 0)


if __name__ == "__main__":
    MAILLOAD, harness.REFMAILD, SCENARIOS = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    del sys.argv[1:4]
    unittest.main(verbosity=2)
