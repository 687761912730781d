// refmaild settings: one plain struct per component, every default in code.
//
// The YAML file (see config_loader.hpp and reference-server/README.md) maps one-to-one onto these
// structs: top-level key = member of refmaild_settings, nested key = member of that struct. Tests
// build settings with designated initializers; the loader only overrides what the file sets.
#pragma once

#include "mailharness/refmaild/maildir_store.hpp"
#include "mailharness/refmaild/queue/transport_map.hpp"
#include "mailharness/refmaild/rules.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mailharness::refmaild::config {

/// gethostname(2) when it is a valid host name, else "localhost".
std::string default_hostname();

/// std::thread::hardware_concurrency(), at least 1.
unsigned default_io_threads();

struct server_settings {
    /// The server's own name: SMTP greeting and EHLO reply, Received: headers, Maildir unique names.
    std::string hostname = default_hostname();
    /// Threads running the network event loop.
    unsigned io_threads = default_io_threads();
    /// Text after "220 <hostname> " in the SMTP greeting. Names no software and no version.
    std::string smtp_banner = "ESMTP ready";
    /// Text after "+OK " in the POP3 greeting (an APOP timestamp is appended when APOP is offered).
    std::string pop3_banner = "ready";
    /// Text after "* OK " (and any [CAPABILITY ...] code) in the IMAP greeting.
    std::string imap_banner = "ready";
};

/// One listening socket.
struct listener_settings {
    /// Whether to listen at all.
    bool enabled = true;
    /// IPv4 or IPv6 literal to bind ("0.0.0.0" / "::" for all addresses).
    std::string address = "127.0.0.1";
    /// TCP port; 0 lets the kernel choose (tests read the bound port back).
    std::uint16_t port = 25;
    /// Greeting text for this listener; empty: the server's <protocol>_banner.
    std::string banner;
    /// Login methods this listener offers and accepts, in lower case: "user" (POP3 USER/PASS,
    /// IMAP LOGIN), "apop", and SASL mechanism names ("plain", "login", "cram-md5",
    /// "scram-sha-256"). Empty: all the protocol supports. A method left out is refused with
    /// the protocol's authentication error (POP3 "-ERR [AUTH]"), e.g. ["apop", "cram-md5",
    /// "scram-sha-256"] requires a challenge-response login, as IMail lets an operator require
    /// APOP. Password methods still need TLS unless auth.allow_plaintext_auth.
    std::vector<std::string> login_methods;
};

struct listeners_settings {
    /// SMTP relay/MX port: STARTTLS offered when TLS is configured.
    listener_settings smtp{.enabled = true, .address = "127.0.0.1", .port = 25};
    /// Message submission (RFC 6409): STARTTLS, AUTH required.
    listener_settings submission{.enabled = true, .address = "127.0.0.1", .port = 587};
    /// Submission over implicit TLS (RFC 8314); needs tls.cert_file and tls.key_file.
    listener_settings smtps{.enabled = false, .address = "127.0.0.1", .port = 465};
    /// POP3 (RFC 1939) with STLS (RFC 2595) when TLS is configured.
    listener_settings pop3{.enabled = false, .address = "127.0.0.1", .port = 110};
    /// POP3 over implicit TLS (RFC 8314); needs tls.cert_file and tls.key_file.
    listener_settings pop3s{.enabled = false, .address = "127.0.0.1", .port = 995};
    /// IMAP4rev1 (RFC 3501) with STARTTLS when TLS is configured.
    listener_settings imap{.enabled = false, .address = "127.0.0.1", .port = 143};
    /// IMAP over implicit TLS (RFC 8314); needs tls.cert_file and tls.key_file.
    listener_settings imaps{.enabled = false, .address = "127.0.0.1", .port = 993};
};

enum class tls_version { v1_2, v1_3 };

/// Client certificate policy (the server always sends its CA list from ca_file when asking).
enum class client_cert_mode {
    none,      ///< never ask
    optional,  ///< ask; a missing certificate is fine, an invalid one fails the handshake
    required,  ///< ask; no valid certificate, no connection
};

