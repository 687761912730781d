// The queue runner: delivers spooled messages to their next hops, on the server's io_context.
//
// Every poll_interval (and whenever a message is enqueued) the runner starts a delivery for each
// message whose next attempt is due, up to `concurrency` at a time. A delivery:
//   1. locks the message (spool_lock) and re-reads its envelope (it may have been deleted);
//   2. groups the pending recipients by next hop: the transport map entry of their domain, or
//      the domain's MX hosts (dns.hpp, looked up on a worker thread), A/AAAA when it has none;
//   3. per group, tries the hosts in order (and each address of a host) until one of them takes
//      part in a transaction (core/smtp/client_session.hpp: EHLO, STARTTLS, PIPELINING, SIZE, DATA), with
//      the RFC 5321 4.5.3.2 timeouts; at most 100 recipients per transaction;
//   4. records each recipient's result in the envelope: 2xx delivered, 5xx failed, anything else
//      (4xx, connection or DNS trouble, timeouts) stays pending with its last error;
//   5. when nothing is pending any more: one DSN (dsn.hpp) for the failed recipients unless the
//      sender was null, delivered into the local store (sender in a local domain) or enqueued
//      (remote sender, null reverse-path), then the message is removed; otherwise the envelope
//      is rewritten with the next attempt after an exponential backoff, or, once the message is
//      older than max_lifetime, its pending recipients fail as expired and step 5 applies.
//
// Delivery is at least once: a crash after the next hop accepted a message but before the
// envelope update is durable sends it again after the restart.
//
// No Asio in this header (the io_context is only forward-declared); coroutines live in runner.cpp.
#pragma once

#include "mailharness/refmaild/queue/envelope.hpp"
#include "mailharness/refmaild/queue/spool.hpp"
#include "mailharness/refmaild/queue/transport_map.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace boost::asio {
class io_context;
}

namespace mailharness::refmaild::queue {

struct runner_settings {
    /// Our name: EHLO argument, DSN Reporting-MTA and From: MAILER-DAEMON@.
    std::string hostname = "localhost";
    retry_schedule retry;
    /// Messages delivered at the same time.
    unsigned concurrency = 20;
    /// TCP connect, per address tried.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    /// RFC 5321 4.5.3.2.1: initial 220 greeting (5 minutes); also the STARTTLS handshake.
    std::chrono::milliseconds greeting_timeout{std::chrono::minutes(5)};
    /// RFC 5321 4.5.3.2.2-3: replies to EHLO, MAIL, RCPT (5 minutes).
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
    /// RFC 5321 4.5.3.2.4: reply to DATA (2 minutes).
    std::chrono::milliseconds data_init_timeout{std::chrono::minutes(2)};
    /// RFC 5321 4.5.3.2.5: each write of message data (3 minutes).
    std::chrono::milliseconds data_block_timeout{std::chrono::minutes(3)};
    /// RFC 5321 4.5.3.2.6: reply to the final dot (10 minutes).
    std::chrono::milliseconds data_end_timeout{std::chrono::minutes(10)};
    /// TLS for MX hops and transport entries that do not say.
    tls_policy default_tls = tls_policy::opportunistic;
    /// Verify the certificate (chain and host name) when TLS is required. Opportunistic TLS is
    /// never verified (RFC 7435).
    bool tls_verify = true;
    /// CA certificates for verification (PEM); empty: the system's default store.
    std::filesystem::path tls_ca_file;
    /// Transport map file (transport_map.hpp); empty: MX records only. Re-read when it changes.
    std::filesystem::path transport_map;
    /// How often the runner looks for due messages, a flush request and a changed transport map.
    std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
    /// Largest message file read for delivery.
    std::uint64_t max_message_size = 1ull << 30;
    /// TCP port used for MX hosts.
    std::uint16_t mx_port = 25;
    /// DNS server for MX lookups, "IPv4[:port]"; empty: the system resolver's (/etc/resolv.conf).
    std::string dns_server;
};

enum class runner_log_level { debug, info, warn, error };

/// What the runner needs from the server. Every function may be called from any io thread.
struct runner_hooks {
    /// Whether `domain` (lower case) is one of ours: bounces to such senders go to the store.
    std::function<bool(std::string_view domain)> is_local_domain;
    /// Delivers `message` into the local mailbox `address` and calls done(ec) once it is durable
    /// (from any thread). Returns false, without calling done, when there is no such mailbox.
    std::function<bool(const std::string& address, std::string message, std::function<void(std::error_code)> done)>
        deliver_local;
    /// One log line ("event=... id=..."), at a level.
    std::function<void(runner_log_level, const std::string&)> log;
};

/// Counters since start (relaxed snapshot).
struct runner_stats {
    std::uint64_t queued = 0;        ///< messages in the queue now
    std::uint64_t in_flight = 0;     ///< deliveries running now
    std::uint64_t enqueued = 0;      ///< messages added (relayed mail and queued bounces)
    std::uint64_t delivered = 0;     ///< recipients accepted by a next hop
    std::uint64_t deferred = 0;      ///< recipient attempts that failed temporarily
    std::uint64_t bounced = 0;       ///< recipients failed (permanently or expired)
    std::uint64_t dsn_sent = 0;      ///< DSNs delivered locally or queued
    std::uint64_t dsn_suppressed = 0;  ///< failed messages with a null sender: no DSN
    std::uint64_t connections = 0;   ///< SMTP connections opened
    std::uint64_t connection_failures = 0;  ///< connects, handshakes or greetings that failed
};

class runner {
public:
    /// Builds the TLS client context (throws std::runtime_error when tls_ca_file cannot be read).
    /// Touches no file of the spool yet.
    runner(boost::asio::io_context& ioc, runner_settings settings, spool& sp, runner_hooks hooks);
    ~runner();
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;

    /// Recovers the spool (scan_mode::recover, problems logged), loads the transport map and
    /// starts the poll loop. Deliveries start once the io_context runs.
    void start();

    /// Stops starting deliveries; deliveries in progress end when the io_context stops (their
    /// messages stay queued). Joins the DNS worker threads. Idempotent.
    void stop();

    /// A message was enqueued (its files are durable): schedule it. Thread-safe.
    void notify_enqueued(const envelope& e);

    runner_stats stats() const noexcept;

    struct core;  ///< implementation (runner.cpp)

private:
    std::shared_ptr<core> core_;
};

}  // namespace mailharness::refmaild::queue
