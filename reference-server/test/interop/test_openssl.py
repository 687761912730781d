#!/usr/bin/env python3
"""refmaild's TLS seen by `openssl s_client`: STARTTLS and implicit TLS handshakes, TLS 1.2 and
1.3 only."""

import re
import socket
import ssl
import subprocess
import threading
import warnings

import refmaild_harness as h

# OpenSSL 3 clients refuse TLS 1.1 below security level 0, so the client is allowed to offer it:
# a refusal then comes from the server.
LEGACY_CLIENT = ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]


def s_client(port, *args, starttls=True, stdin=b"EHLO interop.test\nQUIT\n"):
    """Runs s_client to completion; returns (exit code, stdout + stderr as text)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
           "-crlf", "-ign_eof", *args]
    if starttls:
        cmd[2:2] = ["-starttls", "smtp"]
    r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def negotiated(output):
    """The negotiated protocol ("TLSv1.3"), or None when the handshake did not complete. The
    "New, X, Cipher is Y" line names the cipher's version, so the protocol comes from the session
    block ("Protocol  : TLSv1.3")."""
    m = re.search(r"^New, \S+, Cipher is (\S+)", output, re.M)
    if not m or m.group(1) == "(NONE)":
        return None
    p = re.search(r"^\s*Protocol\s*:\s*(\S+)", output, re.M)
    return p.group(1) if p else None


class openssl_test(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def verify_args(self):
        return ["-CAfile", str(self.server.cert_file), "-verify_return_error", "-verify_hostname", "localhost"]

    def assert_session(self, code, out, allowed=("TLSv1.2", "TLSv1.3")):
        # The exit code is not checked here: s_client exits 1 when the server closes without a
        # TLS close_notify, which test_close_notify_after_quit checks on its own.
        self.assertIn(negotiated(out), allowed, out)
        self.assertIn("Verify return code: 0 (ok)", out)
        # After the handshake: our EHLO is answered (multi-line 250) and QUIT gets 221.
        after = out.split("Verify return code: 0 (ok)", 1)[1]
        self.assertRegex(after, r"(?m)^250[- ]")
        self.assertRegex(after, r"(?m)^221 ")

    def test_starttls_smtp_port(self):
        self.assert_session(*s_client(self.server.port("smtp"), *self.verify_args()))

    def test_starttls_submission_port(self):
        self.assert_session(*s_client(self.server.port("submission"), *self.verify_args()))

    def test_implicit_tls_smtps_port(self):
        code, out = s_client(self.server.port("smtps"), *self.verify_args(), starttls=False)
        self.assert_session(code, out)
        self.assertRegex(out, r"(?m)^220 ", "no greeting over implicit TLS")

    def test_tls12_and_tls13_each_accepted(self):
        for version, flag in (("TLSv1.2", "-tls1_2"), ("TLSv1.3", "-tls1_3")):
            with self.subTest(version=version):
                code, out = s_client(self.server.port("smtp"), *self.verify_args(), flag)
                self.assert_session(code, out, allowed=(version,))

    def test_tls11_refused(self):
        for listener, starttls in (("smtp", True), ("smtps", False)):
            with self.subTest(listener=listener):
                code, out = s_client(self.server.port(listener), *LEGACY_CLIENT, starttls=starttls)
                self.assertIsNone(negotiated(out), out)
                self.assertNotEqual(code, 0, out)

    def test_tls11_client_control(self):
        # Proves test_tls11_refused can fail: the same client command completes a TLS 1.1
        # handshake with a server that allows it (Python's ssl, same certificate).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.load_cert_chain(self.server.cert_file, self.server.dir / "tls" / "key.pem")
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        seen = []

        def serve():
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    seen.append(tls.version())
                    tls.sendall(b"220 control\r\n")
            except (ssl.SSLError, OSError) as e:
                seen.append(repr(e))

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        _, out = s_client(listener.getsockname()[1], *LEGACY_CLIENT, starttls=False, stdin=b"")
        t.join(10)
        self.assertEqual(seen, ["TLSv1.1"], out)
        self.assertEqual(negotiated(out), "TLSv1.1", out)


class close_notify_test(h.unittest.TestCase):
    """Its own CTest entry (refmaild_interop_tls_close_notify), apart from the handshake tests."""

    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_close_notify_after_quit(self):
        # RFC 8446 6.1: a party MUST send close_notify before closing its write side. Without it a
        # client cannot tell the end of the session from a truncation attack.
        for listener in ("smtps", "submission"):
            with self.subTest(listener=listener):
                ctx = self.server.tls_context()
                with h.raw_smtp(self.server.port(listener)) as c:
                    if listener == "smtps":
                        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost", suppress_ragged_eofs=False)
                    self.assertEqual(c.reply()[0], 220)
                    if listener != "smtps":
                        self.assertEqual(c.command("EHLO interop.test")[0], 250)
                        self.assertEqual(c.command("STARTTLS")[0], 220)
                        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost", suppress_ragged_eofs=False)
                    self.assertEqual(c.command("QUIT")[0], 221)
                    try:
                        rest = c.sock.recv(4096)
                    except ssl.SSLEOFError as e:
                        self.fail(f"server closed the TLS connection without close_notify: {e}")
                    self.assertEqual(rest, b"")


if __name__ == "__main__":
    h.main()