struct tls_settings {
    /// PEM certificate chain, leaf first. Empty: no TLS at all (no STARTTLS, smtps not allowed).
    std::filesystem::path cert_file;
    /// PEM private key of the leaf certificate (keep it mode 0600).
    std::filesystem::path key_file;
    /// PEM CA certificates that client certificates must chain to. Needed unless client_cert is none.
    std::filesystem::path ca_file;
    /// Oldest protocol version accepted.
    tls_version min_version = tls_version::v1_2;
    /// TLS 1.2 cipher list, OpenSSL syntax (default: Mozilla "intermediate", ECDHE + AEAD only).
    std::string ciphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
    /// TLS 1.3 cipher suites, OpenSSL syntax.
    std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
    /// Key exchange groups, OpenSSL syntax, in preference order.
    std::string groups = "X25519:P-256:P-384";
    /// Whether to ask clients for a certificate.
    client_cert_mode client_cert = client_cert_mode::none;
    /// Time a client has to complete a TLS handshake (implicit TLS, STARTTLS, STLS) from its
    /// start; a half ClientHello or a silent client is cut then.
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(30)};
    /// Time the server waits for the client's close_notify after sending its own at the end of
    /// a TLS session; a client that ignores it is cut then.
    std::chrono::milliseconds close_timeout{std::chrono::seconds(5)};
    /// --check-config warns when the certificate expires within this many days (0: never warn).
    unsigned expiry_warning_days = 30;
};

struct auth_settings {
    /// passwd-file with the users (user@domain:{SCHEME}secret). Empty: no AUTH, no POP3/IMAP login.
    std::filesystem::path passwd_file;
    /// Allow password mechanisms (AUTH PLAIN/LOGIN, POP3 USER/PASS, IMAP LOGIN) without TLS.
    /// Only for tests on loopback: it sends passwords in clear.
    bool allow_plaintext_auth = false;
    /// Delay before answering the first failed authentication of a connection; doubled on each
    /// further failure (slows down password guessing).
    std::chrono::milliseconds failure_delay_base{1000};
    /// Upper bound of that delay.
    std::chrono::milliseconds failure_delay_max{8000};
};

struct storage_settings {
    /// Root of the mail store: <maildir_root>/<domain>/<user>/Maildir. Created on first delivery.
    std::filesystem::path maildir_root = "/var/lib/refmaild/maildir";
    /// Directory for server state other than mailboxes (outbound queue, UID lists, ...).
    std::filesystem::path data_dir = "/var/lib/refmaild";
    /// How a delivery batch is made durable: per_file (fdatasync each message, fsync each new/
    /// once per batch) or syncfs (two syncfs(2) per batch; best on a dedicated file system).
    store::sync_mode sync = store::sync_mode::per_file;
    /// How long a delivery batch waits for more deliveries before committing (0: commit at once).
    std::chrono::microseconds batch_delay{0};
    /// Most deliveries committed in one batch.
    std::size_t max_batch = 256;
};

/// What to do with a bare LF (no CR before it) in SMTP input.
enum class bare_lf_policy {
    reject,     ///< refuse the command or message (the defence against SMTP smuggling)
    normalize,  ///< treat it as CRLF
};

