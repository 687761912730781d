#!/usr/bin/env python3
"""refmaild's POP3 server against Python's poplib (a client nobody here wrote) and a raw socket
client that sees the exact bytes: STLS, implicit TLS, USER/PASS, APOP, AUTH (PLAIN, LOGIN,
CRAM-MD5, SCRAM-SHA-256, with and without an initial response, RFC 5034), CAPA, STAT/LIST/UIDL
against what SMTP delivered and the dovecot-uidlist, RETR/TOP byte for byte, DELE/RSET/QUIT
semantics, [IN-USE], line limits, pipelining, failure delays.

pop3_test runs over 127.0.0.1; pop3_ipv6_test runs every one of its tests again against a
refmaild whose pop3/pop3s listeners are bound to ::1 only. Failed logins grow a per-IP penalty
in refmaild that also delays later *successful* logins from that IP for 15 minutes, so tests that
fail logins use servers of their own (login_failure_test, default_failure_delay_test).
"""

import base64
import hashlib
import hmac
import os
import poplib
import re
import socket
import time

import pop3_harness as p3
import refmaild_harness as h

CRLF = b"\r\n"
AUTH_FAILED = b"-ERR [AUTH]"
# Words that would name the software in a greeting or CAPA.
SOFTWARE_NAMES = re.compile(rb"refmaild|mailharness|dovecot|version|\d+\.\d+\.\d+", re.I)


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def challenge_of(resp):
    """The decoded data of a "+ <base64>" continuation."""
    if not resp.startswith(b"+ ") and resp != b"+":
        raise AssertionError(f"expected a continuation, got {resp!r}")
    return unb64(resp[2:]) if len(resp) > 2 else b""


class scram_sha_256_client:
    """RFC 5802 / RFC 7677 client math with hashlib and hmac (no channel binding: gs2 "n,,")."""

    def __init__(self, user, password, nonce=None):
        self.user, self.password = user, password
        self.nonce = nonce or b64(os.urandom(18))
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.client_first_bare = f"n={name},r={self.nonce}"
        self.gs2 = "n,,"

    def first(self):
        return (self.gs2 + self.client_first_bare).encode()

    def final(self, server_first):
        server_first = server_first.decode()
        fields = dict(f.split("=", 1) for f in server_first.split(","))
        if not fields["r"].startswith(self.nonce) or fields["r"] == self.nonce:
            raise AssertionError(f"server nonce does not extend ours: {server_first}")
        salt, iterations = base64.b64decode(fields["s"]), int(fields["i"])
        if iterations < 4096:
            raise AssertionError(f"iteration count {iterations} < 4096 (RFC 7677 section 4)")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c={b64(self.gs2)},r={fields['r']}"
        auth_message = f"{self.client_first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.expected_server_final = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest())
        return f"{without_proof},p={b64(proof)}".encode()


def cram_md5_response(user, password, challenge):
    return f"{user} {hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()}".encode()


def apop_timestamp(greeting):
    m = re.search(rb"<[^<>@\s]+@[^<>\s]+>", greeting)
    return m.group(0) if m else None


class pop3_base(h.unittest.TestCase):
    """A refmaild with USERS_PER_CLASS extra mailboxes, one per test that needs one."""

    HOST = "127.0.0.1"
    USERS_PER_CLASS = 40
    EXTRA_CONFIG = None

    @classmethod
    def make_server(cls):
        server = h.refmaild_server()
        if cls.EXTRA_CONFIG:
            server.add_config(cls.EXTRA_CONFIG)
        return server

    @classmethod
    def setUpClass(cls):
        cls.server = cls.make_server()
        try:
            cls.pool = p3.add_users(cls.server, *(f"pop{i:02d}" for i in range(cls.USERS_PER_CLASS)))
            cls.server.start()
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def fresh_user(self):
        """A mailbox no other test touches."""
        return type(self).pool.pop()

    def password(self, user):
        return self.server.passwords[user]

    # connections (all cleaned up at the end of the test)

    def pop3s(self):
        p = p3.pop3s(self.server, host=self.HOST)
        self.addCleanup(p.close)
        return p

    def pop3_plain(self):
        p = poplib.POP3(self.HOST, self.server.port("pop3"), timeout=15)
        self.addCleanup(p.close)
        return p

    def pop3_stls(self):
        p = p3.pop3_stls(self.server, host=self.HOST)
        self.addCleanup(p.close)
        return p

    def login(self, user, connect=None):
        p = p3.login(self.server, user, connect=connect or p3.pop3s, host=self.HOST)
        self.addCleanup(p.close)
        return p

    def raw(self, listener="pop3s", tls=True):
        c = p3.raw_pop3(self.server.port(listener), host=self.HOST,
                        tls_context=self.server.tls_context() if tls else None)
        self.addCleanup(c.close)
        return c

    def raw_login(self, user):
        c = p3.raw_login(self.server, user, host=self.HOST)
        self.addCleanup(c.close)
        return c

    def deliver(self, user, marker=None, **kw):
        marker = marker or p3.unique("pop3")
        p3.deliver(self.server, user, p3.simple_message(user, marker, **kw))
        return marker

    def assert_ok(self, resp, what=""):
        self.assertTrue(resp.startswith(b"+OK"), f"{what}: {resp!r}")

    def assert_err(self, resp, what="", code=None):
        self.assertTrue(resp.startswith(b"-ERR"), f"{what}: {resp!r}")
        if code is not None:
            self.assertTrue(resp.startswith(b"-ERR [" + code + b"]"), f"{what}: {resp!r} lacks [{code.decode()}]")


