// refmaild over real loopback sockets: the server object on port 0, a blocking client here.
#include "mailharness/refmaild/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;
using namespace mailharness::refmaild;

namespace {

class client {
public:
    explicit client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect");
    }
    ~client() { ::close(fd_); }
    void send(std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    // One complete reply (all lines up to "ddd "), or "" on EOF/timeout.
    std::string reply() {
        std::string r;
        for (;;) {
            auto nl = buf_.find("\r\n");
            if (nl != std::string::npos) {
                std::string line = buf_.substr(0, nl + 2);
                buf_.erase(0, nl + 2);
                r += line;
                if (line.size() >= 4 && line[3] == ' ') return r;
                continue;
            }
            char tmp[4096];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return r;
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }
    std::string code() { return reply().substr(0, 3); }
    // One CRLF-terminated line (POP3), or "" on EOF/timeout.
    std::string line() {
        for (;;) {
            auto nl = buf_.find("\r\n");
            if (nl != std::string::npos) {
                std::string l = buf_.substr(0, nl + 2);
                buf_.erase(0, nl + 2);
                return l;
            }
            char tmp[4096];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return {};
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }
    // IMAP: every line up to and including the tagged reply of `tag`, or what came before EOF.
    std::string until(std::string_view tag) {
        std::string r;
        for (;;) {
            std::string l = line();
            if (l.empty()) return r;
            r += l;
            if (l.size() > tag.size() && l.compare(0, tag.size(), tag) == 0 && l[tag.size()] == ' ') return r;
        }
    }
    // Closed by the server: end of stream, or a reset when the server closed with our bytes
    // still unread in its receive buffer (TCP then sends RST instead of FIN).
    bool closed() {
        char c;
        auto n = ::recv(fd_, &c, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

private:
    int fd_;
    std::string buf_;
};

class refmaild_server : public ::testing::Test {
protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("refmaild-test-" + std::to_string(rd()));
        fs::create_directories(dir_);
        std::ofstream(dir_ / "passwd") << "alice@example.test:{PLAIN}wonderland\nbob@example.test:{PLAIN}builder\n";
        config::refmaild_settings s;
        s.server.hostname = "mx.example.test";
        s.server.io_threads = 2;
        s.listeners.smtp = {.enabled = true, .address = "127.0.0.1", .port = 0};
        s.listeners.submission = {.enabled = true, .address = "127.0.0.1", .port = 0};
        s.listeners.smtps.enabled = false;
        s.listeners.pop3 = {.enabled = true, .address = "127.0.0.1", .port = 0};
        s.listeners.imap = {.enabled = true, .address = "127.0.0.1", .port = 0};
        s.auth.passwd_file = dir_ / "passwd";
        s.auth.allow_plaintext_auth = true;
        s.auth.failure_delay_base = std::chrono::milliseconds(10);
        s.auth.failure_delay_max = std::chrono::milliseconds(40);
        s.store.maildir_root = dir_ / "maildir";
        s.store.data_dir = dir_ / "data";
        s.metrics.enabled = true;
        s.metrics.port = 0;
        std::ofstream(dir_ / "kill") << "evil.example\nmallory@example.test\n";
        s.policy.kill_file = dir_ / "kill";
        settings_ = s;
        restart();
    }
    void restart() {
        if (srv_) {
            srv_->stop();
            srv_->wait();
        }
        srv_ = std::make_unique<server>(settings_);
        srv_->start();
        smtp_ = srv_->ports().at("smtp");
        submission_ = srv_->ports().at("submission");
        pop3_ = srv_->ports().at("pop3");
        imap_ = srv_->ports().at("imap");
    }
    void TearDown() override {
        srv_->stop();
        srv_->wait();
        srv_.reset();
        fs::remove_all(dir_);
    }
    std::vector<std::string> stored(const std::string& user) {
        std::vector<std::string> r;
        auto d = dir_ / "maildir" / "example.test" / user / "Maildir" / "new";
        if (!fs::exists(d)) return r;
        for (auto& e : fs::directory_iterator(d)) {
            std::ifstream f(e.path(), std::ios::binary);
            r.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        }
        return r;
    }
    static std::string after_received(const std::string& m) {
        // One Return-Path: line (final delivery, RFC 5321 4.4), then the Received: header,
        // folded with TABs.
        EXPECT_EQ(m.rfind("Return-Path: <", 0), 0u) << m;
        std::size_t pos = m.find("\r\n") + 2;
        do {
            pos = m.find("\r\n", pos) + 2;
        } while (pos < m.size() && (m[pos] == '\t' || m[pos] == ' '));
        return m.substr(pos);
    }

    fs::path dir_;
    config::refmaild_settings settings_;
    std::unique_ptr<server> srv_;
    std::uint16_t smtp_ = 0, submission_ = 0, pop3_ = 0, imap_ = 0;
};

TEST_F(refmaild_server, delivers_byte_identical_after_received_header) {
    client c(smtp_);
    EXPECT_EQ(c.code(), "220");
    c.send("EHLO client.test\r\n");
    std::string ehlo = c.reply();
    EXPECT_NE(ehlo.find("PIPELINING"), std::string::npos);
    EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);  // no certificate configured
    c.send("MAIL FROM:<sender@remote.test>\r\n");
    EXPECT_EQ(c.code(), "250");
    c.send("RCPT TO:<alice@example.test>\r\n");
    EXPECT_EQ(c.code(), "250");
    c.send("RCPT TO:<nobody@example.test>\r\n");
    EXPECT_EQ(c.reply().substr(0, 9), "550 5.1.1");
    c.send("RCPT TO:<victim@elsewhere.test>\r\n");
    EXPECT_EQ(c.reply().substr(0, 9), "554 5.7.1");
    c.send("DATA\r\n");
    EXPECT_EQ(c.code(), "354");
    std::string msg = "Subject: test\r\nX-Bin: \x01\x7f\xff\r\n\r\n..leading dot\r\nline\r\n";
    c.send(msg.substr(0, 20));
    c.send(msg.substr(20) + ".\r\n");
    EXPECT_EQ(c.code(), "250");
    auto m = stored("alice");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].find("Received: from client.test ([127.0.0.1])"), m[0].find("\r\n") + 2) << m[0];
    EXPECT_EQ(after_received(m[0]), "Subject: test\r\nX-Bin: \x01\x7f\xff\r\n\r\n.leading dot\r\nline\r\n");
    c.send("QUIT\r\n");
    EXPECT_EQ(c.code(), "221");
}

TEST_F(refmaild_server, pipelined_commands_get_replies_in_order) {
    client c(smtp_);
    c.reply();
    c.send("EHLO p.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "550");
    EXPECT_EQ(c.code(), "354");
    c.send("hi\r\n.\r\nRSET\r\nQUIT\r\n");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "221");
    EXPECT_EQ(stored("bob").size(), 1u);
}

TEST_F(refmaild_server, smuggling_is_refused_and_nothing_delivered) {
    client c(smtp_);
    c.reply();
    c.send("EHLO s.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
    for (int i = 0; i < 3; ++i) c.reply();
    EXPECT_EQ(c.code(), "354");
    c.send("Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n");
    EXPECT_EQ(c.reply().substr(0, 9), "550 5.6.0");
    c.send("NOOP\r\n");
    EXPECT_EQ(c.code(), "250");
    EXPECT_TRUE(stored("bob").empty());
    EXPECT_TRUE(stored("alice").empty());
}

TEST_F(refmaild_server, long_command_line_closes_connection) {
    client c(smtp_);
    c.reply();
    c.send("EHLO " + std::string(600, 'a') + "\r\n");
    EXPECT_EQ(c.reply().substr(0, 9), "500 5.5.2");
    EXPECT_TRUE(c.closed());
}

TEST_F(refmaild_server, long_line_bans_the_ip_across_restart) {
    {
        client c(smtp_);
        c.reply();
        c.send("NOOP " + std::string(600, 'x') + "\r\n");
        EXPECT_EQ(c.reply().substr(0, 9), "500 5.5.2");
    }
    {
        client c(smtp_);
        EXPECT_EQ(c.reply().substr(0, 9), "554 5.7.1");
        EXPECT_TRUE(c.closed());
    }
    restart();
    client c(smtp_);
    EXPECT_EQ(c.reply().substr(0, 9), "554 5.7.1");
    EXPECT_NE(srv_->metrics_text().find("refmaild_refused_connections_total 1"), std::string::npos);
}

TEST_F(refmaild_server, kill_file_refuses_senders_recipients_and_ips) {
    {
        client c(smtp_);
        c.reply();
        c.send("EHLO k.test\r\nMAIL FROM:<someone@EVIL.example>\r\nMAIL FROM:<ok@remote.test>\r\n"
               "RCPT TO:<mallory@example.test>\r\nRCPT TO:<alice@example.test>\r\n");
        c.reply();
        EXPECT_EQ(c.reply().substr(0, 9), "550 5.7.1");
        EXPECT_EQ(c.code(), "250");
        EXPECT_EQ(c.reply().substr(0, 9), "550 5.7.1");
        EXPECT_EQ(c.code(), "250");
    }
    // SIGHUP-style reload picks up a new kill file entry for the client's own IP.
    std::ofstream(dir_ / "kill", std::ios::app) << "127.0.0.0/8\n";
    ASSERT_TRUE(srv_->reload());
    client c(smtp_);
    EXPECT_EQ(c.reply().substr(0, 9), "554 5.7.1");
}

TEST_F(refmaild_server, session_and_connection_limits) {
    settings_.smtp.max_errors = 5;
    settings_.smtp.error_delay_step = std::chrono::milliseconds(1);
    settings_.smtp.max_messages_per_session = 1;
    settings_.smtp.max_connections_per_ip = 2;
    restart();
    {
        client c(smtp_);
        c.reply();
        c.send("EHLO l.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
        for (int i = 0; i < 3; ++i) c.reply();
        EXPECT_EQ(c.code(), "354");
        c.send("x\r\n.\r\nMAIL FROM:<a@remote.test>\r\n");
        EXPECT_EQ(c.code(), "250");
        EXPECT_EQ(c.reply().substr(0, 9), "452 4.7.0");  // second message in the session
        // Two connections are allowed from one IP, the third is refused at connect.
        client second(smtp_);
        EXPECT_EQ(second.code(), "220");
        client third(smtp_);
        EXPECT_EQ(third.reply().substr(0, 9), "421 4.7.0");
        EXPECT_TRUE(third.closed());
        // Errors: the 452 above was one; four more reach max_errors = 5 and close.
        for (int i = 0; i < 3; ++i) {
            c.send("XYZZY\r\n");
            EXPECT_EQ(c.code(), "500");
        }
        c.send("XYZZY\r\n");
        EXPECT_EQ(c.code(), "500");
        std::string last = c.reply();
        EXPECT_NE(last.find("421 4.7.0"), std::string::npos) << last;
        EXPECT_TRUE(c.closed());
    }
    // Closed connections free their slots.
    client again(smtp_);
    EXPECT_EQ(again.code(), "220");
}

TEST_F(refmaild_server, stops_with_sessions_open) {
    // Sessions suspended mid-command and mid-DATA when the server stops must be torn down
    // cleanly (the ASan build checks that nothing touches freed state).
    client idle(smtp_);
    idle.reply();
    client in_data(submission_);
    in_data.reply();
    in_data.send("EHLO s.test\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3b25kZXJsYW5k\r\n"
                 "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) in_data.reply();
    EXPECT_EQ(in_data.code(), "354");
    in_data.send("Subject: half a message\r\n");
    restart();
    EXPECT_TRUE(idle.closed());
    EXPECT_TRUE(in_data.closed());
    EXPECT_TRUE(stored("bob").empty());
    client fresh(smtp_);
    EXPECT_EQ(fresh.code(), "220");
}

TEST_F(refmaild_server, submission_needs_auth_and_bdat_works) {
    client c(submission_);
    c.reply();
    c.send("EHLO sub.test\r\n");
    c.reply();
    c.send("MAIL FROM:<alice@example.test>\r\n");
    EXPECT_EQ(c.reply().substr(0, 9), "530 5.7.0");
    c.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n");  // wrong password
    EXPECT_EQ(c.code(), "535");
    c.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3b25kZXJsYW5k\r\n");
    EXPECT_EQ(c.code(), "235");
    c.send("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 7\r\nHello\r\nBDAT 0 LAST\r\n");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "250");
    EXPECT_EQ(c.code(), "250");
    auto m = stored("bob");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(after_received(m[0]), "Hello\r\n");
    EXPECT_NE(m[0].find("with ESMTPA"), std::string::npos);
    auto text = srv_->metrics_text();
    EXPECT_NE(text.find("refmaild_messages_accepted_total 1"), std::string::npos);
    EXPECT_NE(text.find("refmaild_auth_total{result=\"failure\"} 1"), std::string::npos);
}

TEST_F(refmaild_server, pop3_reads_back_what_smtp_delivered_and_deletes_only_after_quit) {
    {
        client c(smtp_);
        c.reply();
        c.send("EHLO client.test\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
        c.reply();
        c.reply();
        c.reply();
        EXPECT_EQ(c.code(), "354");
        c.send("Subject: pop\r\n\r\n..dotted\r\nbody\r\n.\r\nQUIT\r\n");  // stores ".dotted"
        EXPECT_EQ(c.code(), "250");
    }
    auto stored_size = [&] {
        auto m = stored("bob");
        return m.empty() ? std::size_t(0) : m[0].size();
    }();
    ASSERT_GT(stored_size, 0u);
    {
        client p(pop3_);
        EXPECT_EQ(p.line().substr(0, 3), "+OK");
        // Pipelined: every reply comes back in order.
        p.send("USER bob@example.test\r\nPASS builder\r\nSTAT\r\n");
        EXPECT_EQ(p.line(), "+OK\r\n");
        EXPECT_EQ(p.line(), "+OK Logged in.\r\n");
        EXPECT_EQ(p.line(), "+OK 1 " + std::to_string(stored_size) + "\r\n");
        // A second session on the same maildrop is refused while this one holds it.
        {
            client q(pop3_);
            q.line();
            q.send("USER bob@example.test\r\nPASS builder\r\n");
            q.line();
            EXPECT_EQ(q.line().substr(0, 12), "-ERR [IN-USE");
        }
        p.send("DELE 1\r\n");
        EXPECT_EQ(p.line().substr(0, 3), "+OK");
        // Dropped without QUIT: nothing is deleted.
    }
    {
        client p(pop3_);
        p.line();
        p.send("USER bob@example.test\r\nPASS builder\r\nSTAT\r\nRETR 1\r\n");
        p.line();
        EXPECT_EQ(p.line().substr(0, 3), "+OK");
        EXPECT_EQ(p.line(), "+OK 1 " + std::to_string(stored_size) + "\r\n");
        EXPECT_EQ(p.line(), "+OK " + std::to_string(stored_size) + " octets\r\n");
        std::string body;
        for (std::string line = p.line(); !line.empty() && line != ".\r\n"; line = p.line()) body += line;
        EXPECT_NE(body.find("\r\n..dotted\r\n"), std::string::npos) << body;  // dot-stuffed
        EXPECT_EQ(body.rfind("Return-Path: <alice@example.test>\r\n", 0), 0u) << body;
        p.send("DELE 1\r\nQUIT\r\n");
        EXPECT_EQ(p.line().substr(0, 3), "+OK");
        EXPECT_EQ(p.line().substr(0, 3), "+OK");
    }
    auto cur = dir_ / "maildir" / "example.test" / "bob" / "Maildir" / "cur";
    EXPECT_TRUE(fs::is_empty(cur));
    EXPECT_NE(srv_->metrics_text().find("refmaild_pop3_messages_deleted_total 1"), std::string::npos);
}

TEST_F(refmaild_server, pop3_failed_login_is_delayed_and_logged_in_metrics) {
    client p(pop3_);
    p.line();
    p.send("USER bob@example.test\r\nPASS wrong\r\nUSER nobody@example.test\r\nPASS wrong\r\n");
    p.line();
    auto a = p.line();
    p.line();
    auto b = p.line();
    EXPECT_EQ(a, "-ERR [AUTH] Authentication failed.\r\n");
    EXPECT_EQ(a, b);  // no user enumeration
    EXPECT_NE(srv_->metrics_text().find("refmaild_auth_total{result=\"failure\"} 2"), std::string::npos);
}

}  // namespace

namespace {
bool has(const std::string& text, std::string_view what) { return text.find(what) != std::string::npos; }
}  // namespace

TEST_F(refmaild_server, imap_reads_what_smtp_delivered_and_sees_other_sessions_changes) {
    {
        client c(smtp_);
        c.reply();
        c.send("EHLO client.test\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
        for (int i = 0; i < 3; ++i) c.reply();
        EXPECT_EQ(c.code(), "354");
        c.send("Subject: imap\r\nFrom: alice@example.test\r\n\r\nhello\r\n.\r\nQUIT\r\n");
        EXPECT_EQ(c.code(), "250");
    }
    client a(imap_), b(imap_);
    EXPECT_EQ(a.line().substr(0, 4), "* OK");
    EXPECT_EQ(b.line().substr(0, 4), "* OK");
    // Pipelined login and select; the tagged replies come back in order.
    a.send("a1 LOGIN bob@example.test builder\r\na2 SELECT INBOX\r\n");
    EXPECT_TRUE(has(a.until("a1"), "a1 OK"));
    auto sel = a.until("a2");
    EXPECT_TRUE(has(sel, "* 1 EXISTS\r\n")) << sel;
    EXPECT_TRUE(has(sel, "* 1 RECENT\r\n")) << sel;
    EXPECT_TRUE(has(sel, "a2 OK [READ-WRITE]")) << sel;
    b.send("b1 LOGIN bob@example.test builder\r\nb2 SELECT INBOX\r\n");
    b.until("b1");
    sel = b.until("b2");
    EXPECT_TRUE(has(sel, "* 0 RECENT\r\n")) << sel;  // \Recent belongs to one session
    a.send("a3 FETCH 1 (BODY[TEXT] FLAGS)\r\n");
    auto f = a.until("a3");
    EXPECT_TRUE(has(f, "BODY[TEXT] {7}\r\nhello\r\n")) << f;
    EXPECT_TRUE(has(f, "\\Seen")) << f;
    // B sees A's \Seen at its next command; then B deletes and expunges.
    b.send("b3 NOOP\r\n");
    auto n = b.until("b3");
    EXPECT_TRUE(has(n, "* 1 FETCH (UID 1 FLAGS (\\Seen))")) << n;
    b.send("b4 STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb5 EXPUNGE\r\n");
    EXPECT_TRUE(has(b.until("b4"), "b4 OK"));
    auto e = b.until("b5");
    EXPECT_TRUE(has(e, "* 1 EXPUNGE\r\n")) << e;
    // A: no EXPUNGE during FETCH (RFC 3501 7.4.1), then at NOOP.
    a.send("a4 FETCH 1 (FLAGS)\r\n");
    f = a.until("a4");
    EXPECT_FALSE(has(f, "* 1 EXPUNGE")) << f;
    EXPECT_TRUE(has(f, "a4 NO [EXPUNGEISSUED]")) << f;  // RFC 5530, as Dovecot
    a.send("a5 NOOP\r\n");
    n = a.until("a5");
    EXPECT_TRUE(has(n, "* 1 EXPUNGE\r\n")) << n;
    EXPECT_TRUE(has(n, "a5 OK")) << n;
    // UID FETCH n:* with n above every UID gives nothing on an empty mailbox.
    a.send("a6 UID FETCH 5:* FLAGS\r\na7 LOGOUT\r\n");
    EXPECT_TRUE(has(a.until("a6"), "a6 OK"));
    EXPECT_TRUE(has(a.until("a7"), "* BYE"));
    EXPECT_TRUE(a.closed());
}

TEST_F(refmaild_server, imap_append_literals_idle_and_states) {
    client a(imap_), b(imap_);
    a.line();
    b.line();
    // Not authenticated: selected-state and authenticated-state commands are BAD.
    a.send("x1 SELECT INBOX\r\nx2 FETCH 1 FLAGS\r\n");
    EXPECT_TRUE(has(a.until("x1"), "x1 BAD"));
    EXPECT_TRUE(has(a.until("x2"), "x2 BAD"));
    a.send("a1 LOGIN bob@example.test wrong\r\n");
    EXPECT_TRUE(has(a.until("a1"), "a1 NO [AUTHENTICATIONFAILED]"));
    a.send("a2 LOGIN {16}\r\n");
    EXPECT_EQ(a.line().substr(0, 1), "+");
    a.send("bob@example.test {7+}\r\nbuilder\r\n");  // LITERAL+
    EXPECT_TRUE(has(a.until("a2"), "a2 OK"));
    a.send("a3 SELECT INBOX\r\n");
    a.until("a3");
    b.send("b1 LOGIN bob@example.test builder\r\n");
    b.until("b1");
    a.send("a4 IDLE\r\n");
    EXPECT_EQ(a.line().substr(0, 1), "+");
    const std::string msg = "Subject: appended\r\n\r\nbody\r\n";
    b.send("b2 APPEND INBOX (\\Flagged) {" + std::to_string(msg.size()) + "}\r\n");
    EXPECT_EQ(b.line().substr(0, 1), "+");
    b.send(msg + "\r\n");
    auto ap = b.until("b2");
    EXPECT_TRUE(has(ap, "b2 OK [APPENDUID ")) << ap;
    // The idler hears of it without asking.
    EXPECT_EQ(a.line(), "* 1 EXISTS\r\n");
    a.send("DONE\r\n");
    EXPECT_TRUE(has(a.until("a4"), "a4 OK"));
    a.send("a5 UID FETCH 1 (BODY.PEEK[] FLAGS)\r\n");
    auto f = a.until("a5");
    EXPECT_TRUE(has(f, "{" + std::to_string(msg.size()) + "}\r\n" + msg)) << f;
    EXPECT_TRUE(has(f, "\\Flagged")) << f;
    EXPECT_FALSE(has(f, "\\Seen")) << f;
    // APPEND to a mailbox that does not exist: NO [TRYCREATE] and no continuation.
    b.send("b3 APPEND Nowhere {5}\r\n");
    EXPECT_TRUE(has(b.line(), "b3 NO [TRYCREATE]"));
    b.send("b4 NOOP\r\n");
    EXPECT_TRUE(has(b.until("b4"), "b4 OK"));
}
