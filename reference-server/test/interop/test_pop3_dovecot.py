#!/usr/bin/env python3
"""One poplib script run against the Dovecot peer (tests/peers, Dovecot 2.3 pop3) and against
refmaild, comparing each reply's status (+OK / -ERR), its RFC 2449 response code, and the shape
of the answer (message counts, line counts, CAPA names, UIDL format, whether the server closed
the connection): never the free text.

Both maildrops hold the same three messages (written straight into Dovecot's Maildir as files,
delivered to refmaild over SMTP). Every difference must be listed in EXPECTED_DIFFERENCES with
its reason; a difference not listed fails, and so does a listed one that no longer happens
(keep the list true).

Skipped when Dovecot is not installed or the run is not root (the peer runs as root and drops
to its own users), as tests/peers/test_peers.py is.
"""

import os
import poplib
import re
import shutil
import socket
import ssl
import sys
import time

import pop3_harness as p3
import refmaild_harness as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "peers"))
import peers  # noqa: E402

MARKER = re.compile(rb"^Message-ID: <([^@>]+)@interop\.test>\r$", re.M | re.I)
RESP_CODE = re.compile(rb"^[+-](?:OK|ERR) \[([A-Z0-9/-]+)\]")

# step -> why Dovecot (2.3, the peer's configuration) and refmaild differ there. Values are
# compared as (dovecot, refmaild) pairs printed on failure.
EXPECTED_DIFFERENCES = {
    "capa before tls": "refmaild offers SASL SCRAM-SHA-256 and CRAM-MD5 before TLS (no password in clear on the "
                       "wire); the peer's auth_mechanisms is 'plain login' only, so Dovecot's SASL line is empty "
                       "before TLS.",
    "capa after stls": "SASL lists differ by configuration: refmaild SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN, "
                       "the peer PLAIN LOGIN.",
    "capa pop3s": "as 'capa after stls'.",
    "apop": "refmaild offers APOP when users have {PLAIN} secrets (greeting timestamp); Dovecot offers it only "
            "with the APOP mechanism in auth_mechanisms, which the peer does not enable: -ERR there.",
    "greeting apop timestamp": "as 'apop'.",
    "overlong line": "refmaild enforces RFC 2449 section 4's 255-octet command line (-ERR, then close); Dovecot's "
                     "login process reads lines of up to several KiB and only answers -ERR for the unknown "
                     "command.",
    "second session": "Dovecot's pop3_lock_session defaults to no: a second session on the same maildrop is "
                      "allowed. refmaild locks the maildrop (RFC 1939 section 8) and refuses with [IN-USE].",
}

# Not listed on purpose, because they are refmaild bugs (see the test report):
#   "uidl": Dovecot's %08Xu%08Xv is lower-case hex, refmaild's is upper-case, so the same
#           Maildir gives different UIDLs (test_shared_maildir_same_uidls shows it directly).
#   "unknown, user before tls, unknown": refmaild counts "-ERR [AUTH] Plaintext authentication
#           disallowed" as a bad command and closes on the third; Dovecot, whose limits
#           server_session.hpp says it follows, does not count it.


def normalize(resp):
    """(+OK|-ERR, response code or None) of a status line."""
    status = "+OK" if resp.startswith(b"+OK") else "-ERR" if resp.startswith(b"-ERR") else repr(resp[:10])
    m = RESP_CODE.match(resp)
    return status, m.group(1).decode() if m else None