class pop3_test(pop3_base):
    # ---- greeting and CAPA ----

    def test_listener_address_family(self):
        family = socket.AF_INET6 if ":" in self.HOST else socket.AF_INET
        for listener in ("pop3", "pop3s"):
            with self.subTest(listener=listener):
                with socket.create_connection((self.HOST, self.server.port(listener)), timeout=10) as s:
                    self.assertEqual(s.family, family)
                    self.assertEqual(s.getpeername()[0], self.HOST)

    def test_greeting_has_apop_timestamp_and_names_no_software(self):
        for connect in (self.pop3_plain, self.pop3s):
            with self.subTest(connect=connect.__name__):
                greeting = connect().getwelcome()
                self.assertTrue(greeting.startswith(b"+OK "), greeting)
                # The quickstart users have {PLAIN} secrets, so APOP is offered (RFC 1939 section 7).
                self.assertIsNotNone(apop_timestamp(greeting), f"no APOP timestamp in {greeting!r}")
                self.assertIsNone(SOFTWARE_NAMES.search(greeting.split(b"<")[0]), greeting)

    def capa(self, p):
        """CAPA as raw lines (poplib's capa() folds them into a dict and loses the order)."""
        resp, lines, _ = p._longcmd("CAPA")
        self.assert_ok(resp, "CAPA")
        names = {}
        for line in lines:
            self.assertIsNone(SOFTWARE_NAMES.search(line), f"CAPA names software: {line!r}")
            word, *args = line.decode().split()
            self.assertNotIn(word.upper(), names, f"capability {word} twice")
            names[word.upper()] = [a.upper() for a in args]
        self.assertNotIn("IMPLEMENTATION", names, "IMPLEMENTATION names the software")
        for must in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
            self.assertIn(must, names, f"CAPA lacks {must}: {lines}")
        return names

    def test_capa_before_tls(self):
        names = self.capa(self.pop3_plain())
        self.assertIn("STLS", names)
        self.assertNotIn("USER", names, "USER offered where plaintext passwords are refused")
        sasl = names.get("SASL", [])
        self.assertIn("SCRAM-SHA-256", sasl)
        self.assertIn("CRAM-MD5", sasl)
        self.assertNotIn("PLAIN", sasl, "AUTH PLAIN offered without TLS")
        self.assertNotIn("LOGIN", sasl, "AUTH LOGIN offered without TLS")

    def test_capa_under_tls(self):
        for connect in (self.pop3_stls, self.pop3s):
            with self.subTest(connect=connect.__name__):
                names = self.capa(connect())
                self.assertNotIn("STLS", names, "STLS offered inside TLS")
                self.assertIn("USER", names)
                self.assertEqual(sorted(names.get("SASL", [])), sorted(["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]))

    def test_capa_in_transaction(self):
        names = self.capa(self.login(self.fresh_user()))
        for gone in ("STLS", "USER", "SASL"):
            self.assertNotIn(gone, names, f"{gone} offered after login")

    def test_bare_auth_lists_mechanisms(self):
        p = self.pop3s()
        resp, lines, _ = p._longcmd("AUTH")
        self.assert_ok(resp)
        self.assertEqual(sorted(lines), sorted([b"SCRAM-SHA-256", b"CRAM-MD5", b"PLAIN", b"LOGIN"]))

    # ---- plaintext refused before TLS, then STLS ----

    def test_user_pass_refused_before_stls_then_allowed_after(self):
        user = self.fresh_user()
        p = self.pop3_plain()
        self.assert_err(p3.reply(p, f"USER {user}"), "USER before STLS", b"AUTH")
        self.assert_err(p3.reply(p, f"PASS {self.password(user)}"), "PASS before STLS", b"AUTH")
        self.assert_ok(p.stls(context=self.server.tls_context()))
        self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assert_ok(p.user(user))
        self.assert_ok(p.pass_(self.password(user)))
        self.assertEqual(p.stat(), (0, 0))
        self.assert_ok(p.quit())

    def test_plaintext_sasl_refused_before_stls(self):
        user = self.fresh_user()
        for mech, initial in (("PLAIN", b"\0" + user.encode() + b"\0" + self.password(user).encode()), ("LOGIN", None)):
            with self.subTest(mechanism=mech):
                p = self.pop3_plain()
                line = f"AUTH {mech}" + (f" {b64(initial)}" if initial else "")
                self.assert_err(p3.reply(p, line), f"AUTH {mech} before STLS", b"AUTH")
                # The connection is still usable: STLS and the same login work.
                self.assert_ok(p.stls(context=self.server.tls_context()))
                resp = p3.reply(p, line)
                if mech == "LOGIN":
                    self.assertEqual(challenge_of(resp), b"Username:")
                    resp = p3.reply(p, b64(user))
                    self.assertEqual(challenge_of(resp), b"Password:")
                    resp = p3.reply(p, b64(self.password(user)))
                self.assert_ok(resp, f"AUTH {mech} after STLS")
                p.quit()

    def test_stls_discards_pipelined_plaintext(self):
        # RFC 2595 section 4: commands sent in the same write as STLS must not run after the
        # handshake (command injection); only what comes over TLS is answered.
        c = self.raw("pop3", tls=False)
        self.assert_ok(c.line(), "greeting")
        c.send(b"STLS\r\nCAPA\r\n")
        self.assert_ok(c.line(), "STLS")
        c.starttls(self.server.tls_context())
        self.assert_ok(c.command("CAPA"), "CAPA over TLS")
        body = c.multiline_raw()
        self.assertNotIn(b"STLS\r\n", body)
        c.send(b"QUIT\r\n")
        self.assertEqual(c.line(), b"+OK Logging out", "an injected CAPA was answered after the handshake")

    def test_stls_inside_tls_refused(self):
        self.assert_err(p3.reply(self.pop3s(), "STLS"), "STLS on pop3s")
        self.assert_err(p3.reply(self.pop3_stls(), "STLS"), "STLS twice")

    def test_pop3s_user_pass(self):
        user = self.fresh_user()
        p = self.pop3s()
        self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assert_ok(p.user(user))
        self.assertEqual(p.pass_(self.password(user)), b"+OK Logged in.")
        self.assert_ok(p.quit())

    # ---- APOP and SASL ----

    def test_apop(self):
        for connect in (self.pop3_plain, self.pop3s):
            with self.subTest(connect=connect.__name__):
                user = self.fresh_user()
                p = connect()
                ts = apop_timestamp(p.getwelcome())
                digest = hashlib.md5(ts + self.password(user).encode()).hexdigest()
                self.assert_ok(p3.reply(p, f"APOP {user} {digest}"))
                self.assertEqual(p.stat(), (0, 0))
                p.quit()
                # poplib's own apop() computes the same digest from the greeting.
                p = connect()
                self.assert_ok(p.apop(user, self.password(user)))
                p.quit()

    def test_apop_timestamp_differs_per_connection(self):
        stamps = {apop_timestamp(self.pop3_plain().getwelcome()) for _ in range(3)}
        self.assertEqual(len(stamps), 3, f"APOP timestamps repeat: {stamps}")

    def test_auth_plain_with_and_without_initial_response(self):
        user = self.fresh_user()
        message = b"\0" + user.encode() + b"\0" + self.password(user).encode()
        p = self.pop3s()
        self.assertEqual(p3.reply(p, f"AUTH PLAIN {b64(message)}"), b"+OK Logged in.")
        p.quit()
        p = self.pop3_stls()
        self.assertEqual(challenge_of(p3.reply(p, "AUTH PLAIN")), b"")
        self.assert_ok(p3.reply(p, b64(message)))
        p.quit()
        # authzid equal to authcid is allowed.
        p = self.pop3s()
        self.assert_ok(p3.reply(p, f"AUTH PLAIN {b64(user.encode() + message)}"))
        p.quit()

    def test_auth_login_with_and_without_initial_response(self):
        user = self.fresh_user()
        p = self.pop3s()
        self.assertEqual(challenge_of(p3.reply(p, "AUTH LOGIN")), b"Username:")
        self.assertEqual(challenge_of(p3.reply(p, b64(user))), b"Password:")
        self.assert_ok(p3.reply(p, b64(self.password(user))))
        p.quit()
        p = self.pop3s()
        self.assertEqual(challenge_of(p3.reply(p, f"AUTH LOGIN {b64(user)}")), b"Password:")
        self.assert_ok(p3.reply(p, b64(self.password(user))))
        p.quit()

    def test_auth_cram_md5_before_and_after_tls(self):
        for connect in (self.pop3_plain, self.pop3s):
            with self.subTest(connect=connect.__name__):
                user = self.fresh_user()
                p = connect()
                challenge = challenge_of(p3.reply(p, "AUTH CRAM-MD5"))
                self.assertRegex(challenge, rb"^<[^<>@]+@[^<>]+>$", "RFC 2195 challenge form")
                self.assert_ok(p3.reply(p, b64(cram_md5_response(user, self.password(user), challenge))))
                self.assertEqual(p.stat(), (0, 0))
                p.quit()

    def test_auth_cram_md5_initial_response_refused(self):
        # CRAM-MD5 is server-first: an initial response is a protocol error, not a login.
        user = self.fresh_user()
        p = self.pop3s()
        resp = p3.reply(p, f"AUTH CRAM-MD5 {b64(user + ' 00')}")
        self.assert_err(resp, "CRAM-MD5 with an initial response")

    def scram_login(self, p, user, initial_response):
        client = scram_sha_256_client(user, self.password(user))
        if initial_response:
            resp = p3.reply(p, f"AUTH SCRAM-SHA-256 {b64(client.first())}")
        else:
            self.assertEqual(challenge_of(p3.reply(p, "AUTH SCRAM-SHA-256")), b"", "client-first: empty challenge")
            resp = p3.reply(p, b64(client.first()))
        server_first = challenge_of(resp)
        resp = p3.reply(p, b64(client.final(server_first)))
        # The server-final message comes as one more challenge (POP3's +OK cannot carry it),
        # answered with an empty line (RFC 5034 section 4).
        self.assertEqual(challenge_of(resp), client.expected_server_final, "server signature")
        return p3.reply(p, "")

    def test_auth_scram_sha_256_with_and_without_initial_response(self):
        for initial in (True, False):
            for connect in (self.pop3_plain, self.pop3s):
                with self.subTest(initial_response=initial, connect=connect.__name__):
                    user = self.fresh_user()
                    p = connect()
                    self.assertEqual(self.scram_login(p, user, initial), b"+OK Logged in.")
                    self.assertEqual(p.stat(), (0, 0))
                    p.quit()

    def test_auth_cancelled(self):
        user = self.fresh_user()
        p = self.pop3s()
        self.assertEqual(challenge_of(p3.reply(p, "AUTH PLAIN")), b"")
        self.assert_err(p3.reply(p, "*"), "cancelled AUTH")
        # Still in AUTHORIZATION and usable.
        self.assert_ok(p.user(user))
        self.assert_ok(p.pass_(self.password(user)))

    def test_unsupported_mechanism(self):
        self.assert_err(p3.reply(self.pop3s(), "AUTH GSSAPI"), "AUTH GSSAPI")

    # ---- the maildrop against what SMTP delivered ----

    def test_stat_list_uidl_agree_with_delivery(self):
        user = self.fresh_user()
        markers = [self.deliver(user, body_lines=[f"line {i} " + "x" * (i * 37) for i in range(n)])
                   for n in (1, 5, 50, 300, 2)]
        files = [p3.stored(self.server, user, m) for m in markers]
        p = self.login(user)
        count, size = p.stat()
        self.assertEqual((count, size), (len(files), sum(map(len, files))))
        resp, listing, _ = p.list()
        self.assertEqual(resp, f"+OK {count} messages:".encode())
        sizes = [int(line.split()[1]) for line in listing]
        self.assertEqual([int(line.split()[0]) for line in listing], list(range(1, count + 1)))
        # Messages are numbered in UID order, which is delivery order here.
        self.assertEqual(sizes, [len(f) for f in files])
        resp, uidls, _ = p.uidl()
        self.assert_ok(resp)
        uidl = {int(n): u.decode() for n, u in (line.split() for line in uidls)}
        validity, uids = p3.read_uidlist(self.server, user)
        by_marker = {}
        for path, data in p3.stored_files(self.server, user).items():
            base = path.name.split(":")[0]
            marker = next(m for m in markers if m.encode() in data)
            self.assertIn(base, uids, f"{path.name} not in dovecot-uidlist")
            by_marker[marker] = p3.dovecot_uidl(uids[base], validity)
        self.assertEqual([uidl[n] for n in range(1, count + 1)], [by_marker[m] for m in markers],
                         "UIDL is not Dovecot's %08Xu%08Xv (lower-case hex) of (uid, uidvalidity) from dovecot-uidlist")
        for n in range(1, count + 1):
            self.assertEqual(p.list(n), f"+OK {n} {sizes[n - 1]}".encode())
            self.assertEqual(p.uidl(n), f"+OK {n} {uidl[n]}".encode())
        self.assert_ok(p.quit())

    def test_empty_mailbox(self):
        p = self.login(self.fresh_user())
        self.assertEqual(p.stat(), (0, 0))
        self.assertEqual(p.list()[1], [])
        self.assertEqual(p.uidl()[1], [])
        self.assert_err(p3.reply(p, "RETR 1"), "RETR 1 of an empty mailbox")

    def test_retr_byte_exact(self):
        user = self.fresh_user()
        body = [".leading dot", ".", "..", "...", " . ", "a." * 400, "", "tab\there", "dot at end.", "."]
        markers = [self.deliver(user, body_lines=body),
                   self.deliver(user, body_lines=["x" * 998] * 3000 + ["."]),  # ~3 MB, several writes
                   self.deliver(user, body_lines=["."])]
        eight_bit = p3.unique("pop3-8bit")
        p3.deliver(self.server, user, h.crlf_message("sender@remote.test", user, eight_bit,
                                                     ["Grüße aus Köln – ünïcödé", "", "."],
                                                     ["Content-Type: text/plain; charset=utf-8",
                                                      "Content-Transfer-Encoding: 8bit"]))
        markers.append(eight_bit)
        files = [p3.stored(self.server, user, m) for m in markers]
        self.assertTrue(files[0].startswith(b"Return-Path: <sender@remote.test>\r\nReceived: "), files[0][:80])
        # poplib: lines after undoing the dot-stuffing.
        p = self.login(user)
        for n, expected in enumerate(files, 1):
            with self.subTest(message=n, client="poplib"):
                resp, data = p3.retr_bytes(p, n)
                self.assertEqual(resp, f"+OK {len(expected)} octets".encode())
                self.assertEqual(data, expected, "RETR differs from the stored file")
        p.quit()
        # Raw: the exact dot-stuffed bytes.
        c = self.raw_login(user)
        for n, expected in enumerate(files, 1):
            with self.subTest(message=n, client="raw"):
                self.assertEqual(c.command(f"RETR {n}"), f"+OK {len(expected)} octets".encode())
                self.assertEqual(c.multiline_raw(), p3.dot_stuff(expected))
        self.assert_ok(c.command("QUIT"))

    def test_top(self):
        user = self.fresh_user()
        marker = self.deliver(user, body_lines=["first", ".second", ".", "fourth", "fifth"])
        stored = p3.stored(self.server, user, marker)
        header, body = stored.split(b"\r\n\r\n", 1)
        body_lines = body.split(CRLF)[:-1]
        p = self.login(user)
        c_lines = None
        for n in (0, 1, 2, 3, 5, 6, 1000):
            with self.subTest(lines=n):
                resp, lines, _ = p.top(1, n)
                self.assert_ok(resp, f"TOP 1 {n}")
                expected = header + b"\r\n\r\n" + b"".join(l + CRLF for l in body_lines[:n])
                self.assertEqual(b"".join(l + CRLF for l in lines), expected)
                c_lines = lines
        self.assertEqual(b"".join(l + CRLF for l in c_lines), stored, "TOP past the end is the whole message")
        # Raw: the lines past n are cut, the dot-stuffing is kept for the ones sent.
        p.quit()
        c = self.raw_login(user)
        self.assert_ok(c.command("TOP 1 3"))
        self.assertEqual(c.multiline_raw(), header + b"\r\n\r\nfirst\r\n..second\r\n..\r\n.\r\n")
        self.assert_err(c.command("TOP 1"), "TOP without a line count")
        self.assert_err(c.command("TOP 2 0"), "TOP of a message that does not exist")
        self.assert_err(c.command("TOP 1 -1"), "TOP with a negative count")

    # ---- DELE / RSET / QUIT ----

    def test_dele_rset_keeps(self):
        user = self.fresh_user()
        markers = [self.deliver(user) for _ in range(3)]
        p = self.login(user)
        before = p.uidl()[1]
        self.assert_ok(p.dele(2))
        self.assertEqual(p.stat()[0], 2)
        self.assertEqual([l.split()[0] for l in p.list()[1]], [b"1", b"3"])
        self.assert_err(p3.reply(p, "DELE 2"), "DELE of a deleted message")
        self.assert_err(p3.reply(p, "RETR 2"), "RETR of a deleted message")
        self.assert_err(p3.reply(p, "LIST 2"), "LIST of a deleted message")
        self.assert_err(p3.reply(p, "UIDL 2"), "UIDL of a deleted message")
        self.assert_ok(p.rset())
        self.assertEqual(p.stat()[0], 3)
        self.assert_ok(p.quit())
        p = self.login(user)
        self.assertEqual(p.uidl()[1], before)
        p.quit()
        for m in markers:
            p3.stored(self.server, user, m)

    def test_dele_quit_removes(self):
        user = self.fresh_user()
        markers = [self.deliver(user) for _ in range(4)]
        p = self.login(user)
        uidl = dict(line.split() for line in p.uidl()[1])
        self.assert_ok(p.dele(1))
        self.assert_ok(p.dele(3))
        resp = p.quit()
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertEqual(len(p3.stored_files(self.server, user)), 2, "deleted files still in the Maildir")
        self.assertEqual([m for m in markers if any(m.encode() in d for d in p3.stored_files(self.server, user).values())],
                         [markers[1], markers[3]])
        p = self.login(user)
        self.assertEqual([line.split()[1] for line in p.uidl()[1]], [uidl[b"2"], uidl[b"4"]],
                         "survivors' UIDLs changed")
        p.quit()

    def test_dele_then_dropped_connection_keeps(self):
        user = self.fresh_user()
        marker = self.deliver(user)
        for close in ("socket", "shutdown"):
            with self.subTest(close=close):
                c = self.raw_login(user)
                self.assert_ok(c.command("DELE 1"))
                self.assertEqual(c.command("STAT"), b"+OK 0 0")
                if close == "shutdown":
                    c.sock.shutdown(socket.SHUT_WR)  # EOF without QUIT
                    self.assertTrue(c.closed_by_peer(), "server kept the connection after EOF")
                c.close()
                p = self.login(user)
                self.assertEqual(p.stat()[0], 1, "a DELE without QUIT removed the message")
                p.quit()
                p3.stored(self.server, user, marker)

    def test_quit_in_authorization(self):
        p = self.pop3s()
        self.assert_ok(p.quit())

    # ---- UIDL stability ----

    def test_uidl_stable_across_sessions_and_restart(self):
        user = self.fresh_user()
        for _ in range(3):
            self.deliver(user)
        p = self.login(user)
        first = p.uidl()[1]
        p.dele(2)
        p.quit()
        self.deliver(user)
        p = self.login(user)
        second = p.uidl()[1]
        p.quit()
        self.assertEqual([l.split()[1] for l in second][:2], [first[0].split()[1], first[2].split()[1]])
        self.assertNotIn(second[2].split()[1], [l.split()[1] for l in first], "a UIDL was reused")
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())
        self.server.start()
        p = self.login(user)
        self.assertEqual(p.uidl()[1], second, "UIDL changed across a restart")
        p.quit()

    # ---- one session per maildrop ----

    def test_second_session_in_use(self):
        user = self.fresh_user()
        self.deliver(user)
        first = self.login(user)
        p = self.pop3s()
        p.user(user)
        with self.assertRaises(poplib.error_proto) as cm:
            p.pass_(self.password(user))
        self.assertTrue(cm.exception.args[0].startswith(b"-ERR [IN-USE]"), cm.exception.args[0])
        # ... and the connection is closed (as Dovecot: no second try on it).
        with self.assertRaises((poplib.error_proto, OSError, EOFError)):
            p.noop()
            p.noop()
        # Other mailboxes are not locked, and the first session goes on.
        self.assertEqual(first.stat()[0], 1)
        other = self.login(self.fresh_user())
        other.quit()
        self.assert_ok(first.quit())

    def test_login_right_after_quit_not_in_use(self):
        # RFC 1939 section 6: the lock is released in the UPDATE state, before the reply to QUIT,
        # so a client that reconnects as soon as it has +OK must not get [IN-USE].
        user = self.fresh_user()
        self.deliver(user)
        for i in range(20):
            p = p3.pop3s(self.server, host=self.HOST)
            try:
                p.user(user)
                resp = p3.reply(p, f"PASS {self.password(user)}")
                self.assertEqual(resp, b"+OK Logged in.", f"login {i} right after a QUIT")
                self.assert_ok(p.quit())
            finally:
                p.close()

    def test_lock_released_after_quit_reply_while_client_connected(self):
        # After "+OK Logging out." the session is over (RFC 1939 section 6: the lock is released
        # and the connection closed). A client that has not closed its end yet (no TLS
        # close_notify) must not keep the maildrop locked for the server's shutdown timeout.
        user = self.fresh_user()
        c = self.raw_login(user)
        self.assertTrue(c.command("QUIT").startswith(b"+OK Logging out"))
        # One attempt, no retry: the login must not meet [IN-USE]. (Its time is not measured:
        # the per-IP login penalty from other tests of this class may delay it.)
        p = p3.login(self.server, user, host=self.HOST, deadline=0)
        p.quit()
        p.close()
        c.close()

    # ---- line limits, pipelining, bad commands ----

    def test_command_line_limit_255(self):
        user = self.fresh_user()
        for state in ("authorization", "transaction"):
            with self.subTest(state=state, length=255):
                c = self.raw_login(user) if state == "transaction" else self.raw()
                if state == "authorization":
                    c.line()
                # 255 octets with CRLF: allowed (RFC 2449 section 4); the argument is too long
                # for a message number or an unknown user, so an -ERR, but no close.
                resp = c.command("NOOP " + "1" * 248)
                self.assertEqual(len(b"NOOP " + b"1" * 248 + CRLF), 255)
                self.assert_err(resp, "255-octet line")
                self.assert_ok(c.command("CAPA"), "session after a 255-octet line")
                c.multiline_raw()
                self.assert_ok(c.command("QUIT"))
                c.close()
            with self.subTest(state=state, length=256):
                c = self.raw_login(user) if state == "transaction" else self.raw()
                if state == "authorization":
                    c.line()
                c.send(b"NOOP " + b"1" * 249 + CRLF)
                self.assert_err(c.line(), "256-octet line")
                self.assertTrue(c.closed_by_peer(), "connection not closed after an over-long line")
                c.close()
            with self.subTest(state=state, length="64k without CRLF"):
                c = self.raw_login(user) if state == "transaction" else self.raw()
                if state == "authorization":
                    c.line()
                try:
                    c.send(b"A" * 65536)
                except OSError:
                    pass
                self.assert_err(c.line(), "64 KiB without CRLF")
                self.assertTrue(c.closed_by_peer(), "connection not closed after an over-long line")

    def test_pipelining(self):
        user = self.fresh_user()
        markers = [self.deliver(user) for _ in range(2)]
        files = [p3.stored(self.server, user, m) for m in markers]
        c = self.raw()
        self.assert_ok(c.line())
        # Login and transaction commands in one write: the commands after PASS wait until the
        # maildrop is open, and every reply comes in order.
        c.send(f"CAPA\r\nUSER {user}\r\nPASS {self.password(user)}\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\n"
               f"TOP 2 0\r\nDELE 1\r\nNOOP\r\nSTAT\r\nRSET\r\nFOO\r\nLIST 1\r\nQUIT\r\n".encode())
        self.assert_ok(c.line(), "CAPA")
        self.assertIn(b"PIPELINING\r\n", c.multiline_raw())
        self.assert_ok(c.line(), "USER")
        self.assertEqual(c.line(), b"+OK Logged in.")
        self.assertEqual(c.line(), f"+OK 2 {len(files[0]) + len(files[1])}".encode())
        self.assert_ok(c.line(), "LIST")
        self.assertEqual(c.multiline_raw(), f"1 {len(files[0])}\r\n2 {len(files[1])}\r\n.\r\n".encode())
        self.assertRegex(c.line(), rb"^\+OK 2 [0-9A-Fa-f]{16}$")
        self.assertEqual(c.line(), f"+OK {len(files[0])} octets".encode())
        self.assertEqual(c.multiline_raw(), p3.dot_stuff(files[0]))
        self.assert_ok(c.line(), "TOP")
        self.assertEqual(c.multiline_raw(), files[1].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n.\r\n")
        self.assert_ok(c.line(), "DELE")
        self.assertEqual(c.line(), b"+OK", "NOOP")
        self.assertEqual(c.line(), f"+OK 1 {len(files[1])}".encode())
        self.assert_ok(c.line(), "RSET")
        self.assert_err(c.line(), "FOO")
        self.assertEqual(c.line(), f"+OK 1 {len(files[0])}".encode())
        self.assert_ok(c.line(), "QUIT")
        self.assertTrue(c.closed_by_peer())
        self.assertEqual(c.buf, b"", "data after the QUIT reply")

    def test_unknown_and_wrong_state_commands(self):
        user = self.fresh_user()
        p = self.pop3s()
        self.assert_err(p3.reply(p, "FOO"), "unknown command before login")
        self.assert_err(p3.reply(p, "STAT"), "STAT before login")
        self.assert_ok(p.user(user))  # a good command resets the bad-command count
        self.assert_ok(p.pass_(self.password(user)))
        for line in ("FOO", "USER x", "PASS x", "APOP a b", "STLS", "AUTH PLAIN", "RETR", "RETR x", "RETR 0",
                     "RETR 1", "DELE 99", "LIST 4294967296", "TOP 1", "UIDL 1 2"):
            with self.subTest(line=line):
                self.assert_err(p3.reply(p, line), line)
        self.assertEqual(p.stat(), (0, 0))
        self.assert_ok(p.quit())

    def test_three_bad_commands_before_login_close(self):
        c = self.raw()
        self.assert_ok(c.line())
        for line in ("FOO", "BAR", "BAZ"):
            self.assert_err(c.command(line), line)
        self.assertTrue(c.closed_by_peer(), "still open after 3 bad commands before login")

    def test_case_insensitive_commands(self):
        user = self.fresh_user()
        c = self.raw()
        c.line()
        self.assert_ok(c.command(f"user {user}"))
        self.assert_ok(c.command(f"pAsS {self.password(user)}"))
        self.assertEqual(c.command("stat"), b"+OK 0 0")
        self.assert_ok(c.command("quit"))


class pop3_ipv6_test(pop3_test):
    """Every pop3_test test again, with the pop3 and pop3s listeners bound to ::1 only."""

    HOST = "::1"

    @classmethod
    def make_server(cls):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
        except OSError as e:
            raise h.unittest.SkipTest(f"no IPv6 loopback here: {e}")
        server = super().make_server()
        p3.set_listener_address(server, "pop3", "::1")
        p3.set_listener_address(server, "pop3s", "::1")
        return server

    def test_not_listening_on_ipv4(self):
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.server.port("pop3s")), timeout=5).close()


class login_failure_test(pop3_base):
    """Failed logins with a small failure delay (auth.failure_delay_base 200ms, max 800ms)."""

    BASE = 0.2
    USERS_PER_CLASS = 10
    EXTRA_CONFIG = "auth:\n  failure_delay_base: 200ms\n  failure_delay_max: 800ms\n"

    def timed(self, fn):
        t0 = time.monotonic()
        result = fn()
        return result, time.monotonic() - t0

    def test_wrong_password_and_unknown_user_identical_and_delayed(self):
        user = self.fresh_user()
        replies = []
        for name, password in ((user, self.password(user) + "x"), ("nobody@example.test", "whatever"),
                               ("not-an-address", "x"), (user.upper(), "x")):
            with self.subTest(user=name):
                p = self.pop3s()
                self.assert_ok(p.user(name))
                resp, elapsed = self.timed(lambda: p3.reply(p, f"PASS {password}"))
                self.assert_err(resp, "bad login", b"AUTH")
                self.assertGreaterEqual(elapsed, self.BASE, "failed PASS answered without the failure delay")
                replies.append(resp)
        self.assertEqual(len(set(replies)), 1, f"replies tell users apart: {replies}")

    def test_failed_sasl_and_apop_same_reply_and_delayed(self):
        user = self.fresh_user()
        pw = self.password(user)
        replies = {}

        def plain(p, name, password):
            return p3.reply(p, f"AUTH PLAIN {b64(chr(0) + name + chr(0) + password)}")

        def login(p, name, password):
            p3.reply(p, "AUTH LOGIN")
            p3.reply(p, b64(name))
            return p3.reply(p, b64(password))

        def cram(p, name, password):
            challenge = challenge_of(p3.reply(p, "AUTH CRAM-MD5"))
            return p3.reply(p, b64(cram_md5_response(name, password, challenge)))

        def scram(p, name, password):
            client = scram_sha_256_client(name, password)
            server_first = challenge_of(p3.reply(p, f"AUTH SCRAM-SHA-256 {b64(client.first())}"))
            resp = p3.reply(p, b64(client.final(server_first)))
            # A server-error "e=..." may come as a last challenge before the -ERR (RFC 5802 7).
            return p3.reply(p, "") if resp.startswith(b"+") else resp

        def apop(p, name, password):
            ts = apop_timestamp(p.getwelcome())
            return p3.reply(p, f"APOP {name} {hashlib.md5(ts + password.encode()).hexdigest()}")

        for method in (plain, login, cram, scram, apop):
            for name, password in ((user, pw + "x"), ("nobody@example.test", pw)):
                with self.subTest(method=method.__name__, user=name):
                    p = self.pop3s()
                    resp, elapsed = self.timed(lambda: method(p, name, password))
                    self.assert_err(resp, f"{method.__name__} {name}", b"AUTH")
                    self.assertGreaterEqual(elapsed, self.BASE)
                    replies[(method.__name__, name)] = resp
        self.assertEqual(len(set(replies.values())), 1, f"failure replies differ: {replies}")

    def test_authzid_of_another_user_refused(self):
        alice, bob = self.fresh_user(), self.fresh_user()
        p = self.pop3s()
        resp = p3.reply(p, f"AUTH PLAIN {b64(bob + chr(0) + alice + chr(0) + self.password(alice))}")
        self.assert_err(resp, "alice acting as bob", b"AUTH")

    def test_pipelined_wrong_pass_each_delayed(self):
        user = self.fresh_user()
        c = self.raw()
        self.assert_ok(c.line())
        t0 = time.monotonic()
        c.send("".join(f"USER {user}\r\nPASS wrong{i}\r\n" for i in range(3)).encode())
        times, lines = [], []
        for _ in range(7):
            lines.append(c.line())
            times.append(time.monotonic())
        self.assertEqual([l[:4] for l in lines], [b"+OK", b"-ERR", b"+OK", b"-ERR", b"+OK", b"-ERR", b"-ERR"], lines)
        self.assertTrue(lines[6].startswith(b"-ERR Too many"), lines[6])
        errs = [times[1], times[3], times[5]]
        self.assertGreaterEqual(errs[0] - t0, self.BASE)
        # Each later failure waits again; 20 ms of slack for when the previous reply was read.
        for a, b in zip(errs, errs[1:]):
            self.assertGreaterEqual(b - a, self.BASE - 0.02, f"pipelined PASS not delayed: {[t - t0 for t in errs]}")
        self.assertTrue(c.closed_by_peer(), "open after 3 failed logins")

    def test_right_password_after_failures(self):
        user = self.fresh_user()
        p = self.pop3s()
        p.user(user)
        self.assert_err(p3.reply(p, "PASS nope"), "wrong PASS", b"AUTH")
        self.assert_ok(p.user(user))
        self.assert_ok(p.pass_(self.password(user)))
        self.assertEqual(p.stat(), (0, 0))


class default_failure_delay_test(h.unittest.TestCase):
    """The quickstart configuration leaves auth.failure_delay_base at its default, 1 s."""

    def test_failed_pass_waits_failure_delay_base(self):
        server = h.refmaild_server()
        self.addCleanup(server.close)
        self.assertNotIn("failure_delay", server.config.read_text(), "quickstart sets the delay: update this test")
        server.start()
        user = h.USERS[0]
        p = p3.pop3s(server)
        self.addCleanup(p.close)
        p.user(user)
        t0 = time.monotonic()
        resp = p3.reply(p, "PASS " + server.passwords[user] + "x")
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.assertEqual(resp, b"-ERR [AUTH] Authentication failed.")


if __name__ == "__main__":
    h.main()
