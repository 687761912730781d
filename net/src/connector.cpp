#include "mailharness/net/connector.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>

#include "mailharness/net/tls.hpp"

namespace mailharness::net {

namespace asio = boost::asio;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}

asio::awaitable<error_code> connect_endpoint(tcp::socket& socket, const tcp::endpoint& ep, time_point deadline) {
    if (deadline <= clock::now()) co_return errc::timed_out;
    asio::steady_timer timer(socket.get_executor());
    // `armed` is cleared before this frame ends, so a handler queued late never touches `socket`.
    auto armed = std::make_shared<bool>(true);
    auto fired = std::make_shared<bool>(false);
    timer.expires_at(deadline);
    timer.async_wait([&socket, armed, fired](const error_code& ec) {
        if (ec || !*armed) return;
        *fired = true;
        error_code ignored;
        socket.cancel(ignored);
    });
    auto [ec] = co_await socket.async_connect(ep, use_tuple);
    *armed = false;
    timer.cancel();
    if (*fired) co_return errc::timed_out;
    co_return ec;
}

asio::awaitable<connect_result> connect(asio::any_io_executor ex, connect_options o) {
    connect_result r;
    const auto deadline = after(o.connect_timeout);
    auto t0 = clock::now();
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    auto literal = asio::ip::make_address(o.host, ec);
    if (!ec) {
        endpoints.emplace_back(literal, o.port);
    } else {
        // The resolver runs getaddrinfo on Asio's internal thread; the deadline still bounds us
        // because a cancel makes the wait return (the lookup itself finishes in the background).
        // Shared state: a timer handler that was already queued may run after this frame is gone.
        auto resolver = std::make_shared<tcp::resolver>(ex);
        auto fired = std::make_shared<bool>(false);
        asio::steady_timer timer(ex);
        timer.expires_at(deadline);
        timer.async_wait([resolver, fired](const error_code& wec) {
            if (wec) return;
            *fired = true;
            resolver->cancel();
        });
        auto [rec, results] = co_await resolver->async_resolve(o.host, std::to_string(o.port), use_tuple);
        timer.cancel();
        if (*fired) {
            r.ec = errc::timed_out;
            co_return r;
        }
        if (rec || results.empty()) {
            r.ec = rec ? rec : error_code(errc::resolve_failed);
            co_return r;
        }
        for (const auto& e : results) endpoints.push_back(e.endpoint());
    }
    r.timing.resolve = clock::now() - t0;
    auto t1 = clock::now();
    std::optional<tcp::endpoint> local;
    if (!o.source_address.empty()) {
        auto a = asio::ip::make_address(o.source_address, ec);
        if (ec) {
            r.ec = ec;
            co_return r;
        }
        local = tcp::endpoint(a, 0);
    }
    for (const auto& ep : endpoints) {
        if (local && local->protocol() != ep.protocol()) continue;
        tcp::socket socket(ex);
        socket.open(ep.protocol(), ec);
        if (ec) {
            r.ec = ec;
            continue;
        }
        if (local) {
            socket.bind(*local, ec);
            if (ec) {
                r.ec = ec;
                continue;
            }
        }
        ec = co_await connect_endpoint(socket, ep, deadline);
        if (ec) {
            r.ec = ec;
            if (is_timeout(ec)) break;
            continue;
        }
        r.ec = {};
        r.conn = std::make_shared<connection>(std::move(socket));
        break;
    }
    r.timing.connect = clock::now() - t1;
    if (!r.conn) {
        if (!r.ec) r.ec = errc::resolve_failed;
        co_return r;
    }
    if (o.implicit_tls) {
        auto t2 = clock::now();
        r.ec = co_await r.conn->handshake_client(o.implicit_tls, o.tls, after(o.handshake_timeout));
        r.timing.handshake = clock::now() - t2;
        if (r.ec) {
            r.tls_failed = true;
            r.conn->close();
            r.conn.reset();
        }
    }
    co_return r;
}

}  // namespace mailharness::net
