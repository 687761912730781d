#!/usr/bin/env python3
"""refmaild against curl's SMTP client: STARTTLS (--ssl-reqd) and implicit TLS (smtps://)."""

import subprocess
import uuid

import refmaild_harness as h

ALICE, BOB = h.USERS

# curl exit codes (man curl): peer certificate not verified, login denied.
CURLE_PEER_FAILED_VERIFICATION = 60
CURLE_LOGIN_DENIED = 67


class curl_test(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def curl(self, scheme, listener, message, *extra, user=ALICE, password=None, cacert=None):
        """Sends `message` (bytes, CRLF line endings) from `user` to bob with curl; returns the
        CompletedProcess. curl checks the certificate against the name localhost."""
        port = self.server.port(listener)
        msg_file = self.server.dir / f"curl-{uuid.uuid4().hex}.eml"
        msg_file.write_bytes(message)
        if password is None:
            password = self.server.passwords[user]
        cmd = ["curl", "--silent", "--show-error", "--max-time", "20",
               "--url", f"{scheme}://localhost:{port}", "--resolve", f"localhost:{port}:127.0.0.1",
               "--cacert", str(cacert or self.server.cert_file),
               "--mail-from", user, "--mail-rcpt", BOB, "--upload-file", str(msg_file),
               "--user", f"{user}:{password}", *extra]
        if scheme == "smtp":
            cmd.append("--ssl-reqd")
        return subprocess.run(cmd, capture_output=True, timeout=30)

    def assert_sent_and_stored(self, result, marker, message):
        self.assertEqual(result.returncode, 0, result.stderr.decode(errors="replace"))
        found = self.server.find_delivered(BOB, marker.encode())
        self.assertEqual(len(found), 1, f"{marker} stored {len(found)} times")
        self.assertEqual(found[0], message, "stored message differs from what curl sent")

    def message(self, tag):
        marker = f"{tag}-{uuid.uuid4().hex}"
        return marker, h.crlf_message(ALICE, BOB, marker,
                                      ["Hello from curl.", ".a line starting with a dot", "..two", "", "end"])

    def test_submission_starttls(self):
        marker, msg = self.message("curl-starttls")
        self.assert_sent_and_stored(self.curl("smtp", "submission", msg), marker, msg)

    def test_smtps(self):
        marker, msg = self.message("curl-smtps")
        self.assert_sent_and_stored(self.curl("smtps", "smtps", msg), marker, msg)

    def test_each_auth_mechanism(self):
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            with self.subTest(mechanism=mech):
                marker, msg = self.message(f"curl-auth-{mech}")
                r = self.curl("smtp", "submission", msg, "--login-options", f"AUTH={mech}")
                self.assert_sent_and_stored(r, marker, msg)

    def test_wrong_password_denied(self):
        marker, msg = self.message("curl-badpw")
        r = self.curl("smtps", "smtps", msg, password=self.server.passwords[ALICE] + "x")
        self.assertEqual(r.returncode, CURLE_LOGIN_DENIED, r.stderr.decode(errors="replace"))
        self.assertEqual(self.server.find_delivered(BOB, marker.encode()), [])

    def test_untrusted_certificate_rejected_by_curl(self):
        # A control: curl really verifies, so the passing tests above prove the certificate is right.
        other = self.server.dir / "other-ca"
        h.run_refmaild("cert", "self-signed", "--cn", "localhost", "--san", "localhost", "--out", other)
        marker, msg = self.message("curl-untrusted")
        r = self.curl("smtps", "smtps", msg, cacert=other / "cert.pem")
        self.assertEqual(r.returncode, CURLE_PEER_FAILED_VERIFICATION, r.stderr.decode(errors="replace"))
        self.assertEqual(self.server.find_delivered(BOB, marker.encode()), [])


if __name__ == "__main__":
    h.main()
