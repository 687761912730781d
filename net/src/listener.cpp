#include "mailharness/net/listener.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <system_error>

namespace mailharness::net {

namespace asio = boost::asio;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}

// ---- connection_limits ----

connection_limits::ticket& connection_limits::ticket::operator=(ticket&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = o.owner_;
        ip_ = std::move(o.ip_);
        o.owner_ = nullptr;
    }
    return *this;
}

void connection_limits::ticket::release() noexcept {
    if (!owner_) return;
    std::lock_guard lock(owner_->mutex_);
    --owner_->open_;
    if (auto it = owner_->per_ip_.find(ip_); it != owner_->per_ip_.end() && --it->second == 0) owner_->per_ip_.erase(it);
    owner_ = nullptr;
}

connection_limits::ticket connection_limits::admit(const std::string& ip) {
    std::lock_guard lock(mutex_);
    const unsigned total = max_total_.load(), per_ip = max_per_ip_.load();
    if (total && open_ >= total) return {};
    auto [it, inserted] = per_ip_.try_emplace(ip, 0);
    if (per_ip && it->second >= per_ip) return {};
    ++it->second;
    ++open_;
    return ticket(this, ip);
}

std::size_t connection_limits::open() const {
    std::lock_guard lock(mutex_);
    return open_;
}

void connection_limits::set_limits(unsigned max_total, unsigned max_per_ip) {
    max_total_ = max_total;
    max_per_ip_ = max_per_ip;
}

// ---- listener ----

listener::listener(asio::io_context& ioc, listener_options options)
    : ioc_(ioc), options_(std::move(options)), acceptor_(ioc) {
    const auto& ep = options_.endpoint;
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    if (ep.address().is_v6() && ep.address().is_unspecified()) acceptor_.set_option(asio::ip::v6_only(false));
    error_code ec;
    acceptor_.bind(ep, ec);
    if (ec) {
        throw std::system_error(ec, "cannot bind " + options_.name + " to " + ep.address().to_string() + " port " +
                                        std::to_string(ep.port()));
    }
    acceptor_.listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

listener::~listener() {
    if (spare_fd_ >= 0) ::close(spare_fd_);
}

void listener::start() {
    asio::co_spawn(ioc_, accept_loop(), [log = options_.log, name = options_.name](std::exception_ptr e) {
        if (!e || !log) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log(log_severity::error, "event=accept_loop_failed listener=" + name + " error=\"" + ex.what() + "\"");
        }
    });
}

void listener::close() {
    if (closed_.exchange(true)) return;
    asio::post(acceptor_.get_executor(), [this] {
        error_code ignored;
        acceptor_.close(ignored);
    });
}

void listener::refuse_for_descriptors() {
    // Free the spare, take one waiting client, tell it we are busy, close it, take the spare back.
    if (spare_fd_ >= 0) {
        ::close(spare_fd_);
        spare_fd_ = -1;
    }
    int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        if (!options_.busy_text.empty()) {
            [[maybe_unused]] auto n = ::send(fd, options_.busy_text.data(), options_.busy_text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        ::close(fd);
        fd_refusals_++;
    }
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    auto now = std::chrono::steady_clock::now();
    if (options_.log && now - last_fd_warning_ >= std::chrono::seconds(10)) {
        last_fd_warning_ = now;
        auto total = fd_refusals_.load();
        options_.log(log_severity::warn, "event=out_of_descriptors listener=" + options_.name +
                                             " refused=" + std::to_string(total - fd_refusals_logged_) +
                                             " hint=\"raise the open-file limit or lower max_connections\"");
        fd_refusals_logged_ = total;
    }
}

asio::awaitable<void> listener::accept_loop() {
    asio::steady_timer backoff(acceptor_.get_executor());
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), use_tuple);
        if (ec) {
            if (closed_ || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
            if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
                ec == asio::error::no_memory) {
                refuse_for_descriptors();
                backoff.expires_after(std::chrono::milliseconds(20));
                co_await backoff.async_wait(use_tuple);
                continue;
            }
            if (options_.log) {
                options_.log(log_severity::warn, "event=accept_error listener=" + options_.name + " error=\"" + ec.message() + "\"");
            }
            backoff.expires_after(std::chrono::milliseconds(10));
            co_await backoff.async_wait(use_tuple);
            continue;
        }
        accepted_.fetch_add(1, std::memory_order_relaxed);
        auto ex = socket.get_executor();
        asio::co_spawn(ex, run(std::move(socket)), [log = options_.log, name = options_.name](std::exception_ptr e) {
            if (!e || !log) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log(log_severity::error, "event=session_exception listener=" + name + " what=\"" + ex.what() + "\"");
            }
        });
    }
}

asio::awaitable<void> listener::run(tcp::socket socket) {
    auto conn = std::make_shared<connection>(std::move(socket));
    const std::string& ip = conn->remote_ip();
    connection_limits::ticket ticket;
    if (options_.limits) {
        ticket = options_.limits->admit(ip);
        if (!ticket) {
            if (options_.on_refused) options_.on_refused(ip, refusal::limit, "connection_limit");
            // Plain text even on implicit-TLS ports: a TLS client sees a failed handshake, which is
            // what a full server means to it; no handshake is spent on a client we turn away.
            co_await conn->write(options_.busy_text, after(std::chrono::seconds(10)));
            conn->close();
            co_return;
        }
    }
    if (options_.admit) {
        if (auto text = options_.admit(ip)) {
            if (options_.on_refused) options_.on_refused(ip, refusal::policy, "");
            co_await conn->write(*text, after(std::chrono::seconds(10)));
            conn->close();
            co_return;
        }
    }
    if (options_.implicit_tls) {
        auto ctx = options_.tls ? options_.tls->get() : nullptr;
        if (!ctx) {
            conn->close();
            co_return;
        }
        auto ec = co_await conn->handshake_server(std::move(ctx), after(options_.handshake_timeout));
        if (ec) {
            if (options_.on_tls_failed) options_.on_tls_failed(ip, ec);
            conn->close();
            co_return;
        }
        if (options_.on_tls_done) options_.on_tls_done();
    }
    co_await options_.session(conn, std::move(ticket));
}

std::uint64_t raise_descriptor_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit want = rl;
        want.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(rl.rlim_cur);
}

}  // namespace mailharness::net
