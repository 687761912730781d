#!/usr/bin/env python3
"""Relay control and anti-abuse rules of refmaild, each with a client trying to get around it:
classic open-relay probes (nmap's smtp-open-relay set and more), relay tricks after AUTH, AUTH
edge cases, trusted networks, the accept and kill files (reloaded on SIGHUP without dropping
sessions), the null sender, From/Reply-To for relayed mail, header, command and session-time
limits, VRFY, and processing rules. Clients: Python's smtplib and raw sockets (for exact bytes)."""

import signal
import smtplib
import time
import uuid

import refmaild_harness as h

ALICE, BOB = h.USERS
LOCAL = "example.test"
REMOTE = "relay.remote.test"
IP = "[127.0.0.1]"

# (name, MAIL FROM argument, RCPT TO argument): none of these may be accepted from an
# unauthenticated, untrusted client. The first 16 follow nmap's smtp-open-relay script.
OPEN_RELAY_PROBES = [
    ("null-sender", "<>", f"<relaytest@{REMOTE}>"),
    ("local-sender", f"<antispam@{LOCAL}>", f"<relaytest@{REMOTE}>"),
    ("literal-sender", f"<antispam@{IP}>", f"<relaytest@{REMOTE}>"),
    ("percent-at-literal", f"<antispam@{IP}>", f"<relaytest%{REMOTE}@{IP}>"),
    ("percent-at-local", f"<antispam@{LOCAL}>", f"<relaytest%{REMOTE}@{LOCAL}>"),
    ("quoted-at", f"<antispam@{LOCAL}>", f"<\"relaytest@{REMOTE}\">"),
    ("quoted-percent", f"<antispam@{LOCAL}>", f"<\"relaytest%{REMOTE}\">"),
    ("double-at-literal", f"<antispam@{LOCAL}>", f"<relaytest@{REMOTE}@{IP}>"),
    ("quoted-at-literal", f"<antispam@{LOCAL}>", f"<\"relaytest@{REMOTE}\"@{IP}>"),
    ("double-at-local", f"<antispam@{LOCAL}>", f"<relaytest@{REMOTE}@{LOCAL}>"),
    ("source-route-literal", f"<antispam@{LOCAL}>", f"<@{IP}:relaytest@{REMOTE}>"),
    ("source-route-local", f"<antispam@{LOCAL}>", f"<@{LOCAL}:relaytest@{REMOTE}>"),
    ("bang-bare", f"<antispam@{LOCAL}>", f"<{REMOTE}!relaytest>"),
    ("bang-literal", f"<antispam@{LOCAL}>", f"<{REMOTE}!relaytest@{IP}>"),
    ("bang-local", f"<antispam@{LOCAL}>", f"<{REMOTE}!relaytest@{LOCAL}>"),
    ("quoted-at-local", f"<antispam@{LOCAL}>", f"<\"relaytest@{REMOTE}\"@{LOCAL}>"),
    # Beyond nmap.
    ("trailing-dot", f"<antispam@{LOCAL}>", f"<relaytest@{REMOTE}.>"),
    ("mixed-case", f"<antispam@{LOCAL}>", "<RelayTest@ReLaY.ReMoTe.TeSt>"),
    ("address-literal", f"<antispam@{LOCAL}>", "<relaytest@[192.0.2.1]>"),
    ("ipv6-literal", f"<antispam@{LOCAL}>", "<relaytest@[IPv6:2001:db8::1]>"),
    ("local-suffix", f"<antispam@{LOCAL}>", f"<relaytest@{LOCAL}.{REMOTE}>"),
    ("local-subdomain", f"<antispam@{LOCAL}>", f"<relaytest@sub.{LOCAL}>"),
    ("forged-local-user", f"<{ALICE}>", f"<relaytest@{REMOTE}>"),
    ("postmaster-sender", f"<postmaster@{LOCAL}>", f"<relaytest@{REMOTE}>"),
    ("remote-postmaster", f"<antispam@{LOCAL}>", f"<postmaster@{REMOTE}>"),
    ("percent-double", f"<antispam@{LOCAL}>", f"<relaytest%{REMOTE}%{LOCAL}@{LOCAL}>"),
    ("no-brackets", f"antispam@{LOCAL}", f"relaytest@{REMOTE}"),
    ("auth-param-claim", f"<{ALICE}> AUTH=<{ALICE}>", f"<relaytest@{REMOTE}>"),
]

