#!/usr/bin/env python3
"""Private Postfix and Dovecot instances on loopback ports, for tests and the load generator.

Each instance lives in one work directory of its own: configuration, queue or state, mail store,
certificate, log and PID file. Nothing under /etc is read or written (Postfix's meta files
postfix-files and dynamicmaps.cf are read from /etc/postfix, as Debian installs them), the
system instances are never started, stopped or signalled, and a peer is stopped by the PID its
own master wrote.

    with dovecot_peer() as d, postfix_peer(dovecot=d) as p:
        smtplib.SMTP("127.0.0.1", p.ports["smtp"])

Both need root (they drop to their own users: postfix, dovecot, dovenull; mail is owned by
nobody:nogroup). Ports are picked free by binding port 0 and closing the socket, since Postfix
cannot report a kernel-chosen port; a start that loses the race for a port is retried.

Command line (what the tests/peers/*-start and *-stop wrappers run):

    peers.py postfix-start DIR [--profile hardened|defaults] [--misconfigured open-relay]
                               [--misconfigured bare-lf] [--dovecot DDIR]
    peers.py postfix-stop DIR
    peers.py dovecot-start DIR
    peers.py dovecot-stop DIR

A start prints "NAME PORT" lines (smtp, submission, smtps; imap, imaps, pop3, pop3s) and leaves
the same facts in DIR/peer.json (ports, domain, users and passwords, CA file, PID); a Postfix
start also writes DIR/mailconform-<listener>.yaml, a target file for `mailconform --target`.
"""
import argparse
import contextlib
import json
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DOMAIN = "peer.test"
HOSTNAME = "mx." + DOMAIN
# Virtual mailboxes: user -> password (Dovecot passwd-file, {PLAIN} scheme).
USERS = {"alice": "alice-peer-secret", "bob": "bob-peer-secret", "postmaster": "postmaster-peer-secret"}
# The mail store's owner: Postfix's virtual(8) delivers as this uid, Dovecot reads as it.
MAIL_UID = MAIL_GID = 65534  # nobody:nogroup

class peer_error(RuntimeError):
    pass


def free_ports(n):
    """n distinct loopback TCP ports that were free a moment ago."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_for_port(port, deadline, banner=None):
    """Waits until 127.0.0.1:port accepts a connection (and sends `banner`, if given)."""
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if banner is None:
                    return
                s.settimeout(5)
                data = s.recv(512)
                if data.startswith(banner):
                    return
                last = data
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise peer_error("127.0.0.1:%d not ready: %r" % (port, last))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def wait_pid_gone(pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        # A child of ours (not usual: the masters daemonize) would linger as a zombie.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return not pid_alive(pid)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise peer_error("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def make_certificate(tls_dir, days=30):
    """A private CA (tls/ca.pem) and a server certificate it signed (tls/cert.pem, tls/key.pem)
    for mx.peer.test, localhost and 127.0.0.1, made with the openssl command."""
    os.makedirs(tls_dir, exist_ok=True)
    ca, ca_key = os.path.join(tls_dir, "ca.pem"), os.path.join(tls_dir, "ca-key.pem")
    cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
    csr, ext = os.path.join(tls_dir, "req.csr"), os.path.join(tls_dir, "ext.cnf")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", str(days),
         "-subj", "/CN=mailharness peer CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=" + HOSTNAME])
    write(ext, "subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n"
               "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=serverAuth\n" % HOSTNAME)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", str(days), "-out", cert, "-extfile", ext])
    for p in (csr, ext):
        os.unlink(p)
    os.chmod(key, 0o600)
    os.chmod(ca_key, 0o600)
    return {"cafile": ca, "cert_file": cert, "key_file": key}


def prepare_dir(workdir):
    """Creates the work directory; it and every directory above it must be traversable by the
    services' own users (postfix, dovecot, nobody)."""
    os.makedirs(workdir, exist_ok=True)
    os.chmod(workdir, 0o755)
    parent = os.path.dirname(workdir)
    while parent and parent != "/":
        if not os.stat(parent).st_mode & 0o001:
            raise peer_error("%s is not searchable by other users (mode %o): the peer's own users cannot reach %s; "
                             "use a directory under /tmp or chmod o+x it" % (parent, os.stat(parent).st_mode & 0o777, workdir))
        parent = os.path.dirname(parent)
    state = os.path.join(workdir, "peer.json")
    if os.path.exists(state):
        info = json.load(open(state))
        if info.get("pid") and pid_alive(info["pid"]):
            raise peer_error("%s: a peer is already running there (pid %d)" % (workdir, info["pid"]))
    return state


