#!/usr/bin/env python3
"""refmaild under hostile load: every check of abuse_checks.py (shared with scripts/abuse) against
a quickstart refmaild with abuse_checks.PROFILE merged in (small timeouts and limits, so each
check takes seconds), plus scripts/abuse itself run as a program. Checks that need a server of
their own (descriptor limit, kill -9, RSS) start scratch refmaild processes with the same binary.
Each check prints its figures on stderr (PASS/FAIL name: detail)."""

import pathlib
import subprocess
import sys

import abuse_checks as a
import refmaild_harness as h

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "scripts" / "abuse"


class abuse_test(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = h.refmaild_server()
        a.merge_config(cls.server.config, a.PROFILE)
        cls.server.start()
        cls.t = a.target.from_files(cls.server.ports_file, cls.server.dir / "credentials", cls.server.cert_file,
                                    pid=cls.server.proc.pid, log=cls.server.log_file, refmaild=h.REFMAILD)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def check(self, name):
        ok, detail = a.run_check(name, self.t)
        print(f"\n{'PASS' if ok else 'FAIL'} {name}: {detail}", file=sys.stderr)
        self.assertTrue(ok, detail)

    def test_descriptors(self):
        self.check("descriptors")

    def test_auth_pipelining(self):
        self.check("auth_pipelining")

    def test_slowloris(self):
        self.check("slowloris")

    def test_deadlines(self):
        self.check("deadlines")

    def test_memory(self):
        self.check("memory")

    def test_bans(self):
        self.check("bans")

    def test_reasons(self):
        self.check("reasons")

    def test_logs(self):
        self.check("logs")

    def test_tmp(self):
        self.check("tmp")

    def test_idle_memory(self):
        self.check("idle_memory")

    def test_return_path(self):
        self.check("return_path")

    def test_long_sasl(self):
        self.check("long_sasl")

    def test_enumeration(self):
        self.check("enumeration")

    def run_script(self, server, only):
        r = subprocess.run([sys.executable, str(SCRIPT), "--ports-file", str(server.ports_file),
                            "--credentials", str(server.dir / "credentials"), "--cafile", str(server.cert_file),
                            "--only", only], capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout.splitlines(), r.stderr

    def test_script(self):
        # Against the profiled server: one PASS line per check, exit 0.
        names = ["reasons", "return_path", "long_sasl"]
        code, lines, err = self.run_script(self.server, ",".join(names))
        self.assertEqual([l.split(":")[0] for l in lines], [f"PASS {n}" for n in names], (lines, err))
        self.assertEqual(code, 0, (lines, err))
        # Against a server without the profile (no rule that rejects): a FAIL line, exit 1.
        plain = h.refmaild_server().start()
        try:
            code, lines, err = self.run_script(plain, "reasons")
        finally:
            plain.close()
        self.assertEqual(code, 1, (lines, err))
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("FAIL reasons: "), lines)


if __name__ == "__main__":
    h.main()