# Tricks that an authenticated client must not get relayed either.
AUTHENTICATED_TRICKS = [
    f"<relaytest%other.test@{REMOTE}>",
    f"<@{REMOTE}:relaytest@other.test>",
    f"<{REMOTE}!relaytest@other.test>",
    f"<\"relaytest@other.test\"@{REMOTE}>",
    "<relaytest@[192.0.2.1]>",
]


def unique(tag):
    return f"{tag}-{uuid.uuid4().hex}"


class server_case(h.unittest.TestCase):
    """A fresh quickstart server per test class, with CONFIG merged into its configuration."""
    CONFIG = ""

    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server()
        if cls.CONFIG:
            cls.server.add_config(cls.CONFIG)
        cls.prepare(cls.server)
        cls.server.start()

    @classmethod
    def prepare(cls, server):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def raw(self, listener="smtp"):
        c = h.raw_smtp(self.server.port(listener))
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
        return c

    def smtp(self, listener="smtp"):
        s = smtplib.SMTP("127.0.0.1", self.server.port(listener), local_hostname="client.interop.test", timeout=10)
        self.addCleanup(s.close)
        s.ehlo()
        return s

    def login(self, s, user=ALICE):
        s.starttls(context=self.server.tls_context())
        s.ehlo()
        s.login(user, self.server.passwords[user])
        return s

    def assert_relay_refused(self, c, mail_from, rcpt_to, name=""):
        code, lines = c.command(f"MAIL FROM:{mail_from}")
        if code == 250:
            code, lines = c.command(f"RCPT TO:{rcpt_to}")
            self.assertTrue(500 <= code < 600, f"{name}: RCPT TO:{rcpt_to} got {code} {lines}")
            code, lines = c.command("DATA")
            self.assertNotEqual(code, 354, f"{name}: DATA accepted after refused recipients")
        else:
            self.assertTrue(500 <= code < 600, f"{name}: MAIL FROM:{mail_from} got {code} {lines}")
        c.command("RSET")

    def metric(self, name):
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.server.port('metrics')}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")