def prepare_mail_store(root):
    os.makedirs(root, exist_ok=True)
    os.chown(root, MAIL_UID, MAIL_GID)
    os.chmod(root, 0o755)


# ---------------------------------------------------------------------------------------------
# Postfix

POSTFIX_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{smtp_addr} inet n       -       n       -       -       smtpd
{submission_addr} inet n -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable={sasl}
  -o smtpd_client_restrictions={submission_clients}
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
{smtps_addr} inet n      -       n       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable={sasl}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# main.cf of every profile: paths, names, the virtual domain, TLS with the peer's certificate and
# AUTH through Dovecot. Only what a private loopback instance needs differs from Postfix's defaults.
POSTFIX_MAIN_CF = """\
# Private Postfix peer of mailharness (tests/peers/peers.py), profile {profile}.
# Every path is inside {dir}.
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}

myhostname = {hostname}
mydomain = {domain}
myorigin = $mydomain
mydestination =
# Every listener is named in master.cf with 127.0.0.1:PORT; nothing else is bound.
inet_interfaces = loopback-only
inet_protocols = ipv4
# The conformance client connects from 127.0.0.1, so trusting loopback would let it relay:
# no address is trusted ("open-relay" trusts them all).
mynetworks =
relayhost =
# Nothing leaves this machine: mail for other domains that the relay policy lets through is
# discarded. (With the error transport smtpd would refuse such recipients itself, and the relay
# policy, which the security suite tests, would never be reached.)
default_transport = discard:this peer delivers nothing remotely
relay_transport = discard:this peer delivers nothing remotely
# No DNS: the peer lives on loopback with made-up names.
disable_dns_lookups = yes
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
biff = no

virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{dir}/etc/vmailbox
virtual_mailbox_base = {dir}/mail
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}

smtpd_tls_security_level = may
smtpd_tls_chain_files = {key_file}, {cert_file}
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1

smtpd_sasl_auth_enable = {sasl}
smtpd_sasl_type = dovecot
smtpd_sasl_path = {sasl_path}
"""

# Profile "hardened" (the default): the settings Postfix's own documentation recommends where its
# defaults keep old behaviour. Profile "defaults" leaves them at Postfix 3.7's (Debian 12's)
# defaults; docs/postfix-deviations.md lists what the suites find in each.
POSTFIX_HARDENING = {
    # Default: defer_unauth_destination (454, a temporary refusal) as a safety net.
    "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
    # SMTP smuggling (Postfix 3.7.10+ in Debian 12, default "no"): only <CR><LF>.<CR><LF> ends
    # DATA; lines ending in a bare LF are taken as CRLF lines.
    "smtpd_forbid_bare_newline": "normalize",
    "smtpd_forbid_bare_newline_exclusions": "",
    # Default: no; MAIL is accepted without HELO/EHLO.
    "smtpd_helo_required": "yes",
    # Default: no; VRFY tells which mailboxes exist.
    "disable_vrfy_command": "yes",
    # Default: >=TLSv1 (RFC 8996 forbids TLS 1.0 and 1.1).
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
    # Default: no; AUTH PLAIN/LOGIN offered and accepted before STARTTLS.
    "smtpd_tls_auth_only": "yes",
}
PROFILES = ("hardened", "defaults")

