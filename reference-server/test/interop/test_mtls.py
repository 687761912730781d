#!/usr/bin/env python3
"""Mutual TLS: with tls.client_cert: required, a client must present a certificate issued by the
configured CA (made with `refmaild cert ca` / `cert issue --client`); without one, or with one from
another CA, the handshake fails. Optional mode lets certificate-less clients in."""

import re
import smtplib
import ssl

import refmaild_harness as h


class mtls_test(h.unittest.TestCase):
    def make_server(self, mode):
        server = h.refmaild_server()
        d = server.dir
        h.run_refmaild("cert", "ca", "--cn", "Interop Client CA", "--out", d / "ca")
        h.run_refmaild("cert", "issue", "--ca-dir", d / "ca", "--cn", "client.interop.test", "--client",
                       "--out", d / "client", "--name", "client")
        h.run_refmaild("cert", "ca", "--cn", "Rogue CA", "--out", d / "rogue")
        h.run_refmaild("cert", "issue", "--ca-dir", d / "rogue", "--cn", "rogue.interop.test", "--client",
                       "--out", d / "rogue", "--name", "client")
        text = server.config.read_text()
        text = re.sub(r"(  key_file: tls/key.pem\n)",
                      rf"\1  ca_file: {d / 'ca' / 'ca.pem'}\n  client_cert: {mode}\n", text, count=1)
        self.assertIn(f"client_cert: {mode}", text)
        server.config.write_text(text)
        server.start()
        self.addCleanup(server.close)
        return server

    def context(self, server, cert_dir=None):
        ctx = server.tls_context()
        if cert_dir is not None:
            ctx.load_cert_chain(str(cert_dir / "client.pem"), str(cert_dir / "client-key.pem"))
        return ctx

    def ehlo_over_smtps(self, server, ctx):
        with smtplib.SMTP_SSL("localhost", server.port("smtps"), context=ctx, timeout=10) as s:
            code, _ = s.ehlo("client.interop.test")
            return code

    def test_required_accepts_issued_certificate(self):
        server = self.make_server("required")
        self.assertEqual(self.ehlo_over_smtps(server, self.context(server, server.dir / "client")), 250)
        # STARTTLS on the plain port too.
        with smtplib.SMTP("localhost", server.port("smtp"), timeout=10) as s:
            s.starttls(context=self.context(server, server.dir / "client"))
            self.assertEqual(s.ehlo("client.interop.test")[0], 250)

    def test_required_refuses_missing_or_foreign_certificate(self):
        server = self.make_server("required")
        for cert_dir in (None, server.dir / "rogue"):
            with self.subTest(cert=str(cert_dir)):
                with self.assertRaises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
                    self.ehlo_over_smtps(server, self.context(server, cert_dir))

    def test_optional_lets_clients_without_certificate_in(self):
        server = self.make_server("optional")
        self.assertEqual(self.ehlo_over_smtps(server, self.context(server)), 250)
        self.assertEqual(self.ehlo_over_smtps(server, self.context(server, server.dir / "client")), 250)
        with self.assertRaises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            self.ehlo_over_smtps(server, self.context(server, server.dir / "rogue"))


if __name__ == "__main__":
    h.main()
