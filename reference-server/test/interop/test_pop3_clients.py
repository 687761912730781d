#!/usr/bin/env python3
"""refmaild's POP3 server against POP3 clients nobody here wrote: curl (pop3s:// and pop3://
with --ssl-reqd, i.e. STLS), `openssl s_client -starttls pop3`, and Debian's fetchmail fetching
200 varied messages (MIME with attachments, 8-bit, dot lines, one with a 20 MB attachment)
delivered over SMTP, compared byte for byte with what was stored.

Each client is skipped cleanly when it is not installed (scripts/setup installs curl, openssl
and fetchmail).

What fetchmail changes (found by running 6.4.37, and checked exactly below): with an MDA and
"no stripcr" it passes the message through unchanged except that it inserts one Received:
header of its own ("from 127.0.0.1 [127.0.0.1] by HOST with POP3 (fetchmail-VERSION) for
<USER@localhost> (single-drop); DATE") right after the first header line when that line is
Return-Path: (refmaild's stored files all start with Return-Path:). So what fetchmail hands the
MDA is: refmaild's Return-Path line, fetchmail's Received, refmaild's Received, then the
message exactly as the SMTP client sent it.
"""

import os
import random
import re
import shutil
import smtplib
import subprocess
import uuid

import pop3_harness as p3
import refmaild_harness as h

ALICE, BOB = h.USERS

# curl exit codes (man curl).
CURLE_LOGIN_DENIED = 67

FETCHMAIL_RECEIVED = re.compile(
    rb"Received: from 127\.0\.0\.1 \[127\.0\.0\.1\]\r\n"
    rb"\tby \S+ with POP3 \(fetchmail-[0-9.]+\)\r\n"
    rb"\tfor <[^>\r\n]+> \(single-drop\); [^\r\n]+\r\n")


def missing(tool):
    return shutil.which(tool) is None


class clients_base(h.unittest.TestCase):
    USERS = 12
    EXTRA_CONFIG = None

    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server()
        try:
            if cls.EXTRA_CONFIG:
                cls.server.add_config(cls.EXTRA_CONFIG)
            cls.pool = p3.add_users(cls.server, *(f"client{i:02d}" for i in range(cls.USERS)))
            cls.server.start()
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def fresh_user(self):
        return type(self).pool.pop()

    def deliver(self, user, n=1):
        markers = []
        for _ in range(n):
            marker = p3.unique("client")
            p3.deliver(self.server, user, p3.simple_message(user, marker))
            markers.append(marker)
        return markers


@h.unittest.skipIf(missing("curl"), "curl not installed")
class curl_pop3_test(clients_base):
    def curl(self, scheme, listener, user, path="/", *extra, password=None):
        port = self.server.port(listener)
        cmd = ["curl", "--silent", "--show-error", "--max-time", "30",
               "--url", f"{scheme}://localhost:{port}{path}", "--resolve", f"localhost:{port}:127.0.0.1",
               "--cacert", str(self.server.cert_file),
               "--user", f"{user}:{self.server.passwords[user] if password is None else password}", *extra]
        if scheme == "pop3":
            cmd.append("--ssl-reqd")
        return subprocess.run(cmd, capture_output=True, timeout=60)

    def assert_curl_ok(self, r):
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def test_list_and_retrieve(self):
        for scheme, listener in (("pop3s", "pop3s"), ("pop3", "pop3")):
            with self.subTest(scheme=scheme):
                user = self.fresh_user()
                markers = self.deliver(user, 3)
                files = [p3.stored(self.server, user, m) for m in markers]
                r = self.curl(scheme, listener, user)
                self.assert_curl_ok(r)
                self.assertEqual(r.stdout, b"".join(f"{i} {len(f)}\r\n".encode() for i, f in enumerate(files, 1)))
                for i, f in enumerate(files, 1):
                    r = self.curl(scheme, listener, user, f"/{i}")
                    self.assert_curl_ok(r)
                    self.assertEqual(r.stdout, f, f"curl RETR {i} differs from the stored file")

    def test_uidl_custom_request(self):
        user = self.fresh_user()
        self.deliver(user, 2)
        r = self.curl("pop3s", "pop3s", user, "/", "--request", "UIDL")
        self.assert_curl_ok(r)
        validity, uids = p3.read_uidlist(self.server, user)
        # The hex case of the UIDL is test_pop3.py's business; here: curl gets every message's.
        expected = sorted(p3.dovecot_uidl(u, validity).lower() for u in uids.values())
        self.assertEqual([line.split()[1].decode().lower() for line in r.stdout.splitlines()], expected)

    def test_each_login_method(self):
        for options in ("AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5", "AUTH=+APOP"):
            with self.subTest(login_options=options):
                user = self.fresh_user()
                self.deliver(user)
                r = self.curl("pop3s", "pop3s", user, "/", "--login-options", options)
                self.assert_curl_ok(r)
                self.assertRegex(r.stdout, rb"^1 \d+\r\n$")

    def test_wrong_password_denied(self):
        user = self.fresh_user()
        r = self.curl("pop3s", "pop3s", user, "/", password="wrong")
        self.assertEqual(r.returncode, CURLE_LOGIN_DENIED, r.stderr.decode(errors="replace"))


