"""Shared pieces of the refmaild interop tests (standard library only).

A test script is run as `test_x.py /path/to/refmaild [unittest args]` (CTest passes the binary as
the first argument; $REFMAILD works too). refmaild_server makes a fresh `refmaild quickstart DIR
--no-run` setup in a temporary directory, runs `refmaild --config DIR/refmaild.yaml --ports-file
DIR/ports`, and kills the process (and removes DIR) at the end. Set REFMAILD_KEEP=1 to keep DIR.
"""

import ctypes
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

REFMAILD = os.environ.get("REFMAILD", "")
USERS = ("alice@example.test", "bob@example.test")
CRLF = b"\r\n"


def main():
    """unittest.main() after taking the refmaild binary from argv[1]."""
    global REFMAILD
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        REFMAILD = sys.argv.pop(1)
    if not REFMAILD or not os.access(REFMAILD, os.X_OK):
        sys.exit(f"usage: {sys.argv[0]} /path/to/refmaild [unittest options] (got {REFMAILD!r})")
    unittest.main(verbosity=2)


def run_refmaild(*args, check=True, **kwargs):
    """Runs a refmaild subcommand to completion; raises with its output when it fails."""
    r = subprocess.run([REFMAILD, *map(str, args)], capture_output=True, timeout=60, **kwargs)
    if check and r.returncode != 0:
        raise AssertionError(f"refmaild {' '.join(map(str, args))} exited {r.returncode}:\n"
                             f"{r.stdout.decode(errors='replace')}{r.stderr.decode(errors='replace')}")
    return r


def _die_with_parent():
    # If the test runner is killed (CTest timeout), the server must not outlive it.
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class refmaild_server:
    """One quickstart directory and the refmaild process serving it (restartable)."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="refmaild-interop-"))
        run_refmaild("quickstart", self.dir, "--no-run")
        self.config = self.dir / "refmaild.yaml"
        self.ports_file = self.dir / "ports"
        self.cert_file = self.dir / "tls" / "cert.pem"
        self.log_file = self.dir / "refmaild.log"
        self.passwords = {}
        for line in (self.dir / "credentials").read_text().splitlines():
            address, password = line.split()
            self.passwords[address] = password
        self.proc = None
        self.ports = {}

    def add_config(self, text):
        """Merges YAML `text` into the quickstart configuration (before start()): a top-level
        section the file already has gets the new keys right after its heading (so they must not
        repeat keys already there); other sections are appended."""
        lines = self.config.read_text().splitlines()
        current = None
        blocks = {}
        for line in text.strip("\n").splitlines():
            if line and not line[0].isspace():
                current = line.split(":")[0]
                blocks[current] = [line]
            else:
                blocks[current].append(line)
        for section, block in blocks.items():
            heading = next((i for i, l in enumerate(lines) if l.startswith(section + ":")), None)
            if heading is None or block[0].strip() != section + ":":
                lines += [""] + block
            else:
                lines[heading + 1:heading + 1] = block[1:]
        self.config.write_text("\n".join(lines) + "\n")
        return self

    # ---- process ----

    def start(self, timeout=15.0):
        """Starts refmaild and waits until it has written the ports file."""
        assert self.proc is None, "already running"
        self.ports_file.unlink(missing_ok=True)
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [REFMAILD, "--config", str(self.config), "--ports-file", str(self.ports_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while not self.ports_file.exists():
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise AssertionError(f"refmaild exited {code} before listening:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"refmaild wrote no ports file in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)
        self.ports = {name: int(port) for name, port in
                      (line.split() for line in self.ports_file.read_text().splitlines())}
        return self

    def signal(self, sig):
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout=15.0):
        """SIGTERM and wait; returns the exit code, or "hung" after a SIGKILL when it does not
        stop within `timeout`."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = "hung"
        self.proc = None
        return code

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def close(self):
        """Stops a running server with SIGTERM (a clean exit is part of the test: sanitizer
        builds report there) and removes the directory. Raises when the exit was not clean."""
        code = self.stop()
        tail = self.log_tail() if code not in (None, 0) else ""
        if os.environ.get("REFMAILD_KEEP"):
            print(f"kept {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if code not in (None, 0):
            raise AssertionError(f"refmaild exited {code} on SIGTERM:\n{tail}")

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- clients ----

    def port(self, name):
        return self.ports[name]

    def tls_context(self):
        """A client context that trusts only the quickstart certificate (and checks the name)."""
        return ssl.create_default_context(cafile=str(self.cert_file))

    def new_dir(self, user):
        local, domain = user.split("@")
        return self.dir / "maildir" / domain / local / "Maildir" / "new"

    def delivered(self, user):
        """Contents of every message in the user's new/, by file name."""
        d = self.new_dir(user)
        if not d.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in d.iterdir()}

    def find_delivered(self, user, marker):
        """Messages in the user's new/ containing `marker` (bytes), Received: header stripped."""
        return [strip_received(data) for data in self.delivered(user).values() if marker in data]

    def all_stored(self):
        """Every file under the mail store (any user, new/ cur/ tmp/)."""
        root = self.dir / "maildir"
        return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