# What --misconfigured can switch on, for security suites that must catch it.
MISCONFIGURATIONS = {
    # Trusts every client address: permit_mynetworks then permits relaying for anyone.
    "open-relay": {"mynetworks": "0.0.0.0/0"},
    # Debian's Postfix 3.7 default: a line ending in a bare LF counts as a line, so <LF>.<LF>
    # (and <CR><LF>.<LF>) end DATA (SMTP smuggling).
    "bare-lf": {"smtpd_forbid_bare_newline": "no"},
}


def set_parameters(main_cf, params, why):
    """main.cf text with each of `params` set once: an existing "name = ..." line is replaced in
    place (Postfix warns about a parameter given twice), a new one appended; both marked `why`."""
    lines = main_cf.splitlines()
    appended = False
    for name, value in params.items():
        line = ("%s = %s" % (name, value)).rstrip()  # Postfix has no end-of-line comments
        at = [i for i, l in enumerate(lines) if l.split("=")[0].strip() == name and not l.startswith("#")]
        if at:
            lines[at[0]] = "# %s:\n%s" % (why, line)
            continue
        if not appended:
            lines.append("\n# %s:" % why)
            appended = True
        lines.append(line)
    return "\n".join(lines) + "\n"


class postfix_info:
    """A started Postfix peer: its work directory, ports and the facts cases need."""

    def __init__(self, info):
        self.__dict__.update(info)

    def target(self, listener="smtp"):
        """A mailconform target for one listener (a dict of target-file keys)."""
        t = {"host": "127.0.0.1", "port": self.ports[listener],
             "tls": {"smtp": "starttls", "submission": "starttls", "smtps": "implicit"}[listener],
             "local_domain": self.domain, "remote_domain": "example.net",
             "rcpt": "bob@" + self.domain, "cafile": self.cafile}
        if self.sasl:
            t["user"] = "alice@" + self.domain
            t["password"] = self.users["alice"]
        return t