@h.unittest.skipIf(missing("openssl"), "openssl not installed")
class openssl_pop3_test(clients_base):
    def s_client(self, listener, stdin, starttls):
        cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.server.port(listener)}", "-servername", "localhost",
               "-CAfile", str(self.server.cert_file), "-verify_return_error", "-verify_hostname", "localhost",
               "-crlf", "-ign_eof"]
        if starttls:
            cmd[2:2] = ["-starttls", "pop3"]
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60)
        # stdout only: with -starttls, s_client echoes the greeting on stderr.
        return r.returncode, r.stdout.decode(errors="replace").replace("\r\n", "\n")

    def test_starttls_capa_user_pass_stat_quit(self):
        for listener, starttls in (("pop3", True), ("pop3s", False)):
            with self.subTest(listener=listener):
                user = self.fresh_user()
                files = [p3.stored(self.server, user, m) for m in self.deliver(user, 2)]
                stdin = f"CAPA\nUSER {user}\nPASS {self.server.passwords[user]}\nSTAT\nQUIT\n".encode()
                code, out = self.s_client(listener, stdin, starttls)
                self.assertIn("Verify return code: 0 (ok)", out, out)
                after = out.split("Verify return code: 0 (ok)", 1)[1]
                lines = [l for l in after.splitlines() if l.startswith(("+OK", "-ERR"))]
                self.assertTrue(lines, out)
                if not starttls:
                    # On pop3s the greeting comes after the handshake (with -starttls, s_client
                    # reads it before STLS and does not print it).
                    self.assertTrue(lines[0].startswith("+OK "), lines[0])
                    lines = lines[1:]
                self.assertEqual(lines, ["+OK", "+OK", "+OK Logged in.",
                                         f"+OK 2 {sum(map(len, files))}", "+OK Logging out."], out)
                capa = after.split("+OK\n", 1)[1].split("\n.\n", 1)[0].split("\n")
                self.assertIn("USER", capa)
                self.assertNotIn("STLS", capa, "STLS offered inside TLS")


