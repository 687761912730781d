"""Pieces shared by the outbound queue tests (standard library only).

relay_pair: two quickstart refmaild instances. `downstream` owns the domain remote.test (users
carol@ and dave@remote.test); `relay` (A) has example.test as before plus a queue: section and a
transport map that sends remote.test to the downstream's SMTP port, STARTTLS required and
verified against the downstream's certificate. Extra transport lines (e.g. for a fake_smtp) and
queue settings can be given.

fake_smtp: a scripted SMTP server on 127.0.0.1 (threads, raw sockets) that records every
transaction, so tests can make a next hop answer 4xx or 5xx on purpose.
"""

import email
import email.policy
import os
import pathlib
import re
import smtplib
import socket
import socketserver
import threading
import time
import urllib.request

import refmaild_harness as h

REMOTE_USERS = ("carol@remote.test", "dave@remote.test")
ALICE = h.USERS[0]


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something true; raises AssertionError with `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def scrape(server):
    """The relay's /metrics as {name{labels}: value}."""
    url = f"http://127.0.0.1:{server.port('metrics')}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def spool_dir(server):
    return server.dir / "data" / "queue"


def queued_ids(server):
    """IDs with an envelope in the spool."""
    d = spool_dir(server)
    return sorted(p.name[:-4] for p in d.glob("*.env")) if d.is_dir() else []


def strip_received_headers(data, count):
    for i in range(count):
        data = h.strip_received(data, return_path=(i == 0))
    return data


def dsn_parts(raw):
    """(message, delivery-status groups as lists of (name, value), attached headers text) of a
    DSN, parsed by Python's email package."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "text/rfc822-headers"], \
        [p.get_content_type() for p in parts]
    # The email package parses message/delivery-status into one Message per field group.
    groups = [[(k, str(v)) for k, v in g.items()] for g in parts[1].get_payload()]
    headers = parts[2].get_payload(decode=True).decode("ascii", errors="replace")
    return msg, groups, headers


class relay_pair:
    """The downstream (B) and the relay (A); start() starts both, close() stops both."""

    def __init__(self, queue_settings="", transport_extra="", tls="required", ca="downstream"):
        self.downstream = h.refmaild_server()
        cfg = self.downstream.config.read_text()
        self.downstream.config.write_text(cfg.replace("local_domains:\n  - example.test\n",
                                                      "local_domains:\n  - remote.test\n"))
        for user in REMOTE_USERS:
            h.run_refmaild("user", "add", user, "--password", "pw-" + user.split("@")[0], "--scheme", "PLAIN",
                           "--file", self.downstream.dir / "passwd")
        self.relay = h.refmaild_server()
        self.queue_settings = queue_settings
        self.transport_extra = transport_extra
        self.tls = tls
        self.ca = ca

    def start(self):
        self.downstream.start()
        self.write_relay_config()
        self.relay.start()
        return self

    def write_relay_config(self):
        ca_file = self.downstream.cert_file if self.ca == "downstream" else self.relay.cert_file
        transport = f"remote.test 127.0.0.1:{self.downstream.port('smtp')} tls={self.tls}\n" + self.transport_extra
        (self.relay.dir / "transport").write_text(transport)
        cfg = self.relay.config.read_text()
        if "\nqueue:\n" not in cfg:
            settings = {
                "transport_map": "transport",
                "tls_ca_file": str(ca_file),
                "retry_min": "1s",
                "retry_max": "2s",
                "poll_interval": "100ms",
                "connect_timeout": "5s",
                "greeting_timeout": "10s",
                "command_timeout": "10s",
                "data_init_timeout": "10s",
                "data_block_timeout": "10s",
                "data_end_timeout": "20s",
            }
            for line in self.queue_settings.strip().splitlines():
                k, v = line.split(":", 1)
                settings[k.strip()] = v.strip()
            cfg += "\nqueue:\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items())
            self.relay.config.write_text(cfg)

    def close(self):
        errors = []
        for server in (self.relay, self.downstream):
            try:
                server.close()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))

    def submit(self, sender, recipients, data, user=ALICE):
        """Sends through the relay's submission port (STARTTLS, AUTH as `user`); returns the
        refused-recipients dict of smtplib.sendmail."""
        with smtplib.SMTP("localhost", self.relay.port("submission"), timeout=10) as s:
            s.starttls(context=self.relay.tls_context())
            s.login(user, self.relay.passwords[user])
            return s.sendmail(sender, recipients, data)

    def arrived(self, user, marker):
        """Messages for `user` at the downstream containing `marker`, both Received: headers
        (downstream's and relay's) stripped."""
        found = []
        for data in self.downstream.delivered(user).values():
            if marker in data:
                found.append(strip_received_headers(data, 2))
        return found


class fake_smtp:
    """A scripted next hop. `behaviour(conn_no, stage, arg)` returns the reply line for each stage
    ("greeting", "ehlo", "mail", "rcpt", "data", "end"), or None for the default 2xx/354 reply.
    Every completed transaction is appended to `messages` as (mail_from, [rcpts], data) with the
    data un-dot-stuffed; `connections` counts connections; `commands` logs every command line."""

    def __init__(self, behaviour=None, extensions=("PIPELINING", "SIZE 10485760", "8BITMIME")):
        self.behaviour = behaviour or (lambda n, stage, arg: None)
        self.extensions = extensions
        self.messages = []
        self.commands = []
        self.connections = 0
        self.lock = threading.Lock()
        outer = self

        class handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer.serve(self.request)

        class server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = server(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def reply(self, n, stage, arg, default):
        r = self.behaviour(n, stage, arg)
        return (r if r is not None else default).encode() + b"\r\n"

    def serve(self, sock):
        with self.lock:
            self.connections += 1
            n = self.connections
        sock.settimeout(20)
        f = sock.makefile("rb")
        send = sock.sendall
        greeting = self.reply(n, "greeting", None, "220 fake.test ESMTP")
        send(greeting)
        if not greeting.startswith(b"220"):
            return
        mail_from, rcpts = None, []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode(errors="replace")
            with self.lock:
                self.commands.append((n, cmd))
            verb = cmd[:4].upper()
            if verb == "EHLO":
                r = self.behaviour(n, "ehlo", cmd)
                if r is not None:
                    send(r.encode() + b"\r\n")
                    continue
                lines = ["fake.test", *self.extensions]
                send(b"".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}\r\n".encode() for i, l in enumerate(lines)))
            elif verb == "HELO":
                send(b"250 fake.test\r\n")
            elif verb == "MAIL":
                mail_from, rcpts = re.search(r"<(.*?)>", cmd).group(1), []
                send(self.reply(n, "mail", mail_from, "250 2.1.0 ok"))
            elif verb == "RCPT":
                rcpt = re.search(r"<(.*?)>", cmd).group(1)
                r = self.reply(n, "rcpt", rcpt, "250 2.1.5 ok")
                if r.startswith(b"2"):
                    rcpts.append(rcpt)
                send(r)
            elif verb == "DATA":
                r = self.reply(n, "data", None, "354 go ahead" if rcpts else "554 5.5.1 no valid recipients")
                send(r)
                if not r.startswith(b"354"):
                    continue
                lines = []
                while True:
                    l = f.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    lines.append(l[1:] if l.startswith(b".") else l)
                data = b"".join(lines)
                r = self.reply(n, "end", data, "250 2.0.0 queued")
                if r.startswith(b"2"):
                    with self.lock:
                        self.messages.append((mail_from, list(rcpts), data))
                send(r)
            elif verb == "RSET":
                mail_from, rcpts = None, []
                send(b"250 ok\r\n")
            elif verb == "QUIT":
                send(b"221 bye\r\n")
                return
            else:
                send(b"502 5.5.2 not implemented\r\n")


class fake_dns:
    """A UDP DNS server on 127.0.0.1 answering MX queries from `zones`: {name: rcode int | list of
    (preference, exchange)}; names not listed get NOERROR without records (no data). Point
    queue.dns_server at it."""

    def __init__(self, zones):
        self.zones = zones
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def labels(name):
        out = b""
        for label in name.split("."):
            if label:
                out += bytes([len(label)]) + label.encode()
        return out + b"\0"

    def answer(self, query):
        import struct
        pos, parts = 12, []
        while query[pos] != 0:
            parts.append(query[pos + 1:pos + 1 + query[pos]].decode())
            pos += query[pos] + 1
        question = query[12:pos + 5]  # name, type, class
        qname = ".".join(parts).lower()
        self.queries.append(qname)
        zone = self.zones.get(qname, [])
        rcode = zone if isinstance(zone, int) else 0
        records = [] if isinstance(zone, int) else zone
        answers = b""
        for pref, exchange in records:
            rdata = struct.pack(">H", pref) + self.labels(exchange)
            answers += struct.pack(">HHHIH", 0xC00C, 15, 1, 60, len(rdata)) + rdata
        header = query[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(records), 0, 0)
        return header + question + answers

    def run(self):
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            if len(data) > 12:
                self.sock.sendto(self.answer(data), addr)

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()
