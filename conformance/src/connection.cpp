#include "connection.hpp"

#include <openssl/err.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include <optional>
#include <stdexcept>

#include "mailharness/net/connection.hpp"
#include "mailharness/net/connector.hpp"

namespace mailharness::conform::detail {

namespace asio = boost::asio;

namespace {

std::string ssl_reason() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "no OpenSSL reason";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// The end of a connection, however the peer ended it.
bool is_end(const net::error_code& ec) {
    return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset ||
           ec.category() == asio::error::get_ssl_category();
}

bool is_resolve_error(const net::error_code& ec) {
    return ec == net::errc::resolve_failed || ec.category() == asio::error::get_netdb_category() ||
           ec.category() == asio::error::get_addrinfo_category();
}

}  // namespace

struct connection::impl {
    asio::io_context ioc{1};
    std::shared_ptr<net::connection> conn;  // destroyed before ioc (declared after it)

    // Runs `op` on the private io_context until it completes; its result, or its exception.
    // Other work (net's deadline timer) may stay pending: it runs during later calls.
    template <class T>
    T run(asio::awaitable<T> op) {
        std::optional<T> result;
        std::exception_ptr error;
        bool done = false;
        asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T r) {
            error = e;
            if (!e) result = std::move(r);
            done = true;
        });
        ioc.restart();
        while (!done && ioc.run_one() > 0) {
        }
        if (error) std::rethrow_exception(error);
        if (!done) throw std::runtime_error("internal error: the operation did not complete");
        return std::move(*result);
    }
};

connection::connection() : impl_(std::make_unique<impl>()) {}

connection::~connection() { close(); }

void connection::close() noexcept {
    if (impl_->conn) {
        impl_->conn->close();
        impl_->conn.reset();
    }
}

bool connection::is_open() const noexcept { return impl_->conn && impl_->conn->socket().is_open(); }

bool connection::tls() const noexcept { return impl_->conn && impl_->conn->tls_active(); }

SSL* connection::native_ssl() const noexcept { return impl_->conn ? impl_->conn->ssl_handle() : nullptr; }

void connection::open(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
    close();
    net::connect_options options;
    options.host = host;
    options.port = port;
    options.connect_timeout = timeout.count() > 0 ? timeout : std::chrono::milliseconds(1);
    auto r = impl_->run(net::connect(impl_->ioc.get_executor(), options));
    if (r.ec) {
        if (is_resolve_error(r.ec)) throw std::runtime_error("resolve " + host + ": " + r.ec.message());
        throw std::runtime_error("connect " + host + ":" + std::to_string(port) + ": " +
                                 (net::is_timeout(r.ec) ? std::string("Connection timed out") : r.ec.message()));
    }
    impl_->conn = std::move(r.conn);
}

void connection::start_tls(SSL_CTX* ctx, const std::string& host, std::chrono::milliseconds timeout) {
    if (!impl_->conn) throw std::runtime_error("TLS handshake failed: not connected");
    // The Asio context takes a reference of its own; the caller keeps theirs.
    SSL_CTX_up_ref(ctx);
    auto context = std::make_shared<asio::ssl::context>(ctx);
    const net::client_tls_options options{.host = host, .verify = SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE};
    const auto ec = impl_->run(impl_->conn->handshake_client(context, options, net::clock::now() + timeout));
    if (!ec) return;
    if (net::is_timeout(ec)) throw std::runtime_error("TLS handshake timed out");
    std::string why = ec.message();
    if (SSL* ssl = impl_->conn->ssl_handle()) {
        const long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) why += " (certificate: " + std::string(X509_verify_cert_error_string(v)) + ")";
    }
    ERR_clear_error();
    throw std::runtime_error("TLS handshake failed: " + why);
}

void connection::write(std::string_view data, std::chrono::milliseconds timeout) {
    if (!impl_->conn) throw std::runtime_error("write: not connected");
    const auto ec = impl_->run(impl_->conn->write(data, net::clock::now() + timeout));
    if (!ec) return;
    if (net::is_timeout(ec)) throw std::runtime_error("write timed out");
    throw std::runtime_error((tls() ? "TLS write: " : "write: ") + ec.message());
}

read_status connection::read_some(std::string& out, std::chrono::milliseconds timeout) {
    if (!impl_->conn) throw std::runtime_error("read: not connected");
    auto& c = *impl_->conn;
    const auto ec = impl_->run(c.read_more(net::clock::now() + timeout, 16384));
    if (!ec) {
        out.append(c.input());
        c.consume(c.input().size());
        return read_status::data;
    }
    if (net::is_timeout(ec)) return read_status::timeout;
    if (is_end(ec)) {
        ERR_clear_error();
        return read_status::eof;
    }
    throw std::runtime_error((tls() ? "TLS read: " : "read: ") + ec.message());
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
