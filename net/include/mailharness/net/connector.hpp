// The client side: connect to host:port with a deadline, optionally through implicit TLS. A
// STARTTLS-style upgrade is driven by the caller (after its protocol's go-ahead reply) with
// connection::handshake_client(). Used by the queue runner, mailconform, mailload and mailprobe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mailharness/net/connection.hpp"

namespace mailharness::net {

struct connect_options {
    std::string host;  ///< name or IP literal ("::1", not "[::1]")
    std::uint16_t port = 0;
    /// Local address to bind before connecting (source address); empty: any.
    std::string source_address;
    /// Time for name resolution and the TCP connection (all addresses tried in turn, RFC 6555-less).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    /// Implicit TLS (smtps, pop3s, imaps): handshake right after connecting.
    std::shared_ptr<boost::asio::ssl::context> implicit_tls;
    client_tls_options tls;
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(30)};
};

/// Timings of a connect, for probes and load reports.
struct connect_timing {
    std::chrono::nanoseconds resolve{0};
    std::chrono::nanoseconds connect{0};
    std::chrono::nanoseconds handshake{0};
};

struct connect_result {
    error_code ec;                      ///< first failure, or success
    std::shared_ptr<connection> conn;   ///< set on success
    connect_timing timing;
    bool tls_failed = false;            ///< TCP worked, the implicit-TLS handshake did not
};

/// Resolves options.host (unless an IP literal) and connects to each address in turn until one
/// answers, within connect_timeout; then the implicit-TLS handshake when asked.
boost::asio::awaitable<connect_result> connect(boost::asio::any_io_executor ex, connect_options options);

/// Connects to one endpoint (no resolution), within the deadline.
boost::asio::awaitable<error_code> connect_endpoint(tcp::socket& socket, const tcp::endpoint& ep, time_point deadline);

}  // namespace mailharness::net