class open_relay_test(server_case):
    def test_classic_probes_are_all_refused(self):
        self.assertGreaterEqual(len(OPEN_RELAY_PROBES), 28)
        for name, mail_from, rcpt_to in OPEN_RELAY_PROBES:
            with self.subTest(probe=name):
                c = self.raw()
                self.assert_relay_refused(c, mail_from, rcpt_to, name)
        # Tricks aimed at other domains are counted as such.
        self.assertGreater(self.metric('refmaild_recipients_rejected_total{reason="relay_trick"}'), 0)

    def test_probes_on_submission_without_auth_are_refused(self):
        for name, mail_from, rcpt_to in OPEN_RELAY_PROBES[:6]:
            with self.subTest(probe=name):
                self.assert_relay_refused(self.raw("submission"), mail_from, rcpt_to, name)

    def test_local_delivery_still_works_from_the_same_client(self):
        s = self.smtp()
        marker = unique("local")
        s.sendmail("someone@elsewhere.test", [BOB], f"From: someone@elsewhere.test\r\nSubject: {marker}\r\n\r\nhi\r\n")
        self.assertEqual(len(self.server.find_delivered(BOB, marker.encode())), 1)

    def test_authenticated_client_may_relay(self):
        s = self.login(self.smtp("submission"))
        self.assertEqual(s.mail(ALICE)[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 250)

    def test_authenticated_on_port_25_may_relay(self):
        s = self.login(self.smtp("smtp"))
        self.assertEqual(s.mail(ALICE)[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 250)

    def test_relay_tricks_are_refused_even_after_auth(self):
        for rcpt in AUTHENTICATED_TRICKS:
            with self.subTest(rcpt=rcpt):
                s = self.login(self.smtp("submission"))
                self.assertEqual(s.mail(ALICE)[0], 250)
                code, text = s.docmd(f"RCPT TO:{rcpt}")
                self.assertEqual(code, 554, f"{rcpt}: {text}")

    def test_failed_auth_grants_nothing(self):
        s = self.smtp("smtp")
        s.starttls(context=self.server.tls_context())
        s.ehlo()
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            s.login(ALICE, "wrong-password")
        self.assertEqual(s.mail(ALICE)[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 554)

    def test_starttls_forgets_an_earlier_auth(self):
        # CRAM-MD5 is allowed before TLS; STARTTLS must discard the authentication (RFC 3207 4.2).
        s = self.smtp("smtp")
        s.user, s.password = ALICE, self.server.passwords[ALICE]
        self.assertEqual(s.auth("CRAM-MD5", s.auth_cram_md5)[0], 235)
        s.starttls(context=self.server.tls_context())
        s.ehlo()
        self.assertEqual(s.mail(ALICE)[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 554)

    def test_rset_keeps_auth_and_a_new_connection_does_not(self):
        s = self.login(self.smtp("smtp"))
        s.rset()
        self.assertEqual(s.mail(ALICE)[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 250)
        t = self.smtp("smtp")
        self.assertEqual(t.mail(ALICE)[0], 250)
        self.assertEqual(t.rcpt(f"friend@{REMOTE}")[0], 554)

    def test_null_sender_reaches_local_users_only(self):
        s = self.login(self.smtp("submission"))
        self.assertEqual(s.docmd("MAIL FROM:<>")[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 554)
        self.assertEqual(s.rcpt(BOB)[0], 250)

    def test_vrfy_and_expn_enumerate_nobody(self):
        c = self.raw()
        known = c.command(f"VRFY {ALICE}")
        unknown = c.command(f"VRFY nobody-{uuid.uuid4().hex}@{LOCAL}")
        self.assertEqual(known, unknown)
        self.assertEqual(known[0], 252)
        self.assertEqual(c.command("EXPN staff")[0], 502)


class trusted_network_test(server_case):
    CONFIG = "policy:\n  trusted_networks: [127.0.0.0/8]\n"

    def test_trusted_client_relays_without_auth(self):
        s = self.smtp()
        self.assertEqual(s.mail(f"user@{LOCAL}")[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 250)

    def test_trusted_client_still_cannot_use_tricks_or_the_null_sender(self):
        for rcpt in AUTHENTICATED_TRICKS:
            with self.subTest(rcpt=rcpt):
                self.assert_relay_refused(self.raw(), f"<user@{LOCAL}>", rcpt, rcpt)
        self.assert_relay_refused(self.raw(), "<>", f"<friend@{REMOTE}>", "null sender")


class untrusted_network_test(server_case):
    CONFIG = "policy:\n  trusted_networks: [10.0.0.0/8, \"2001:db8::/32\"]\n"

    def test_other_networks_do_not_cover_loopback(self):
        self.assert_relay_refused(self.raw(), f"<user@{LOCAL}>", f"<friend@{REMOTE}>")


class accept_file_test(server_case):
    CONFIG = "smtp:\n  max_recipients: 2\npolicy:\n  accept_file: accept\n  kill_file: kill\n"

    @classmethod
    def prepare(cls, server):
        (server.dir / "accept").write_text("# travelling users\ntraveller@road.test\n")
        (server.dir / "kill").write_text("")

    def write_accept(self, text):
        (self.server.dir / "accept").write_text(text)
        self.sighup()

    def sighup(self):
        before = self.server.log_file.read_bytes().count(b"event=reloaded")
        self.server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.server.log_file.read_bytes().count(b"event=reloaded") == before:
            self.assertLess(time.monotonic(), deadline, "no reload logged:\n" + self.server.log_tail())
            time.sleep(0.05)

    def test_listed_sender_may_relay_others_may_not(self):
        self.write_accept("traveller@road.test\n")
        s = self.smtp()
        self.assertEqual(s.mail("traveller@ROAD.test")[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 250)
        s.rset()
        self.assertEqual(s.mail("stranger@road.test")[0], 250)
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 554)
        # Listed senders get no exemption from the recipient limit.
        s.rset()
        s.mail("traveller@road.test")
        codes = [s.rcpt(f"r{i}@{REMOTE}")[0] for i in range(3)]
        self.assertEqual(codes, [250, 250, 452])

    def test_listed_ip_relays_and_is_exempt_from_the_recipient_limit(self):
        self.write_accept("127.0.0.0/8\n")
        s = self.smtp()
        self.assertEqual(s.mail(f"anyone@{LOCAL}")[0], 250)
        codes = [s.rcpt(f"r{i}@{REMOTE}")[0] for i in range(4)]
        self.assertEqual(codes, [250] * 4)
        # Relay tricks are still refused.
        self.assertEqual(s.docmd(f"RCPT TO:<r%x.test@{REMOTE}>")[0], 554)

    def test_listed_host_name_relays_after_a_confirmed_lookup(self):
        # 127.0.0.1 is "localhost" both ways in /etc/hosts.
        self.write_accept("localhost\n")
        deadline = time.monotonic() + 10
        while True:
            s = self.smtp()
            s.mail(f"anyone@{LOCAL}")
            code = s.rcpt(f"friend@{REMOTE}")[0]
            if code == 250 or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the lookup runs in the background; a slow resolver may lag
        self.assertEqual(code, 250)
        self.write_accept("other.host.test\n")
        s = self.smtp()
        s.mail(f"anyone@{LOCAL}")
        self.assertEqual(s.rcpt(f"friend@{REMOTE}")[0], 554)

    def test_reload_applies_to_new_sessions_without_dropping_old_ones(self):
        self.write_accept("127.0.0.1\n")
        old = self.smtp()
        self.assertEqual(old.mail(f"anyone@{LOCAL}")[0], 250)
        self.write_accept("")
        # The open session keeps its snapshot and is not dropped.
        self.assertEqual(old.rcpt(f"friend@{REMOTE}")[0], 250)
        self.assertEqual(old.noop()[0], 250)
        new = self.smtp()
        new.mail(f"anyone@{LOCAL}")
        self.assertEqual(new.rcpt(f"friend@{REMOTE}")[0], 554)

    def test_kill_file_entries_and_reload_without_dropping_sessions(self):
        (self.server.dir / "kill").write_text("*@*.spam.test\nbad.test\nmallory@road.test\n")
        self.sighup()
        s = self.smtp()
        for sender in ("x@mx.spam.test", "x@BAD.test", "mallory@road.test"):
            with self.subTest(sender=sender):
                self.assertEqual(s.mail(sender)[0], 550)
        self.assertEqual(s.mail("ok@road.test")[0], 250)
        self.assertEqual(s.rcpt(BOB)[0], 250)
        # Now the client's own network: existing sessions go on, new ones get 554 at connect.
        (self.server.dir / "kill").write_text("127.0.0.0/8\n")
        self.sighup()
        self.assertEqual(s.noop()[0], 250)
        with h.raw_smtp(self.server.port("smtp")) as c:
            code, lines = c.reply()
            self.assertEqual(code, 554, lines)
            self.assertTrue(c.closed_by_peer())
        (self.server.dir / "kill").write_text("")
        self.sighup()


class options_test(server_case):
    CONFIG = ("smtp:\n  max_header_size: 1K\n  max_commands_per_session: 12\n  vrfy_reply: \"502\"\n"
              "policy:\n  null_sender: refuse\n")

    def test_null_sender_refused(self):
        c = self.raw()
        self.assertEqual(c.command("MAIL FROM:<>")[0], 550)
        self.assertEqual(c.command(f"MAIL FROM:<x@{REMOTE}>")[0], 250)

    def test_vrfy_disabled(self):
        c = self.raw()
        self.assertEqual(c.command(f"VRFY {ALICE}")[0], 502)
        self.assertEqual(c.command("VRFY nobody")[0], 502)

    def test_header_over_the_limit_is_refused(self):
        s = self.smtp()
        big = "".join(f"X-Filler-{i}: {'x' * 60}\r\n" for i in range(20))
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail(f"x@{REMOTE}", [BOB], f"From: x@{REMOTE}\r\n{big}\r\nbody\r\n")
        self.assertEqual(e.exception.smtp_code, 552)
        marker = unique("small")
        s.sendmail(f"x@{REMOTE}", [BOB], f"From: x@{REMOTE}\r\nSubject: {marker}\r\n\r\n" + "body\r\n" * 400)
        self.assertEqual(len(self.server.find_delivered(BOB, marker.encode())), 1)

    def test_command_limit_closes_the_session(self):
        c = self.raw()  # EHLO was command 1
        for _ in range(11):
            self.assertEqual(c.command("NOOP")[0], 250)
        code, lines = c.command("NOOP")
        self.assertEqual(code, 421, lines)
        self.assertTrue(c.closed_by_peer())


class relay_needs_from_test(server_case):
    def test_relayed_message_without_from_or_reply_to_is_refused(self):
        s = self.login(self.smtp("submission"))
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail(ALICE, [f"friend@{REMOTE}"], "Subject: anonymous\r\nTo: friend@relay.remote.test\r\n\r\nx\r\n")
        self.assertEqual(e.exception.smtp_code, 550)
        self.assertIn(b"From:", e.exception.smtp_error)

    def test_local_mail_needs_no_from(self):
        s = self.smtp()
        marker = unique("nofrom")
        s.sendmail(f"x@{REMOTE}", [BOB], f"Subject: {marker}\r\n\r\nx\r\n")
        self.assertEqual(len(self.server.find_delivered(BOB, marker.encode())), 1)


class loop_test(server_case):
    def test_mail_loop_is_refused(self):
        # Our own Received: is the 50th hop: a message that arrives with 49 is accepted, 50 are not.
        s = self.smtp()
        hops = lambda n: "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Mon, 30 Nov 2026 08:00:00 +0000\r\n" for i in range(n))
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail(f"x@{REMOTE}", [BOB], hops(50) + "Subject: loop\r\n\r\nx\r\n")
        self.assertEqual(e.exception.smtp_code, 554)
        self.assertTrue(e.exception.smtp_error.startswith(b"5.4.6"))
        marker = unique("hops")
        s.sendmail(f"x@{REMOTE}", [BOB], hops(49) + f"Subject: {marker}\r\n\r\nx\r\n")
        self.assertEqual(len(self.server.find_delivered(BOB, marker.encode())), 1)


class session_time_limit_test(server_case):
    CONFIG = "smtp:\n  command_timeout: 1s\n  data_timeout: 1s\n  session_timeout: 2s\n"

    def test_slow_dripping_client_is_cut_off(self):
        c = self.raw()
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 10:  # bounded: fails if the limit never bites
            try:
                c.send(b"NOOP\r\n")
                c.reply()
            except (ConnectionError, OSError):
                closed = True
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        self.assertTrue(closed, "session outlived smtp.session_timeout")
        self.assertLess(elapsed, 5)
        self.assertGreater(elapsed, 1.5)


class rules_test(server_case):
    CONFIG = """rules:
  - name: no-viagra
    if: {header: {name: Subject, matches: "(?i)viagra"}}
    then: [{reject: "550 5.7.1 Not here, thanks"}]
  - name: drop-list
    if: {recipient: "bob@example.test"}
    rules:
      - if: {header: {name: List-Id}}
        then: [discard]
  - name: spam-to-junk
    if: {all: [{client_ip: [127.0.0.0/8]}, {header: {name: X-Spam-Flag, matches: "(?i)^yes$"}}]}
    then: [{file_into: Junk}, {add_header: "X-Filed-By: spam-to-junk"}, stop]
  - name: never-after-stop
    if: {header: {name: X-Spam-Flag}}
    then: [{reject: "554 5.7.1 stop did not stop"}]
"""

    def junk(self, user):
        local, domain = user.split("@")
        d = self.server.dir / "maildir" / domain / local / "Maildir" / ".Junk" / "new"
        return [p.read_bytes() for p in d.iterdir()] if d.is_dir() else []

    def test_reject_rule(self):
        s = self.smtp()
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail(f"x@{REMOTE}", [ALICE], "Subject: cheap VIAGRA\r\n\r\nx\r\n")
        self.assertEqual((e.exception.smtp_code, e.exception.smtp_error), (550, b"5.7.1 Not here, thanks"))

    def test_nested_discard_rule(self):
        s = self.smtp()
        marker = unique("list")
        s.sendmail(f"x@{REMOTE}", [BOB], f"Subject: {marker}\r\nList-Id: <l.test>\r\n\r\nx\r\n")
        self.assertEqual(self.server.find_delivered(BOB, marker.encode()), [])
        self.assertEqual([p for p in self.server.all_stored() if marker.encode() in p.read_bytes()], [])
        # The nested rule needs its parent: the same message to alice is delivered.
        s.sendmail(f"x@{REMOTE}", [ALICE], f"Subject: {marker}\r\nList-Id: <l.test>\r\n\r\nx\r\n")
        self.assertEqual(len(self.server.find_delivered(ALICE, marker.encode())), 1)

    def test_file_into_folder_with_added_header_then_stop(self):
        s = self.smtp()
        marker = unique("junk")
        s.sendmail(f"x@{REMOTE}", [ALICE], f"Subject: {marker}\r\nX-Spam-Flag: YES\r\n\r\nx\r\n")
        self.assertEqual(self.server.find_delivered(ALICE, marker.encode()), [])
        filed = [m for m in self.junk(ALICE) if marker.encode() in m]
        self.assertEqual(len(filed), 1)
        self.assertIn(b"\r\nX-Filed-By: spam-to-junk\r\n", filed[0])
        # The Maildir++ folder is a proper Maildir.
        self.assertTrue((self.server.dir / "maildir" / "example.test" / "alice" / "Maildir" / ".Junk" / "cur").is_dir())


if __name__ == "__main__":
    h.main()
