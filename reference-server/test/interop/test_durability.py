#!/usr/bin/env python3
"""kill -9 durability: every message refmaild acknowledged with 250 is in the Maildir after a
SIGKILL and a restart, byte for byte, and nothing half-written ever appears in new/.

Each cycle: 4 client threads send as fast as they can (smtplib, MX port, local recipients); after
a random 0.2-1.0 s the server gets SIGKILL; it is restarted and the store is checked.
DURABILITY_CYCLES (default 20) and DURABILITY_SEED change the run; scripts/durability-soak runs
many cycles.
"""

import os
import random
import re
import smtplib
import sys
import threading
import time
import uuid

import refmaild_harness as h

CYCLES = int(os.environ.get("DURABILITY_CYCLES", "20"))
THREADS = 4
MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>\r$", re.M | re.I)


class sender(threading.Thread):
    """Sends messages back to back until told to stop or the server goes away."""

    def __init__(self, port, cycle, index, rng_seed, sent, acked, lock):
        super().__init__(daemon=True)
        self.port, self.cycle, self.index = port, cycle, index
        self.rng = random.Random(rng_seed)
        self.sent, self.acked, self.lock = sent, acked, lock
        self.stop = threading.Event()
        self.error = None

    def message(self, n):
        msg_id = f"dur-{self.cycle}-{self.index}-{n}-{uuid.uuid4().hex}@interop.test"
        rcpt = h.USERS[n % 2]
        # Sizes from one line to ~64 KiB, so some messages take several writes to store.
        body = [f"{msg_id} line {i:05d} " + "x" * self.rng.randrange(10, 70)
                for i in range(self.rng.choice([1, 20, 200, 1000]))]
        data = h.CRLF.join([f"From: <sender{self.index}@remote.test>".encode(), f"To: <{rcpt}>".encode(),
                            f"Subject: durability {msg_id}".encode(), f"Message-ID: <{msg_id}>".encode(), b"",
                            *(line.encode() for line in body)]) + h.CRLF
        return msg_id, rcpt, data

    def run(self):
        n = 0
        try:
            with smtplib.SMTP("127.0.0.1", self.port, local_hostname="durability.test", timeout=10) as s:
                while not self.stop.is_set():
                    msg_id, rcpt, data = self.message(n)
                    n += 1
                    with self.lock:
                        self.sent[msg_id] = (rcpt, data)
                    refused = s.sendmail(f"sender{self.index}@remote.test", [rcpt], data)
                    if refused:
                        self.error = f"{msg_id} refused: {refused}"
                        return
                    with self.lock:
                        self.acked[msg_id] = (rcpt, data)
        except (smtplib.SMTPException, OSError):
            pass  # the server was killed under us: expected
        except Exception as e:  # anything else is a test bug or a protocol surprise
            self.error = repr(e)


class durability_test(h.unittest.TestCase):
    def setUp(self):
        self.server = h.refmaild_server()
        self.addCleanup(self.server.close)
        self.sent, self.acked, self.lock = {}, {}, threading.Lock()
        self.checked = {}  # file path -> message id: new/ files are immutable, read each once

    def load_then(self, cycle, rng, seconds, end):
        """Runs the client threads for `seconds`, calls end() (kill or stop the server), and
        checks that the clients finished and that the cycle acknowledged something."""
        acked_before = len(self.acked)
        threads = [sender(self.server.port("smtp"), cycle, i, rng.random(), self.sent, self.acked, self.lock)
                   for i in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        result = end()
        for t in threads:
            t.stop.set()
        for t in threads:
            t.join(15)
            self.assertFalse(t.is_alive(), f"cycle {cycle}: a client thread hangs after the server went away")
            self.assertIsNone(t.error, f"cycle {cycle}: {t.error}")
        self.assertGreater(len(self.acked), acked_before,
                           f"cycle {cycle}: nothing acknowledged before the end:\n" + self.server.log_tail())
        return result

    def test_acknowledged_messages_survive_sigkill(self):
        seed = int(os.environ.get("DURABILITY_SEED", str(time.time_ns())))
        print(f"\ndurability: {CYCLES} cycles, seed {seed} (DURABILITY_SEED={seed} repeats it)", file=sys.stderr)
        rng = random.Random(seed)
        self.server.start()
        for cycle in range(CYCLES):
            t0 = time.monotonic()
            self.load_then(cycle, rng, rng.uniform(0.2, 1.0), self.server.kill)
            self.server.start()
            stored = self.verify_store(self.server, self.sent, self.acked, self.checked, cycle)
            print(f"durability: cycle {cycle}: {len(self.sent)} sent, {len(self.acked)} acknowledged, {stored} stored "
                  f"({time.monotonic() - t0:.1f}s)", file=sys.stderr)
        self.assertEqual(self.server.stop(), 0, "refmaild did not exit 0 on SIGTERM:\n" + self.server.log_tail())

    def test_sigterm_under_load(self):
        # A graceful stop in the middle of deliveries: a prompt clean exit, nothing acknowledged lost.
        rng = random.Random(1)
        self.server.start()
        for cycle in range(3):
            t0 = time.monotonic()
            code = self.load_then(cycle, rng, 0.5, lambda: self.server.stop(timeout=10))
            self.assertEqual(code, 0, f"cycle {cycle}: exit {code} on SIGTERM under load:\n" + self.server.log_tail())
            self.assertLess(time.monotonic() - t0, 8, f"cycle {cycle}: SIGTERM took too long")
            self.server.start()
            self.verify_store(self.server, self.sent, self.acked, self.checked, cycle)

    def verify_store(self, server, sent, acked, checked, cycle):
        """Checks every new/ file and every acknowledged message; returns how many are stored."""
        by_id = {}
        for user in h.USERS:
            new_dir = server.new_dir(user)
            for path in (new_dir.iterdir() if new_dir.is_dir() else []):
                if path in checked:
                    msg_id = checked[path]
                else:
                    data = h.strip_received(path.read_bytes())
                    m = MESSAGE_ID.search(data)
                    self.assertIsNotNone(m, f"cycle {cycle}: {path} has no Message-ID (partial file?)")
                    msg_id = m.group(1).decode()
                    self.assertIn(msg_id, sent, f"cycle {cycle}: {path} is no message we sent")
                    rcpt, expected = sent[msg_id]
                    self.assertEqual(rcpt, user, f"cycle {cycle}: {msg_id} stored for the wrong user")
                    self.assertEqual(data, expected, f"cycle {cycle}: {path} differs from what was sent")
                    checked[path] = msg_id
                by_id.setdefault(msg_id, []).append(path)
        duplicates = {i: p for i, p in by_id.items() if len(p) > 1}
        self.assertEqual(duplicates, {}, f"cycle {cycle}: messages stored twice")
        lost = sorted(set(acked) - set(by_id))
        self.assertEqual(lost, [], f"cycle {cycle}: {len(lost)} acknowledged messages lost")
        return len(by_id)


if __name__ == "__main__":
    h.main()
