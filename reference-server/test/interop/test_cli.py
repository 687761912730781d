#!/usr/bin/env python3
"""The refmaild command line without a running server: cert, user, --check-config, quickstart.
Certificates are judged by the openssl tool, SHA512-CRYPT hashes by `openssl passwd -6`."""

import os
import shutil
import stat
import subprocess
import tempfile

import refmaild_harness as h


def openssl(*args):
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30)


class cli_test(h.unittest.TestCase):
    def setUp(self):
        self.dir = h.pathlib.Path(tempfile.mkdtemp(prefix="refmaild-cli-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def refmaild(self, *args, stdin=None):
        return h.run_refmaild(*args, check=False, input=stdin)

    # ---- cert ----

    def test_self_signed_valid_expired_and_future(self):
        out = self.dir / "ok"
        self.assertEqual(self.refmaild("cert", "self-signed", "--cn", "mail.test", "--san", "mail.test",
                                       "--san", "192.0.2.1", "--days", "10", "--out", out).returncode, 0)
        text = openssl("x509", "-in", out / "cert.pem", "-noout", "-text").stdout
        self.assertIn("DNS:mail.test", text)
        self.assertIn("IP Address:192.0.2.1", text)
        self.assertEqual(stat.S_IMODE(os.stat(out / "key.pem").st_mode), 0o600)
        r = self.refmaild("cert", "check", out / "cert.pem")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn(b"CN=mail.test", r.stdout)

        expired = self.dir / "expired"
        self.refmaild("cert", "self-signed", "--cn", "old.test", "--days", "10", "--not-before-days", "-40",
                      "--out", expired)
        self.assertNotEqual(openssl("x509", "-in", expired / "cert.pem", "-noout", "-checkend", "0").returncode, 0)
        r = self.refmaild("cert", "check", expired / "cert.pem")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(b"EXPIRED", r.stdout)

        future = self.dir / "future"
        self.refmaild("cert", "self-signed", "--cn", "new.test", "--not-before-days", "2", "--rsa", "2048",
                      "--out", future)
        r = self.refmaild("cert", "check", future / "cert.pem")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(b"NOT YET VALID", r.stdout)
        self.assertIn("Public-Key: (2048 bit)", openssl("x509", "-in", future / "cert.pem", "-noout", "-text").stdout)

        self.assertEqual(self.refmaild("cert", "check", self.dir / "missing.pem").returncode, 2)
        self.assertNotEqual(self.refmaild("cert", "self-signed", "--cn", "x", "--rsa", "1024", "--out",
                                          self.dir / "bad").returncode, 0)

    def test_ca_and_issued_client_certificate(self):
        ca = self.dir / "ca"
        self.assertEqual(self.refmaild("cert", "ca", "--cn", "Interop Test CA", "--out", ca).returncode, 0)
        r = self.refmaild("cert", "issue", "--ca-dir", ca, "--cn", "client one", "--client", "--out", ca,
                          "--name", "client1")
        self.assertEqual(r.returncode, 0, r.stderr)
        v = openssl("verify", "-CAfile", ca / "ca.pem", "-purpose", "sslclient", ca / "client1.pem")
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # Issued for client use only: not a TLS server certificate.
        v = openssl("verify", "-CAfile", ca / "ca.pem", "-purpose", "sslserver", ca / "client1.pem")
        self.assertNotEqual(v.returncode, 0)
        self.assertTrue((ca / "client1-key.pem").exists())

    # ---- user ----

    def test_user_add_passwd_list_del(self):
        pw = self.dir / "passwd"
        r = self.refmaild("user", "add", "carol@example.test", "--password", "c4rol!", "--file", pw)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(pw).st_mode), 0o600)
        line = next(l for l in pw.read_text().splitlines() if l.startswith("carol@"))
        self.assertTrue(line.startswith("carol@example.test:{SHA512-CRYPT}$6$"), line)
        crypt = line.split("}", 1)[1]
        salt = crypt.split("$")[2]
        self.assertEqual(openssl("passwd", "-6", "-salt", salt, "c4rol!").stdout.strip(), crypt)

        r = self.refmaild("user", "add", "dave@example.test", "--scheme", "PLAIN", "--password-stdin",
                          "--file", pw, stdin=b"from stdin\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dave@example.test:{PLAIN}from stdin", pw.read_text())
        # Adding twice is refused.
        self.assertEqual(self.refmaild("user", "add", "dave@example.test", "--password", "x", "--file",
                                       pw).returncode, 1)

        r = self.refmaild("user", "add", "erin@example.test", "--scheme", "CRAM-MD5", "--file", pw)
        self.assertEqual(r.returncode, 0, r.stderr)
        generated = r.stdout.decode().split(": ")[-1].split()[0]
        self.assertIn(f"erin@example.test:{{CRAM-MD5}}{generated}", pw.read_text())

        # passwd keeps the scheme unless told otherwise.
        self.assertEqual(self.refmaild("user", "passwd", "dave@example.test", "--password", "second",
                                       "--file", pw).returncode, 0)
        self.assertIn("dave@example.test:{PLAIN}second", pw.read_text())
        self.assertEqual(self.refmaild("user", "passwd", "nobody@example.test", "--password", "x", "--file",
                                       pw).returncode, 1)

        r = self.refmaild("user", "list", "--file", pw)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.decode().split("\n"),
                         ["carol@example.test SHA512-CRYPT", "dave@example.test PLAIN",
                          "erin@example.test CRAM-MD5", ""])
        for secret in ("second", generated, salt):
            self.assertNotIn(secret, r.stdout.decode() + r.stderr.decode())

        self.assertEqual(self.refmaild("user", "del", "erin@example.test", "--file", pw).returncode, 0)
        self.assertNotIn("erin@", pw.read_text())
        self.assertEqual(self.refmaild("user", "del", "erin@example.test", "--file", pw).returncode, 1)

    def test_user_edit_refuses_file_with_bad_lines(self):
        pw = self.dir / "passwd"
        pw.write_text("ok@example.test:{PLAIN}pw\nbroken line without scheme\n")
        self.assertEqual(self.refmaild("user", "add", "x@example.test", "--password", "p", "--file", pw).returncode, 1)
        self.assertIn("broken line", pw.read_text(), "a bad line was dropped")

    # ---- configuration and quickstart ----

    def test_check_config(self):
        qs = self.dir / "qs"
        r = self.refmaild("quickstart", qs, "--no-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        for f in ("refmaild.yaml", "tls/cert.pem", "tls/key.pem", "passwd", "credentials"):
            self.assertTrue((qs / f).is_file(), f)
        self.assertEqual(stat.S_IMODE(os.stat(qs / "credentials").st_mode), 0o600)
        creds = dict(l.split() for l in (qs / "credentials").read_text().splitlines())
        self.assertEqual(sorted(creds), sorted(h.USERS))
        self.assertNotEqual(creds[h.USERS[0]], creds[h.USERS[1]])

        r = self.refmaild("--check-config", qs / "refmaild.yaml")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(r.stdout.decode(), f"{qs / 'refmaild.yaml'}: ok\n")

        bad = self.dir / "bad.yaml"
        bad.write_text('listeners:\n  smtp:\n    port: 99999\ntls:\n  min_version: "1.1"\n')
        r = self.refmaild("--check-config", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{bad}:3: error: listeners.smtp.port", r.stdout.decode())
        self.assertIn(f"{bad}:5: error: tls.min_version", r.stdout.decode())
        # Running with it fails before binding anything.
        r = self.refmaild("--config", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"listeners.smtp.port", r.stderr)


if __name__ == "__main__":
    h.main()
