#!/usr/bin/env python3
"""kill -9 of a relaying refmaild during queue delivery loses no acknowledged message.

A relay (A) and its next hop (B) as in test_queue.py. Each cycle, client threads submit to A
(AUTH, recipient carol@remote.test) as fast as they can while A's queue delivers to B; after a
random 0.3-1.2 s A gets SIGKILL and is restarted. After the last cycle A drains its queue, and
every message A acknowledged with 250 must have arrived at B at least once, byte for byte.
Delivery is at least once (RFC 5321 6.1): a message B accepted just before the kill, whose
envelope A had not yet updated, is sent again after the restart; duplicates are counted and
reported, not failed. QUEUE_DURABILITY_CYCLES (default 6) and QUEUE_DURABILITY_SEED change the run.
"""

import os
import random
import re
import smtplib
import sys
import threading
import time
import uuid

import queue_harness as q
import refmaild_harness as h

CYCLES = int(os.environ.get("QUEUE_DURABILITY_CYCLES", "6"))
THREADS = 3
CAROL = q.REMOTE_USERS[0]
MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>\r$", re.M | re.I)


class sender(threading.Thread):
    def __init__(self, pair, cycle, index, seed, sent, acked, lock):
        super().__init__(daemon=True)
        self.pair, self.cycle, self.index = pair, cycle, index
        self.rng = random.Random(seed)
        self.sent, self.acked, self.lock = sent, acked, lock
        self.stop = threading.Event()
        self.error = None

    def run(self):
        n = 0
        try:
            with smtplib.SMTP("localhost", self.pair.relay.port("submission"), timeout=10) as s:
                s.starttls(context=self.pair.relay.tls_context())
                s.login(q.ALICE, self.pair.relay.passwords[q.ALICE])
                while not self.stop.is_set():
                    msg_id = f"qdur-{self.cycle}-{self.index}-{n}-{uuid.uuid4().hex}@interop.test"
                    n += 1
                    body = [f"{msg_id} line {i:04d} " + "y" * self.rng.randrange(10, 70)
                            for i in range(self.rng.choice([1, 30, 300]))]
                    body.append(".dot-stuffed line")
                    lines = [f"From: <{q.ALICE}>", f"To: <{CAROL}>", f"Subject: queue durability {n}",
                             f"Message-ID: <{msg_id}>", "", *body]
                    data = h.CRLF.join(line.encode() for line in lines) + h.CRLF
                    with self.lock:
                        self.sent[msg_id] = data
                    if s.sendmail(q.ALICE, [CAROL], data):
                        self.error = f"{msg_id} refused"
                        return
                    with self.lock:
                        self.acked[msg_id] = data
        except (smtplib.SMTPException, OSError):
            pass  # the relay was killed under us: expected
        except Exception as e:
            self.error = repr(e)


class queue_durability_test(h.unittest.TestCase):
    def test_no_acknowledged_message_is_lost_across_sigkill(self):
        seed = int(os.environ.get("QUEUE_DURABILITY_SEED", str(time.time_ns())))
        print(f"\nqueue durability: {CYCLES} cycles, seed {seed} (QUEUE_DURABILITY_SEED={seed} repeats it)",
              file=sys.stderr)
        rng = random.Random(seed)
        pair = q.relay_pair().start()
        self.addCleanup(pair.close)
        sent, acked, lock = {}, {}, threading.Lock()
        queued_at_kill = []
        for cycle in range(CYCLES):
            t0 = time.monotonic()
            acked_before = len(acked)
            threads = [sender(pair, cycle, i, rng.random(), sent, acked, lock) for i in range(THREADS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.2))
            pair.relay.kill()
            queued_at_kill.append(len(q.queued_ids(pair.relay)))
            for t in threads:
                t.stop.set()
            for t in threads:
                t.join(15)
                self.assertFalse(t.is_alive(), f"cycle {cycle}: a client thread hangs")
                self.assertIsNone(t.error, f"cycle {cycle}: {t.error}")
            self.assertGreater(len(acked), acked_before, f"cycle {cycle}: nothing acknowledged:\n" + pair.relay.log_tail())
            pair.relay.start()
            print(f"queue durability: cycle {cycle}: {len(acked)} acknowledged so far, {queued_at_kill[-1]} queued "
                  f"at the kill ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
        self.assertGreater(max(queued_at_kill), 0, "no kill hit a non-empty queue; the test proved nothing")

        q.wait_for(lambda: not q.queued_ids(pair.relay), 90, "the relay to drain its queue:\n" + pair.relay.log_tail(),
                   interval=0.2)
        arrived = {}
        for data in pair.downstream.delivered(CAROL).values():
            body = q.strip_received_headers(data, 2)
            m = MESSAGE_ID.search(body)
            self.assertIsNotNone(m, f"an arrived message without Message-ID: {body[:200]!r}")
            msg_id = m.group(1).decode()
            self.assertIn(msg_id, sent, "a message nobody sent")
            self.assertEqual(body, sent[msg_id], f"{msg_id} arrived altered")
            arrived[msg_id] = arrived.get(msg_id, 0) + 1
        lost = sorted(set(acked) - set(arrived))
        duplicates = sum(n - 1 for n in arrived.values())
        print(f"queue durability: {len(acked)} acknowledged, {len(arrived)} distinct arrived, {duplicates} duplicates "
              f"(at-least-once window), {len(set(sent) - set(acked))} unacknowledged sends", file=sys.stderr)
        self.assertEqual(lost, [], f"{len(lost)} acknowledged messages never arrived")
        self.assertEqual(pair.relay.stop(), 0, "the relay did not exit 0 on SIGTERM:\n" + pair.relay.log_tail())


if __name__ == "__main__":
    h.main()