struct smtp_settings {
    /// Largest message accepted, in octets, announced in EHLO SIZE (RFC 1870).
    std::uint64_t max_message_size = 25u << 20;
    /// Most RCPT TO accepted per transaction (RFC 5321 4.5.3.1.8 asks for at least 100).
    unsigned max_recipients = 100;
    /// Longest command line, in octets including CRLF (RFC 5321 4.5.3.1.4: at least 512).
    std::size_t max_line_length = 512;
    /// Bare LF handling in commands and in DATA.
    bare_lf_policy bare_lf = bare_lf_policy::reject;
    /// Time allowed for each command line to arrive (RFC 5321 4.5.3.2.7: at least 5 minutes).
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
    /// Time allowed between two reads of DATA content (RFC 5321 4.5.3.2.5: 3 minutes).
    std::chrono::milliseconds data_timeout{std::chrono::minutes(3)};
    /// Failed commands (4xx/5xx replies) after which the session is closed with 421 (0: no limit).
    unsigned max_errors = 20;
    /// Each failed command past the third is answered this much later than the one before it
    /// (slows down probing and dictionary attacks; 0: no delay).
    std::chrono::milliseconds error_delay_step{100};
    /// Messages accepted in one session; MAIL past it gets 452 4.7.0 (0: no limit).
    unsigned max_messages_per_session = 1000;
    /// Simultaneous SMTP connections in total; more get 421 4.7.0 at connect (0: no limit).
    unsigned max_connections = 2000;
    /// Simultaneous SMTP connections from one client IP; more get 421 4.7.0 (0: no limit).
    unsigned max_connections_per_ip = 100;
    /// Command lines in one session; past it the session is closed with 421 4.7.0 (0: no limit).
    unsigned max_commands_per_session = 10000;
    /// Longest a session may last, whatever it does; then the connection is closed, so that a slow
    /// client cannot hold a slot forever (0: no limit).
    std::chrono::milliseconds session_timeout{std::chrono::hours(1)};
    /// Largest message header (everything before the first empty line), in octets; a larger one
    /// is refused with 552 5.3.4 after DATA (0: no limit).
    std::uint64_t max_header_size = 256u << 10;
    /// Most Received: header fields a message may carry; more means a mail loop, refused with
    /// 554 5.4.6 after DATA (RFC 5321 6.3; 0: no limit).
    unsigned max_hops = 50;
    /// Lowest average rate, in octets per second, at which DATA and BDAT content must arrive once
    /// data_rate_grace has passed (Postfix's smtpd_min_data_rate is 500): a client that trickles
    /// a message cannot hold a slot for data_timeout per byte (0: no minimum).
    std::uint64_t min_data_rate = 500;
    /// Most message octets all SMTP sessions together may hold in memory while receiving
    /// DATA/BDAT; a transfer that would go past it is read to its end but dropped, and refused
    /// with 452 4.3.1 (the client retries later). 0: no limit.
    std::uint64_t max_buffered_total = 1ull << 30;
    /// The same bound for the sessions of one client IP.
    std::uint64_t max_buffered_per_ip = 256ull << 20;
    /// Time at the start of a DATA transfer or BDAT chunk before min_data_rate applies.
    std::chrono::milliseconds data_rate_grace{std::chrono::seconds(30)};
    /// Unknown local recipients (RCPT 550 5.1.1) an unauthenticated client on the smtp listener
    /// may name in one session before it is told 421 and disconnected; from the second on, each
    /// reply waits longer (unknown_recipient_delay, doubled each time, at most 10 s). This stops
    /// a scanner listing mailboxes through RCPT TO, as Postfix's error counters and tarpitting do.
    /// The trade-off: accepting every recipient and bouncing later would hide the user list too,
    /// but sends backscatter to forged senders; refusing at RCPT and rate-limiting does not. 0: off.
    unsigned unknown_recipient_limit = 5;
    /// The first tarpit delay (see unknown_recipient_limit).
    std::chrono::milliseconds unknown_recipient_delay{std::chrono::seconds(1)};
    /// Disconnections for unknown recipients after which the client IP is banned for
    /// policy.enumeration_ban (within an hour; 0: never ban).
    unsigned unknown_recipient_ban_after = 3;
    /// Reply to VRFY and EXPN: 252 (RFC 5321 3.5.3 "cannot verify"; EXPN still gets 502) or 502
    /// (both disabled). Never a user list.
    int vrfy_reply = 252;
};

struct pop3_settings {
    /// Longest command line in octets, CRLF included (RFC 2449 4: 255). A longer line gets
    /// -ERR and the connection is closed; with ban_long_lines the client IP is also banned for
    /// policy.long_line_ban, as for SMTP. SASL responses have their own limit (12,288).
    std::size_t max_line_length = 255;
    /// Ban the IP of a client that sends a line over max_line_length.
    bool ban_long_lines = true;
    /// Time allowed for a command line before login (Dovecot closes idle unauthenticated clients
    /// sooner than logged-in ones).
    std::chrono::milliseconds login_timeout{std::chrono::minutes(1)};
    /// Time allowed for a command line after login (RFC 1939 3: the autologout timer is at
    /// least 10 minutes).
    std::chrono::milliseconds command_timeout{std::chrono::minutes(10)};
    /// Longest a session may last (0: no limit).
    std::chrono::milliseconds session_timeout{std::chrono::hours(1)};
    /// Time allowed for each write of a RETR/TOP response to make progress.
    std::chrono::milliseconds write_timeout{std::chrono::minutes(5)};
    /// Failed commands (-ERR) after which the session is closed (0: no limit).
    unsigned max_errors = 20;
    /// Failed logins in one session after which it is closed (Dovecot: 3).
    unsigned max_auth_failures = 3;
    /// Simultaneous POP3 connections in total and per client IP (0: no limit).
    unsigned max_connections = 1000;
    unsigned max_connections_per_ip = 20;
};

