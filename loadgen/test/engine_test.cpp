// The engine against a scripted SMTP server on loopback (plain sockets, a thread per
// connection): error classes, deadlines, exact message sizes through pipelining, and latency
// measured from the intended start in the open model.
#include "mailharness/load/engine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "mailharness/load/scenario_loader.hpp"

using namespace mailharness::load;
using namespace std::chrono_literals;

namespace {

// What the server does with a command: nullopt for the normal reply, "" to close the
// connection, "hang" to never answer, anything else is sent as the reply.
using script = std::function<std::optional<std::string>(const std::string& verb, int connection)>;

class scripted_server {
public:
    explicit scripted_server(script s = {}, std::string greeting = "220 test ESMTP\r\n", std::chrono::milliseconds delay = 0ms)
        : script_(std::move(s)), greeting_(std::move(greeting)), greeting_delay_(delay) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        ::listen(fd_, 512);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~scripted_server() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        acceptor_.join();
        std::lock_guard lock(m_);
        for (int c : open_) ::shutdown(c, SHUT_RDWR);
        for (auto& t : threads_) t.join();
    }
    std::uint16_t port() const { return port_; }
    std::uint64_t messages() const { return messages_; }
    std::vector<std::uint64_t> sizes() const {
        std::lock_guard lock(m_);
        return sizes_;
    }
    std::vector<std::string> peers() const {
        std::lock_guard lock(m_);
        return peers_;
    }

private:
    void accept_loop() {
        int n = 0;
        for (;;) {
            sockaddr_in peer{};
            socklen_t len = sizeof peer;
            const int c = ::accept(fd_, reinterpret_cast<sockaddr*>(&peer), &len);
            if (c < 0) return;
            char text[INET_ADDRSTRLEN] = {};
            ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
            std::lock_guard lock(m_);
            peers_.push_back(text);
            if (stop_) {
                ::close(c);
                return;
            }
            open_.push_back(c);
            threads_.emplace_back([this, c, id = n++] { serve(c, id); });
        }
    }

    void serve(int c, int id) {
        timeval tv{10, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int one = 1;  // one reply per send: without this, Nagle holds pipelined replies back
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::this_thread::sleep_for(greeting_delay_);
        send(c, greeting_);
        std::string buf;
        auto line = [&](std::string& out) {
            for (;;) {
                const auto nl = buf.find("\r\n");
                if (nl != std::string::npos) {
                    out = buf.substr(0, nl);
                    buf.erase(0, nl + 2);
                    return true;
                }
                char tmp[8192];
                const auto n = ::recv(c, tmp, sizeof tmp, 0);
                if (n <= 0) return false;
                buf.append(tmp, static_cast<std::size_t>(n));
            }
        };
        std::string l;
        while (line(l)) {
            std::string verb = l.substr(0, l.find(' '));
            for (auto& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            if (script_) {
                if (auto r = script_(verb, id)) {
                    if (r->empty()) break;
                    if (*r == "hang") {
                        while (line(l)) {
                        }
                        break;
                    }
                    send(c, *r);
                    continue;
                }
            }
            if (verb == "EHLO") send(c, "250-test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 100000000\r\n");
            else if (verb == "DATA") {
                send(c, "354 go ahead\r\n");
                std::uint64_t size = 0;
                while (line(l) && l != ".") size += l.size() + 2 - (l.starts_with("..") ? 1 : 0);
                record(size);
                send(c, "250 2.0.0 queued\r\n");
            } else if (verb == "BDAT") {
                const auto n = std::stoull(l.substr(5));
                while (buf.size() < n) {
                    char tmp[8192];
                    const auto got = ::recv(c, tmp, sizeof tmp, 0);
                    if (got <= 0) return;
                    buf.append(tmp, static_cast<std::size_t>(got));
                }
                buf.erase(0, n);
                if (l.find("LAST") != std::string::npos) record(n);
                send(c, "250 2.0.0 chunk\r\n");
            } else if (verb == "QUIT") {
                send(c, "221 bye\r\n");
                break;
            } else send(c, "250 ok\r\n");
        }
        ::shutdown(c, SHUT_RDWR);
    }
    void send(int c, const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); }
    void record(std::uint64_t size) {
        std::lock_guard lock(m_);
        sizes_.push_back(size);
        ++messages_;
    }

    script script_;
    std::string greeting_;
    std::chrono::milliseconds greeting_delay_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread acceptor_;
    mutable std::mutex m_;
    std::vector<std::thread> threads_;
    std::vector<int> open_;
    std::vector<std::uint64_t> sizes_;
    std::vector<std::string> peers_;
    std::atomic<std::uint64_t> messages_{0};
};

scenario load(const std::string& yaml) {
    auto r = parse_scenario(yaml, "test.yaml");
    std::string all;
    for (const auto& p : r.problems) all += p.to_string() + "\n";
    EXPECT_TRUE(r.ok()) << all;
    return r.value;
}

results run_ok(const scenario& s, unsigned threads = 2) {
    results r;
    std::string error;
    run_options o;
    o.threads = threads;
    EXPECT_TRUE(run(s, o, r, error)) << error;
    return r;
}

// An open-model scenario: 20 sessions in 0.5 s, evenly spaced, running `flow`.
std::string open_scenario(std::uint16_t port, const std::string& flow, const std::string& extra_target = "") {
    return "targets:\n  t: {host: 127.0.0.1, port: " + std::to_string(port) + ", timeout: 300ms" + extra_target +
           "}\nusers:\n  u: {addresses: [a@example.test]}\nmessages:\n  m: {size: 2000, to: b@example.test}\n"
           "workloads:\n  - name: w\n    users: u\n"
           "    executor: {type: open, rate: 40/s, duration: 500ms, arrivals: uniform, graceful_stop: 3s}\n"
           "    flow: " + flow + "\n";
}

const error_entry* only_error(const results& r) {
    EXPECT_EQ(r.errors.size(), 1u);
    return r.errors.empty() ? nullptr : &r.errors[0];
}

std::uint16_t closed_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);  // nothing listens there now
    return ntohs(a.sin_port);
}

}  // namespace

