#include "mailharness/net/connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "mailharness/net/tls.hpp"

namespace mailharness::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t small_buffer = 16 * 1024;

// Marks an operation in progress for the timer (cleared however the coroutine leaves).
struct op_scope {
    bool& flag;
    explicit op_scope(bool& f) : flag(f) { flag = true; }
    ~op_scope() { flag = false; }
};

}  // namespace

class net_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "mailharness.net"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::timed_out: return "timed out";
            case errc::session_expired: return "session time limit reached";
            case errc::resolve_failed: return "host name did not resolve";
            case errc::bad_tls_name: return "cannot check the TLS name";
            case errc::interrupted: return "read interrupted";
        }
        return "unknown net error";
    }
};

const boost::system::error_category& net_category() noexcept {
    static const net_category_impl c;
    return c;
}

connection::connection(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {
    error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    auto remote = socket_.remote_endpoint(ec);
    if (ec) {
        remote_ip_ = "unknown";
    } else {
        auto a = remote.address();
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; name it as IPv4.
        if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
        remote_ip_ = a.to_string();
    }
    auto local = socket_.local_endpoint(ec);
    if (!ec) local_port_ = local.port();
}

connection::~connection() {
    alive_.reset();
    close();
}

void connection::set_session_limit(std::chrono::milliseconds d) {
    session_limit_ = d.count() > 0 ? clock::now() + d : time_point::max();
}

bool connection::past_session_limit() const noexcept { return clock::now() >= session_limit_; }

void connection::consume(std::size_t n) noexcept {
    pos_ += std::min(n, in_.size() - pos_);
    if (pos_ == in_.size()) {
        in_.clear();
        pos_ = 0;
    }
}

std::size_t connection::discard_input() noexcept {
    std::size_t n = in_.size() - pos_;
    in_.clear();
    pos_ = 0;
    return n;
}

void connection::release_memory() {
    if (staging_.capacity() > 0) std::string().swap(staging_);
    if (pos_ == in_.size() && in_.capacity() > small_buffer) {
        std::string().swap(in_);
        pos_ = 0;
    }
}

bool connection::arm(time_point deadline, error_code& ec) {
    bool capped = false;
    if (deadline >= session_limit_) {
        deadline = session_limit_;
        capped = true;
    }
    auto now = clock::now();
    if (deadline <= now) {
        ec = capped ? errc::session_expired : errc::timed_out;
        return false;
    }
    cancelled_by_timer_ = false;
    if (deadline == armed_at_ && !fired_) return true;  // the pending wait already covers it
    if (deadline == time_point::max()) {
        if (armed_at_ != time_point::min()) {
            ++gen_;
            timer_.cancel();
            armed_at_ = time_point::min();
        }
        return true;
    }
    armed_at_ = deadline;
    fired_ = false;
    const auto gen = ++gen_;
    timer_.expires_at(deadline);
    timer_.async_wait([this, alive = std::weak_ptr<int>(alive_), gen](const error_code& wec) {
        if (wec || alive.expired() || gen != gen_) return;
        fired_ = true;
        if (op_active_) {
            cancelled_by_timer_ = true;
            error_code ignored;
            socket_.cancel(ignored);
        }
    });
    return true;
}

error_code connection::finish_op(error_code ec) {
    if (cancelled_by_timer_ || (ec == asio::error::operation_aborted && fired_)) {
        cancelled_by_timer_ = false;
        return past_session_limit() ? errc::session_expired : errc::timed_out;
    }
    return ec;
}

asio::awaitable<error_code> connection::read_more(time_point deadline, std::size_t max_read) {
    error_code ec;
    if (interrupt_pending_) {
        interrupt_pending_ = false;
        co_return errc::interrupted;
    }
    if (!arm(deadline, ec)) co_return ec;
    if (pos_ > 0 && pos_ == in_.size()) {
        in_.clear();
        pos_ = 0;
    } else if (pos_ > 0 && pos_ >= in_.size() / 2) {
        in_.erase(0, pos_);  // keep the unconsumed tail at the front, so the buffer does not creep
        pos_ = 0;
    }
    const std::size_t old = in_.size();
    if (max_read == 0) max_read = 1;
    in_.resize(old + max_read);
    std::size_t n = 0;
    {
        op_scope scope(op_active_);
        op_scope reading(reading_);
        if (ssl_) {
            char* dst = in_.data() + old;
            ec = co_await tls_op([this, dst, max_read, &n] {
                std::size_t got = 0;
                int r = SSL_read_ex(ssl_.get(), dst, max_read, &got);
                n = got;
                return r;
            });
        } else {
            std::tie(ec, n) = co_await socket_.async_read_some(asio::buffer(in_.data() + old, max_read), use_tuple);
        }
    }
    in_.resize(old + n);
    bytes_read_ += n;
    const bool interrupted = std::exchange(interrupted_, false);
    if (n > 0) co_return error_code{};  // data first; an error after it shows on the next read
    if (interrupted && !cancelled_by_timer_) co_return errc::interrupted;
    if (!ec) ec = asio::error::eof;
    co_return finish_op(ec);
}

void connection::interrupt() {
    if (reading_) {
        interrupted_ = true;
        error_code ignored;
        socket_.cancel(ignored);
    } else {
        interrupt_pending_ = true;
    }
}

asio::awaitable<error_code> connection::write(std::string_view data, time_point deadline) {
    return write(data, {}, deadline);
}

asio::awaitable<error_code> connection::write(std::string_view a, std::string_view b, time_point deadline) {
    const std::array<asio::const_buffer, 2> bufs{asio::buffer(a), asio::buffer(b)};
    return write_buffers(bufs, deadline);
}

asio::awaitable<error_code> connection::write(std::span<const asio::const_buffer> buffers, time_point deadline) {
    return write_buffers(buffers, deadline);
}

template <class Buffers>
asio::awaitable<error_code> connection::write_buffers(Buffers bufs, time_point deadline) {
    if (asio::buffer_size(bufs) == 0) co_return error_code{};
    error_code ec;
    if (!arm(deadline, ec)) co_return ec;
    std::size_t n = 0;
    {
        op_scope scope(op_active_);
        op_scope reading(reading_);
        if (ssl_) {
            ec = co_await write_tls(bufs);
        } else {
            std::tie(ec, n) = co_await asio::async_write(socket_, bufs, use_tuple);
        }
    }
    co_return finish_op(ec);
}

template <class Buffers>
asio::awaitable<error_code> connection::write_tls(const Buffers& bufs) {
    // Small gathers go out as one record; larger buffers one after the other (no big copies).
    std::size_t total = asio::buffer_size(bufs), pieces = 0;
    for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) pieces += it->size() ? 1 : 0;
    auto write_one = [this](const void* data, std::size_t size) -> asio::awaitable<error_code> {
        auto ec = co_await tls_op([this, data, size] {
            std::size_t written = 0;
            // Without partial writes, OpenSSL takes the whole buffer or asks to be called again
            // with the same one.
            return SSL_write_ex(ssl_.get(), data, size, &written);
        });
        if (ec == boost::system::errc::broken_pipe || ec == boost::system::errc::connection_reset) {
            // The peer may have closed after sending an alert (TLS 1.3 servers refuse a client
            // certificate that way, after the handshake): report the alert, not the broken pipe.
            ERR_clear_error();
            char byte;
            std::size_t got = 0;
            if (SSL_read_ex(ssl_.get(), &byte, 1, &got) <= 0 && SSL_get_error(ssl_.get(), 0) == SSL_ERROR_SSL) {
                if (unsigned long err = ERR_get_error()) ec = error_code(static_cast<int>(err), asio::error::get_ssl_category());
            }
        }
        co_return ec;
    };
    if (pieces > 1 && total <= 16 * 1024) {
        staging_.clear();
        for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) {
            staging_.append(static_cast<const char*>(it->data()), it->size());
        }
        auto ec = co_await write_one(staging_.data(), staging_.size());
        co_return ec;
    }
    for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) {
        if (it->size() == 0) continue;
        asio::const_buffer b = *it;
        if (auto ec = co_await write_one(b.data(), b.size())) co_return ec;
    }
    co_return error_code{};
}

