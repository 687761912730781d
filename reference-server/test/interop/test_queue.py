#!/usr/bin/env python3
"""The outbound relay queue, end to end: Python's smtplib submits to refmaild (A), which relays
through its queue to a second refmaild (B, the next hop from A's transport map, STARTTLS required
and verified) or to a scripted fake next hop. Bounces are parsed with Python's email package."""

import smtplib
import subprocess
import time
import uuid

import queue_harness as q
import refmaild_harness as h

ALICE = h.USERS[0]
CAROL, DAVE = q.REMOTE_USERS


def message(subject, sender=ALICE, to=CAROL, extra_body=()):
    marker = f"{subject}-{uuid.uuid4().hex}"
    body = [f"marker {marker}", ".a line that starts with a dot", "..and one with two", *extra_body, "end"]
    data = h.crlf_message(sender, to, marker, body)
    return marker.encode(), data


class relay_test(h.unittest.TestCase):
    """A relays to B (and to fake next hops for 4xx/5xx scripts)."""

    @classmethod
    def setUpClass(cls):
        # fake.test: a next hop that defers the first attempt of every recipient named "flaky*"
        # and refuses "reject*" at RCPT; tls=none.
        cls.seen = {}

        def behaviour(n, stage, arg):
            if stage == "rcpt" and arg.startswith("flaky"):
                count = cls.seen.get(arg, 0)
                cls.seen[arg] = count + 1
                if count == 0:
                    return "451 4.3.0 please try again later"
            if stage == "rcpt" and arg.startswith("reject"):
                return "550 5.7.1 not wanted here"
            return None

        cls.fake = q.fake_smtp(behaviour)
        cls.pair = q.relay_pair(transport_extra=f"fake.test 127.0.0.1:{cls.fake.port} tls=none\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.pair.close()
        cls.fake.close()

    def wait_queue_empty(self, timeout=20):
        q.wait_for(lambda: not q.queued_ids(self.pair.relay), timeout,
                   "the relay's queue to empty:\n" + self.pair.relay.log_tail())

    def test_relayed_message_arrives_at_the_next_hop_over_verified_tls(self):
        marker, data = message("relay")
        refused = self.pair.submit(ALICE, [CAROL], data)
        self.assertEqual(refused, {})
        got = q.wait_for(lambda: self.pair.arrived(CAROL, marker), 20,
                         "the message at the downstream:\n" + self.pair.relay.log_tail())
        self.assertEqual(got, [data], "byte for byte after both Received: headers (dot-stuffing undone)")
        raw = next(iter(v for v in self.pair.downstream.delivered(CAROL).values() if marker in v))
        self.assertTrue(raw.startswith(b"Return-Path: <alice@example.test>\r\nReceived: from localhost"), raw[:200])
        self.wait_queue_empty()
        relay_log = (self.pair.relay.dir / "refmaild.log").read_text()
        self.assertIn("event=queue_delivered", relay_log)
        self.assertRegex(relay_log, r"event=queue_starttls host=127\.0\.0\.1\S+ tls=TLSv1\.[23] verified=yes")
        downstream_log = (self.pair.downstream.dir / "refmaild.log").read_text()
        self.assertRegex(downstream_log, r"event=delivered .*from=<alice@example\.test> rcpts=1 .*tls=TLSv1\.[23]")
        m = q.scrape(self.pair.relay)
        self.assertGreaterEqual(m["refmaild_queue_delivered_total"], 1)
        self.assertGreaterEqual(m["refmaild_queue_enqueued_total"], 1)

    def test_local_and_remote_recipients_in_one_message(self):
        marker, data = message("mixed")
        self.assertEqual(self.pair.submit(ALICE, [CAROL, h.USERS[1], DAVE], data), {})
        self.assertEqual(len(self.pair.relay.find_delivered(h.USERS[1], marker)), 1, "local copy stored at once")
        q.wait_for(lambda: self.pair.arrived(CAROL, marker) and self.pair.arrived(DAVE, marker), 20,
                   "both remote copies:\n" + self.pair.relay.log_tail())
        self.wait_queue_empty()

    def test_unauthenticated_relay_is_refused(self):
        with smtplib.SMTP("127.0.0.1", self.pair.relay.port("smtp"), timeout=10) as s:
            s.ehlo("outsider.test")
            s.mail("someone@outside.test")
            code, text = s.rcpt(CAROL)
            self.assertEqual(code, 554, text)

    def test_temporary_failure_is_retried_then_delivered(self):
        marker, data = message("flaky", to="flaky1@fake.test")
        start = time.monotonic()
        self.assertEqual(self.pair.submit(ALICE, ["flaky1@fake.test"], data), {})
        q.wait_for(lambda: any(marker in m[2] for m in self.fake.messages), 20,
                   "the retried message at the fake next hop:\n" + self.pair.relay.log_tail())
        self.assertGreaterEqual(time.monotonic() - start, 0.9, "the retry waited for queue.retry_min")
        self.assertEqual(self.seen["flaky1@fake.test"], 2, "one refusal, one acceptance")
        log = (self.pair.relay.dir / "refmaild.log").read_text()
        self.assertRegex(log, r"event=queue_deferred id=\w+ to=<flaky1@fake\.test> relay=127\.0\.0\.1 attempt=1 "
                              r"status=4\.3\.0 reply=\"451 please try again later\"")
        self.assertRegex(log, r"event=queue_delivered id=\w+ to=<flaky1@fake\.test> .*attempt=2")
        mail_from, rcpts, got = next(m for m in self.fake.messages if marker in m[2])
        self.assertEqual((mail_from, rcpts), (ALICE, ["flaky1@fake.test"]))
        self.assertEqual(h.strip_received(got, return_path=False), data)
        # The fake next hop offers PIPELINING: MAIL, RCPT and DATA came without waiting in between
        # (their order in the command log is all that can be checked from here).
        self.wait_queue_empty()
        self.assertGreaterEqual(q.scrape(self.pair.relay)["refmaild_queue_deferred_total"], 1)

    def test_permanent_failure_sends_one_dsn_to_the_local_sender(self):
        marker, data = message("bounce")
        before = set(self.pair.relay.delivered(ALICE))
        self.assertEqual(self.pair.submit(ALICE, [CAROL, "nobody@remote.test", "reject9@fake.test"], data), {})
        q.wait_for(lambda: self.pair.arrived(CAROL, marker), 20, "the good copy:\n" + self.pair.relay.log_tail())
        new = q.wait_for(lambda: [v for k, v in self.pair.relay.delivered(ALICE).items() if k not in before], 20,
                         "the DSN in alice's Maildir:\n" + self.pair.relay.log_tail())
        self.assertEqual(len(new), 1, "one DSN for the message, listing both failed recipients")
        msg, groups, headers = q.dsn_parts(new[0])
        self.assertEqual(msg["To"].addresses[0].addr_spec, ALICE)
        self.assertIn("MAILER-DAEMON@localhost", msg["From"])
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        per_message = dict(groups[0])
        self.assertEqual(per_message["Reporting-MTA"], "dns; localhost")
        self.assertIn("Arrival-Date", per_message)
        recipients = {dict(g)["Final-Recipient"]: dict(g) for g in groups[1:]}
        self.assertEqual(set(recipients), {"rfc822; nobody@remote.test", "rfc822; reject9@fake.test"})
        nobody = recipients["rfc822; nobody@remote.test"]
        self.assertEqual(nobody["Action"], "failed")
        self.assertEqual(nobody["Status"], "5.1.1")
        self.assertEqual(nobody["Remote-MTA"], "dns; 127.0.0.1")
        self.assertTrue(nobody["Diagnostic-Code"].startswith("smtp; 550 5.1.1"), nobody["Diagnostic-Code"])
        rejected = recipients["rfc822; reject9@fake.test"]
        self.assertEqual(rejected["Status"], "5.7.1")
        self.assertEqual(rejected["Diagnostic-Code"], "smtp; 550 5.7.1 not wanted here")
        self.assertIn(f"Subject: {marker.decode()}", headers)
        self.assertNotIn(b".a line that starts with a dot", new[0], "headers only, no body")
        self.wait_queue_empty()
        self.assertGreaterEqual(q.scrape(self.pair.relay)["refmaild_queue_bounced_total"], 2)

    def test_failure_with_null_sender_is_never_bounced(self):
        # A message from ghost@remote.test (no such user at B) fails; its DSN goes to
        # ghost@remote.test with the null sender and fails too; that failure bounces to nobody.
        marker, data = message("double-bounce", sender="ghost@remote.test")
        before_alice = set(self.pair.relay.delivered(ALICE))
        key = 'refmaild_queue_dsn_total{result="suppressed_null_sender"}'
        suppressed = q.scrape(self.pair.relay)[key]
        self.assertEqual(self.pair.submit("ghost@remote.test", ["nobody@remote.test"], data), {})
        q.wait_for(lambda: q.scrape(self.pair.relay)[key] > suppressed, 20,
                   "the suppressed second bounce:\n" + self.pair.relay.log_tail())
        self.wait_queue_empty()
        log = (self.pair.relay.dir / "refmaild.log").read_text()
        self.assertRegex(log, r"event=queue_dsn id=\w+ to=<ghost@remote\.test> delivery=queued")
        self.assertRegex(log, r"event=queue_bounced id=\w+ to=<ghost@remote\.test> .*status=5\.1\.1")
        self.assertRegex(log, r"event=queue_dsn_suppressed id=\w+ reason=\"null sender\"")
        self.assertEqual(set(self.pair.relay.delivered(ALICE)), before_alice)
        self.assertEqual(self.pair.downstream.delivered("ghost@remote.test"), {})

    def test_bounce_to_a_remote_sender_is_queued_with_the_null_sender(self):
        marker, data = message("remote-bounce", sender=DAVE)
        before = set(self.pair.downstream.delivered(DAVE))
        self.assertEqual(self.pair.submit(DAVE, ["nobody@remote.test"], data), {})
        new = q.wait_for(lambda: [v for k, v in self.pair.downstream.delivered(DAVE).items() if k not in before], 20,
                         "the DSN at dave's downstream Maildir:\n" + self.pair.relay.log_tail())
        self.assertEqual(len(new), 1)
        dsn = h.strip_received(new[0])
        msg, groups, headers = q.dsn_parts(dsn)
        self.assertEqual(dict(groups[1])["Final-Recipient"], "rfc822; nobody@remote.test")
        self.assertIn(marker.decode(), headers)
        self.assertRegex((self.pair.downstream.dir / "refmaild.log").read_text(), r"event=delivered .*from=<> rcpts=1")
        self.assertRegex((self.pair.relay.dir / "refmaild.log").read_text(), r"event=queue_dsn .*to=<dave@remote\.test> delivery=queued")
        self.wait_queue_empty()


class mx_test(h.unittest.TestCase):
    """Next hops from MX records, served by a scripted DNS server (queue.dns_server); every MX
    host is reached on the fake next hop's port (queue.mx_port)."""

    @classmethod
    def setUpClass(cls):
        cls.fake = q.fake_smtp()
        cls.dns = q.fake_dns({
            # Preference 10 first: 127.0.0.2 refuses (nothing listens there), then localhost.
            "mx.test": [(20, "localhost"), (10, "127.0.0.2")],
            "nx.test": 3,
            "nullmx.test": [(0, "")],
            "servfail.test": 2,
        })
        cls.pair = q.relay_pair(queue_settings=f"dns_server: 127.0.0.1:{cls.dns.port}\nmx_port: {cls.fake.port}\n"
                                               "default_tls: opportunistic").start()

    @classmethod
    def tearDownClass(cls):
        cls.pair.close()
        cls.dns.close()
        cls.fake.close()

    def log(self):
        return (self.pair.relay.dir / "refmaild.log").read_text()

    def test_mx_hosts_are_tried_in_preference_order(self):
        marker, data = message("mx", to="someone@mx.test")
        self.assertEqual(self.pair.submit(ALICE, ["someone@mx.test"], data), {})
        q.wait_for(lambda: any(marker in m[2] for m in self.fake.messages), 20, "delivery via MX:\n" + self.log())
        self.assertIn("mx.test", self.dns.queries)
        log = self.log()
        failed = log.find("event=queue_host_failed id=")
        delivered = log.find("event=queue_delivered id=", failed)
        self.assertGreaterEqual(failed, 0, log)
        self.assertIn("host=127.0.0.2", log[failed:log.find("\n", failed)])
        self.assertRegex(log[delivered:], r"^event=queue_delivered id=\w+ to=<someone@mx\.test> relay=localhost ")

    def test_domain_without_mx_uses_its_own_address(self):
        marker, data = message("implicit", to="user@localhost")
        self.assertEqual(self.pair.submit(ALICE, ["user@localhost"], data), {})
        got = q.wait_for(lambda: [m for m in self.fake.messages if marker in m[2]], 20, "implicit MX:\n" + self.log())
        self.assertEqual(got[0][1], ["user@localhost"])
        self.assertIn("localhost", self.dns.queries)

    def test_nxdomain_and_null_mx_bounce(self):
        before = set(self.pair.relay.delivered(ALICE))
        marker, data = message("nxdomain", to="a@nx.test")
        self.assertEqual(self.pair.submit(ALICE, ["a@nx.test", "b@nullmx.test"], data), {})
        new = q.wait_for(lambda: [v for k, v in self.pair.relay.delivered(ALICE).items() if k not in before], 20,
                         "the DSN:\n" + self.log())
        msg, groups, headers = q.dsn_parts(new[0])
        by_rcpt = {dict(g)["Final-Recipient"]: dict(g) for g in groups[1:]}
        nx = by_rcpt["rfc822; a@nx.test"]
        self.assertEqual(nx["Status"], "5.1.2")
        self.assertTrue(nx["Diagnostic-Code"].startswith("X-refmaild; MX lookup for nx.test: domain does not exist"),
                        nx["Diagnostic-Code"])
        self.assertNotIn("Remote-MTA", nx)
        null = by_rcpt["rfc822; b@nullmx.test"]
        self.assertEqual(null["Status"], "5.1.10")
        self.assertIn("null MX", null["Diagnostic-Code"])

    def test_dns_trouble_defers(self):
        marker, data = message("servfail", to="c@servfail.test")
        self.assertEqual(self.pair.submit(ALICE, ["c@servfail.test"], data), {})
        q.wait_for(lambda: "to=<c@servfail.test> relay=none attempt=1 status=4.4.3" in self.log(), 20,
                   "a DNS deferral:\n" + self.log())


class expiry_test(h.unittest.TestCase):
    """A next hop that always answers 4xx: the message expires after queue.max_lifetime."""

    def setUp(self):
        self.fake = q.fake_smtp(lambda n, stage, arg: "452 4.2.2 mailbox full" if stage == "rcpt" else None)
        self.addCleanup(self.fake.close)
        self.pair = q.relay_pair(queue_settings="max_lifetime: 3s",
                                 transport_extra=f"slow.test 127.0.0.1:{self.fake.port} tls=opportunistic\n").start()
        self.addCleanup(self.pair.close)

    def test_expired_message_bounces_with_the_last_temporary_status(self):
        marker, data = message("expiry", to="x@slow.test")
        start = time.monotonic()
        self.assertEqual(self.pair.submit(ALICE, ["x@slow.test"], data), {})
        dsn = q.wait_for(lambda: list(self.pair.relay.delivered(ALICE).values()), 30,
                         "the expiry DSN:\n" + self.pair.relay.log_tail())
        self.assertGreaterEqual(time.monotonic() - start, 2.5, "not before max_lifetime")
        self.assertGreaterEqual(self.fake.connections, 2, "retried before giving up")
        msg, groups, headers = q.dsn_parts(dsn[0])
        r = dict(groups[1])
        self.assertEqual(r["Final-Recipient"], "rfc822; x@slow.test")
        self.assertEqual(r["Action"], "failed")
        self.assertEqual(r["Status"], "4.2.2")
        self.assertEqual(r["Diagnostic-Code"], "smtp; 452 4.2.2 mailbox full")
        self.assertIn("gave up", msg.get_body(("plain",)).get_content())
        q.wait_for(lambda: not q.queued_ids(self.pair.relay), 10, "the queue to empty")
        log = (self.pair.relay.dir / "refmaild.log").read_text()
        self.assertIn("event=queue_expired", log)


class tls_test(h.unittest.TestCase):
    def test_required_tls_with_an_untrusted_certificate_is_deferred_not_sent(self):
        pair = q.relay_pair(ca="relay")  # verify against the relay's own certificate: wrong CA
        self.addCleanup(pair.close)
        pair.start()
        marker, data = message("untrusted")
        self.assertEqual(pair.submit(ALICE, [CAROL], data), {})
        log = q.wait_for(lambda: "event=queue_deferred" in (pair.relay.dir / "refmaild.log").read_text()
                         and (pair.relay.dir / "refmaild.log").read_text(), 20, "a deferral:\n" + pair.relay.log_tail())
        self.assertRegex(log, r"TLS handshake with .* failed: .*certificate verify failed")
        self.assertEqual(pair.arrived(CAROL, marker), [])
        self.assertEqual(len(q.queued_ids(pair.relay)), 1, "still queued")


class recovery_test(h.unittest.TestCase):
    def test_unreadable_envelope_is_moved_aside_at_start_and_the_rest_is_delivered(self):
        pair = q.relay_pair()
        self.addCleanup(pair.close)
        spool = q.spool_dir(pair.relay)
        spool.mkdir(parents=True)
        (spool / "BADBAD.env").write_bytes(b"refmaild-queue-envelope 1\nid BADBAD\ncreated yesterday\n")
        (spool / "BADBAD.msg").write_bytes(b"Subject: lost\r\n\r\nx\r\n")
        (spool / "HALF.msg.tmp").write_bytes(b"interrupted write")
        pair.start()
        self.assertTrue((spool / "corrupt" / "BADBAD.env").exists())
        self.assertTrue((spool / "corrupt" / "BADBAD.msg").exists())
        self.assertFalse((spool / "HALF.msg.tmp").exists())
        log = (pair.relay.dir / "refmaild.log").read_text()
        self.assertRegex(log, r"event=queue_recover file=BADBAD\.env problem=\"malformed envelope field; moved to corrupt/\"")
        marker, data = message("after-recovery")
        self.assertEqual(pair.submit(ALICE, [CAROL], data), {})
        q.wait_for(lambda: pair.arrived(CAROL, marker), 20, "delivery after recovery:\n" + pair.relay.log_tail())


class cli_test(h.unittest.TestCase):
    """refmaild queue list | flush | delete against a running relay."""

    def setUp(self):
        self.accept = False
        self.fake = q.fake_smtp(lambda n, stage, arg: None if self.accept or stage != "greeting"
                                else "421 4.3.2 not now")
        self.addCleanup(self.fake.close)
        # retry_min 1h: nothing is retried unless flushed.
        self.pair = q.relay_pair(queue_settings="retry_min: 1h\nretry_max: 2h",
                                 transport_extra=f"later.test 127.0.0.1:{self.fake.port} tls=none\n").start()
        self.addCleanup(self.pair.close)
        self.config = str(self.pair.relay.config)

    def cli(self, *args, check=True):
        r = subprocess.run([h.REFMAILD, "queue", *args, "--config", self.config], capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"refmaild queue {' '.join(args)} exited {r.returncode}:\n{r.stdout.decode()}{r.stderr.decode()}")
        return r

    def test_list_delete_flush(self):
        markers = []
        for i in range(2):
            marker, data = message(f"cli{i}", to=f"user{i}@later.test")
            self.assertEqual(self.pair.submit(ALICE, [f"user{i}@later.test"], data), {})
            markers.append(marker)
        # Both attempted once (greeting 421) and deferred for an hour.
        q.wait_for(lambda: (self.pair.relay.dir / "refmaild.log").read_text().count("event=queue_deferred") >= 2, 20,
                   "two deferrals:\n" + self.pair.relay.log_tail())
        ids = q.queued_ids(self.pair.relay)
        self.assertEqual(len(ids), 2)

        out = self.cli("list").stdout.decode()
        for i, qid in enumerate(ids):
            self.assertIn(qid, out)
        self.assertIn("<alice@example.test>", out)
        self.assertIn("user0@later.test", out)
        self.assertIn("pending", out)
        self.assertIn("421", out, "the last reply is listed")
        self.assertIn("2 messages", out)

        deleted = None
        for qid in ids:
            if b"user0@later.test" in (q.spool_dir(self.pair.relay) / f"{qid}.env").read_bytes():
                deleted = qid
        out = self.cli("delete", deleted).stdout.decode()
        self.assertIn(deleted, out)
        self.assertEqual(q.queued_ids(self.pair.relay), [i for i in ids if i != deleted])
        self.assertFalse((q.spool_dir(self.pair.relay) / f"{deleted}.msg").exists())
        r = self.cli("delete", deleted, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"no such message", r.stderr)
        r = self.cli("delete", "../../etc/passwd", check=False)
        self.assertNotEqual(r.returncode, 0)

        self.accept = True
        self.cli("flush")
        q.wait_for(lambda: any(markers[1] in m[2] for m in self.fake.messages), 10,
                   "the flushed message:\n" + self.pair.relay.log_tail())
        q.wait_for(lambda: not q.queued_ids(self.pair.relay), 10, "the queue to empty")
        self.assertFalse(any(markers[0] in m[2] for m in self.fake.messages), "the deleted message was never sent")
        self.assertIn("0 messages", self.cli("list").stdout.decode())

    def test_list_works_without_a_running_server(self):
        marker, data = message("offline", to="someone@later.test")
        self.assertEqual(self.pair.submit(ALICE, ["someone@later.test"], data), {})
        q.wait_for(lambda: "event=queue_deferred" in (self.pair.relay.dir / "refmaild.log").read_text(), 20, "a deferral")
        self.pair.relay.stop()
        out = self.cli("list").stdout.decode()
        self.assertIn("someone@later.test", out)
        self.assertIn("1 message", out)


if __name__ == "__main__":
    h.main()