TEST(engine, delivers_exact_messages_with_pipelining) {
    for (const char* body : {"data", "bdat"}) {
        scripted_server srv;
        auto s = load("targets:\n  t: {host: 127.0.0.1, port: " + std::to_string(srv.port()) +
                      "}\nmessages:\n  m: {size: {distribution: uniform, min: 300, max: 9000}, to: b@example.test, from: "
                      "a@example.test}\nworkloads:\n  - name: w\n"
                      "    executor: {type: closed, vus: 3, iterations: 2, duration: 20s}\n"
                      "    flow: [connect, ehlo, {send: {messages: 25, body: " + std::string(body) + "}}, quit]\n");
        const auto r = run_ok(s);
        const auto& c = r.counters.at("w");
        EXPECT_EQ(c.iterations, 6u) << body;
        EXPECT_EQ(c.failed, 0u) << body;
        EXPECT_EQ(c.messages, 150u) << body;
        EXPECT_EQ(srv.messages(), 150u) << body;
        EXPECT_EQ(c.connections, 6u);
        EXPECT_TRUE(r.errors.empty());
        for (auto size : srv.sizes()) {
            EXPECT_GE(size, 300u);
            EXPECT_LE(size, 9000u);
        }
        EXPECT_EQ(r.aggregate("smtp.message").count(), 150u);
        EXPECT_EQ(r.aggregate(std::string("smtp.") + body).count(), 150u);
        EXPECT_EQ(r.aggregate("iteration").count(), 6u);
    }
}

TEST(engine, classifies_errors) {
    {
        auto r = run_ok(load(open_scenario(closed_port(), "[connect, quit]")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::refused);
        EXPECT_EQ(e->action, "smtp.connect");
        EXPECT_EQ(e->count, 20u);
        EXPECT_EQ(r.counters.at("w").failed, 20u);
    }
    {
        scripted_server srv({}, "554 5.3.2 not now\r\n");
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, quit]")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::reply_5xx);
        EXPECT_EQ(e->code, 554);
        EXPECT_EQ(e->action, "smtp.greeting");
        EXPECT_EQ(e->example, "554 5.3.2 not now");
    }
    {
        scripted_server srv([](const std::string& v, int) -> std::optional<std::string> {
            if (v == "RCPT") return "450 4.2.1 try later\r\n";
            return std::nullopt;
        });
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, mail, rcpt, data, quit]")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::reply_4xx);
        EXPECT_EQ(e->code, 450);
        EXPECT_EQ(e->action, "smtp.rcpt");
        EXPECT_EQ(r.counters.at("w").messages, 0u);
    }
    {
        scripted_server srv([](const std::string& v, int) -> std::optional<std::string> {
            if (v == "EHLO") return "hang";
            return std::nullopt;
        });
        const auto t0 = std::chrono::steady_clock::now();
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, quit]")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::timeout);
        EXPECT_EQ(e->action, "smtp.ehlo");
        EXPECT_EQ(e->count, 20u);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // 300 ms timeout, swept every 100 ms
    }
    {
        scripted_server srv([](const std::string& v, int) -> std::optional<std::string> {
            if (v == "EHLO") return "hello there\r\n";
            return std::nullopt;
        });
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, quit]")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::protocol);
        EXPECT_NE(e->example.find("malformed reply"), std::string::npos) << e->example;
    }
    {
        scripted_server srv([](const std::string& v, int) -> std::optional<std::string> {
            if (v == "MAIL") return "";  // close
            return std::nullopt;
        });
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, send, quit]")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::network);
        EXPECT_EQ(e->action, "smtp.mail");
    }
    {
        // STARTTLS offered but not answered with 220; CHUNKING missing for bdat
        scripted_server srv([](const std::string& v, int) -> std::optional<std::string> {
            if (v == "EHLO") return "250-test\r\n250 STARTTLS\r\n";
            if (v == "STARTTLS") return "454 4.7.0 TLS not available\r\n";
            return std::nullopt;
        });
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, starttls, quit]", ", tls: starttls, verify: false")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::reply_4xx);
        EXPECT_EQ(e->code, 454);
        auto r2 = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, {send: {body: bdat}}, quit]")));
        const auto* e2 = only_error(r2);
        ASSERT_TRUE(e2);
        EXPECT_EQ(e2->cls, error_class::protocol);
        EXPECT_NE(e2->example.find("CHUNKING"), std::string::npos);
    }
    {
        // A plaintext server on an implicit-TLS target: the handshake fails
        scripted_server srv;
        auto r = run_ok(load(open_scenario(srv.port(), "[connect, quit]", ", tls: implicit, verify: false")));
        const auto* e = only_error(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->cls, error_class::tls);
        EXPECT_EQ(e->action, "smtp.tls_handshake");
    }
}

