// A listening socket that knows sockets, TLS and admission, not protocols (the model: Stalwart's
// SessionManager). Each accepted client is checked by the admission hook, counted against the
// connection limits, wrapped in a net::connection on a strand of its own, optionally put through
// implicit TLS, and handed to the protocol's session coroutine.
//
// Out of descriptors (EMFILE/ENFILE): the loop does not spin. It keeps one spare descriptor; when
// accept fails for lack of descriptors it frees the spare, accepts one waiting client, writes the
// listener's "busy" text, closes it, takes the spare back and waits a little before accepting
// again. A warning is logged at most once every 10 s with the number of clients refused so.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "mailharness/net/connection.hpp"
#include "mailharness/net/tls.hpp"

namespace mailharness::net {

/// Connection counts in total and per client IP, shared by the listeners of one protocol.
/// Thread-safe.
class connection_limits {
public:
    /// 0 means no limit.
    connection_limits(unsigned max_total, unsigned max_per_ip) : max_total_(max_total), max_per_ip_(max_per_ip) {}

    /// A counted connection; releases its count when destroyed.
    class ticket {
    public:
        ticket() = default;
        ticket(ticket&& o) noexcept : owner_(o.owner_), ip_(std::move(o.ip_)) { o.owner_ = nullptr; }
        ticket& operator=(ticket&& o) noexcept;
        ~ticket() { release(); }
        explicit operator bool() const noexcept { return owner_ != nullptr; }

    private:
        friend class connection_limits;
        ticket(connection_limits* o, std::string ip) : owner_(o), ip_(std::move(ip)) {}
        void release() noexcept;
        connection_limits* owner_ = nullptr;
        std::string ip_;
    };

    /// Counts a new connection from `ip`; an empty ticket (nothing counted) when a limit says no.
    ticket admit(const std::string& ip);
    std::size_t open() const;
    void set_limits(unsigned max_total, unsigned max_per_ip);
    unsigned max_total() const noexcept { return max_total_.load(); }

private:
    mutable std::mutex mutex_;
    std::atomic<unsigned> max_total_, max_per_ip_;
    std::size_t open_ = 0;
    std::unordered_map<std::string, unsigned> per_ip_;
};

/// Why a client was turned away before its session started.
enum class refusal { none, limit, policy };

enum class log_severity { debug, info, warn, error };
using log_function = std::function<void(log_severity, const std::string&)>;

struct listener_options {
    /// Name in logs and metrics ("smtp", "pop3s", ...).
    std::string name;
    tcp::endpoint endpoint;
    /// Handshake before the session starts (smtps, pop3s, imaps); needs `tls`.
    bool implicit_tls = false;
    server_tls* tls = nullptr;
    /// Time allowed for an implicit-TLS handshake.
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(30)};
    /// Counts connections (nullptr: unlimited). Must outlive the listener.
    connection_limits* limits = nullptr;
    /// Written to a client refused by the limits or for lack of descriptors, e.g.
    /// "421 4.7.0 host Error: too many connections; try later\r\n" or "-ERR [SYS/TEMP] ...\r\n".
    std::string busy_text;
    /// Called before anything is sent (kill file, bans): returns the text to write to a client
    /// that is refused (then closed), or nullopt to admit it.
    std::function<std::optional<std::string>(const std::string& ip)> admit;
    /// The session: runs with the admitted connection (TLS done for implicit TLS). The ticket
    /// lives as long as the session's frame.
    std::function<boost::asio::awaitable<void>(std::shared_ptr<connection>, connection_limits::ticket)> session;
    /// Events: a refused client (reason), a failed implicit-TLS handshake, accept errors.
    std::function<void(const std::string& ip, refusal why, const std::string& detail)> on_refused;
    std::function<void(const std::string& ip, const error_code& ec)> on_tls_failed;
    std::function<void()> on_tls_done;
    log_function log;
};

class listener {
public:
    /// Binds and listens (dual-stack for "::"). Throws std::system_error when it cannot bind.
    listener(boost::asio::io_context& ioc, listener_options options);
    ~listener();
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    /// Starts the accept loop on the io_context.
    void start();
    /// Stops accepting (sessions already running go on). Thread-safe.
    void close();
    std::uint16_t port() const noexcept { return port_; }
    const std::string& name() const noexcept { return options_.name; }
    /// Clients refused because the process was out of descriptors.
    std::uint64_t descriptor_refusals() const noexcept { return fd_refusals_.load(); }
    /// Connections accepted (before admission).
    std::uint64_t accepted() const noexcept { return accepted_.load(); }

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> run(tcp::socket socket);
    void refuse_for_descriptors();

    boost::asio::io_context& ioc_;
    listener_options options_;
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    int spare_fd_ = -1;
    std::atomic<std::uint64_t> fd_refusals_{0};
    std::atomic<std::uint64_t> accepted_{0};
    std::uint64_t fd_refusals_logged_ = 0;
    std::chrono::steady_clock::time_point last_fd_warning_{};
    std::atomic<bool> closed_{false};
};

/// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the limit now in effect.
std::uint64_t raise_descriptor_limit();

}  // namespace mailharness::net