def start_postfix(workdir, misconfigured=(), dovecot=None, profile="hardened", timeout=30):
    """Writes a private Postfix configuration under `workdir` and starts it. `profile` is
    "hardened" (POSTFIX_HARDENING on) or "defaults" (Postfix's defaults for those settings);
    `misconfigured` names MISCONFIGURATIONS to apply on top. `dovecot` is the work directory (or
    dovecot_info) of a started Dovecot peer whose auth socket Postfix then uses for AUTH; without
    it Postfix offers no AUTH. Returns postfix_info."""
    if shutil.which("postfix") is None:
        raise peer_error("postfix is not installed (scripts/setup installs it)")
    for m in misconfigured:
        if m not in MISCONFIGURATIONS:
            raise peer_error("unknown misconfiguration %r (known: %s)" % (m, ", ".join(MISCONFIGURATIONS)))
    if profile not in PROFILES:
        raise peer_error("unknown profile %r (known: %s)" % (profile, ", ".join(PROFILES)))
    workdir = os.path.abspath(workdir)
    state = prepare_dir(workdir)
    etc = os.path.join(workdir, "etc")
    os.makedirs(etc, exist_ok=True)
    for d in ("spool", "data"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    # The master writes its lock there and daemons their caches, as the mail_owner.
    pw = pwd.getpwnam("postfix")
    os.chown(os.path.join(workdir, "data"), pw.pw_uid, pw.pw_gid)
    prepare_mail_store(os.path.join(workdir, "mail"))
    tls = make_certificate(os.path.join(workdir, "tls"))
    write(os.path.join(etc, "vmailbox"),
          "".join("%s@%s %s/%s/\n" % (u, DOMAIN, DOMAIN, u) for u in USERS))
    sasl_path = ""
    if dovecot is not None:
        ddir = getattr(dovecot, "dir", dovecot)
        sasl_path = os.path.join(os.path.abspath(ddir), "run", "auth-postfix")
        if not os.path.exists(sasl_path):
            raise peer_error("no Dovecot auth socket at %s: start the Dovecot peer first" % sasl_path)

    main_cf = POSTFIX_MAIN_CF.format(dir=workdir, profile=profile, hostname=HOSTNAME, domain=DOMAIN, uid=MAIL_UID,
                                     gid=MAIL_GID, key_file=tls["key_file"], cert_file=tls["cert_file"],
                                     sasl="yes" if sasl_path else "no", sasl_path=sasl_path or "private/auth")
    main_cf = set_parameters(main_cf, POSTFIX_HARDENING if profile == "hardened" else {}, "profile hardened")
    for m in misconfigured:
        main_cf = set_parameters(main_cf, MISCONFIGURATIONS[m], "deliberately misconfigured: " + m)
    write(os.path.join(etc, "main.cf"), main_cf)

    last_error = None
    for _ in range(3):
        ports = dict(zip(("smtp", "submission", "smtps"), free_ports(3)))
        write(os.path.join(etc, "master.cf"), POSTFIX_MASTER_CF.format(
            smtp_addr="127.0.0.1:%d" % ports["smtp"], submission_addr="127.0.0.1:%d" % ports["submission"],
            smtps_addr="127.0.0.1:%d" % ports["smtps"], sasl="yes" if sasl_path else "no",
            submission_clients="permit_sasl_authenticated,reject" if sasl_path else "reject"))
        # "postfix start" creates the missing queue directories with their owners (postfix-files)
        # and returns once the master has bound its listeners ("master -w").
        r = subprocess.run(["postfix", "-c", etc, "start"], capture_output=True, text=True, timeout=timeout)
        pid = read_pid(os.path.join(workdir, "spool", "pid", "master.pid"))
        if r.returncode == 0 and pid:
            info = {"kind": "postfix", "dir": workdir, "config_dir": etc, "pid": pid, "ports": ports,
                    "domain": DOMAIN, "hostname": HOSTNAME, "users": USERS, "sasl": bool(sasl_path),
                    "profile": profile, "misconfigured": list(misconfigured), "log": os.path.join(workdir, "maillog"),
                    "mail_dir": os.path.join(workdir, "mail"), **tls}
            write(state, json.dumps(info, indent=2) + "\n")
            peer = postfix_info(info)
            for listener in ports:
                write(os.path.join(workdir, "mailconform-%s.yaml" % listener),
                      "".join("%s: %s\n" % (k, json.dumps(v)) for k, v in peer.target(listener).items()))
            try:
                deadline = time.monotonic() + timeout
                wait_for_port(ports["smtp"], deadline, banner=b"220 ")
                wait_for_port(ports["submission"], deadline, banner=b"220 ")
                wait_for_port(ports["smtps"], deadline)
            except peer_error:
                stop_postfix(workdir)
                raise
            return peer
        last_error = "postfix start: exit %d\n%s%s%s" % (r.returncode, r.stdout, r.stderr, tail(os.path.join(workdir, "maillog")))
        if pid:
            stop_pid(pid, 10)
        if "in use" not in last_error:
            break
    raise peer_error(last_error)


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def stop_pid(pid, seconds):
    """SIGTERM, wait, then SIGKILL: by PID only."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_pid_gone(pid, seconds):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_pid_gone(pid, 5)


def stop_postfix(workdir, timeout=20):
    """Stops the Postfix peer in `workdir`: "postfix stop" (which signals the master by its PID
    file), then waits for that PID to exit, and kills it if it does not. Quiet when nothing runs."""
    workdir = os.path.abspath(workdir)
    etc = os.path.join(workdir, "etc")
    pid = read_pid(os.path.join(workdir, "spool", "pid", "master.pid"))
    if pid is None:
        info = load_info(workdir)
        pid = info.get("pid") if info else None
    if pid is None or not pid_alive(pid):
        return False
    if os.path.exists(os.path.join(etc, "main.cf")):
        subprocess.run(["postfix", "-c", etc, "stop"], capture_output=True, text=True, timeout=timeout)
    # The master's children exit when it does; the master ignores SIGPIPE, not SIGTERM/SIGKILL.
    if not wait_pid_gone(pid, timeout):
        stop_pid(pid, 5)
    return True


def load_info(workdir):
    with contextlib.suppress(OSError, ValueError):
        return json.load(open(os.path.join(workdir, "peer.json")))
    return None


# ---------------------------------------------------------------------------------------------
# Dovecot

DOVECOT_CONF = """\
# Private Dovecot peer of mailharness (tests/peers/peers.py). Every path is inside {dir}.
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = mailharness-peer
protocols = imap pop3
listen = 127.0.0.1
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
auth_verbose = yes

ssl = yes
ssl_cert = <{cert_file}
ssl_key = <{key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%d/%n
}}
# The layout Postfix's virtual(8) writes: <base>/<domain>/<user>/ as a Maildir.
mail_location = maildir:{mail}/%d/%n
first_valid_uid = 1
first_valid_gid = 1

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
service auth {{
  # SASL for the Postfix peer (smtpd_sasl_type = dovecot).
  unix_listener auth-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""


class dovecot_info(postfix_info):
    def target(self, listener="imap"):
        return {"host": "127.0.0.1", "port": self.ports[listener], "user": "alice@" + self.domain,
                "password": self.users["alice"], "cafile": self.cafile}


def start_dovecot(workdir, timeout=30, mail_dir=None):
    """Writes a private Dovecot configuration under `workdir` and starts it (IMAP and POP3, with
    and without implicit TLS; an auth socket for Postfix). `mail_dir` is the mail store to serve
    (default workdir/mail; give the Postfix peer's mail_dir to read what it delivered).
    Returns dovecot_info."""
    if shutil.which("dovecot") is None:
        raise peer_error("dovecot is not installed (scripts/setup installs dovecot-imapd, dovecot-pop3d)")
    workdir = os.path.abspath(workdir)
    state = prepare_dir(workdir)
    for d in ("run", "state"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
        os.chmod(os.path.join(workdir, d), 0o755)
    mail = os.path.abspath(mail_dir) if mail_dir else os.path.join(workdir, "mail")
    prepare_mail_store(mail)
    tls = make_certificate(os.path.join(workdir, "tls"))
    write(os.path.join(workdir, "passwd"), "".join("%s@%s:{PLAIN}%s\n" % (u, DOMAIN, p) for u, p in USERS.items()), 0o640)
    # Read by the auth worker, which runs as default_internal_user (dovecot).
    os.chown(os.path.join(workdir, "passwd"), 0, grp.getgrnam("dovecot").gr_gid)
    conf = os.path.join(workdir, "dovecot.conf")
    pid_file = os.path.join(workdir, "run", "master.pid")
    last_error = None
    for _ in range(3):
        ports = dict(zip(("imap", "imaps", "pop3", "pop3s"), free_ports(4)))
        write(conf, DOVECOT_CONF.format(dir=workdir, mail=mail, uid=MAIL_UID, gid=MAIL_GID, **ports, **tls))
        # dovecot daemonizes; its children keep stdout/stderr, so these go to a file, not a pipe.
        with open(os.path.join(workdir, "dovecot.start.log"), "w+") as out:
            r = subprocess.run(["dovecot", "-c", conf], stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout)
            out.seek(0)
            r.stdout, r.stderr = out.read(), ""
        deadline = time.monotonic() + timeout
        pid = None
        while time.monotonic() < deadline and r.returncode == 0:
            pid = read_pid(pid_file)
            if pid:
                break
            time.sleep(0.05)
        if r.returncode == 0 and pid:
            info = {"kind": "dovecot", "dir": workdir, "config": conf, "pid": pid, "ports": ports, "domain": DOMAIN,
                    "users": USERS, "sasl": True, "log": os.path.join(workdir, "dovecot.log"), "mail_dir": mail,
                    "auth_socket": os.path.join(workdir, "run", "auth-postfix"), **tls}
            write(state, json.dumps(info, indent=2) + "\n")
            try:
                wait_for_port(ports["imap"], deadline, banner=b"* OK")
                wait_for_port(ports["pop3"], deadline, banner=b"+OK")
                wait_for_port(ports["imaps"], deadline)
                wait_for_port(ports["pop3s"], deadline)
                while not os.path.exists(info["auth_socket"]):
                    if time.monotonic() > deadline:
                        raise peer_error("no auth socket at " + info["auth_socket"])
                    time.sleep(0.05)
            except peer_error:
                stop_dovecot(workdir)
                raise
            return dovecot_info(info)
        last_error = "dovecot start: exit %d\n%s%s%s" % (r.returncode, r.stdout, r.stderr, tail(os.path.join(workdir, "dovecot.log")))
        if pid:
            stop_pid(pid, 10)
        if "in use" not in last_error:
            break
    raise peer_error(last_error)


def stop_dovecot(workdir, timeout=20):
    """Stops the Dovecot peer in `workdir` by its master's PID (SIGTERM, wait, SIGKILL)."""
    workdir = os.path.abspath(workdir)
    pid = read_pid(os.path.join(workdir, "run", "master.pid"))
    if pid is None:
        info = load_info(workdir)
        pid = info.get("pid") if info else None
    if pid is None or not pid_alive(pid):
        return False
    stop_pid(pid, timeout)
    return True


# ---------------------------------------------------------------------------------------------
# Context managers for tests


def stop_peers_on_sigterm():
    """Makes SIGTERM (and SIGHUP) raise SystemExit in this process, so that the `with` blocks of
    postfix_peer/dovecot_peer stop their daemons when a test runner terminates the test; the
    daemonized masters would otherwise outlive it."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


@contextlib.contextmanager
def _peer(start, stop, workdir, prefix, **kw):
    own = workdir is None
    if own:
        workdir = tempfile.mkdtemp(prefix=prefix)
    try:
        info = start(workdir, **kw)
        try:
            yield info
        finally:
            stop(workdir)
    finally:
        if own and not os.environ.get("MH_PEERS_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


def postfix_peer(workdir=None, misconfigured=(), dovecot=None, profile="hardened"):
    """`with postfix_peer() as p:` a started Postfix peer (postfix_info: p.ports["smtp"], p.domain,
    p.cafile, p.target()), stopped on exit; its work directory is a fresh temporary one (removed
    afterwards unless MH_PEERS_KEEP is set) when `workdir` is None."""
    return _peer(start_postfix, stop_postfix, workdir, "mh-postfix-", misconfigured=tuple(misconfigured), dovecot=dovecot,
                 profile=profile)


def dovecot_peer(workdir=None, mail_dir=None):
    """`with dovecot_peer() as d:` a started Dovecot peer (dovecot_info: d.ports["imap"], ...)."""
    return _peer(start_dovecot, stop_dovecot, workdir, "mh-dovecot-", mail_dir=mail_dir)


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("postfix-start", help="start a private Postfix in DIR; prints NAME PORT lines")
    ps.add_argument("dir")
    ps.add_argument("--misconfigured", action="append", default=[], choices=sorted(MISCONFIGURATIONS))
    ps.add_argument("--dovecot", metavar="DDIR", help="a started Dovecot peer's directory: AUTH through its auth socket")
    ps.add_argument("--profile", default="hardened", choices=PROFILES,
                    help="hardened: Postfix's documented hardening on (default); defaults: Postfix's defaults")
    sub.add_parser("postfix-stop", help="stop the Postfix peer in DIR").add_argument("dir")
    ds = sub.add_parser("dovecot-start", help="start a private Dovecot in DIR; prints NAME PORT lines")
    ds.add_argument("dir")
    ds.add_argument("--mail-dir", help="mail store to serve (e.g. the Postfix peer's DIR/mail)")
    sub.add_parser("dovecot-stop", help="stop the Dovecot peer in DIR").add_argument("dir")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "postfix-start":
            info = start_postfix(a.dir, misconfigured=a.misconfigured, dovecot=a.dovecot, profile=a.profile)
        elif a.cmd == "dovecot-start":
            info = start_dovecot(a.dir, mail_dir=a.mail_dir)
        else:
            stopped = (stop_postfix if a.cmd == "postfix-stop" else stop_dovecot)(a.dir)
            print("stopped" if stopped else "not running")
            return 0
    except (peer_error, OSError, subprocess.SubprocessError) as e:
        print("%s: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    for name, port in info.ports.items():
        print(name, port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
