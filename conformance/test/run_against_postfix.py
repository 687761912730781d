#!/usr/bin/env python3
"""mailconform against a private Postfix peer (tests/peers), as a CI pipeline would run it.

usage: run_against_postfix.py MAILCONFORM SUITE_DIR DEVIATIONS_MD MODE

MODE is one of:
  hardened    Postfix with the hardening its documentation recommends, AUTH through a Dovecot
              peer: the whole suite (destructive cases too) on the STARTTLS port and on the
              implicit-TLS port.
  defaults    Postfix's defaults for those settings: the whole suite on the STARTTLS port.
  open-relay  hardened, but mynetworks = 0.0.0.0/0: the security suite.
  bare-lf     hardened, but smtpd_forbid_bare_newline = no (Debian 12's default): the security suite.

The set of failing case ids must equal the list documented for MODE in DEVIATIONS_MD (the ids in
the table rows between "<!-- failing: MODE -->" and "<!-- end -->"), so that a new failure or a
fixed one fails this test; for the misconfigurations the test also holds a floor of cases that
must be among the failures. Exit status 77 (ctest: skipped) when Postfix or Dovecot is not
installed or this is not root: the peers need both.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "peers"))
import peers  # noqa: E402

SKIP = 77

# Cases that must fail against a misconfigured Postfix, whatever the document says.
MUST_FAIL = {
    "open-relay": {"smtp-open-relay-basic", "smtp-open-relay-helo", "smtp-open-relay-null-sender",
                   "smtp-open-relay-source-route", "smtp-open-relay-after-rset"},
    "bare-lf": {"smtp-smuggling-lf-dot-lf", "smtp-smuggling-crlf-dot-lf", "smtp-smuggling-lf-dot-crlf"},
}
# And the tag every failure must carry there: a misconfiguration is caught by its own cases.
FAIL_TAG = {"open-relay": "relay", "bare-lf": "smuggling"}


def documented(md_path, mode):
    text = open(md_path).read()
    m = re.search(r"<!-- failing: %s -->\n(.*?)<!-- end -->" % re.escape(mode), text, re.S)
    if not m:
        sys.exit("%s: no <!-- failing: %s --> section" % (md_path, mode))
    return {row.group(1) for row in re.finditer(r"^\|\s*`([a-z0-9._-]+)`", m.group(1), re.M)}


def run_suite(mailconform, suite, target_file, extra, tmp, name):
    report = os.path.join(tmp, name + ".json")
    cmd = [mailconform, "--target", target_file, "--suite", suite, "--timeout", "5000", "--quiet-time", "500",
           "--json", report] + extra
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    print("$ " + " ".join(cmd))
    print(run.stdout, end="")
    print(run.stderr, end="", file=sys.stderr)
    if run.returncode not in (0, 1):
        sys.exit("mailconform exit status %d" % run.returncode)
    doc = json.load(open(report))
    failed = {c["id"] for c in doc["cases"] if c["outcome"] == "failed"}
    tags = {c["id"]: c["tags"] for c in doc["cases"]}
    skipped = {c["id"]: c["message"] for c in doc["cases"] if c["outcome"] == "skipped"}
    # Exit status 1 exactly when a MUST case failed (the default --fail-on).
    must_failed = any(c["outcome"] == "failed" and c["level"] == "MUST" for c in doc["cases"])
    if (run.returncode == 1) != must_failed:
        sys.exit("exit status %d disagrees with the report" % run.returncode)
    return failed, tags, skipped, doc["summary"]


def compare(label, failed, expected, problems):
    if failed != expected:
        new, fixed = sorted(failed - expected), sorted(expected - failed)
        problems.append("%s: failing cases differ from docs/postfix-deviations.md: %s%s" % (
            label, "new failures %s " % new if new else "", "no longer failing %s" % fixed if fixed else ""))


def main():
    peers.stop_peers_on_sigterm()
    mailconform, suite, md, mode = sys.argv[1:5]
    if os.geteuid() != 0:
        print("SKIP: the Postfix and Dovecot peers run as root")
        return SKIP
    missing = [p for p in ("postfix", "dovecot") if shutil.which(p) is None]
    if missing:
        print("SKIP: %s not installed (scripts/setup installs postfix, dovecot-imapd, dovecot-pop3d)" % ", ".join(missing))
        return SKIP
    expected = documented(md, mode)
    problems = []
    with tempfile.TemporaryDirectory(prefix="mailconform-postfix-") as tmp:
        if mode in ("hardened", "defaults"):
            with peers.dovecot_peer() as d, peers.postfix_peer(dovecot=d, profile=mode) as p:
                failed, _, skipped, summary = run_suite(mailconform, suite, os.path.join(p.dir, "mailconform-smtp.yaml"),
                                                        ["--allow-destructive"], tmp, "smtp")
                compare(mode + " (smtp, STARTTLS)", failed, expected, problems)
                if skipped:
                    problems.append("%s: nothing may be skipped on the STARTTLS port with AUTH: %s" % (mode, skipped))
                if summary["passed"] < 50:
                    problems.append("only %d cases passed" % summary["passed"])
                if mode == "hardened":
                    # Implicit TLS: the same expectations, STARTTLS cases skipped.
                    failed, _, skipped, _ = run_suite(mailconform, suite, os.path.join(p.dir, "mailconform-smtps.yaml"),
                                                      ["--allow-destructive"], tmp, "smtps")
                    compare(mode + " (smtps, implicit TLS)", failed, expected, problems)
                    bad_skips = {k: v for k, v in skipped.items()
                                 if v not in ("STARTTLS case, target is implicit TLS", "server does not advertise STARTTLS")}
                    if bad_skips or len(skipped) < 10:
                        problems.append("smtps: unexpected skips %s (%d skipped)" % (bad_skips, len(skipped)))
                    # The destructive cases delivered into bob's Maildir, where Dovecot serves it.
                    new = os.path.join(p.mail_dir, p.domain, "bob", "new")
                    delivered = "".join(open(os.path.join(new, f), errors="replace").read() for f in os.listdir(new)) \
                        if os.path.isdir(new) else ""
                    if "Subject: mailconform fixture: a MIME message" not in delivered:
                        problems.append("the fixture message was not delivered to %s" % new)
        else:
            with peers.postfix_peer(misconfigured=[mode]) as p:
                failed, tags, _, _ = run_suite(mailconform, suite, os.path.join(p.dir, "mailconform-smtp.yaml"),
                                               ["--only", "security"], tmp, mode)
            compare(mode, failed, expected, problems)
            if not MUST_FAIL[mode] <= failed:
                problems.append("%s: these cases must fail and did not: %s" % (mode, sorted(MUST_FAIL[mode] - failed)))
            off_topic = sorted(i for i in failed if FAIL_TAG[mode] not in tags[i])
            if off_topic:
                problems.append("%s: failures outside the %s cases: %s" % (mode, FAIL_TAG[mode], off_topic))
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("OK: %s: failing cases as documented: %s" % (mode, sorted(expected) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
