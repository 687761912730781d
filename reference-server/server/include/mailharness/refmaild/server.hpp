// refmaild's server: threads, the listener table (each listener hands its connections to the
// session of its protocol: reference-server/smtp/, pop3/), reload, metrics. See
// docs/architecture.md. No Asio in this header (main.cpp and tests include it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "mailharness/refmaild/settings.hpp"

namespace mailharness::refmaild {

/// Runs refmaild with the given settings until stop(). Thread-safe: stop() and reload() may be
/// called from any thread (e.g. a signal-waiting thread).
class server {
public:
    /// Loads the user database, TLS material and the store. Throws std::runtime_error with a clear
    /// message when any of them cannot be loaded; binds nothing yet.
    explicit server(config::refmaild_settings settings);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds every enabled listener (and the metrics port) and starts the io threads.
    /// Throws std::system_error when a port cannot be bound.
    void start();

    /// Bound ports by listener name ("smtp", "submission", "smtps", "pop3", "pop3s", "metrics");
    /// valid after start().
    std::map<std::string, std::uint16_t> ports() const;

    /// Writes ports() as "name port" lines to `file`, atomically (temp + rename).
    void write_ports_file(const std::filesystem::path& file) const;

    /// Reloads the TLS certificate chain and key and the user database (SIGHUP). Sessions already
    /// running keep what they have; new ones get the new material. Returns false (and keeps the
    /// old material) when loading fails; the reason goes to the log.
    bool reload();

    /// Stops accepting, closes sessions, finishes deliveries in progress, joins the threads.
    void stop();

    /// Blocks until stop() has been called and the threads have finished.
    void wait();

    /// The server's metrics (Prometheus text exposition via metrics_text()).
    std::string metrics_text() const;

    struct impl;  ///< implementation detail (server.cpp)

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace mailharness::refmaild
