#!/usr/bin/env python3
"""kill -9 of refmaild in the middle of POP3 sessions: during the RETR of a large message,
between DELE and QUIT, while the maildrop is being opened (new/ -> cur/, dovecot-uidlist
written), and in the UPDATE state (many DELEs, then QUIT, then SIGKILL after a random 0-15 ms).

After each restart:
  - no message that was not marked for deletion is lost, and each is byte-identical;
  - a message whose session got "+OK" to QUIT is gone; marked messages of a session killed
    before that reply may or may not be gone (RFC 1939 section 6 allows either);
  - nothing appears twice and nothing unknown appears;
  - the maildrop is readable: a fresh POP3 session logs in, STAT/LIST agree with the files,
    every message retrieves byte for byte, and survivors keep their UIDL.

POP3_DURABILITY_CYCLES (default 10) and POP3_DURABILITY_SEED change the run.
"""

import os
import random
import re
import smtplib
import sys
import time

import pop3_harness as p3
import refmaild_harness as h

CYCLES = int(os.environ.get("POP3_DURABILITY_CYCLES", "10"))
MAILBOX_SIZE = 60
MARKER = re.compile(rb"^Message-ID: <([^@>]+)@interop\.test>\r$", re.M | re.I)


class pop3_durability_test(h.unittest.TestCase):
    def setUp(self):
        self.server = h.refmaild_server().add_config("smtp:\n  max_message_size: 64M\n")
        self.addCleanup(self.server.close)
        self.user = h.USERS[0]
        self.server.start()
        self.contents = {}   # marker -> stored bytes (as first seen in the store)
        self.uidl = {}       # marker -> UIDL, once a session has listed it
        self.seed = int(os.environ.get("POP3_DURABILITY_SEED", str(time.time_ns())))
        self.rng = random.Random(self.seed)

    # ---- helpers ----

    def deliver(self, count, big=False):
        markers = []
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp"), local_hostname="dur.interop.test", timeout=60) as s:
            for _ in range(count):
                marker = p3.unique("pdur")
                if big:
                    body = [f"{i:08d} " + "z" * 90 for i in range(240_000)]  # ~24 MB
                else:
                    body = [f"{marker} {i:04d} " + "q" * self.rng.randrange(0, 200)
                            for i in range(self.rng.choice([1, 10, 100]))] + [".", ".."]
                self.assertEqual(s.sendmail("sender@remote.test", [self.user],
                                            p3.simple_message(self.user, marker, body_lines=body)), {})
                markers.append(marker)
        for m in markers:
            self.contents[m] = p3.stored(self.server, self.user, m)
        return markers

    def store_by_marker(self):
        """{marker: bytes} of the Maildir; fails on a file twice or an unknown one."""
        out = {}
        for path, data in p3.stored_files(self.server, self.user).items():
            m = MARKER.search(data)
            self.assertIsNotNone(m, f"{path.name}: not one of ours: {data[:200]!r}")
            marker = m.group(1).decode()
            self.assertNotIn(marker, out, f"{marker} stored twice (e.g. in new/ and cur/)")
            out[marker] = data
        return out

    def kill_and_restart(self):
        self.server.kill()
        self.server.start()

    def verify(self, what, must_stay, must_go=(), may_go=()):
        """Checks the store and a fresh POP3 session after a restart; returns the markers present."""
        store = self.store_by_marker()
        for m in must_stay:
            self.assertIn(m, store, f"{what}: unmarked message {m} lost")
            self.assertEqual(store[m], self.contents[m], f"{what}: {m} changed")
        for m in must_go:
            self.assertNotIn(m, store, f"{what}: {m} still there after +OK to QUIT")
        unexpected = set(store) - set(must_stay) - set(may_go)
        self.assertEqual(unexpected, set(), f"{what}: messages neither kept nor marked")
        p = p3.login(self.server, self.user)
        try:
            count, size = p.stat()
            self.assertEqual((count, size), (len(store), sum(map(len, store.values()))), f"{what}: STAT")
            listing = [int(l.split()[1]) for l in p.list()[1]]
            uidls = [l.split()[1].decode() for l in p.uidl()[1]]
            self.assertEqual(len(set(uidls)), count, f"{what}: duplicate UIDLs")
            for n in range(1, count + 1):
                _, data = p3.retr_bytes(p, n)
                marker = MARKER.search(data).group(1).decode()
                self.assertEqual(data, store[marker], f"{what}: RETR {n} differs from the file")
                self.assertEqual(listing[n - 1], len(data))
                if marker in self.uidl:
                    self.assertEqual(uidls[n - 1], self.uidl[marker], f"{what}: UIDL of {marker} changed")
                self.uidl[marker] = uidls[n - 1]
            self.assert_quit_ok(p.quit())
        finally:
            p.close()
        return set(store)

    def assert_quit_ok(self, resp):
        self.assertTrue(resp.startswith(b"+OK"), resp)

    def numbered(self, c):
        """{n: marker} over a raw session: UIDLs recorded by verify(), TOP n 0 for new ones
        (whose UIDL is recorded here)."""
        self.assertTrue(c.command("UIDL").startswith(b"+OK"))
        by_uidl = {u: m for m, u in self.uidl.items()}
        out, new = {}, {}
        for line in c.multiline_raw().split(b"\r\n")[:-2]:
            n, u = line.decode().split()
            if u in by_uidl:
                out[int(n)] = by_uidl[u]
            else:
                new[int(n)] = u
        for n, u in new.items():
            self.assertTrue(c.command(f"TOP {n} 0").startswith(b"+OK"))
            marker = MARKER.search(c.multiline_raw()).group(1).decode()
            self.assertNotIn(marker, self.uidl, f"{marker} has a new UIDL {u}, was {self.uidl.get(marker)}")
            self.uidl[marker] = u
            out[n] = marker
        return out

    def read_rest(self, c, seconds=2.0):
        """What the killed server managed to send (it arrived before the kill)."""
        c.closed_by_peer(seconds)
        return c.buf

    # ---- tests ----

    def test_kill_during_retr_of_large_message(self):
        small = self.deliver(3)
        (big,) = self.deliver(1, big=True)
        present = self.verify("before", small + [big])
        for cycle, read_first in enumerate((0, 1 << 20, 12 << 20)):
            c = p3.raw_login(self.server, self.user)
            numbers = {m: n for n, m in self.numbered(c).items()}
            self.assertTrue(c.command(f"DELE {numbers[small[0]]}").startswith(b"+OK"))
            c.send(f"RETR {numbers[big]}\r\n".encode())
            got = 0
            while got < read_first:
                got += len(c.sock.recv(1 << 20))
            self.kill_and_restart()
            c.close()
            present = self.verify(f"RETR cycle {cycle} (killed after {got} octets)", present)

    def test_kill_between_dele_and_quit(self):
        markers = self.deliver(10)
        self.verify("before", markers)
        c = p3.raw_login(self.server, self.user)
        for n in range(1, 11):
            self.assertTrue(c.command(f"DELE {n}").startswith(b"+OK"))
        self.assertEqual(c.command("STAT"), b"+OK 0 0")
        self.kill_and_restart()
        c.close()
        self.verify("DELE without QUIT", markers)

    def test_kill_during_open_and_update(self):
        print(f"\npop3 durability: {CYCLES} cycles, seed {self.seed} (POP3_DURABILITY_SEED={self.seed} repeats it)",
              file=sys.stderr)
        present = set(self.deliver(MAILBOX_SIZE))
        present = self.verify("initial", present)
        stats = {"ok": 0, "no reply": 0, "partial": 0}
        for cycle in range(CYCLES):
            t0 = time.monotonic()
            # Refill; the new files are in new/ until a session opens the maildrop.
            present |= set(self.deliver(MAILBOX_SIZE - len(present)))
            if cycle % 2 == 1:
                # Kill while the login syncs the maildrop (rename new/ -> cur/, write the uid list).
                c = p3.raw_pop3(self.server.port("pop3s"), tls_context=self.server.tls_context())
                c.line()
                c.send(f"USER {self.user}\r\nPASS {self.server.passwords[self.user]}\r\n".encode())
                time.sleep(self.rng.uniform(0, 0.01))
                self.kill_and_restart()
                c.close()
                present = self.verify(f"cycle {cycle}: killed during open", present)
            c = p3.raw_login(self.server, self.user)
            numbered = self.numbered(c)
            marked_numbers = sorted(self.rng.sample(sorted(numbered), self.rng.randrange(1, len(numbered))))
            c.send(b"".join(f"DELE {n}\r\n".encode() for n in marked_numbers))
            for n in marked_numbers:
                self.assertTrue(c.line().startswith(b"+OK"), f"DELE {n}")
            marked = {numbered[n] for n in marked_numbers}
            delay = self.rng.choice([0, 0, self.rng.uniform(0, 0.005), self.rng.uniform(0, 0.015)])
            c.send(b"QUIT\r\n")
            if delay:
                time.sleep(delay)
            self.server.kill()
            rest = self.read_rest(c)
            c.close()
            self.server.start()
            ok = rest.startswith(b"+OK")
            if rest and not ok:
                self.fail(f"cycle {cycle}: QUIT answered {rest!r}")
            kept = present - marked
            after = self.verify(f"cycle {cycle}: killed {delay * 1000:.1f} ms after QUIT (reply {rest!r})",
                                must_stay=kept, must_go=marked if ok else (), may_go=marked)
            gone = len(marked & (present - after))
            stats["ok" if ok else ("partial" if 0 < gone < len(marked) else "no reply")] += 1
            print(f"pop3 durability: cycle {cycle}: {len(marked)} marked, {gone} removed, reply {rest[:40]!r} "
                  f"({time.monotonic() - t0:.1f}s)", file=sys.stderr)
            present = after
        print(f"pop3 durability: {stats}", file=sys.stderr)
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())


if __name__ == "__main__":
    h.main()
