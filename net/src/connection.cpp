#include "mailharness/net/connection.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl.hpp>
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
        if (tls_) {
            std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(in_.data() + old, max_read), use_tuple);
        } else {
            std::tie(ec, n) = co_await socket_.async_read_some(asio::buffer(in_.data() + old, max_read), use_tuple);
        }
    }
    in_.resize(old + n);
    bytes_read_ += n;
    if (n > 0) co_return error_code{};  // data first; an error after it shows on the next read
    if (!ec) ec = asio::error::eof;
    co_return finish_op(ec);
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
        if (tls_) {
            std::tie(ec, n) = co_await asio::async_write(*tls_, bufs, use_tuple);
        } else {
            std::tie(ec, n) = co_await asio::async_write(socket_, bufs, use_tuple);
        }
    }
    co_return finish_op(ec);
}

asio::awaitable<error_code> connection::handshake_server(std::shared_ptr<ssl::context> ctx, time_point deadline) {
    discard_input();
    error_code ec;
    if (!arm(deadline, ec)) co_return ec;
    ctx_ = std::move(ctx);
    tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *ctx_);
    SSL_set_mode(tls_->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    {
        op_scope scope(op_active_);
        std::tie(ec) = co_await tls_->async_handshake(ssl::stream_base::server, use_tuple);
    }
    ec = finish_op(ec);
    tls_done_ = !ec;
    co_return ec;
}

asio::awaitable<error_code> connection::handshake_client(std::shared_ptr<ssl::context> ctx,
                                                         client_tls_options options, time_point deadline) {
    discard_input();
    error_code ec;
    if (!arm(deadline, ec)) co_return ec;
    ctx_ = std::move(ctx);
    tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *ctx_);
    SSL* s = tls_->native_handle();
    SSL_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    if (!prepare_client_ssl(s, options.host, options.verify)) co_return errc::bad_tls_name;
    {
        op_scope scope(op_active_);
        std::tie(ec) = co_await tls_->async_handshake(ssl::stream_base::client, use_tuple);
    }
    ec = finish_op(ec);
    tls_done_ = !ec;
    co_return ec;
}

std::string connection::tls_version() const { return tls_ ? SSL_get_version(tls_->native_handle()) : std::string(); }

std::string connection::tls_cipher() const {
    if (!tls_) return {};
    const char* c = SSL_get_cipher_name(tls_->native_handle());
    return c ? c : "";
}

SSL* connection::ssl_handle() const noexcept { return tls_ ? tls_->native_handle() : nullptr; }

asio::awaitable<void> connection::shutdown(time_point deadline) {
    if (tls_ && tls_done_ && socket_.is_open()) {
        error_code ec;
        if (arm(deadline, ec)) {
            op_scope scope(op_active_);
            std::tie(ec) = co_await tls_->async_shutdown(use_tuple);
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
