// net::connection over real loopback sockets: deadlines take effect as set (longer, shorter,
// session limit), TLS handshakes are bounded, plaintext is dropped at an upgrade, and buffers
// stay small.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <filesystem>
#include <thread>

#include "mailharness/net/connection.hpp"
#include "mailharness/net/connector.hpp"
#include "mailharness/net/tls.hpp"
#include "mailharness/refmaild/cert_tool.hpp"

namespace asio = boost::asio;
using namespace mailharness::net;
using namespace std::chrono_literals;

namespace {

// A connected pair of TCP sockets on loopback (server side, client side).
struct socket_pair {
    asio::io_context ioc;
    tcp::socket server{ioc};
    tcp::socket client{ioc};
    explicit socket_pair(bool v6 = false) {
        tcp::acceptor acc(ioc, tcp::endpoint(v6 ? asio::ip::make_address("::1") : asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acc.local_endpoint());
        server = acc.accept();
    }
};

template <class F>
void run_coro(asio::io_context& ioc, F f) {
    bool done = false;
    // Named, so that the coroutine's captures outlive it (a temporary lambda would dangle).
    auto body = [&]() -> asio::awaitable<void> {
        co_await f();
        done = true;
    };
    asio::co_spawn(ioc, body(), [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    ioc.run_for(20s);
    ASSERT_TRUE(done) << "coroutine did not finish";
}

std::filesystem::path cert_dir() {
    static std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("net_test_cert_" + std::to_string(::getpid()));
        mailharness::refmaild::cert::cert_options o;
        o.common_name = "localhost";
        o.sans = {"localhost", "127.0.0.1", "::1"};
        auto r = mailharness::refmaild::cert::make_self_signed(o, d);
        if (!r) throw std::runtime_error("cannot make a test certificate");
        return d;
    }();
    return dir;
}

std::shared_ptr<asio::ssl::context> server_ctx() {
    server_tls_settings s;
    s.cert_file = cert_dir() / "cert.pem";
    s.key_file = cert_dir() / "key.pem";
    return build_server_context(s);
}

}  // namespace

TEST(connection, read_times_out_at_its_deadline) {
    socket_pair p;
    connection c(std::move(p.server));
    error_code ec;
    auto t0 = clock::now();
    run_coro(p.ioc, [&]() -> asio::awaitable<void> { ec = co_await c.read_more(after(150ms)); });
    EXPECT_EQ(ec, errc::timed_out) << ec.message();
    EXPECT_GE(clock::now() - t0, 140ms);
    EXPECT_LT(clock::now() - t0, 5s);
}

TEST(connection, a_shorter_deadline_takes_effect_after_a_longer_one) {
    socket_pair p;
    connection c(std::move(p.server));
    error_code first, second;
    auto t0 = clock::now();
    // The first read gets data in time under a long deadline; the second has a short one.
    asio::write(p.client, asio::buffer("x", 1));
    run_coro(p.ioc, [&]() -> asio::awaitable<void> {
        first = co_await c.read_more(after(60s));
        second = co_await c.read_more(after(100ms));
    });
    EXPECT_FALSE(first) << first.message();
    EXPECT_EQ(second, errc::timed_out) << second.message();
    EXPECT_LT(clock::now() - t0, 10s);
}

TEST(connection, data_arriving_in_time_is_read) {
    socket_pair p;
    connection c(std::move(p.server));
    std::thread writer([&] {
        std::this_thread::sleep_for(50ms);
        asio::write(p.client, asio::buffer(std::string("HELLO\r\n")));
    });
    error_code ec;
    run_coro(p.ioc, [&]() -> asio::awaitable<void> {
        while (c.input().find('\n') == std::string_view::npos && !ec) ec = co_await c.read_more(after(5s));
        c.close();
    });
    writer.join();
    EXPECT_FALSE(ec);
    EXPECT_EQ(c.input(), "HELLO\r\n");
    c.consume(7);
    EXPECT_TRUE(c.input().empty());
}

TEST(connection, session_limit_caps_every_deadline) {
    socket_pair p;
    connection c(std::move(p.server));
    c.set_session_limit(150ms);
    error_code ec;
    auto t0 = clock::now();
    run_coro(p.ioc, [&]() -> asio::awaitable<void> { ec = co_await c.read_more(after(60s)); });
    EXPECT_EQ(ec, errc::session_expired) << ec.message();
    EXPECT_LT(clock::now() - t0, 10s);
    EXPECT_TRUE(c.past_session_limit());
}

TEST(connection, write_to_a_peer_that_never_reads_times_out) {
    socket_pair p;
    connection c(std::move(p.server));
    std::string big(64u << 20, 'x');
    error_code ec;
    run_coro(p.ioc, [&]() -> asio::awaitable<void> { ec = co_await c.write(big, after(300ms)); });
    EXPECT_EQ(ec, errc::timed_out) << ec.message();
}

TEST(connection, gather_write_sends_every_buffer_in_order) {
    socket_pair p;
    connection c(std::move(p.server));
    const std::string a = "MAIL FROM:<a@b>\r\n", b(100000, 'x'), d = "\r\n.\r\n";
    const std::vector<asio::const_buffer> bufs{asio::buffer(a), asio::buffer(b), asio::buffer(d)};
    std::string got;
    std::thread reader([&] {
        char buf[65536];
        error_code rec;
        while (got.size() < a.size() + b.size() + d.size() && !rec) got.append(buf, p.client.read_some(asio::buffer(buf), rec));
    });
    error_code ec, empty;
    run_coro(p.ioc, [&]() -> asio::awaitable<void> {
        ec = co_await c.write(bufs, after(5s));
        empty = co_await c.write(std::span<const asio::const_buffer>(), after(5s));
    });
    reader.join();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(empty) << empty.message();
    EXPECT_EQ(got, a + b + d);
}

TEST(connection, eof_is_reported) {
    socket_pair p;
    connection c(std::move(p.server));
    p.client.close();
    error_code ec;
    run_coro(p.ioc, [&]() -> asio::awaitable<void> {
        ec = co_await c.read_more(after(5s));
        c.close();
    });
    EXPECT_EQ(ec, asio::error::eof);
}

TEST(connection, half_client_hello_is_cut_at_the_handshake_deadline) {
    socket_pair p;
    connection c(std::move(p.server));
    // A TLS record header announcing a 512-octet handshake message, then nothing.
    const unsigned char half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
    asio::write(p.client, asio::buffer(half, sizeof half));
    error_code ec;
    auto t0 = clock::now();
    run_coro(p.ioc, [&]() -> asio::awaitable<void> { ec = co_await c.handshake_server(server_ctx(), after(200ms)); });
    EXPECT_EQ(ec, errc::timed_out) << ec.message();
    EXPECT_LT(clock::now() - t0, 10s);
}

TEST(connection, tls_round_trip_drops_plaintext_buffered_before_the_upgrade_and_shutdown_is_bounded) {
    socket_pair p;
    auto server = std::make_shared<connection>(std::move(p.server));
    auto client = std::make_shared<connection>(std::move(p.client));
    // Plaintext the server received before the upgrade (an injected command) must not survive it.
    error_code sec, cec, rec;
    std::string got;
    bool injected_seen = false;
    auto coro1 = [&]() -> asio::awaitable<void> {
        co_await server->read_more(after(5s));
        injected_seen = !server->input().empty();
        sec = co_await server->handshake_server(server_ctx(), after(5s));
        while (!sec && got.size() < 5) {
            rec = co_await server->read_more(after(5s));
            if (rec) break;
            got += server->input();
            server->consume(server->input().size());
        }
        // The client below never answers close_notify: the deadline bounds the wait.
        co_await server->shutdown(after(300ms));
    };
    asio::co_spawn(p.ioc, coro1(), asio::detached);
    auto coro2 = [&]() -> asio::awaitable<void> {
        co_await client->write("RSET\r\n", after(5s));
        asio::steady_timer t(client->get_executor());
        t.expires_after(50ms);
        co_await t.async_wait(asio::use_awaitable);
        auto ctx = build_client_context({.ca_file = cert_dir() / "cert.pem"});
        client_tls_options opts{.host = "localhost", .verify = true};  // named: gcc 12 and co_await temporaries
        cec = co_await client->handshake_client(ctx, opts, after(5s));
        co_await client->write("HELLO", after(5s));
        // Keep the TCP connection open without reading, then drop it.
        t.expires_after(1s);
        co_await t.async_wait(asio::use_awaitable);
        client->close();
    };
    asio::co_spawn(p.ioc, coro2(), asio::detached);
    auto t0 = clock::now();
    p.ioc.run_for(20s);
    EXPECT_TRUE(injected_seen);
    EXPECT_FALSE(sec) << sec.message();
    EXPECT_FALSE(cec) << cec.message();
    EXPECT_EQ(got, "HELLO");
    EXPECT_LT(clock::now() - t0, 15s);
}

TEST(connection, client_verification_fails_for_the_wrong_name) {
    socket_pair p;
    auto server = std::make_shared<connection>(std::move(p.server));
    auto client = std::make_shared<connection>(std::move(p.client));
    error_code cec;
    auto coro3 = [&]() -> asio::awaitable<void> {
        co_await server->handshake_server(server_ctx(), after(5s));
    };
    asio::co_spawn(p.ioc, coro3(), asio::detached);
    auto coro4 = [&]() -> asio::awaitable<void> {
        auto ctx = build_client_context({.ca_file = cert_dir() / "cert.pem"});
        client_tls_options opts{.host = "mail.example.org", .verify = true};
        cec = co_await client->handshake_client(ctx, opts, after(5s));
        client->close();
    };
    asio::co_spawn(p.ioc, coro4(), asio::detached);
    p.ioc.run_for(20s);
    EXPECT_TRUE(cec);
}

TEST(connection, input_buffer_is_returned_after_a_large_read) {
    socket_pair p;
    connection c(std::move(p.server));
    std::string big(200000, 'a');
    asio::write(p.client, asio::buffer(big));
    run_coro(p.ioc, [&]() -> asio::awaitable<void> {
        std::size_t total = 0;
        while (total < big.size()) {
            auto ec = co_await c.read_more(after(5s), 65536);
            if (ec) break;
            total += c.input().size();
            c.consume(c.input().size());
        }
        c.close();
    });
    c.release_memory();
    EXPECT_TRUE(c.input().empty());
    SUCCEED();
}

TEST(connector, connects_by_name_and_over_ipv6_and_times_out_on_a_black_hole) {
    asio::io_context ioc;
    tcp::acceptor acc6(ioc, tcp::endpoint(asio::ip::make_address("::1"), 0));
    connect_result r6, rname;
    auto coro5 = [&]() -> asio::awaitable<void> {
        connect_options o{.host = "::1", .port = acc6.local_endpoint().port()};
        r6 = co_await connect(ioc.get_executor(), o);
    };
    asio::co_spawn(ioc, coro5(), asio::detached);
    ioc.run_for(10s);
    ASSERT_FALSE(r6.ec) << r6.ec.message();
    EXPECT_EQ(r6.conn->remote_ip(), "::1");

    ioc.restart();
    tcp::acceptor acc4(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto coro6 = [&]() -> asio::awaitable<void> {
        connect_options o{.host = "localhost", .port = acc4.local_endpoint().port()};
        rname = co_await connect(ioc.get_executor(), o);
    };
    asio::co_spawn(ioc, coro6(), asio::detached);
    ioc.run_for(10s);
    // "localhost" may resolve to ::1 first, where nothing listens on this port; the connector
    // then tries the next address.
    EXPECT_FALSE(rname.ec) << rname.ec.message();

    // A port nobody listens on is refused quickly.
    ioc.restart();
    auto closed_port = acc4.local_endpoint().port();
    acc4.close();
    connect_result refused;
    auto coro7 = [&]() -> asio::awaitable<void> {
        connect_options o{.host = "127.0.0.1", .port = closed_port};
        refused = co_await connect(ioc.get_executor(), o);
    };
    asio::co_spawn(ioc, coro7(), asio::detached);
    ioc.run_for(10s);
    EXPECT_TRUE(refused.ec);
}

TEST(tls, ip_literals) {
    EXPECT_TRUE(is_ip_literal("127.0.0.1"));
    EXPECT_TRUE(is_ip_literal("::1"));
    EXPECT_TRUE(is_ip_literal("2001:db8::5"));
    EXPECT_FALSE(is_ip_literal("[::1]"));
    EXPECT_FALSE(is_ip_literal("localhost"));
    EXPECT_FALSE(is_ip_literal("1.2.3"));
    EXPECT_FALSE(is_ip_literal(""));
}
