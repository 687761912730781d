// The security cases against a deliberately naive SMTP server (written here, in a thread): it ends
// DATA at a bare "\n.\n" and accepts every recipient. The smuggling and relay cases must fail on
// it, and the session cases it gets right must pass, so the suite is known to tell them apart.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "mailharness/conform/runner.hpp"

using namespace mailharness::conform;

namespace {

class naive_server {
public:
    /// `line_buffer` > 0: a fixed line buffer of that size; a longer line is handled as several
    /// lines of that size (the fgets-style reading that answers each fragment).
    /// `huge_ehlo`: the EHLO reply is 200 lines of 1000 characters (a hostile server's, within
    /// the reply parser's limits).
    explicit naive_server(std::size_t line_buffer = 0, bool huge_ehlo = false)
        : line_buffer_(line_buffer), huge_ehlo_(huge_ehlo) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0) {
            throw std::runtime_error("bind");
        }
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~naive_server() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    std::uint16_t port() const { return port_; }

private:
    void serve() {
        while (!stop_) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            timeval tv{5, 0};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            session(c, line_buffer_, huge_ehlo_);
            ::close(c);
        }
    }
    static void say(int c, const std::string& s) { ::send(c, s.data(), s.size(), MSG_NOSIGNAL); }

    // Lines end at LF (CR stripped): the lenient parsing that makes smuggling possible.
    static void session(int c, std::size_t line_buffer, bool huge_ehlo) {
        say(c, "220 naive.test ESMTP\r\n");
        std::string buf;
        bool data = false;
        char tmp[4096];
        for (;;) {
            auto nl = buf.find('\n');
            const std::size_t line_end = nl == std::string::npos ? buf.size() : nl;
            if (line_buffer > 0 && line_end >= line_buffer) nl = line_buffer - 1;  // a full buffer is a "line"
            if (nl == std::string::npos) {
                const ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
                if (n <= 0) return;
                buf.append(tmp, static_cast<std::size_t>(n));
                continue;
            }
            std::string line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (data) {
                if (line == ".") {
                    data = false;
                    say(c, "250 queued\r\n");
                }
                continue;
            }
            const std::string verb = line.substr(0, 4);
            if (verb == "EHLO" && huge_ehlo) {
                std::string r;
                for (int i = 0; i < 199; ++i) r += "250-X" + std::string(995, 'A' + i % 26) + "\r\n";
                say(c, r + "250 PIPELINING\r\n");
            } else if (verb == "EHLO") say(c, "250-naive.test\r\n250 PIPELINING\r\n");
            else if (verb == "DATA") {
                data = true;
                say(c, "354 go ahead\r\n");
            } else if (verb == "QUIT") {
                say(c, "221 bye\r\n");
                return;
            } else say(c, "250 ok\r\n");
        }
    }

    std::size_t line_buffer_ = 0;
    bool huge_ehlo_ = false;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace

TEST(conform_naive_server, security_cases_catch_smuggling_and_open_relay) {
    naive_server srv;
    target t;
    t.port = srv.port();
    t.tls = tls_mode::none;
    t.local_domain = "naive.test";
    t.rcpt = "postmaster@naive.test";
    t.timeout = std::chrono::milliseconds(3000);
    t.quiet_time = std::chrono::milliseconds(300);
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    const auto results = run_cases(cases, t, {}, nullptr);
    std::map<std::string, outcome> by_id;
    for (const auto& r : results) by_id[r.tc->id] = r.outcome;

    // It ends DATA at any line holding "." after a trailing CR is stripped.
    EXPECT_EQ(by_id["smtp-smuggling-lf-dot-lf"], outcome::failed);
    EXPECT_EQ(by_id["smtp-smuggling-lf-dot-crlf"], outcome::failed);
    EXPECT_EQ(by_id["smtp-smuggling-crlf-dot-lf"], outcome::failed);
    // A bare CR is no line end to it: those variants do not smuggle here.
    EXPECT_EQ(by_id["smtp-smuggling-cr-dot-cr"], outcome::passed);
    // It relays anything: every relay probe must fail.
    int relay_probes = 0;
    for (const auto& r : results) {
        const auto& tags = r.tc->tags;
        if (std::find(tags.begin(), tags.end(), "relay") == tags.end()) continue;
        ++relay_probes;
        EXPECT_EQ(r.outcome, outcome::failed) << r.tc->id;
        // The lines that decided it: the relayed RCPT and the 250 that accepted it.
        ASSERT_FALSE(r.decisive.empty()) << r.tc->id;
        EXPECT_LE(r.decisive.size(), max_decisive_lines);
        bool rcpt = false, accepted = false;
        for (const auto& l : r.decisive) {
            rcpt |= l.starts_with("C: RCPT TO:");
            accepted |= rcpt && l.starts_with("S: 250");
        }
        EXPECT_TRUE(rcpt && accepted) << r.tc->id << ": " << r.transcript;
    }
    for (const auto& r : results) {
        if (r.outcome != outcome::failed) EXPECT_TRUE(r.decisive.empty()) << r.tc->id;
    }
    EXPECT_GE(relay_probes, 20);
    EXPECT_EQ(by_id["smtp-rcpt-before-mail"], outcome::failed);     // it answers 250 to anything
    EXPECT_EQ(by_id["smtp-greeting"], outcome::passed);
    EXPECT_EQ(by_id["smtp-quit"], outcome::passed);
    EXPECT_EQ(by_id["smtp-starttls-command-injection"], outcome::skipped);  // --tls none
    EXPECT_EQ(by_id["smtp-size-over-limit"], outcome::skipped);             // no SIZE advertised
}

