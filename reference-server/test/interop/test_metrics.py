#!/usr/bin/env python3
"""The Prometheus endpoint, read with urllib: counters move with real traffic, the certificate
gauge is there, and other paths get 404."""

import smtplib
import urllib.error
import urllib.request

import refmaild_harness as h

ALICE, BOB = h.USERS


class metrics_test(h.unittest.TestCase):
    def setUp(self):
        self.server = h.refmaild_server().start()
        self.addCleanup(self.server.close)

    def scrape(self):
        url = f"http://127.0.0.1:{self.server.port('metrics')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def test_counters_follow_traffic(self):
        before = self.scrape()
        self.assertEqual(before["refmaild_messages_accepted_total"], 0)
        self.assertGreater(before["refmaild_tls_certificate_days_left"], 25)
        with smtplib.SMTP("localhost", self.server.port("submission"), timeout=10) as s:
            s.starttls(context=self.server.tls_context())
            s.login(ALICE, self.server.passwords[ALICE])
            for i in range(3):
                s.sendmail(ALICE, [BOB], f"Subject: m{i}\r\n\r\nbody\r\n")
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail(ALICE, ["nobody@example.test"], "Subject: x\r\n\r\nx\r\n")
        after = self.scrape()
        self.assertEqual(after["refmaild_messages_accepted_total"], 3)
        self.assertEqual(after['refmaild_connections_total{listener="submission"}'], 1)
        self.assertEqual(after['refmaild_recipients_rejected_total{reason="unknown_user"}'], 1)
        self.assertEqual(after['refmaild_tls_handshakes_total{result="success"}'], 1)
        self.assertEqual(after["refmaild_delivery_latency_seconds_count"], 3)
        self.assertEqual(after['refmaild_delivery_latency_seconds_bucket{le="+Inf"}'], 3)

    def test_unknown_path_is_404(self):
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{self.server.port('metrics')}/other", timeout=10)
        self.assertEqual(e.exception.code, 404)


if __name__ == "__main__":
    h.main()