struct imap_settings {
    /// Longest command line in octets without its literals (Dovecot's imap_max_line_length,
    /// 64 KiB). A longer line gets BAD and is discarded; with ban_long_lines the IP is banned.
    std::size_t max_line_length = 65536;
    /// Ban the IP of a client that sends a line over max_line_length.
    bool ban_long_lines = false;
    /// Largest APPEND message in octets (streamed to disk, never held in memory).
    std::uint64_t max_message_size = 64u << 20;
    /// Time allowed for a command line before login.
    std::chrono::milliseconds login_timeout{std::chrono::minutes(1)};
    /// Autologout timer after login, IDLE included (RFC 3501 5.4: at least 30 minutes).
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(30)};
    /// Longest a session may last (0: no limit).
    std::chrono::milliseconds session_timeout{std::chrono::hours(24)};
    /// Time allowed for each write to make progress.
    std::chrono::milliseconds write_timeout{std::chrono::minutes(5)};
    /// BAD or NO replies in a row after which the session is closed (0: no limit).
    unsigned max_errors = 20;
    /// Failed logins in one session after which it is closed (Dovecot: 3).
    unsigned max_auth_failures = 3;
    /// Simultaneous IMAP connections in total and per client IP (0: no limit).
    unsigned max_connections = 1000;
    unsigned max_connections_per_ip = 50;
    /// Sessions of one user from one IP (Dovecot's mail_max_userip_connections, 10).
    unsigned max_user_ip_connections = 10;
};

/// Who may send with the null reverse-path <> (bounces, RFC 5321 4.5.5).
enum class null_sender_policy {
    local_only,  ///< <> is accepted, but only for local recipients: never relayed (default)
    accept,      ///< <> may be relayed by clients that may relay anyway (authenticated, trusted)
    refuse,      ///< MAIL FROM:<> is refused (550 5.7.1); breaks bounces, for submission-only servers
};

/// Relay control and anti-abuse lists and bans (see reference-server/policy/).
///
/// Mail to a recipient outside local_domains is relayed only when the client authenticated, or its
/// IP is in trusted_networks, or the accept file lists its IP, its (forward-confirmed reverse DNS)
/// host name or the envelope sender. Otherwise RCPT gets 554 5.7.1. Relay tricks (source routes,
/// '%' and '!' in the local part, a quoted local part holding '@', address literals) are never
/// relayed, whoever asks.
struct policy_settings {
    /// Networks whose clients may relay without authenticating (CIDR, IPv4 or IPv6), e.g.
    /// ["127.0.0.0/8", "::1/128"]. Empty: none.
    std::vector<std::string> trusted_networks;
    /// Accept file (same syntax as the kill file): client IPs/CIDRs, host names and envelope
    /// senders that may relay and are exempt from smtp.max_recipients and
    /// smtp.max_messages_per_session. Empty: none. Reloaded on SIGHUP.
    std::filesystem::path accept_file;
    /// Null reverse-path handling.
    null_sender_policy null_sender = null_sender_policy::local_only;
    /// Relayed messages (any recipient not local) must have a From: or Reply-To: header field;
    /// without one the message is refused with 550 5.7.1 after DATA.
    bool relay_requires_from = true;
    /// Kill file: IPs, CIDRs, domains, user@domain and wildcard entries that are refused (an IP at
    /// connect with 554, a sender or recipient with 550 5.7.1). Empty: none. Reloaded on SIGHUP.
    std::filesystem::path kill_file;
    /// How long a client IP is banned after sending a command line over smtp.max_line_length.
    /// Banned IPs get 554 at connect; bans are kept in <store.data_dir>/bans across restarts.
    /// 0 disables the ban (the connection is still closed).
    std::chrono::milliseconds long_line_ban{std::chrono::hours(1)};
    /// How long a client IP is banned after smtp.unknown_recipient_ban_after disconnections for
    /// naming unknown recipients (mailbox enumeration). 0 disables the ban.
    std::chrono::milliseconds enumeration_ban{std::chrono::hours(1)};
};

