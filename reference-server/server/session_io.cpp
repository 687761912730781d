#include "session_io.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "state.hpp"

namespace mailharness::refmaild {

namespace asio = boost::asio;

session_scope::session_scope(server_state& srv, net::connection& conn, const std::string& listener) : srv_(srv) {
    tag_ = srv.new_session_tag(conn.remote_ip(), listener, id_);
    const auto active = ++srv.metrics.connections_active;
    // The high-water mark the memory trimmer looks at: a flood that comes and goes between two
    // of its looks still counts.
    auto peak = srv.metrics.connections_peak.load(std::memory_order_relaxed);
    while (active > peak && !srv.metrics.connections_peak.compare_exchange_weak(peak, active, std::memory_order_relaxed)) {
    }
    srv.log.info(tag_ + " event=connect" +
                 (conn.tls_active() ? " tls=\"" + conn.tls_version() + " " + conn.tls_cipher() + "\"" : ""));
}

session_scope::~session_scope() { srv_.metrics.connections_active--; }

void session_scope::set_user(const std::string& user) {
    if (tag_.find(" user=") == std::string::npos) tag_ += " user=" + user;
}

asio::awaitable<bool> write_replies(net::connection& conn, std::string& out, std::chrono::milliseconds delay,
                                    asio::steady_timer& timer, std::chrono::milliseconds write_timeout, net::error_code& ec) {
    if (delay.count() > 0) {
        timer.expires_after(delay);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (out.empty()) co_return true;
    ec = co_await conn.write(out, net::after(write_timeout));
    out.clear();
    co_return !ec;
}

asio::awaitable<net::error_code> upgrade_to_tls(server_state& srv, net::connection& conn, const std::string& tag,
                                                const char* verb) {
    if (!conn.input().empty()) {
        srv.log.info(tag + " event=" + verb + "_discarded bytes=" + std::to_string(conn.input().size()));
    }
    auto ec = co_await conn.handshake_server(srv.tls.get(), net::after(srv.settings.tls.handshake_timeout));
    if (ec) {
        srv.metrics.tls_failures++;
        srv.log.info(tag + " event=tls_failed error=\"" + ec.message() + "\"");
        co_return ec;
    }
    srv.metrics.tls_handshakes++;
    srv.log.info(tag + " event=" + verb + " tls=\"" + conn.tls_version() + " " + conn.tls_cipher() + "\"");
    co_return ec;
}

std::string read_failure_reason(server_state& srv, const net::error_code& ec) {
    if (ec == net::errc::session_expired) {
        srv.metrics.session_limit_closes++;
        return "session_timeout";
    }
    if (ec == net::errc::timed_out) return "timeout";
    if (ec == asio::error::eof) return "eof";
    return "read_error";
}

}  // namespace mailharness::refmaild
