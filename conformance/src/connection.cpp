#include "connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mailharness::conform::detail {

namespace {

using clock = std::chrono::steady_clock;

std::string ssl_reason() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "no OpenSSL reason";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

}  // namespace

connection::~connection() { close(); }

void connection::close() noexcept {
    if (ssl_) {
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool connection::wait(short events, clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd_, events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left));
        if (r > 0) return true;
        if (r == 0) return false;
        if (errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
}

void connection::open(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
    close();
    const auto deadline = clock::now() + timeout;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int r = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); r != 0) {
        throw std::runtime_error("resolve " + host + ": " + ::gai_strerror(r));
    }
    std::string last = "no address";
    for (auto* a = res; a; a = a->ai_next) {
        fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd_ < 0) continue;
        int r = ::connect(fd_, a->ai_addr, a->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            if (wait(POLLOUT, deadline)) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
                r = err == 0 ? 0 : -1;
                errno = err;
            } else {
                errno = ETIMEDOUT;
            }
        }
        if (r == 0) {
            ::freeaddrinfo(res);
            return;
        }
        last = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
    }
    ::freeaddrinfo(res);
    throw std::runtime_error("connect " + host + ":" + std::to_string(port) + ": " + last);
}

void connection::start_tls(SSL_CTX* ctx, const std::string& host, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    ssl_ = SSL_new(ctx);
    if (!ssl_) throw std::runtime_error("SSL_new: " + ssl_reason());
    SSL_set_fd(ssl_, fd_);
    in6_addr ip6;
    in_addr ip4;
    const bool is_ip = ::inet_pton(AF_INET, host.c_str(), &ip4) == 1 || ::inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
    if (SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
        if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
        else X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    }
    for (;;) {
        const int r = SSL_connect(ssl_);
        if (r == 1) return;
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
                throw std::runtime_error("TLS handshake timed out");
            }
            continue;
        }
        std::string why = ssl_reason();
        const long v = SSL_get_verify_result(ssl_);
        if (v != X509_V_OK) why += " (certificate: " + std::string(X509_verify_cert_error_string(v)) + ")";
        throw std::runtime_error("TLS handshake failed: " + why);
    }
}

void connection::write(std::string_view data, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!data.empty()) {
        if (ssl_) {
            std::size_t n = 0;
            const int r = SSL_write_ex(ssl_, data.data(), data.size(), &n);
            if (r == 1) {
                data.remove_prefix(n);
                continue;
            }
            const int e = SSL_get_error(ssl_, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) throw std::runtime_error("TLS write: " + ssl_reason());
            if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) throw std::runtime_error("write timed out");
            continue;
        }
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait(POLLOUT, deadline)) throw std::runtime_error("write timed out");
        } else {
            throw std::runtime_error(std::string("write: ") + std::strerror(errno));
        }
    }
}

read_status connection::read_some(std::string& out, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    char buf[16384];
    for (;;) {
        if (ssl_) {
            std::size_t n = 0;
            const int r = SSL_read_ex(ssl_, buf, sizeof buf, &n);
            if (r == 1) {
                out.append(buf, n);
                return read_status::data;
            }
            const int e = SSL_get_error(ssl_, r);
            if (e == SSL_ERROR_ZERO_RETURN) return read_status::eof;
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return read_status::timeout;
                continue;
            }
            // A peer that closes the TCP connection without close_notify (or resets it) has
            // closed it all the same.
            if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
                ERR_clear_error();
                return read_status::eof;
            }
            throw std::runtime_error("TLS read: " + ssl_reason());
        }
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            return read_status::data;
        }
        if (n == 0) return read_status::eof;
        if (errno == ECONNRESET) return read_status::eof;
        if (errno != EAGAIN && errno != EINTR) throw std::runtime_error(std::string("read: ") + std::strerror(errno));
        if (!wait(POLLIN, deadline)) return read_status::timeout;
    }
}

SSL_CTX* make_client_ctx(bool insecure, const std::string& cafile, int only_version) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) throw std::runtime_error("SSL_CTX_new: " + ssl_reason());
    if (only_version) {
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
        SSL_CTX_set_min_proto_version(ctx, only_version);
        SSL_CTX_set_max_proto_version(ctx, only_version);
    } else {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    }
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    const int ok = cafile.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                  : SSL_CTX_load_verify_locations(ctx, cafile.c_str(), nullptr);
    if (ok != 1) {
        std::string why = ssl_reason();
        SSL_CTX_free(ctx);
        throw std::runtime_error("CA certificates " + (cafile.empty() ? std::string("(default)") : cafile) + ": " + why);
    }
    return ctx;
}

}  // namespace mailharness::conform::detail
