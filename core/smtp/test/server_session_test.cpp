#include "mailharness/smtp/server_session.hpp"

#include <gtest/gtest.h>

#include "mailharness/line_framer.hpp"
#include "mailharness/sasl/base64.hpp"

using namespace mailharness;
using namespace mailharness::smtp;

namespace {

struct fake_creds : sasl::credential_lookup {
    result plaintext_secret(std::string_view authcid, std::string& secret) override {
        if (authcid != "alice@example.com") return result::no_user;
        secret = "secret";
        return result::ok;
    }
};

struct fake_hooks : server_hooks {
    fake_creds creds;
    int failures = 0;
    rcpt_verdict check_recipient(const path& p, std::string_view user, std::string& canonical) override {
        std::string dom = p.lowercase_domain();
        if (dom == "example.com") {
            if (p.local_part != "alice" && p.local_part != "bob") return rcpt_verdict::unknown_user;
            canonical = p.mailbox();
            return rcpt_verdict::accept;
        }
        if (!user.empty()) {
            canonical = p.mailbox();
            return rcpt_verdict::accept;
        }
        return rcpt_verdict::relay_denied;
    }
    sasl::credential_lookup* credentials() override { return &creds; }
    // Refuses messages whose text contains "REJECT-ME" with 550 5.7.1.
    message_verdict check_message(const envelope& env, std::string_view message) override {
        checked_rcpts = env.recipients.size();
        if (message.find("REJECT-ME") != std::string_view::npos) return {550, es(5, 7, 1), "Rejected by rule"};
        return {};
    }
    std::size_t checked_rcpts = 0;
    std::chrono::milliseconds auth_failed(std::string_view) override {
        return std::chrono::milliseconds(100 << failures++);
    }
};

struct harness {
    fake_hooks hooks;
    server_session s;
    explicit harness(server_session_settings st = {}) : s(std::move(st), hooks, "192.0.2.7") {}
    // Sends one line, returns the reply text and the action.
    std::pair<std::string, action> send(std::string_view line) {
        std::string out;
        action a = s.on_command(line, {}, out);
        return {out, a};
    }
    std::string code(std::string_view line) { return send(line).first.substr(0, 3); }
};

TEST(server_session, greeting_and_ehlo_capabilities) {
    harness h({.hostname = "mx.test", .tls_available = true});
    std::string g;
    h.s.greet(g);
    EXPECT_EQ(g, "220 mx.test ESMTP ready\r\n");
    auto [r, a] = h.send("EHLO client.test");
    EXPECT_EQ(a, action::read_command);
    EXPECT_NE(r.find("250-PIPELINING\r\n"), std::string::npos);
    EXPECT_NE(r.find("250-SIZE 26214400\r\n"), std::string::npos);
    EXPECT_NE(r.find("250-STARTTLS\r\n"), std::string::npos);
    EXPECT_NE(r.find("CHUNKING"), std::string::npos);
    // No plaintext mechanisms before TLS.
    EXPECT_NE(r.find("AUTH SCRAM-SHA-256 CRAM-MD5"), std::string::npos);
    EXPECT_EQ(r.find("PLAIN"), std::string::npos);
}

TEST(server_session, full_transaction_asks_for_delivery) {
    harness h;
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test>"), "503");
    EXPECT_EQ(h.code("EHLO c.test"), "250");
    EXPECT_EQ(h.code("RCPT TO:<alice@example.com>"), "503");
    EXPECT_EQ(h.code("DATA"), "503");
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test> SIZE=100 BODY=8BITMIME"), "250");
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test>"), "503");
    EXPECT_EQ(h.code("DATA"), "554");
    EXPECT_EQ(h.code("RCPT TO:<carol@example.com>"), "550");
    EXPECT_EQ(h.code("RCPT TO:<someone@elsewhere.test>"), "554");
    EXPECT_EQ(h.code("RCPT TO:<alice@example.com>"), "250");
    EXPECT_EQ(h.code("RCPT TO:<bob@EXAMPLE.com>"), "250");
    auto [r, a] = h.send("DATA");
    EXPECT_EQ(r, "354 End data with <CR><LF>.<CR><LF>\r\n");
    ASSERT_EQ(a, action::read_data);
    data_decoder d(h.s.data_decoder_limits());
    std::string content;
    d.put("Subject: hi\r\n\r\nbody\r\n.\r\n", content);
    std::string out;
    ASSERT_EQ(h.s.on_data_end(d, content, out), action::deliver);
    EXPECT_EQ(h.s.message(), "Subject: hi\r\n\r\nbody\r\n");
    EXPECT_EQ(h.s.current().recipients, (std::vector<std::string>{"alice@example.com", "bob@EXAMPLE.com"}));
    EXPECT_EQ(h.s.current().reverse_path, "x@y.test");
    auto hdr = h.s.received_header("ABC", std::chrono::system_clock::time_point{});
    EXPECT_EQ(hdr, "Received: from c.test ([192.0.2.7])\r\n\tby localhost with ESMTP id ABC; Thu, 01 Jan 1970 00:00:00 +0000\r\n");
    h.s.on_delivered({}, "ABC", out);
    EXPECT_NE(out.find("250 2.0.0 Ok: queued as ABC"), std::string::npos);
    EXPECT_EQ(h.code("RCPT TO:<alice@example.com>"), "503");  // transaction over
}

TEST(server_session, smuggled_data_is_refused) {
    harness h;
    h.send("EHLO c.test");
    h.send("MAIL FROM:<x@y.test>");
    h.send("RCPT TO:<alice@example.com>");
    h.send("DATA");
    data_decoder d(h.s.data_decoder_limits());
    std::string content, out;
    d.put("a\n.\nMAIL FROM:<evil@x>\r\n.\r\n", content);
    ASSERT_TRUE(d.done());
    EXPECT_EQ(h.s.on_data_end(d, content, out), action::read_command);
    EXPECT_EQ(out.substr(0, 9), "550 5.6.0");
}

TEST(server_session, limits_size_and_recipients) {
    harness h({.max_message_size = 1000, .max_recipients = 1});
    h.send("EHLO c.test");
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test> SIZE=1001"), "552");
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test> FOO=1"), "555");
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test>"), "250");
    EXPECT_EQ(h.code("RCPT TO:<alice@example.com>"), "250");
    EXPECT_EQ(h.code("RCPT TO:<bob@example.com>"), "452");
    EXPECT_EQ(h.code("RCPT TO:<\xc3\xa9@example.com>"), "553");
}

TEST(server_session, bare_lf_command_and_long_line) {
    harness h;
    std::string out;
    EXPECT_EQ(h.s.on_command("EHLO x.test", line_errc::bare_lf, out), action::read_command);
    EXPECT_EQ(out.substr(0, 3), "500");
    out.clear();
    EXPECT_EQ(h.s.on_line_too_long(600, out), action::close);
    EXPECT_EQ(out.substr(0, 9), "500 5.5.2");
}

TEST(server_session, auth_plain_needs_tls_then_works) {
    harness h;
    h.send("EHLO c.test");
    EXPECT_EQ(h.code("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA=="), "538");
    harness t({.tls_active = true});
    t.send("EHLO c.test");
    auto [r, a] = t.send("AUTH PLAIN " + sasl::base64_encode(std::string("\0alice@example.com\0wrong", 24)));
    EXPECT_EQ(r.substr(0, 9), "535 5.7.8");
    EXPECT_EQ(t.s.reply_delay(), std::chrono::milliseconds(100));
    EXPECT_EQ(t.code("AUTH PLAIN"), "334");
    EXPECT_EQ(t.code(sasl::base64_encode(std::string("\0alice@example.com\0wrong", 24))), "535");
    EXPECT_EQ(t.s.reply_delay(), std::chrono::milliseconds(200));
    EXPECT_EQ(t.code("AUTH PLAIN " + sasl::base64_encode(std::string("\0alice@example.com\0secret", 25))), "235");
    EXPECT_EQ(t.s.authenticated_user(), "alice@example.com");
    EXPECT_EQ(t.code("AUTH PLAIN"), "503");
    // Authenticated clients may relay.
    t.send("MAIL FROM:<alice@example.com>");
    EXPECT_EQ(t.code("RCPT TO:<far@away.test>"), "250");
}

TEST(server_session, auth_login_and_cancel) {
    harness h({.allow_plaintext_auth = true});
    h.send("EHLO c.test");
    auto [r, a] = h.send("AUTH LOGIN");
    EXPECT_EQ(r, "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(h.code("*"), "501");
    EXPECT_EQ(h.code("AUTH LOGIN"), "334");
    EXPECT_EQ(h.code(sasl::base64_encode("alice@example.com")), "334");
    EXPECT_EQ(h.code(sasl::base64_encode("secret")), "235");
}

TEST(server_session, submission_requires_auth) {
    harness h({.auth_required = true});
    h.send("EHLO c.test");
    EXPECT_EQ(h.send("MAIL FROM:<x@y.test>").first.substr(0, 9), "530 5.7.0");
}

TEST(server_session, starttls_resets_everything) {
    harness h({.tls_available = true});
    h.send("EHLO c.test");
    h.send("MAIL FROM:<x@y.test>");
    auto [r, a] = h.send("STARTTLS");
    EXPECT_EQ(a, action::start_tls);
    EXPECT_EQ(r.substr(0, 3), "220");
    h.s.on_tls_established("TLSv1.3");
    EXPECT_EQ(h.code("MAIL FROM:<x@y.test>"), "503");  // EHLO again first
    auto [e, ea] = h.send("EHLO c.test");
    EXPECT_EQ(e.find("STARTTLS"), std::string::npos);
    EXPECT_NE(e.find("PLAIN"), std::string::npos);
    EXPECT_EQ(h.code("STARTTLS"), "503");
}

TEST(server_session, bdat_chunks) {
    harness h;
    h.send("EHLO c.test");
    h.send("MAIL FROM:<x@y.test>");
    h.send("RCPT TO:<alice@example.com>");
    auto [r, a] = h.send("BDAT 5");
    ASSERT_EQ(a, action::read_bdat);
    EXPECT_EQ(h.s.bdat_size(), 5u);
    std::string out;
    EXPECT_EQ(h.s.on_bdat_chunk("Hello", out), action::read_command);
    EXPECT_EQ(out.substr(0, 3), "250");
    EXPECT_EQ(h.code("DATA"), "503");
    h.send("BDAT 3 LAST");
    out.clear();
    EXPECT_EQ(h.s.on_bdat_chunk("!\r\n", out), action::deliver);
    EXPECT_EQ(h.s.message(), "Hello!\r\n");
    // BDAT without a transaction still has its chunk read, then refused.
    h.s.on_delivered({}, "X", out);
    EXPECT_EQ(h.send("BDAT 2").second, action::read_bdat);
    out.clear();
    h.s.on_bdat_chunk("xx", out);
    EXPECT_EQ(out.substr(0, 3), "503");
    EXPECT_EQ(h.send("BDAT x").second, action::close);
}

TEST(server_session, vrfy_does_not_enumerate) {
    harness h;
    h.send("EHLO c.test");
    EXPECT_EQ(h.send("VRFY alice").first, h.send("VRFY nobody").first);
    EXPECT_EQ(h.code("EXPN staff"), "502");
    EXPECT_EQ(h.code("FOO"), "500");
    EXPECT_EQ(h.code("QUIT"), "221");
}

TEST(server_session, vrfy_and_expn_can_answer_502) {
    harness h({.vrfy_code = 502});
    h.send("EHLO c.test");
    EXPECT_EQ(h.code("VRFY alice"), "502");
    EXPECT_EQ(h.send("VRFY alice").first, h.send("VRFY nobody").first);
    EXPECT_EQ(h.code("EXPN staff"), "502");
}

TEST(server_session, command_limit_closes_with_421) {
    harness h({.max_commands = 3});
    EXPECT_EQ(h.code("EHLO c.test"), "250");
    EXPECT_EQ(h.code("NOOP"), "250");
    EXPECT_EQ(h.code("NOOP"), "250");
    auto [r, a] = h.send("NOOP");
    EXPECT_EQ(r.substr(0, 10), "421 4.7.0 ");
    EXPECT_EQ(a, action::close);
}

TEST(server_session, check_message_refuses_data_and_bdat) {
    harness h;
    h.send("EHLO c.test");
    h.send("MAIL FROM:<x@y.test>");
    h.send("RCPT TO:<alice@example.com>");
    EXPECT_EQ(h.send("DATA").second, action::read_data);
    data_decoder d;
    std::string content;
    d.put("Subject: REJECT-ME\r\n\r\nx\r\n.\r\n", content);
    std::string out;
    EXPECT_EQ(h.s.on_data_end(d, content, out), action::read_command);
    EXPECT_EQ(out, "550 5.7.1 Rejected by rule\r\n");
    EXPECT_EQ(h.hooks.checked_rcpts, 1u);
    // The transaction is over: a new one is needed.
    EXPECT_EQ(h.code("DATA"), "503");
    h.send("MAIL FROM:<x@y.test>");
    h.send("RCPT TO:<bob@example.com>");
    h.send("BDAT 9 LAST");
    out.clear();
    EXPECT_EQ(h.s.on_bdat_chunk("REJECT-ME", out), action::read_command);
    EXPECT_EQ(out.substr(0, 3), "550");
    // An acceptable message is delivered.
    h.send("MAIL FROM:<x@y.test>");
    h.send("RCPT TO:<bob@example.com>");
    h.send("BDAT 2 LAST");
    out.clear();
    EXPECT_EQ(h.s.on_bdat_chunk("ok", out), action::deliver);
}

}  // namespace
