"""Shared pieces of the POP3 interop tests (standard library only): extra users, delivery over
SMTP, the stored file of a message, poplib connections with the quickstart certificate, a raw
POP3 client that sees the exact bytes on the wire, and Dovecot's dovecot-uidlist.

refmaild's POP3 session moves new/ files to cur/ (adding ":2,") when it opens the mailbox, as
Dovecot does, so a stored message is looked up in both.
"""

import email.policy
import poplib
import re
import smtplib
import socket
import ssl
import time
import uuid
from email.message import EmailMessage

import refmaild_harness as h

CRLF = b"\r\n"
IN_USE = b"-ERR [IN-USE]"


def unique(tag):
    return f"{tag}-{uuid.uuid4().hex[:16]}"


def add_users(server, *locals_, domain="example.test"):
    """Adds {PLAIN} users to the quickstart passwd file (before start(), or before a SIGHUP) so
    that each test can have a mailbox of its own. Returns the addresses."""
    passwd = server.dir / "passwd"
    lines = []
    added = []
    for local in locals_:
        address = f"{local}@{domain}"
        password = "pw-" + uuid.uuid4().hex[:20]
        lines.append(f"{address}:{{PLAIN}}{password}")
        server.passwords[address] = password
        added.append(address)
    with open(passwd, "a") as f:
        f.write("\n".join(lines) + "\n")
    return added


def set_listener_address(server, listener, address):
    """Rewrites `address:` of one listener in the quickstart configuration (add_config cannot
    replace a key the file already has)."""
    lines = server.config.read_text().splitlines()
    inside = False
    for i, line in enumerate(lines):
        if re.match(rf"^  {re.escape(listener)}:\s*$", line):
            inside = True
        elif inside and re.match(r"^    address:", line):
            lines[i] = f"    address: {address}"
            server.config.write_text("\n".join(lines) + "\n")
            return
        elif inside and not line.startswith("    "):
            break
    raise AssertionError(f"no address for listener {listener} in {server.config}")


# ---- delivery ----

def wire_bytes(msg):
    """What smtplib.send_message puts between DATA and the final dot, before dot-stuffing."""
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    return data if data.endswith(CRLF) else data + CRLF


def deliver(server, rcpt, data, sender="sender@remote.test", timeout=60):
    """Sends `data` (CRLF wire bytes) to local `rcpt` over the smtp listener (no AUTH needed for
    local recipients); raises unless it was accepted."""
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), local_hostname="pop3.interop.test", timeout=timeout) as s:
        refused = s.sendmail(sender, [rcpt], data)
        if refused:
            raise AssertionError(f"delivery to {rcpt} refused: {refused}")
    return data


def simple_message(rcpt, marker, body_lines=None, extra_headers=()):
    if body_lines is None:
        body_lines = [f"Body of {marker}.", ".a line starting with a dot", ".", "..", "...", "last line"]
    return h.crlf_message("sender@remote.test", rcpt, marker, body_lines, extra_headers)


def maildir(server, user):
    local, domain = user.split("@")
    return server.dir / "maildir" / domain / local / "Maildir"


def stored_files(server, user):
    """{path: content} of every message file in the user's new/ and cur/."""
    root = maildir(server, user)
    out = {}
    for sub in ("new", "cur"):
        d = root / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file():
                    out[p] = p.read_bytes()
    return out


def stored(server, user, marker):
    """The content of the one stored file holding `marker` (bytes or str)."""
    if isinstance(marker, str):
        marker = marker.encode()
    found = [data for data in stored_files(server, user).values() if marker in data]
    if len(found) != 1:
        raise AssertionError(f"{marker!r} stored {len(found)} times for {user}")
    return found[0]


def read_uidlist(server, user):
    """(uidvalidity, {base name: uid}) from the user's dovecot-uidlist (version 3 format)."""
    text = (maildir(server, user) / "dovecot-uidlist").read_text()
    lines = text.splitlines()
    header = lines[0].split()
    if header[0] != "3":
        raise AssertionError(f"dovecot-uidlist version {header[0]!r}, expected 3")
    validity = next(int(f[1:]) for f in header[1:] if f.startswith("V"))
    uids = {}
    for line in lines[1:]:
        uid, _, rest = line.partition(" ")
        # Extension fields ("W1234 ") come before the ':' that starts the file name.
        name = rest[rest.index(":") + 1:]
        uids[name] = int(uid)
    return validity, uids


def dovecot_uidl(uid, uidvalidity):
    """The UIDL Dovecot gives with its default pop3_uidl_format %08Xu%08Xv. Dovecot's %X
    modifier writes *lower-case* hex (var-expand's hex is printf "%llx"): the Dovecot 2.3 peer
    (tests/peers) answers "1 000000016b11ba5a" for uid 1, uidvalidity 0x6b11ba5a, and
    test_pop3_dovecot.py checks that on a shared Maildir."""
    return f"{uid:08x}{uidvalidity:08x}"