def closed(sock, timeout=3.0):
    """True when the server closes the connection within `timeout` without sending more."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except (socket.timeout, TimeoutError):
        return False


# Dovecot counts a connection whose client address equals its local address as secured, so over
# 127.0.0.1 -> 127.0.0.1 disable_plaintext_auth would not apply and the before-TLS steps would
# compare nothing. The script connects from 127.0.0.2 (still loopback) to both servers.
SOURCE = ("127.0.0.2", 0)


class from_source:
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=SOURCE)


class pop3_from(from_source, poplib.POP3):
    pass


class pop3_ssl_from(from_source, poplib.POP3_SSL):
    def _create_socket(self, timeout):
        sock = from_source._create_socket(self, timeout)
        return self.context.wrap_socket(sock, server_hostname=self.host)


class target:
    """Where a POP3 server is and who logs in."""

    def __init__(self, name, host, ports, context, user, password, other_user):
        self.name, self.host, self.ports, self.context = name, host, ports, context
        self.user, self.password, self.other_user = user, password, other_user

    def plain(self):
        return pop3_from(self.host, self.ports["pop3"], timeout=20)

    def pop3s(self):
        return pop3_ssl_from(self.host, self.ports["pop3s"], context=self.context, timeout=20)

    def login(self):
        p = self.pop3s()
        p.user(self.user)
        p.pass_(self.password)
        return p


def uidl_format(uid):
    """What a UIDL looks like: Dovecot's default pop3_uidl_format %08Xu%08Xv gives 16 hex digits."""
    for name, pattern in (("16 upper-case hex digits", rb"[0-9A-F]{16}"), ("16 lower-case hex digits", rb"[0-9a-f]{16}")):
        if re.fullmatch(pattern, uid):
            return name
    return f"other ({len(uid)} octets)"


def capa_names(p):
    try:
        resp, lines, _ = p._longcmd("CAPA")
    except poplib.error_proto as e:
        return normalize(e.args[0])
    names = sorted(" ".join(line.decode().upper().split()) for line in lines
                   if not line.upper().startswith((b"IMPLEMENTATION", b"LOGIN-DELAY", b"EXPIRE")))
    return normalize(resp) + (tuple(names),)