@h.unittest.skipIf(missing("fetchmail"), "fetchmail not installed (Debian package fetchmail)")
class fetchmail_test(clients_base):
    # Room for the 20 MB attachment, which base64 makes about 27 MB.
    EXTRA_CONFIG = "smtp:\n  max_message_size: 40M\n"

    def messages(self, user, count, seed):
        """`count` varied messages (wire bytes), the last with a 20 MB attachment."""
        rng = random.Random(seed)
        out = []
        for i in range(count):
            marker = p3.unique(f"fetch{i:03d}")
            kind = i % 5
            if i == count - 1:
                data = p3.mime_message(user, marker, attachment=rng.randbytes(20 << 20), text="The big one.\n")
            elif kind == 0:
                data = p3.simple_message(user, marker, body_lines=[".", "..", ".dot first", "end."])
            elif kind == 1:
                data = p3.mime_message(user, marker, attachment=rng.randbytes(rng.randrange(1, 60000)),
                                       text="See the attachment.\n.\n..\n")
            elif kind == 2:
                data = p3.mime_message(user, marker, text="Grüße, ünïcödé, 日本語 — 8-bit.\n.leading dot\n",
                                       eight_bit=True)
            elif kind == 3:
                data = p3.simple_message(user, marker, body_lines=[f"{j:04d} " + "y" * rng.randrange(0, 990)
                                                                   for j in range(rng.randrange(50, 400))])
            else:
                data = p3.simple_message(user, marker, body_lines=[""])
            out.append((marker, data))
        return out

    def send_all(self, user, messages):
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp"), local_hostname="fetch.interop.test", timeout=60) as s:
            for _, data in messages:
                self.assertEqual(s.sendmail("sender@remote.test", [user], data, mail_options=["BODY=8BITMIME"]), {})

    def fetchmail(self, user, listener, server_options="", keep=False):
        """Runs one fetchmail poll; returns (exit code, output, {marker: delivered bytes})."""
        work = self.server.dir / f"fetchmail-{uuid.uuid4().hex[:8]}"
        out = work / "out"
        out.mkdir(parents=True)
        rc = work / "fetchmailrc"
        ssl = "ssl " if listener == "pop3s" else ""
        rc.write_text(
            "set no syslog\n"
            f'poll localhost via 127.0.0.1 protocol pop3 service {self.server.port(listener)} timeout 30'
            f'{" uidl" if keep else ""} {server_options}\n'
            f'  user "{user}" there with password "{self.server.passwords[user]}" is "root" here\n'
            f'  {ssl}sslproto "TLS1.2+" sslcertck sslcertfile "{self.server.cert_file}" sslcommonname "localhost"\n'
            f'  {"keep" if keep else "fetchall no keep"} no stripcr\n'
            f"  mda \"sh -c 'cat > $(mktemp {out}/m.XXXXXX)'\"\n")
        rc.chmod(0o600)
        env = dict(os.environ, HOME=str(work), FETCHMAILHOME=str(work))
        r = subprocess.run(["fetchmail", "-f", str(rc), "-v", "--nodetach", "--idfile", str(work / "ids"),
                            "--pidfile", str(work / "pid")],
                           capture_output=True, env=env, timeout=120)
        got = {}
        for f in out.iterdir():
            data = f.read_bytes()
            m = re.search(rb"^Message-ID: <([^@>]+)@interop\.test>\r$", data, re.M | re.I)
            self.assertIsNotNone(m, f"fetched message without our Message-ID: {data[:300]!r}")
            self.assertNotIn(m.group(1).decode(), got, "a message delivered twice")
            got[m.group(1).decode()] = data
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace"), got

    def assert_fetched_exactly(self, got, stored, sent):
        """fetched = Return-Path line + fetchmail's Received + the rest of the stored file, and the
        stored file ends with what SMTP sent."""
        self.assertEqual(sorted(got), sorted(stored))
        for marker, data in got.items():
            rp_end = stored[marker].index(b"\r\n") + 2
            self.assertTrue(data.startswith(stored[marker][:rp_end]), f"{marker}: Return-Path not kept first")
            m = FETCHMAIL_RECEIVED.match(data, rp_end)
            self.assertIsNotNone(m, f"{marker}: fetchmail's Received not where expected: {data[rp_end:rp_end + 300]!r}")
            self.assertEqual(data[m.end():], stored[marker][rp_end:], f"{marker}: differs from the stored message")
            self.assertTrue(data.endswith(sent[marker]), f"{marker}: not what SMTP sent")

    def test_fetch_200_varied_messages_pop3s(self):
        user = self.fresh_user()
        messages = self.messages(user, 200, seed=20)
        self.send_all(user, messages)
        sent = dict(messages)
        stored = {m: p3.stored(self.server, user, m) for m in sent}
        code, log, got = self.fetchmail(user, "pop3s")
        self.assertEqual(code, 0, log[-3000:])
        self.assertIn("AUTH CRAM-MD5", log, "fetchmail did not pick CRAM-MD5 (the strongest it knows)")
        self.assert_fetched_exactly(got, stored, sent)
        self.assertEqual(p3.stored_files(self.server, user), {}, "fetched messages were not deleted")

    def test_fetch_stls_user_pass_keep_uidl(self):
        user = self.fresh_user()
        first = self.messages(user, 4, seed=1)[:3]
        self.send_all(user, first)
        stored = {m: p3.stored(self.server, user, m) for m, _ in first}
        code, log, got = self.fetchmail(user, "pop3", "auth password", keep=True)
        self.assertEqual(code, 0, log[-3000:])
        self.assertIn("POP3> STLS", log)
        self.assertIn("POP3> USER", log)
        self.assertIn("POP3> UIDL", log, "fetchmail did not use UIDL")
        self.assert_fetched_exactly(got, stored, dict(first))
        # The same id file: only the new messages are fetched, the kept ones are known by UIDL.
        ids = next(self.server.dir.glob("fetchmail-*/ids"))
        more = [(m, d) for m, d in self.messages(user, 3, seed=2)[:2]]
        self.send_all(user, more)
        stored.update({m: p3.stored(self.server, user, m) for m, _ in more})
        code, log, got = self.fetchmail_with_ids(ids)
        self.assertEqual(code, 0, log[-3000:])
        self.assertEqual(sorted(got), sorted(m for m, _ in more), "UIDL did not tell old messages from new")
        self.assertEqual(len(p3.stored_files(self.server, user)), 5, "keep removed messages")

    def fetchmail_with_ids(self, ids):
        """A second keep/uidl poll with the id file of an earlier one."""
        work = ids.parent
        out = work / "out"
        shutil.rmtree(out)
        out.mkdir()
        env = dict(os.environ, HOME=str(work), FETCHMAILHOME=str(work))
        r = subprocess.run(["fetchmail", "-f", str(work / "fetchmailrc"), "-v", "--nodetach", "--idfile", str(ids),
                            "--pidfile", str(work / "pid")], capture_output=True, env=env, timeout=120)
        got = {}
        for f in out.iterdir():
            m = re.search(rb"^Message-ID: <([^@>]+)@interop\.test>\r$", f.read_bytes(), re.M | re.I)
            got[m.group(1).decode()] = f.read_bytes()
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace"), got


if __name__ == "__main__":
    h.main()
