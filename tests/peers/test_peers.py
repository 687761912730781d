#!/usr/bin/env python3
"""The peers themselves: a Dovecot and a Postfix peer start on loopback, Postfix takes mail with
STARTTLS + AUTH (through Dovecot) for a virtual mailbox, Dovecot serves it over IMAP and POP3,
both stop by PID, and nothing of theirs is left running. Also the shell wrappers and the
misconfigurations' main.cf lines. Real clients that nobody here wrote: smtplib, imaplib, poplib.

Exit status 77 (ctest: skipped) without postfix/dovecot or without root.
"""
import imaplib
import json
import os
import poplib
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for_file_in(directory, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.isdir(directory) and os.listdir(directory):
            return
        time.sleep(0.05)
    raise AssertionError("nothing delivered to " + directory)


def round_trip():
    with peers.dovecot_peer() as d:
        mail_dir = d.mail_dir
        with peers.postfix_peer(dovecot=d) as p:
            pids = (d.pid, p.pid)
            check(p.ports["smtp"] != p.ports["submission"], "distinct ports")
            ctx = ssl.create_default_context(cafile=p.cafile)
            # The peer's own mail store is the Postfix one here; point Dovecot at it below.
            with smtplib.SMTP("127.0.0.1", p.ports["smtp"], timeout=10) as s:
                code, caps = s.ehlo("client.test")
                check(code == 250 and b"STARTTLS" in caps and b"AUTH" not in caps, "no AUTH before STARTTLS: %r" % caps)
                s.starttls(context=ctx)
                s.ehlo("client.test")
                check(s.has_extn("auth"), "AUTH after STARTTLS")
                s.login("alice@" + p.domain, p.users["alice"])
                refused = s.sendmail("alice@" + p.domain, ["bob@" + p.domain], b"Subject: peers round trip\r\n\r\nhello bob\r\n")
                check(not refused, "refused: %r" % refused)
                # Relay without AUTH from another connection is refused (mynetworks is empty).
            with smtplib.SMTP("127.0.0.1", p.ports["smtp"], timeout=10) as s:
                s.ehlo("client.test")
                s.mail("x@example.org")
                code, _ = s.rcpt("someone@example.net")
                check(code == 554, "relay refused with 554, got %d" % code)
            # Implicit TLS listener.
            with smtplib.SMTP_SSL("127.0.0.1", p.ports["smtps"], context=ctx, timeout=10) as s:
                check(s.ehlo("client.test")[0] == 250, "smtps EHLO")
            new = os.path.join(p.mail_dir, p.domain, "bob", "new")
            wait_for_file_in(new)
            # Dovecot serving the Postfix peer's store: a second Dovecot on it, IMAP and POP3.
            with peers.dovecot_peer(mail_dir=p.mail_dir) as d2:
                dctx = ssl.create_default_context(cafile=d2.cafile)
                imap = imaplib.IMAP4("127.0.0.1", d2.ports["imap"], timeout=10)
                imap.starttls(ssl_context=dctx)
                imap.login("bob@" + p.domain, p.users["bob"])
                typ, data = imap.select("INBOX")
                check(typ == "OK" and int(data[0]) == 1, "IMAP INBOX has 1 message: %r" % data)
                typ, msg = imap.fetch(b"1", "(BODY[])")
                check(b"hello bob" in msg[0][1], "IMAP body")
                imap.logout()
                pop = poplib.POP3_SSL("127.0.0.1", d2.ports["pop3s"], context=dctx, timeout=10)
                pop.user("bob@" + p.domain)
                pop.pass_(p.users["bob"])
                check(pop.stat()[0] == 1, "POP3 sees 1 message")
                pop.quit()
                d2_pid = d2.pid
            check(not peers.pid_alive(d2_pid), "second Dovecot stopped")
            # A second start in the same directory is refused while the first runs.
            try:
                peers.start_postfix(p.dir)
                raise AssertionError("second start in a running peer's directory succeeded")
            except peers.peer_error as e:
                check("already running" in str(e), str(e))
            work = p.dir
        check(not peers.pid_alive(pids[1]), "Postfix master stopped")
        check(not os.path.exists(work), "temporary directory removed")
    check(not peers.pid_alive(pids[0]), "Dovecot master stopped")
    check(mail_dir, "dovecot info")


def wrappers_and_misconfigurations():
    with tempfile.TemporaryDirectory(prefix="mh-peers-test-") as tmp:
        d = os.path.join(tmp, "pf")
        # mkdtemp's mode 0700 keeps Postfix's own users out, and the start must say so.
        try:
            peers.start_postfix(d)
            raise AssertionError("a start under a mode 0700 directory succeeded")
        except peers.peer_error as e:
            check("not searchable by other users" in str(e), str(e))
        os.chmod(tmp, 0o755)
        out = subprocess.run([os.path.join(HERE, "postfix-start"), d, "--misconfigured", "open-relay",
                              "--misconfigured", "bare-lf"], capture_output=True, text=True, timeout=120)
        try:
            check(out.returncode == 0, "postfix-start: %s%s" % (out.stdout, out.stderr))
            ports = dict(line.split() for line in out.stdout.splitlines())
            info = json.load(open(os.path.join(d, "peer.json")))
            check({k: str(v) for k, v in info["ports"].items()} == ports, "printed ports are peer.json's")
            conf = subprocess.run(["postconf", "-c", os.path.join(d, "etc"), "-h", "mynetworks",
                                   "smtpd_forbid_bare_newline", "queue_directory"],
                                  capture_output=True, text=True, check=True).stdout.split("\n")
            check(conf[:3] == ["0.0.0.0/0", "no", os.path.join(d, "spool")], "misconfigured main.cf: %r" % conf)
            with smtplib.SMTP("127.0.0.1", int(ports["smtp"]), timeout=10) as s:
                s.ehlo("client.test")
                s.mail("x@example.org")
                check(s.rcpt("someone@example.net")[0] == 250, "open relay accepts a remote recipient")
        finally:
            stop = subprocess.run([os.path.join(HERE, "postfix-stop"), d], capture_output=True, text=True, timeout=60)
        check(stop.stdout.strip() == "stopped", "postfix-stop: %r" % stop.stdout)
        again = subprocess.run([os.path.join(HERE, "postfix-stop"), d], capture_output=True, text=True, timeout=60)
        check(again.stdout.strip() == "not running", "second postfix-stop: %r" % again.stdout)
        check(not peers.pid_alive(info["pid"]), "master gone")


def main():
    peers.stop_peers_on_sigterm()
    if os.geteuid() != 0:
        print("SKIP: the Postfix and Dovecot peers run as root")
        return 77
    missing = [p for p in ("postfix", "dovecot") if shutil.which(p) is None]
    if missing:
        print("SKIP: %s not installed (scripts/setup installs postfix, dovecot-imapd, dovecot-pop3d)" % ", ".join(missing))
        return 77
    round_trip()
    wrappers_and_misconfigurations()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