def run_script(t):
    """The script: returns {step: value} where a value holds statuses, response codes and shapes.
    A section that breaks (the server closed the connection, a reply poplib cannot parse) records
    "<section> aborted" and the next section starts on a new connection."""
    out = {}

    def step(name, value):
        assert name not in out, name
        out[name] = value

    def r(p, line):
        return normalize(p3.reply(p, line))

    def plain_port():
        p = t.plain()
        step("greeting", normalize(p.getwelcome()))
        step("greeting apop timestamp", re.search(rb"<[^<>]+@[^<>]+>", p.getwelcome()) is not None)
        step("capa before tls", capa_names(p))
        step("user before tls", r(p, f"USER {t.user}"))
        step("pass before tls", r(p, f"PASS {t.password}"))
        step("stls", r(p, "STLS"))
        p.sock = t.context.wrap_socket(p.sock, server_hostname="localhost")
        p.file = p.sock.makefile("rb")
        step("capa after stls", capa_names(p))
        step("stls inside tls", r(p, "STLS"))
        step("user pass after stls", (r(p, f"USER {t.user}"), r(p, f"PASS {t.password}")))
        step("quit after stls login", normalize(p.quit()))

    def bad_commands():
        # Dovecot (and refmaild, by its own contract) close after 3 bad commands before login.
        p = t.plain()
        try:
            step("stat before login", r(p, "STAT"))
        finally:
            p.close()
        p = t.plain()
        try:
            step("three bad commands", (r(p, "XYZZY"), r(p, "XYZZY"), r(p, "XYZZY"), closed(p.sock)))
        finally:
            p.close()
        p = t.plain()
        try:
            step("bad, good, bad, bad", (r(p, "XYZZY"), normalize(p._longcmd("CAPA")[0]),
                                         r(p, "XYZZY"), r(p, "XYZZY"), closed(p.sock)))
        finally:
            p.close()
        p = t.plain()
        try:
            step("unknown, user before tls, unknown", (r(p, "XYZZY"), r(p, f"USER {t.user}"), r(p, "XYZZY"),
                                                      closed(p.sock)))
        finally:
            p.close()

    def overlong():
        p = t.plain()
        try:
            resp = p3.reply(p, "NOOP " + "x" * 300)
            step("overlong line", (normalize(resp), closed(p.sock)))
        finally:
            p.close()

    def failures():
        p = t.pop3s()
        step("capa pop3s", capa_names(p))
        step("apop", r(p, f"APOP {t.user} 0123456789abcdef0123456789abcdef"))
        p.close()
        p = t.pop3s()
        step("wrong password", (r(p, f"USER {t.user}"), r(p, "PASS wrong-password")))
        p.close()
        p = t.pop3s()
        step("unknown user", (r(p, f"USER {t.other_user}"), r(p, "PASS wrong-password")))
        p.close()
        p = t.pop3s()
        step("pass without user", r(p, "PASS something"))
        step("auth unknown mechanism", r(p, "AUTH X-UNKNOWN"))
        p.close()

    def transaction():
        p = t.login()
        count, _ = p.stat()
        step("stat", count)
        resp, lines, _ = p.list()
        step("list", (normalize(resp), len(lines)))
        step("list 1", r(p, "LIST 1"))
        step("list 99", r(p, "LIST 99"))
        resp, lines, _ = p.uidl()
        step("uidl", (normalize(resp), len(lines), sorted({uidl_format(l.split()[1]) for l in lines})))
        step("uidl 1", r(p, "UIDL 1"))
        step("retr 1", normalize(p.retr(1)[0]))
        step("retr 99", r(p, "RETR 99"))
        step("retr 0", r(p, "RETR 0"))
        step("retr x", r(p, "RETR x"))
        step("retr no argument", r(p, "RETR"))
        resp, lines, _ = p.top(1, 0)
        step("top 1 0", (normalize(resp), b"" in lines))
        step("top 1 2 lines", len(p.top(1, 2)[1]) - len(p.top(1, 0)[1]))
        step("top no count", r(p, "TOP 1"))
        step("top 99 0", r(p, "TOP 99 0"))
        step("dele 1", r(p, "DELE 1"))
        step("dele 1 again", r(p, "DELE 1"))
        step("retr deleted", r(p, "RETR 1"))
        step("list deleted", r(p, "LIST 1"))
        step("uidl deleted", r(p, "UIDL 1"))
        step("top deleted", r(p, "TOP 1 0"))
        step("stat after dele", p.stat()[0])
        step("list after dele", len(p.list()[1]))
        step("rset", normalize(p.rset()))
        step("stat after rset", p.stat()[0])
        step("noop", normalize(p.noop()))
        step("unknown command", r(p, "XYZZY"))
        step("user in transaction", r(p, f"USER {t.user}"))
        step("pass in transaction", r(p, "PASS x"))
        step("stls in transaction", r(p, "STLS"))
        step("auth in transaction", r(p, "AUTH PLAIN"))
        step("capa in transaction", capa_names(p))
        # A second session while this one holds the maildrop.
        q = t.pop3s()
        q.user(t.user)
        second = normalize(p3.reply(q, f"PASS {t.password}"))
        q.close()
        step("second session", second)
        step("dele 2", r(p, "DELE 2"))
        step("quit", normalize(p.quit()))
        p.close()

    def after_update():
        end = time.monotonic() + 10
        while True:
            try:
                p = t.login()
                break
            except poplib.error_proto:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        step("stat after quit", p.stat()[0])
        step("quit without changes", normalize(p.quit()))
        p.close()

    for section in (plain_port, bad_commands, overlong, failures, transaction, after_update):
        try:
            section()
        except (poplib.error_proto, OSError, EOFError) as e:
            step(f"{section.__name__} aborted", type(e).__name__)
    return out


def dovecot_message(marker, user):
    return p3.simple_message(user, marker, body_lines=["Hello.", ".dot line", ".", "..", "line 4", "line 5"])


