// net::listener over loopback: admission hook, connection limits, implicit TLS, and what happens
// when the process runs out of descriptors (refuse with the busy text, no spinning, no flood of
// log lines).
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>

#include <atomic>
#include <dirent.h>
#include <thread>

#include "mailharness/net/listener.hpp"

namespace asio = boost::asio;
using namespace mailharness::net;
using namespace std::chrono_literals;

namespace {

// Reads one line from a blocking socket (up to 5 s); "" on EOF or timeout.
std::string read_line(tcp::socket& s) {
    timeval tv{5, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string line;
    char c;
    while (line.size() < 1000) {
        auto n = ::recv(s.native_handle(), &c, 1, 0);
        if (n <= 0) break;
        line += c;
        if (c == '\n') break;
    }
    return line;
}

struct fixture {
    asio::io_context ioc;
    std::unique_ptr<listener> l;
    std::thread thread;
    std::atomic<int> sessions{0};
    std::atomic<int> warnings{0};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

    void start(listener_options o) {
        if (!o.session) {
            o.session = [this](std::shared_ptr<connection> c, connection_limits::ticket) -> asio::awaitable<void> {
                sessions++;
                co_await c->write("hello\r\n", after(5s));
                // Hold the connection until the client goes away (or 3 s).
                co_await c->read_more(after(3s));
            };
        }
        o.log = [this](log_severity s, const std::string&) {
            if (s == log_severity::warn) warnings++;
        };
        if (o.endpoint.port() == 0 && o.endpoint.address().is_unspecified()) {
            o.endpoint = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
        }
        l = std::make_unique<listener>(ioc, std::move(o));
        l->start();
        work.emplace(ioc.get_executor());
        thread = std::thread([this] { ioc.run(); });
    }
    tcp::socket connect(asio::io_context& client_ioc) {
        tcp::socket s(client_ioc);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), l->port()));
        return s;
    }
    ~fixture() {
        if (l) l->close();
        work.reset();
        ioc.stop();
        if (thread.joinable()) thread.join();
    }
};

std::size_t open_descriptors() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

}  // namespace

TEST(listener, admits_and_runs_the_session) {
    fixture f;
    f.start({.name = "test"});
    asio::io_context cio;
    auto s = f.connect(cio);
    EXPECT_EQ(read_line(s), "hello\r\n");
    EXPECT_EQ(f.l->accepted(), 1u);
}

TEST(listener, admission_hook_refuses_before_the_session) {
    fixture f;
    std::atomic<int> refused{0};
    f.start({.name = "test",
             .admit = [](const std::string& ip) -> std::optional<std::string> {
                 return ip == "127.0.0.1" ? std::optional<std::string>("554 go away\r\n") : std::nullopt;
             },
             .on_refused = [&](const std::string&, refusal why, const std::string&) {
                 if (why == refusal::policy) refused++;
             }});
    asio::io_context cio;
    auto s = f.connect(cio);
    EXPECT_EQ(read_line(s), "554 go away\r\n");
    EXPECT_EQ(read_line(s), "");  // then closed
    EXPECT_EQ(f.sessions.load(), 0);
    EXPECT_EQ(refused.load(), 1);
}

TEST(listener, per_ip_and_total_limits_refuse_with_the_busy_text) {
    connection_limits limits(3, 2);
    fixture f;
    f.start({.name = "test", .limits = &limits, .busy_text = "421 busy\r\n"});
    asio::io_context cio;
    auto a = f.connect(cio);
    EXPECT_EQ(read_line(a), "hello\r\n");
    auto b = f.connect(cio);
    EXPECT_EQ(read_line(b), "hello\r\n");
    auto c = f.connect(cio);  // third from the same IP: over the per-IP limit of 2
    EXPECT_EQ(read_line(c), "421 busy\r\n");
    EXPECT_EQ(limits.open(), 2u);
    a.close();
    // The slot comes back once the session ends.
    for (int i = 0; i < 50 && limits.open() != 1; ++i) std::this_thread::sleep_for(20ms);
    EXPECT_EQ(limits.open(), 1u);
    auto d = f.connect(cio);
    EXPECT_EQ(read_line(d), "hello\r\n");
}

TEST(listener, out_of_descriptors_refuses_without_spinning) {
    fixture f;
    f.start({.name = "test", .busy_text = "421 out of descriptors\r\n"});
    const auto port = f.l->port();
    // The clients live in a child process, so that only the server's descriptors are limited.
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(pipefd[1]);
        char go;
        if (::read(pipefd[0], &go, 1) != 1) ::_exit(3);
        asio::io_context cio;
        int hello = 0, busy = 0, other = 0;
        std::vector<tcp::socket> keep;
        for (int i = 0; i < 40; ++i) {
            tcp::socket s(cio);
            boost::system::error_code ec;
            s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
            if (ec) {
                ++other;
                continue;
            }
            auto line = read_line(s);
            if (line == "hello\r\n") ++hello;
            else if (line == "421 out of descriptors\r\n") ++busy;
            else ++other;
            keep.push_back(std::move(s));
        }
        // Every client got an answer; some were refused for lack of descriptors.
        ::_exit(other == 0 && hello > 0 && busy > 0 ? 0 : 10 + (other > 0 ? 1 : 0) + (hello == 0 ? 2 : 0) + (busy == 0 ? 4 : 0));
    }
    ::close(pipefd[0]);
    rlimit old{};
    ::getrlimit(RLIMIT_NOFILE, &old);
    rlimit low = old;
    low.rlim_cur = open_descriptors() + 10;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    ASSERT_EQ(::write(pipefd[1], "g", 1), 1);
    int status = 0;
    for (int i = 0; i < 300; ++i) {
        if (::waitpid(child, &status, WNOHANG) == child) break;
        std::this_thread::sleep_for(50ms);
    }
    ::setrlimit(RLIMIT_NOFILE, &old);
    ::close(pipefd[1]);
    ASSERT_TRUE(WIFEXITED(status)) << "client process did not finish";
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_GT(f.l->descriptor_refusals(), 0u);
    // Rate-limited: one warning per 10 s at most, not one per failed accept.
    EXPECT_LE(f.warnings.load(), 2);
}

TEST(listener, raise_descriptor_limit_reaches_the_hard_limit) {
    auto n = raise_descriptor_limit();
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    EXPECT_EQ(rl.rlim_cur, rl.rlim_max);
    EXPECT_GT(n, 0u);
}
