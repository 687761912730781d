// One blocking client connection with optional TLS; every operation bounded by a timeout (poll).
// Private to mh_conform.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

namespace mailharness::conform::detail {

/// What a read produced.
enum class read_status { data, eof, timeout };

class connection {
public:
    connection() = default;
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Resolves and connects (non-blocking connect + poll). Throws std::runtime_error.
    void open(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
    /// TLS handshake on the open socket. `ctx` must outlive the connection. `host` is the name sent
    /// as SNI (unless an IP literal) and verified unless the context verifies nothing. Throws
    /// std::runtime_error with OpenSSL's reason.
    void start_tls(SSL_CTX* ctx, const std::string& host, std::chrono::milliseconds timeout);
    /// Writes all of `data`. Throws std::runtime_error on error or timeout.
    void write(std::string_view data, std::chrono::milliseconds timeout);
    /// Appends what arrives within `timeout` (at least one byte) to `out`.
    read_status read_some(std::string& out, std::chrono::milliseconds timeout);
    void close() noexcept;
    bool is_open() const noexcept { return fd_ >= 0; }
    bool tls() const noexcept { return ssl_ != nullptr; }
    /// The TLS connection (for inspecting the peer's certificate); null before start_tls.
    SSL* native_ssl() const noexcept { return ssl_; }

private:
    bool wait(short events, std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    SSL* ssl_ = nullptr;
};

/// A client SSL_CTX: TLS 1.2+, verification against `cafile` (or the default paths) unless
/// `insecure`. A non-zero `only_version` (TLS1_VERSION ...) offers that version alone, at OpenSSL
/// security level 0 so that old versions can be offered at all. Throws std::runtime_error.
SSL_CTX* make_client_ctx(bool insecure, const std::string& cafile, int only_version = 0);

}  // namespace mailharness::conform::detail