void connection::ssl_free_t::operator()(SSL* s) const noexcept { SSL_free(s); }

template <class Op>
asio::awaitable<error_code> connection::tls_op(Op op) {
    for (;;) {
        ERR_clear_error();
        errno = 0;
        const int r = op();
        if (r > 0) co_return error_code{};
        const int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            auto [wec] = co_await socket_.async_wait(e == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                                                     use_tuple);
            if (wec) co_return wec;
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN) co_return asio::error::eof;  // close_notify received
        const unsigned long err = ERR_get_error();
        if (e == SSL_ERROR_SYSCALL && err == 0) {
            // The peer closed the TCP connection without close_notify (or a socket error).
            if (errno != 0 && errno != EAGAIN) co_return error_code(errno, boost::system::system_category());
            co_return error_code(asio::ssl::error::stream_truncated);
        }
        if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) co_return error_code(asio::ssl::error::stream_truncated);
        if (err != 0) co_return error_code(static_cast<int>(err), asio::error::get_ssl_category());
        co_return error_code(asio::error::connection_reset);
    }
}

asio::awaitable<error_code> connection::handshake(std::shared_ptr<ssl::context> ctx, bool server,
                                                  const client_tls_options* client, time_point deadline) {
    // OpenSSL's socket BIO writes with write(2), not send(MSG_NOSIGNAL): a peer gone mid-write
    // would kill the process with SIGPIPE. Every program on net/ wants EPIPE instead.
    static std::once_flag ignore_sigpipe;
    std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
    discard_input();
    error_code ec;
    if (!arm(deadline, ec)) co_return ec;
    ctx_ = std::move(ctx);
    ssl_.reset(SSL_new(ctx_->native_handle()));
    if (!ssl_) co_return error_code(asio::error::no_memory);
    SSL* s = ssl_.get();
    // Frees the record buffers while idle; the same buffer is passed again after a WANT_WRITE.
    SSL_set_mode(s, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    socket_.non_blocking(true, ec);
    if (ec || SSL_set_fd(s, static_cast<int>(socket_.native_handle())) != 1) {
        co_return ec ? ec : error_code(asio::error::bad_descriptor);
    }
    if (client && !prepare_client_ssl(s, client->host, client->verify)) co_return errc::bad_tls_name;
    {
        op_scope scope(op_active_);
        ec = co_await tls_op([s, server] { return server ? SSL_accept(s) : SSL_connect(s); });
    }
    ec = finish_op(ec);
    tls_done_ = !ec;
    co_return ec;
}

asio::awaitable<error_code> connection::handshake_server(std::shared_ptr<ssl::context> ctx, time_point deadline) {
    co_return co_await handshake(std::move(ctx), true, nullptr, deadline);
}

asio::awaitable<error_code> connection::handshake_client(std::shared_ptr<ssl::context> ctx,
                                                         client_tls_options options, time_point deadline) {
    co_return co_await handshake(std::move(ctx), false, &options, deadline);
}

std::string connection::tls_version() const { return ssl_ ? SSL_get_version(ssl_.get()) : std::string(); }

std::string connection::tls_cipher() const {
    if (!ssl_) return {};
    const char* c = SSL_get_cipher_name(ssl_.get());
    return c ? c : "";
}

SSL* connection::ssl_handle() const noexcept { return ssl_.get(); }

asio::awaitable<void> connection::shutdown(time_point deadline) {
    if (ssl_ && tls_done_ && socket_.is_open()) {
        error_code ec;
        if (arm(deadline, ec)) {
            op_scope scope(op_active_);
            // Send our close_notify (RFC 8446 6.1), then wait for the peer's until the deadline.
            SSL* s = ssl_.get();
            ec = co_await tls_op([s] {
                int r = SSL_shutdown(s);
                return r == 0 ? 1 : r;  // 0: ours is sent, the peer's not yet seen
            });
            if (!ec && (SSL_get_shutdown(s) & SSL_RECEIVED_SHUTDOWN) == 0) {
                ec = co_await tls_op([s] { return SSL_shutdown(s); });
            }
        }
    }
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    close();
}

void connection::close() noexcept {
    error_code ignored;
    ++gen_;
    timer_.cancel();
    armed_at_ = time_point::min();
    socket_.close(ignored);
}

}  // namespace mailharness::net