TEST(engine, open_model_counts_latency_from_the_intended_start) {
    // 20 arrivals in 0.5 s, at most one session at a time, and a server that takes 200 ms to greet:
    // the sessions queue. Each greeting takes 200 ms, but an arrival due at t waits for all
    // before it, so iteration latency (from the due time) grows to seconds: what a real client
    // arriving at t would have seen. A closed loop would hide the queue (coordinated omission).
    scripted_server srv({}, "220 slow\r\n", 200ms);
    auto yaml = open_scenario(srv.port(), "[connect, quit]");
    yaml.replace(yaml.find("graceful_stop: 3s"), 17, "graceful_stop: 10s, max_in_flight: 1");
    auto s = load(yaml);
    s.targets[0].timeout = std::chrono::seconds(2);
    const auto r = run_ok(s, 1);
    EXPECT_TRUE(r.errors.empty());
    EXPECT_EQ(r.counters.at("w").iterations, 20u);
    const auto greeting = r.aggregate("smtp.greeting");
    const auto iteration = r.aggregate("iteration");
    EXPECT_LT(greeting.value_at_percentile(99), 400'000u);
    // the last arrival (due at 0.475 s) starts after 19 sessions of >= 200 ms: about 3.3 s late
    EXPECT_GT(iteration.max(), 2'500'000u);
    EXPECT_GT(iteration.value_at_percentile(50), 1'000'000u);
    EXPECT_GT(r.aggregate("schedule_lag").max(), 2'000'000u);
}

TEST(engine, closed_model_runs_the_vus_of_its_shard) {
    scripted_server srv;
    const std::string yaml = "targets:\n  t: {host: 127.0.0.1, port: " + std::to_string(srv.port()) +
                             "}\nworkloads:\n  - name: w\n    executor: {type: closed, vus: 5, iterations: 3, duration: 20s}\n"
                             "    flow: [connect, ehlo, {think: 50ms}, quit]\n";
    auto s = load(yaml);
    results all[2];
    for (std::uint32_t i = 0; i < 2; ++i) {
        run_options o;
        o.shard = {i, 2};
        std::string error;
        ASSERT_TRUE(run(s, o, all[i], error)) << error;
    }
    // VUs 0, 2, 4 in shard 0 and 1, 3 in shard 1, 3 iterations each
    EXPECT_EQ(all[0].counters.at("w").iterations, 9u);
    EXPECT_EQ(all[1].counters.at("w").iterations, 6u);
    results merged;
    std::string error;
    ASSERT_TRUE(merge({all[0], all[1]}, merged, error)) << error;
    EXPECT_EQ(merged.counters.at("w").iterations, 15u);
    EXPECT_EQ(merged.aggregate("smtp.ehlo").count(), 15u);
}

TEST(engine, aborts_on_a_failing_threshold) {
    auto s = load("targets:\n  t: {host: 127.0.0.1, port: " + std::to_string(closed_port()) +
                  "}\nworkloads:\n  - name: w\n    executor: {type: open, rate: 50/s, duration: 30s}\n"
                  "    flow: [connect, quit]\nthresholds:\n  - {expr: 'errors rate < 10%', abort_on_fail: true, delay: 1s}\n");
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_ok(s);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_TRUE(r.run.aborted);
    EXPECT_NE(r.run.abort_reason.find("errors rate < 10%"), std::string::npos);
    EXPECT_FALSE(thresholds_passed(r));
}

TEST(engine, start_fails_cleanly) {
    auto s = load("targets:\n  t: {host: no-such-host.invalid, port: 25}\nworkloads:\n  - name: w\n"
                  "    executor: {type: closed, vus: 1, duration: 1s}\n    flow: [connect, quit]\n");
    results r;
    std::string error;
    EXPECT_FALSE(run(s, {}, r, error));
    EXPECT_NE(error.find("cannot resolve no-such-host.invalid"), std::string::npos) << error;
}

TEST(engine, connects_from_the_source_addresses_in_turn) {
    scripted_server srv;
    auto r = run_ok(load(open_scenario(srv.port(), "[connect, ehlo, quit]",
                                       ", source_addresses: [127.0.0.2, 127.0.0.3, 127.0.0.4]")),
                    1);
    EXPECT_TRUE(r.errors.empty());
    std::map<std::string, int> by_source;
    for (const auto& p : srv.peers()) ++by_source[p];
    EXPECT_EQ(by_source, (std::map<std::string, int>{{"127.0.0.2", 7}, {"127.0.0.3", 7}, {"127.0.0.4", 6}}));
}
