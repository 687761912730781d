#!/usr/bin/env python3
"""refmaild against Python's smtplib (a client nobody here wrote), plus raw-socket pipelining."""

import email.policy
import smtplib
import uuid
from email.message import EmailMessage

import refmaild_harness as h

ALICE, BOB = h.USERS
MUST_HAVE = ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes", "chunking", "starttls")


def unique(tag):
    return f"{tag}-{uuid.uuid4().hex}"


def wire_bytes(msg):
    """What smtplib.send_message puts between DATA and the final dot, before dot-stuffing:
    the message flattened with CRLF, plus a CRLF when it does not end in one."""
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    return data if data.endswith(h.CRLF) else data + h.CRLF


class smtplib_test(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def connect(self, listener):
        s = smtplib.SMTP("127.0.0.1", self.server.port(listener), local_hostname="client.interop.test", timeout=10)
        self.addCleanup(s.close)
        return s

    def login(self, s, user=ALICE, mechanism=None):
        s.starttls(context=self.server.tls_context())
        s.ehlo()
        if mechanism is None:
            return s.login(user, self.server.passwords[user])
        s.user, s.password = user, self.server.passwords[user]
        auth_object = getattr(s, "auth_" + mechanism.lower().replace("-", "_"))
        return s.auth(mechanism, auth_object)

    def assert_stored(self, user, marker, expected):
        found = self.server.find_delivered(user, marker.encode())
        self.assertEqual(len(found), 1, f"{marker} stored {len(found)} times for {user}")
        self.assertEqual(found[0], expected)

    # ---- EHLO ----

    def test_ehlo_capabilities_before_tls(self):
        for listener in ("smtp", "submission"):
            with self.subTest(listener=listener):
                s = self.connect(listener)
                code, _ = s.ehlo()
                self.assertEqual(code, 250)
                for ext in MUST_HAVE:
                    self.assertTrue(s.has_extn(ext), f"EHLO on {listener} lacks {ext}: {s.esmtp_features}")
                self.assertGreater(int(s.esmtp_features["size"]), 0)
                mechanisms = s.esmtp_features.get("auth", "").upper().split()
                self.assertNotIn("PLAIN", mechanisms, "AUTH PLAIN offered without TLS")
                self.assertNotIn("LOGIN", mechanisms, "AUTH LOGIN offered without TLS")

    def test_starttls_then_auth_offered(self):
        s = self.connect("submission")
        code, _ = s.starttls(context=self.server.tls_context())
        self.assertEqual(code, 220)
        self.assertIn(s.sock.version(), ("TLSv1.2", "TLSv1.3"))
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"), "STARTTLS offered again inside TLS")
        mechanisms = s.esmtp_features.get("auth", "").upper().split()
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            self.assertIn(mech, mechanisms)

    # ---- AUTH ----

    def test_login_each_mechanism(self):
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            with self.subTest(mechanism=mech):
                s = self.connect("submission")
                code, _ = self.login(s, mechanism=mech)
                self.assertEqual(code, 235)
                code, _ = s.mail(ALICE)
                self.assertEqual(code, 250, "authenticated MAIL refused")

    def test_wrong_password_refused(self):
        s = self.connect("submission")
        s.starttls(context=self.server.tls_context())
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login(ALICE, self.server.passwords[ALICE] + "x")
        self.assertEqual(cm.exception.smtp_code, 535)
        code, _ = s.mail(ALICE)
        self.assertEqual(code, 530, "MAIL accepted after a failed AUTH")

    def test_submission_requires_auth(self):
        s = self.connect("submission")
        s.ehlo()
        self.assertEqual(s.mail(ALICE)[0], 530)
        s.starttls(context=self.server.tls_context())
        s.ehlo()
        self.assertEqual(s.mail(ALICE)[0], 530)

    # ---- recipients ----

    def test_unknown_local_user_550(self):
        s = self.connect("smtp")
        s.ehlo()
        self.assertEqual(s.mail("sender@remote.test")[0], 250)
        self.assertEqual(s.rcpt("nobody@example.test")[0], 550)
        self.assertEqual(s.rcpt(BOB)[0], 250)

    def test_relay_denied_554(self):
        s = self.connect("smtp")
        s.ehlo()
        self.assertEqual(s.mail("sender@remote.test")[0], 250)
        self.assertEqual(s.rcpt("someone@elsewhere.test")[0], 554)

    # ---- delivery, byte for byte ----

    def test_send_message_stored_byte_identical(self):
        s = self.connect("submission")
        self.login(s)
        marker = unique("smtplib-submission")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = ALICE, BOB, marker
        msg["Message-ID"] = f"<{marker}@interop.test>"
        # Lines starting with dots exercise dot-stuffing both ways.
        msg.set_content("first line\n.one dot\n..two dots\n.\nlast line\n")
        refused = s.send_message(msg)
        self.assertEqual(refused, {})
        self.assert_stored(BOB, marker, wire_bytes(msg))

    def test_8bit_smtputf8_message_on_mx_port(self):
        s = self.connect("smtp")
        s.ehlo()
        marker = unique("smtplib-8bit")
        data = h.crlf_message("sender@remote.test", ALICE, marker,
                              ["Grüße aus Köln – ünïcödé", "\tindented line", ""],
                              extra_headers=["Content-Type: text/plain; charset=utf-8",
                                             "Content-Transfer-Encoding: 8bit"])
        data = data.replace(b"Subject: ", "Subject: 8bit ✓ ".encode())
        refused = s.sendmail("sender@remote.test", [ALICE], data, mail_options=["BODY=8BITMIME", "SMTPUTF8"])
        self.assertEqual(refused, {})
        self.assert_stored(ALICE, marker, data)

    def test_smtps_implicit_tls(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.server.port("smtps"), local_hostname="client.interop.test",
                             context=self.server.tls_context(), timeout=10)
        self.addCleanup(s.close)
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"), "STARTTLS offered on implicit TLS")
        self.assertIn("PLAIN", s.esmtp_features.get("auth", "").upper().split())
        self.assertEqual(s.login(BOB, self.server.passwords[BOB])[0], 235)
        marker = unique("smtplib-smtps")
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"], msg["To"], msg["Subject"] = BOB, ALICE, marker
        msg.set_content("over implicit TLS\n")
        self.assertEqual(s.send_message(msg), {})
        self.assert_stored(ALICE, marker, wire_bytes(msg))

    def test_multiple_recipients_one_refused(self):
        s = self.connect("smtp")
        marker = unique("smtplib-multi")
        data = h.crlf_message("sender@remote.test", ALICE, marker, ["to two local users"])
        refused = s.sendmail("sender@remote.test", [ALICE, "nobody@example.test", BOB], data)
        self.assertEqual(list(refused), ["nobody@example.test"])
        self.assertEqual(refused["nobody@example.test"][0], 550)
        self.assert_stored(ALICE, marker, data)
        self.assert_stored(BOB, marker, data)

    # ---- raw socket: pipelining and CHUNKING ----

    def test_pipelined_commands_answered_in_order(self):
        marker = unique("pipelined")
        body = h.crlf_message("sender@remote.test", BOB, marker, ["pipelined body"])
        with h.raw_smtp(self.server.port("smtp")) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
            # One write: RFC 2920 lets the client send these without waiting.
            c.send(b"RSET\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<nobody@example.test>\r\n"
                   b"RCPT TO:<bob@example.test>\r\nNOOP\r\nDATA\r\n")
            codes = [c.reply()[0] for _ in range(6)]
            self.assertEqual(codes, [250, 250, 550, 250, 250, 354])
            c.send(body + b".\r\nNOOP\r\nQUIT\r\n")
            self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 221])
        self.assert_stored(BOB, marker, body)

    def test_bdat_chunks(self):
        marker = unique("bdat")
        body = h.crlf_message("sender@remote.test", ALICE, marker, ["chunked", ".leading dot is not stuffed"])
        first, second = body[:20], body[20:]
        with h.raw_smtp(self.server.port("smtp")) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
            c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\n")
            self.assertEqual([c.reply()[0], c.reply()[0]], [250, 250])
            c.send(b"BDAT %d\r\n" % len(first) + first + b"BDAT %d LAST\r\n" % len(second) + second)
            self.assertEqual([c.reply()[0], c.reply()[0]], [250, 250])
            self.assertEqual(c.command("QUIT")[0], 221)
        self.assert_stored(ALICE, marker, body)


if __name__ == "__main__":
    h.main()
