// One blocking client connection with optional TLS; every operation bounded by a timeout.
// Private to mh_conform.
//
// A facade over net::connection (net/): each call starts the operation as a coroutine on a
// private io_context and runs that io_context until the operation completes. So the socket, the
// deadlines, the TLS upgrade with its SNI and host-name check, and dropping plaintext received
// before the upgrade are net's, as for every other client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

namespace mailharness::conform::detail {

/// What a read produced.
enum class read_status { data, eof, timeout };

class connection {
public:
    connection();
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Resolves and connects (each address in turn, all within `timeout`). Throws std::runtime_error.
    void open(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
    /// TLS handshake on the open socket. `ctx` must outlive the connection. `host` is the name sent
    /// as SNI (unless an IP literal) and verified unless the context verifies nothing. Throws
    /// std::runtime_error with OpenSSL's reason.
    void start_tls(SSL_CTX* ctx, const std::string& host, std::chrono::milliseconds timeout);
    /// Writes all of `data`. Throws std::runtime_error on error or timeout.
    void write(std::string_view data, std::chrono::milliseconds timeout);
    /// Appends what arrives within `timeout` (at least one byte) to `out`. A reset or a TLS
    /// connection closed without close_notify count as the end of the connection.
    read_status read_some(std::string& out, std::chrono::milliseconds timeout);
    void close() noexcept;
    bool is_open() const noexcept;
    /// True once a TLS handshake succeeded.
    bool tls() const noexcept;
    /// The TLS connection (for inspecting the peer's certificate); null before start_tls.
    SSL* native_ssl() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// A client SSL_CTX: TLS 1.2+, verification against `cafile` (or the default paths) unless
/// `insecure`. A non-zero `only_version` (TLS1_VERSION ...) offers that version alone, at OpenSSL
/// security level 0 so that old versions can be offered at all. Throws std::runtime_error.
SSL_CTX* make_client_ctx(bool insecure, const std::string& cafile, int only_version = 0);

}  // namespace mailharness::conform::detail
