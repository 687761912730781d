#!/usr/bin/env python3
"""SIGHUP: refmaild picks up a new certificate (and users) without a restart, and keeps the old
material when the new files are broken."""

import signal
import smtplib
import ssl
import time

import refmaild_harness as h

ALICE, BOB = h.USERS


class reload_test(h.unittest.TestCase):
    def setUp(self):
        self.server = h.refmaild_server().start()
        self.addCleanup(self.server.close)

    def served_fingerprint(self, listener):
        """SHA-256 of the DER certificate a new connection to `listener` is given."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # we compare fingerprints instead
        with h.raw_smtp(self.server.port(listener)) as c:
            if listener == "smtps":
                c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
                self.assertEqual(c.reply()[0], 220)
            else:
                self.assertEqual(c.reply()[0], 220)
                self.assertEqual(c.command("EHLO client.interop.test")[0], 250)
                self.assertEqual(c.command("STARTTLS")[0], 220)
                c.starttls(ctx)
            return h.fingerprint(c.sock.getpeercert(binary_form=True))

    def wait_for_fingerprint(self, listener, wanted, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            seen = self.served_fingerprint(listener)
            if seen == wanted or time.monotonic() > deadline:
                return seen
            time.sleep(0.1)

    def sighup(self, outcome):
        """Sends SIGHUP and waits until refmaild logs `outcome` once more."""
        before = self.server.log_file.read_bytes().count(outcome)
        self.server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.server.log_file.read_bytes().count(outcome) == before:
            self.assertIsNone(self.server.proc.poll(), "refmaild died on SIGHUP:\n" + self.server.log_tail())
            self.assertLess(time.monotonic(), deadline, f"no {outcome!r} logged after SIGHUP:\n" + self.server.log_tail())
            time.sleep(0.05)

    def test_sighup_serves_new_certificate(self):
        old = h.pem_fingerprint(self.server.cert_file)
        for listener in ("smtp", "smtps"):
            self.assertEqual(self.served_fingerprint(listener), old)
        # Keep a connection open across the reload: it keeps working.
        held = smtplib.SMTP_SSL("127.0.0.1", self.server.port("smtps"), context=self.server.tls_context(),
                                timeout=10)
        self.addCleanup(held.close)
        self.assertEqual(held.ehlo()[0], 250)

        h.run_refmaild("cert", "self-signed", "--cn", "localhost", "--san", "localhost", "--san", "127.0.0.1",
                       "--days", "30", "--out", self.server.dir / "tls")
        new = h.pem_fingerprint(self.server.cert_file)
        self.assertNotEqual(new, old)
        # Not before SIGHUP: refmaild must not notice file changes by itself mid-test.
        self.assertEqual(self.served_fingerprint("smtps"), old)

        self.sighup(b"refmaild: reloaded on SIGHUP")
        for listener in ("smtps", "smtp", "submission"):
            self.assertEqual(self.wait_for_fingerprint(listener, new), new, f"{listener} still serves the old cert")
        self.assertEqual(held.noop()[0], 250)
        # A verifying client trusting only the new certificate gets through.
        s = smtplib.SMTP_SSL("127.0.0.1", self.server.port("smtps"),
                             context=ssl.create_default_context(cafile=str(self.server.cert_file)), timeout=10)
        self.addCleanup(s.close)
        self.assertEqual(s.login(ALICE, self.server.passwords[ALICE])[0], 235)

    def test_sighup_with_broken_key_keeps_old_certificate(self):
        old = h.pem_fingerprint(self.server.cert_file)
        key_file = self.server.dir / "tls" / "key.pem"
        key_file.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        self.sighup(b"refmaild: reload failed")
        self.assertIsNone(self.server.proc.poll(), "refmaild died on a bad reload:\n" + self.server.log_tail())
        for listener in ("smtps", "smtp"):
            self.assertEqual(self.served_fingerprint(listener), old)

    def test_sighup_reloads_users(self):
        h.run_refmaild("user", "add", "carol@example.test", "--scheme", "PLAIN", "--password", "carol-pw",
                       "--file", self.server.dir / "passwd")
        s = smtplib.SMTP_SSL("127.0.0.1", self.server.port("smtps"), context=self.server.tls_context(), timeout=10)
        self.addCleanup(s.close)
        s.ehlo()
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            s.login("carol@example.test", "carol-pw")  # not loaded yet
        self.sighup(b"refmaild: reloaded on SIGHUP")
        s2 = smtplib.SMTP_SSL("127.0.0.1", self.server.port("smtps"), context=self.server.tls_context(), timeout=10)
        self.addCleanup(s2.close)
        self.assertEqual(s2.login("carol@example.test", "carol-pw")[0], 235)


if __name__ == "__main__":
    h.main()
