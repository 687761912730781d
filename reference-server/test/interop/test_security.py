#!/usr/bin/env python3
"""Attacks on the SMTP transport: STARTTLS command injection (CVE-2011-0411 class), SMTP
smuggling (CVE-2023-51764 class) and over-long command lines, over raw sockets."""

import uuid

import refmaild_harness as h

ALICE, BOB = h.USERS


class starttls_injection_test(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def check_injection(self, listener, injected):
        with h.raw_smtp(self.server.port(listener)) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
            # One write: the commands after STARTTLS reach the server in the same segment.
            c.send(b"STARTTLS\r\n" + injected)
            code, lines = c.reply()
            self.assertEqual(code, 220, lines)
            # Fails if the server answered the injected commands in plaintext.
            c.starttls(self.server.tls_context())
            c.send(b"EHLO client.interop.test\r\n")
            code, lines = c.reply()
            # The first reply inside TLS must be the EHLO's (multi-line, greets us), not an
            # answer to the injected command.
            self.assertEqual(code, 250, lines)
            self.assertGreater(len(lines), 1, f"first reply after TLS is not the EHLO reply: {lines}")
            self.assertIn("client.interop.test", lines[0])
            self.assertEqual(c.command("NOOP")[0], 250)
            self.assertEqual(c.command("QUIT")[0], 221)

    def test_injected_rset_gets_no_reply(self):
        self.check_injection("smtp", b"RSET\r\n")

    def test_injected_transaction_is_forgotten(self):
        # A full injected transaction must neither be answered nor executed.
        marker = f"injected-{uuid.uuid4().hex}"
        self.check_injection("submission",
                             b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                             b"Subject: " + marker.encode() + b"\r\n\r\nx\r\n.\r\n")
        self.assertEqual([p for p in self.server.all_stored() if marker.encode() in p.read_bytes()], [])


class smuggling_test(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    # Fake end-of-data markers: none of them is CRLF "." CRLF.
    VARIANTS = {
        "lf-dot-lf": b"\n.\n",
        "cr-dot-cr": b"\r.\r",
        "crlf-dot-lf": b"\r\n.\n",
        "lf-dot-crlf": b"\n.\r\n",
        "cr-dot-crlf": b"\r.\r\n",
    }

    def test_smuggled_commands_never_run(self):
        for name, fake_end in self.VARIANTS.items():
            with self.subTest(variant=name):
                outer = f"outer-{uuid.uuid4().hex}".encode()
                smuggled = f"smuggled-{uuid.uuid4().hex}".encode()
                data = (b"From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: " + outer +
                        b"\r\n\r\nhello" + fake_end +
                        b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                        b"Subject: " + smuggled + b"\r\n\r\nsmuggled\r\n.\r\n")
                with h.raw_smtp(self.server.port("smtp")) as c:
                    self.assertEqual(c.reply()[0], 220)
                    self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
                    self.assertEqual(c.command("MAIL FROM:<sender@remote.test>")[0], 250)
                    self.assertEqual(c.command("RCPT TO:<alice@example.test>")[0], 250)
                    self.assertEqual(c.command("DATA")[0], 354)
                    c.send(data)
                    code, lines = c.reply()
                    self.assertTrue(500 <= code < 600, f"message with {name} accepted: {lines}")
                    # The next reply answers QUIT: nothing was left over from the smuggled text.
                    code, lines = c.command("QUIT")
                    self.assertEqual(code, 221, f"extra reply after the refused message: {lines}")
                stored = [p for p in self.server.all_stored() if outer in p.read_bytes() or smuggled in p.read_bytes()]
                self.assertEqual(stored, [], f"{name}: delivered {stored}")

    def test_control_plain_message_is_delivered(self):
        # The same exchange without a fake marker is delivered: the refusals above are about it.
        outer = f"control-{uuid.uuid4().hex}".encode()
        data = b"Subject: " + outer + b"\r\n\r\nhello\r\nMAIL FROM:<x@remote.test>\r\n.\r\n"
        with h.raw_smtp(self.server.port("smtp")) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
            self.assertEqual(c.command("MAIL FROM:<sender@remote.test>")[0], 250)
            self.assertEqual(c.command("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.command("DATA")[0], 354)
            c.send(data)
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.command("QUIT")[0], 221)
        found = self.server.find_delivered(ALICE, outer)
        self.assertEqual(found, [data[:-3]])


class long_line_test(h.unittest.TestCase):
    # Its own server: refmaild bans an IP that sends an over-long line, which would disturb the
    # other tests on 127.0.0.1.
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_overlong_command_line(self):
        with h.raw_smtp(self.server.port("smtp")) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
            line = b"NOOP " + b"x" * 593 + b"\r\n"
            self.assertEqual(len(line), 600)
            c.send(line)
            code, lines = c.reply()
            self.assertEqual(code, 500, lines)
            self.assertTrue(lines[-1].startswith("500 5.5.2"), lines)
            self.assertTrue(c.closed_by_peer(5.0), "connection still open after an over-long line")

    def test_longest_allowed_line_is_accepted(self):
        # 512 octets including CRLF is the limit (RFC 5321 4.5.3.1.4): exactly that is fine.
        # Runs before test_overlong_command_line (alphabetical order), which bans this client.
        with h.raw_smtp(self.server.port("smtp")) as c:
            self.assertEqual(c.reply()[0], 220)
            line = b"NOOP " + b"x" * 505 + b"\r\n"
            self.assertEqual(len(line), 512)
            c.send(line)
            self.assertEqual(c.reply()[0], 250)


if __name__ == "__main__":
    h.main()
