// TLS contexts for servers and clients (OpenSSL 3 through Asio's ssl::context).
//
// Server: build_server_context() turns plain settings into a context; server_tls holds the one
// in effect for a set of listeners and swaps it on reload (SIGHUP) without disturbing sessions,
// each of which keeps the shared_ptr it handshook with.
// Client: build_client_context() and prepare_client_ssl(), the one place that sets SNI and
// host-name verification for every program (queue runner, mailconform, mailload, mailprobe).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "mailharness/ip_literal.hpp"

namespace mailharness::net {

/// Oldest protocol a server accepts.
enum class tls_min_version { v1_2, v1_3 };

/// Client certificate policy of a server.
enum class client_cert_policy {
    none,      ///< never ask
    optional,  ///< ask; a missing certificate is fine, an invalid one fails the handshake
    required,  ///< ask; no valid certificate, no connection
};

struct server_tls_settings {
    std::filesystem::path cert_file;  ///< PEM chain, leaf first
    std::filesystem::path key_file;   ///< PEM private key of the leaf
    std::filesystem::path ca_file;    ///< PEM CAs for client certificates (needed unless client_cert is none)
    tls_min_version min_version = tls_min_version::v1_2;
    std::string ciphers;       ///< TLS 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's default
    std::string ciphersuites;  ///< TLS 1.3 suites; empty: OpenSSL's default
    std::string groups;        ///< key exchange groups; empty: OpenSSL's default
    client_cert_policy client_cert = client_cert_policy::none;
};

/// Builds a server context: no renegotiation, no compression, server cipher preference.
/// Throws std::runtime_error naming the setting and file that failed.
std::shared_ptr<boost::asio::ssl::context> build_server_context(const server_tls_settings& settings);

/// The server context in effect, shared by the listeners of one server. Thread-safe.
class server_tls {
public:
    /// The current context; nullptr when TLS is not configured.
    std::shared_ptr<boost::asio::ssl::context> get() const;
    /// Replaces the context (nullptr: TLS off). Sessions keep the context they started with.
    void set(std::shared_ptr<boost::asio::ssl::context> ctx);

private:
    mutable std::mutex mutex_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
};

struct client_tls_settings {
    /// PEM CA certificates to trust; empty: the system's default store.
    std::filesystem::path ca_file;
    /// PEM client certificate chain and key, for servers that ask (empty: none).
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    /// Keep TLS sessions for resumption (a load test measures full handshakes: false).
    bool session_cache = true;
    /// Oldest and newest protocol versions (OpenSSL constants, 0: library default).
    int min_version = 0;
    int max_version = 0;
};

/// Builds a client context. Throws std::runtime_error when a file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> build_client_context(const client_tls_settings& settings);

/// Sets SNI (unless `host` is an IP literal or empty) and, when `verify`, peer verification with
/// a host-name check (or an IP check for an IP literal) on a client SSL handle before its
/// handshake. False when the name cannot be set up.
bool prepare_client_ssl(SSL* ssl, const std::string& host, bool verify);

/// True when `host` is an IPv4 or IPv6 address literal (no brackets): core's one check.
using mailharness::is_ip_literal;

}  // namespace mailharness::net
