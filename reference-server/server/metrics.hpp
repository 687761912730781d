// refmaild's counters, rendered in the Prometheus text exposition format on /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mailharness::refmaild {

struct latency_histogram {
    static constexpr std::array<double, 12> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_us{0};
    void observe(double seconds);
};

/// A counter per reason (label value), created on first use. Thread-safe.
class labelled_counter {
public:
    void add(const std::string& label, std::uint64_t n = 1);
    std::map<std::string, std::uint64_t> snapshot() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> values_;
};

struct metric_counters {
    std::atomic<std::int64_t> connections_active{0};
    /// Most connections_active seen since the memory trimmer last looked (it resets it).
    std::atomic<std::int64_t> connections_peak{0};
    std::atomic<std::uint64_t> messages_accepted{0};
    /// Messages refused after DATA/BDAT, by reason: too_big, bare_newline, header, loop,
    /// relay_without_from, rule, delivery_failed, ...
    labelled_counter messages_rejected;
    /// RCPT TO refused, by reason: unknown_user, relay_denied, relay_trick, kill_file, limit.
    labelled_counter recipients_rejected;
    std::atomic<std::uint64_t> discarded_by_rule{0};
    std::atomic<std::uint64_t> session_limit_closes{0};
    std::atomic<std::uint64_t> bytes_received{0};
    /// Authentication attempts by protocol and result ("smtp/success", "pop3/failure").
    labelled_counter auth;
    std::atomic<std::uint64_t> tls_handshakes{0}, tls_failures{0};
    std::atomic<std::uint64_t> long_lines{0};
    /// Connections refused before the session, by reason: connection_limit, banned, kill_file,
    /// descriptors.
    labelled_counter refused;
    /// Sessions the server closed, by reason (timeout, too_many_errors, line_too_long, ...).
    labelled_counter server_closes;
    /// POP3 commands by verb, and messages retrieved/deleted.
    labelled_counter pop3_commands;
    /// IMAP commands, by verb ("FETCH", "UID FETCH", "unknown").
    labelled_counter imap_commands;
    std::atomic<std::uint64_t> imap_appends{0}, imap_idle_wakeups{0};
    std::atomic<std::uint64_t> pop3_messages_retrieved{0}, pop3_messages_deleted{0}, pop3_bytes_sent{0};
    std::atomic<long long> cert_days_left{0};
    std::atomic<bool> has_cert{false};
    latency_histogram delivery_latency;
};

/// Appends one labelled counter family.
void render_labelled(std::string& out, const char* name, const char* help, const char* label,
                     const std::map<std::string, std::uint64_t>& values);
void render_counter(std::string& out, const char* name, const char* help, std::uint64_t value);
void render_gauge(std::string& out, const char* name, const char* help, long long value);
void render_histogram(std::string& out, const char* name, const char* help, const latency_histogram& h);

}  // namespace mailharness::refmaild