struct metrics_settings {
    /// Whether to serve the Prometheus /metrics endpoint.
    bool enabled = false;
    /// Address of the admin HTTP listener (keep it on loopback or a management network).
    std::string address = "127.0.0.1";
    /// Port of the admin HTTP listener (0: kernel chooses).
    std::uint16_t port = 9465;
};

/// The outbound relay queue (reference-server/queue/): relayed mail is spooled durably and
/// delivered over SMTP to the next hop, retried with exponential backoff, bounced with a DSN.
struct queue_settings {
    /// Spool directory (one .msg and one .env file per message). Empty: <store.data_dir>/queue.
    std::filesystem::path spool_dir;
    /// Transport map ("domain host:port [tls=...]" lines); empty: MX records only. Re-read when
    /// the file changes.
    std::filesystem::path transport_map;
    /// Delay before the second attempt; doubled for each further attempt up to retry_max.
    std::chrono::milliseconds retry_min{std::chrono::minutes(5)};
    /// Longest delay between two attempts.
    std::chrono::milliseconds retry_max{std::chrono::hours(1)};
    /// Undelivered recipients bounce (DSN) once a message has been queued this long
    /// (RFC 5321 4.5.4.1: give up after at least 4-5 days).
    std::chrono::milliseconds max_lifetime{std::chrono::hours(24 * 5)};
    /// Messages delivered at the same time.
    unsigned concurrency = 20;
    /// TCP connect to a next hop, per address.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    /// Initial 220 greeting and STARTTLS handshake (RFC 5321 4.5.3.2.1: 5 minutes).
    std::chrono::milliseconds greeting_timeout{std::chrono::minutes(5)};
    /// Replies to EHLO, MAIL and RCPT (RFC 5321 4.5.3.2.2-3: 5 minutes).
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
    /// Reply to DATA (RFC 5321 4.5.3.2.4: 2 minutes).
    std::chrono::milliseconds data_init_timeout{std::chrono::minutes(2)};
    /// Each write of message data (RFC 5321 4.5.3.2.5: 3 minutes).
    std::chrono::milliseconds data_block_timeout{std::chrono::minutes(3)};
    /// Reply to the final dot (RFC 5321 4.5.3.2.6: 10 minutes).
    std::chrono::milliseconds data_end_timeout{std::chrono::minutes(10)};
    /// STARTTLS for MX hops and transport map entries that do not say.
    queue::tls_policy default_tls = queue::tls_policy::opportunistic;
    /// Verify the next hop's certificate (chain and name) when TLS is required.
    bool tls_verify = true;
    /// PEM CA certificates for that verification; empty: the system's default store.
    std::filesystem::path tls_ca_file;
    /// How often the runner looks for due messages, `refmaild queue flush` requests and a
    /// changed transport map.
    std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
    /// TCP port of MX hosts.
    std::uint16_t mx_port = 25;
    /// DNS server for MX lookups, "IPv4[:port]"; empty: the system resolver's (/etc/resolv.conf).
    std::string dns_server;
};

enum class log_level { trace, debug, info, warn, error };

struct log_settings {
    /// Least severe level written.
    log_level level = log_level::info;
};

struct refmaild_settings {
    server_settings server;
    listeners_settings listeners;
    tls_settings tls;
    auth_settings auth;
    storage_settings store;
    smtp_settings smtp;
    pop3_settings pop3;
    imap_settings imap;
    /// Domains the server accepts mail for, besides the domains of the users in auth.passwd_file.
    /// Lower case after loading.
    std::vector<std::string> local_domains;
    policy_settings policy;
    /// Processing rules evaluated for every incoming message (see rules.hpp for the YAML form).
    rules::rule_set rules;
    queue_settings queue;
    metrics_settings metrics;
    log_settings log;
};

/// The spool directory in effect: queue.spool_dir, or <store.data_dir>/queue when that is empty.
inline std::filesystem::path queue_spool_dir(const refmaild_settings& s) {
    return s.queue.spool_dir.empty() ? s.store.data_dir / "queue" : s.queue.spool_dir;
}

}  // namespace mailharness::refmaild::config