def strip_received(data, return_path=True):
    """The message without the trace fields refmaild adds at final delivery: exactly one
    Return-Path: line (RFC 5321 4.4; return_path=False for a header further down) and then its
    Received: header (folded continuation lines start with SP or TAB)."""
    if return_path:
        if not data.startswith(b"Return-Path: <"):
            raise AssertionError(f"stored message does not start with Return-Path: {data[:80]!r}")
        data = data[data.find(CRLF) + 2:]
        if data.startswith(b"Return-Path:"):
            raise AssertionError("more than one Return-Path: at final delivery")
    if not data.startswith(b"Received:"):
        raise AssertionError(f"stored message does not start with Received: {data[:80]!r}")
    pos = data.find(CRLF) + 2
    while pos > 1 and data[pos:pos + 1] in (b" ", b"\t"):
        pos = data.find(CRLF, pos) + 2
    if pos <= 1:
        raise AssertionError("Received: header without CRLF")
    return data[pos:]


def fingerprint(der):
    import hashlib
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem_file):
    return fingerprint(ssl.PEM_cert_to_DER_cert(pathlib.Path(pem_file).read_text()))


class raw_smtp:
    """A plain socket client: sends exact bytes, reads replies one at a time, in order."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """(code, [lines]) of the next complete reply; raises on EOF."""
        lines = []
        while True:
            nl = self.buf.find(CRLF)
            if nl < 0:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"connection closed; partial reply {lines!r} {self.buf!r}")
                self.buf += chunk
                continue
            line, self.buf = self.buf[:nl], self.buf[nl + 2:]
            lines.append(line.decode("utf-8", errors="replace"))
            if len(line) < 4 or line[3:4] == b" ":
                return int(line[:3]), lines

    def command(self, line):
        self.send(line.encode() + CRLF)
        return self.reply()

    def starttls(self, context, server_hostname="localhost"):
        """Upgrades the socket after the 220 to STARTTLS has been read. Plaintext left over in
        the buffer would mean the server answered something it should not have: an error."""
        if self.buf:
            raise AssertionError(f"plaintext after the STARTTLS reply: {self.buf!r}")
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def closed_by_peer(self, timeout=5.0):
        """True when the server closes the connection within `timeout` (no more data first)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except (socket.timeout, TimeoutError):
            return False


def crlf_message(sender, recipient, subject, body_lines, extra_headers=()):
    """A message as wire bytes with CRLF line endings (what curl sends as is)."""
    lines = [f"From: <{sender}>", f"To: <{recipient}>", f"Subject: {subject}",
             f"Message-ID: <{subject}@interop.test>", *extra_headers, "", *body_lines]
    return (CRLF.join(line.encode() if isinstance(line, str) else line for line in lines)) + CRLF