TEST(conform_naive_server, only_and_exclude_select_by_id_tag_protocol_and_category) {
    test_case c;
    c.id = "smtp-x";
    c.tags = {"relay"};
    c.category = category::security;
    EXPECT_TRUE(selected(c, {}));
    EXPECT_TRUE(selected(c, {.only = {"relay"}}));
    EXPECT_TRUE(selected(c, {.only = {"security"}}));
    EXPECT_TRUE(selected(c, {.only = {"nope", "smtp"}}));
    EXPECT_FALSE(selected(c, {.only = {"pop3"}}));
    EXPECT_FALSE(selected(c, {.exclude = {"smtp-x"}}));
    EXPECT_FALSE(selected(c, {.only = {"smtp"}, .exclude = {"relay"}}));
}

// A server that reads commands into a fixed 1024-octet buffer answers every fragment of a longer
// line, as if it were a command of its own: the long-line case must catch it; the unbounded naive
// server answers once and passes.
TEST(conform_naive_server, long_line_case_catches_a_reply_per_fragment) {
    target t;
    t.tls = tls_mode::none;
    t.local_domain = "naive.test";
    t.timeout = std::chrono::milliseconds(3000);
    t.quiet_time = std::chrono::milliseconds(300);
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    for (const std::size_t buffer : {std::size_t{0}, std::size_t{1024}}) {
        naive_server srv(buffer);
        t.port = srv.port();
        const auto results = run_cases(cases, t, {.only = {"smtp-overlong-command-line"}}, nullptr);
        ASSERT_EQ(results.size(), 1u);
        if (buffer == 0) {
            EXPECT_EQ(results[0].outcome, outcome::passed) << results[0].message << '\n' << results[0].transcript;
        } else {
            EXPECT_EQ(results[0].outcome, outcome::failed) << results[0].transcript;
            EXPECT_NE(results[0].message.find("unexpected reply \"250 ok\""), std::string::npos) << results[0].message;
        }
    }
}

// A pattern that ${var} expansion makes longer than max_regex_size fails its step instead of
// overflowing the stack of std::regex's compiler (it crashed mailconform before).
TEST(conform_naive_server, expanded_regex_over_the_limit_fails_the_step) {
    naive_server srv;
    target t;
    t.tls = tls_mode::none;
    t.port = srv.port();
    t.timeout = std::chrono::milliseconds(3000);
    const auto c = parse_case("id: x\ntitle: t\nprotocol: smtp\nrfc: RFC 5321\nlevel: MUST\ncategory: protocol\n"
                              "steps:\n  - connect:\n  - expect: \"^220${repeat:100000:a}\"\n",
                              "long.yaml");
    const auto r = run_case(c, t, {}, {});
    EXPECT_EQ(r.outcome, outcome::failed);
    EXPECT_NE(r.message.find("regex longer than 1024 characters after expansion"), std::string::npos) << r.message;
    EXPECT_EQ(r.line, 9);
}

TEST(conform_naive_server, a_huge_reply_cannot_crash_the_regex_matching) {
    // 200 lines of 1000 characters: std::regex's recursive matcher overflowed the stack on the
    // shipped EHLO case; RE2 matches it in linear time.
    naive_server srv(0, true);
    target t;
    t.tls = tls_mode::none;
    t.port = srv.port();
    t.timeout = std::chrono::milliseconds(3000);
    auto suite = load_suite(MH_CONFORM_SUITE_DIR);
    auto ehlo = std::find_if(suite.begin(), suite.end(), [](const test_case& c) { return c.id == "smtp-ehlo-capabilities"; });
    ASSERT_NE(ehlo, suite.end());
    const auto r = run_case(*ehlo, t, {}, {});
    EXPECT_EQ(r.outcome, outcome::passed) << r.message;
}