class dovecot_comparison_test(h.unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("the Dovecot peer runs as root")
        if shutil.which("dovecot") is None:
            self.skipTest("dovecot not installed (scripts/setup installs dovecot-imapd, dovecot-pop3d)")

    def dovecot_target(self, d):
        user = "alice@" + d.domain
        box = os.path.join(d.mail_dir, d.domain, "alice")
        for sub in ("", "cur", "new", "tmp"):
            path = os.path.join(box, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, peers.MAIL_UID, peers.MAIL_GID)
        for i in range(3):
            data = dovecot_message(p3.unique(f"dv{i}"), user)
            name = f"{int(time.time())}.M{i}P{os.getpid()}.peer,S={len(data)}"
            path = os.path.join(box, "new", name)
            with open(path, "wb") as f:
                f.write(data)
            os.chown(path, peers.MAIL_UID, peers.MAIL_GID)
        return target("dovecot", "127.0.0.1", d.ports, ssl.create_default_context(cafile=d.cafile), user,
                      d.users["alice"], "nobody@" + d.domain)

    def refmaild_target(self, server):
        user = h.USERS[0]
        for i in range(3):
            p3.deliver(server, user, dovecot_message(p3.unique(f"rm{i}"), user))
        return target("refmaild", "127.0.0.1", server.ports, server.tls_context(), user, server.passwords[user],
                      "nobody@example.test")

    def test_same_script_same_statuses(self):
        peers.stop_peers_on_sigterm()
        with peers.dovecot_peer() as d:
            dovecot = run_script(self.dovecot_target(d))
        server = h.refmaild_server()
        self.addCleanup(server.close)
        # A small failure delay: the script fails two logins.
        server.add_config("auth:\n  failure_delay_base: 100ms\n  failure_delay_max: 200ms\n").start()
        refmaild = run_script(self.refmaild_target(server))
        missing = object()
        differences = {s: (dovecot.get(s, "(no such step)"), refmaild.get(s, "(no such step)"))
                       for s in list(dovecot) + [s for s in refmaild if s not in dovecot]
                       if dovecot.get(s, missing) != refmaild.get(s, missing)}
        report = "\n".join(f"  {s}: dovecot {a!r} / refmaild {b!r}" for s, (a, b) in differences.items())
        print(f"\n{len(dovecot)} steps, {len(differences)} differences:\n{report}", file=sys.stderr)
        unlisted = {s: v for s, v in differences.items() if s not in EXPECTED_DIFFERENCES}
        self.assertEqual(unlisted, {}, "differences not in EXPECTED_DIFFERENCES (a refmaild bug, or list them "
                                       "with their reason):\n" + report)
        stale = sorted(set(EXPECTED_DIFFERENCES) - set(differences))
        self.assertEqual(stale, [], "listed differences that no longer happen: remove them")
        # The shape that must agree in any case.
        self.assertEqual(refmaild.get("stat"), 3)

    def test_shared_maildir_same_uidls(self):
        # maildir_folder.hpp: UIDs live in Dovecot's dovecot-uidlist "so that Dovecot sharing the
        # Maildir gives the same messages the same UIDs", and UIDL is Dovecot's default format. So
        # Dovecot and refmaild serving one Maildir must give the same UIDL for each message, and
        # each must keep working after the other rewrote the uid list.
        peers.stop_peers_on_sigterm()
        server = h.refmaild_server()
        self.addCleanup(server.close)
        server.start()
        user = h.USERS[0]
        markers = [p3.unique(f"shared{i}") for i in range(3)]
        for m in markers:
            p3.deliver(server, user, dovecot_message(m, user))

        def uidls(p):
            result = {}
            for line in p.uidl()[1]:
                n, uid = line.split()
                result[MARKER.search(b"".join(l + b"\r\n" for l in p.top(int(n), 0)[1])).group(1).decode()] = uid.decode()
            p.quit()
            p.close()
            return result

        first = uidls(p3.login(server, user))
        # Dovecot reads the Maildir as nobody: open the way to it and hand it over.
        box = p3.maildir(server, user)
        for d in (server.dir, server.dir / "maildir", box.parent.parent, box.parent):
            os.chmod(d, os.stat(d).st_mode | 0o001)
        for root, dirs, files in os.walk(box):
            for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                os.chown(name, peers.MAIL_UID, peers.MAIL_GID)
        mail = h.pathlib.Path(h.tempfile.mkdtemp(prefix="mh-pop3-shared-"))
        self.addCleanup(shutil.rmtree, mail, ignore_errors=True)
        os.chmod(mail, 0o755)
        (mail / "peer.test").mkdir(mode=0o755)
        (mail / "peer.test" / "alice").symlink_to(box)
        with peers.dovecot_peer(mail_dir=str(mail)) as d:
            dv = target("dovecot", "127.0.0.1", d.ports, ssl.create_default_context(cafile=d.cafile), "alice@" + d.domain,
                        d.users["alice"], "")
            dovecot = uidls(dv.login())
        again = uidls(p3.login(server, user))
        self.assertEqual(sorted(first), sorted(markers))
        self.assertEqual(again, first, "refmaild's UIDLs changed after Dovecot used the Maildir")
        self.assertEqual(dovecot, first, "Dovecot and refmaild give the same messages of one Maildir different UIDLs")


if __name__ == "__main__":
    h.main()