# ---- clients ----

def pop3s(server, host="127.0.0.1", timeout=15):
    """poplib over implicit TLS, certificate checked against the name localhost."""
    return poplib.POP3_SSL(host, server.port("pop3s"), context=server.tls_context(), timeout=timeout)


def pop3_stls(server, host="127.0.0.1", timeout=15):
    """poplib on the pop3 listener after STLS."""
    p = poplib.POP3(host, server.port("pop3"), timeout=timeout)
    resp = p.stls(context=server.tls_context())
    if not resp.startswith(b"+OK"):
        raise AssertionError(f"STLS: {resp!r}")
    return p


def reply(p, line):
    """Sends one command with poplib and returns its status line, +OK or -ERR (poplib raises on
    -ERR; here both are values)."""
    try:
        return p._shortcmd(line)
    except poplib.error_proto as e:
        return e.args[0]


def login(server, user, connect=pop3s, deadline=5.0, **kw):
    """USER/PASS; an [IN-USE] reply (a previous session of this test still ending) is retried
    until `deadline` seconds, then raised."""
    end = time.monotonic() + deadline
    while True:
        p = connect(server, **kw)
        p.user(user)
        try:
            p.pass_(server.passwords[user])
            return p
        except poplib.error_proto as e:
            p.close()
            if not e.args[0].startswith(IN_USE) or time.monotonic() > end:
                raise
            time.sleep(0.05)


def retr_bytes(p, n):
    """RETR n through poplib (which undoes dot-stuffing), rebuilt with CRLF line endings."""
    resp, lines, octets = p.retr(n)
    return resp, b"".join(line + CRLF for line in lines)


def empty_mailbox(server, user):
    p = login(server, user)
    count, _ = p.stat()
    for i in range(1, count + 1):
        p.dele(i)
    p.quit()


def dot_stuff(data):
    """RFC 1939 section 3 byte-stuffing of a CRLF message plus the terminating line."""
    if not data.endswith(CRLF):
        data += CRLF
    lines = data[:-2].split(CRLF) if data != CRLF else [b""]
    return b"".join((b"." + line if line.startswith(b".") else line) + CRLF for line in lines) + b".\r\n"


class raw_pop3:
    """A socket POP3 client: exact bytes out, exact bytes in (no unstuffing), in order."""

    def __init__(self, port, host="127.0.0.1", tls_context=None, timeout=15.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"connection closed; buffered {self.buf[:200]!r}")
        self.buf += chunk

    def line(self):
        """The next line without CRLF (bytes)."""
        while True:
            nl = self.buf.find(CRLF)
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 2:]
                return line
            self._fill()

    def multiline_raw(self):
        """The body of a multi-line response as sent, up to and including ".\\r\\n"."""
        start = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                end = 3
                break
            pos = self.buf.find(b"\r\n.\r\n", max(start - 4, 0))
            if pos >= 0:
                end = pos + 5
                break
            start = len(self.buf)
            self._fill()
        data, self.buf = self.buf[:end], self.buf[end:]
        return data

    def command(self, line):
        self.send(line.encode() + CRLF if isinstance(line, str) else line + CRLF)
        return self.line()

    def starttls(self, context):
        if self.buf:
            raise AssertionError(f"plaintext after the STLS reply: {self.buf!r}")
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")

    def closed_by_peer(self, timeout=5.0):
        """True when the server closes the connection within `timeout` (data before is kept)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return True
        except ssl.SSLError:
            return True
        except (socket.timeout, TimeoutError):
            return False


def raw_login(server, user, host="127.0.0.1", deadline=5.0):
    """A raw_pop3 over pop3s, logged in with USER/PASS (retrying [IN-USE] as login() does)."""
    end = time.monotonic() + deadline
    while True:
        c = raw_pop3(server.port("pop3s"), host=host, tls_context=server.tls_context())
        greeting = c.line()
        if not greeting.startswith(b"+OK"):
            raise AssertionError(f"greeting {greeting!r}")
        r1 = c.command(f"USER {user}")
        r2 = c.command(f"PASS {server.passwords[user]}")
        if r1.startswith(b"+OK") and r2.startswith(b"+OK"):
            return c
        c.close()
        if not r2.startswith(IN_USE) or time.monotonic() > end:
            raise AssertionError(f"login {user}: {r1!r} {r2!r}")
        time.sleep(0.05)


def mime_message(rcpt, marker, attachment=b"", text="Hello.\n", eight_bit=False, attachment_name="data.bin"):
    """A MIME multipart message (text part plus an optional binary attachment) as wire bytes."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = "sender@remote.test", rcpt, marker
    msg["Message-ID"] = f"<{marker}@interop.test>"
    if eight_bit:
        msg.set_content(text, cte="8bit")
    else:
        msg.set_content(text)
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=attachment_name)
    return wire_bytes(msg)
