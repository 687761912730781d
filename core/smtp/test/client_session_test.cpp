#include "mailharness/smtp/client_session.hpp"

#include <gtest/gtest.h>

using namespace mailharness::smtp;
namespace smtp = mailharness::smtp;

namespace {

smtp::reply R(std::string_view wire) {
    smtp::reply_parser p;
    std::error_code ec;
    std::string w(wire);
    if (!w.ends_with("\r\n")) w += "\r\n";
    p.put(w, ec);
    EXPECT_FALSE(ec) << wire;
    EXPECT_TRUE(p.done()) << wire;
    return p.release();
}

const char* ehlo_full =
    "250-mx.remote.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 STARTTLS";

client_params params(std::vector<std::string> rcpts = {"a@remote.test", "b@remote.test"}) {
    client_params p;
    p.helo = "relay.example.test";
    p.sender = "alice@example.test";
    p.recipients = std::move(rcpts);
    p.message_size = 100;
    p.remote = "mx.remote.test";
    return p;
}

// Feeds replies one by one; returns what the session wrote after each, joined with '|' between
// steps, and the last step.
struct driver {
    client_session s;
    std::string out;
    client_step step = client_step::wait;
    explicit driver(client_params p) : s(std::move(p)) {}
    client_step feed(std::string_view wire) {
        out.clear();
        step = s.on_reply(R(wire), out);
        return step;
    }
};

}  // namespace

TEST(queue_client_session, parses_ehlo_capabilities) {
    auto c = parse_ehlo(R(ehlo_full));
    EXPECT_TRUE(c.esmtp && c.pipelining && c.starttls && c.eightbitmime && c.smtputf8 && c.size);
    EXPECT_EQ(c.size_limit, 1000u);
    auto plain = parse_ehlo(R("250-mx\r\n250-size\r\n250 AUTH PLAIN"));
    EXPECT_TRUE(plain.size);
    EXPECT_EQ(plain.size_limit, 0u) << "SIZE without a number: no fixed limit";
    EXPECT_FALSE(plain.pipelining || plain.starttls);
    EXPECT_FALSE(parse_ehlo(R("250 mx")).pipelining) << "the first line is the greeting, not a keyword";
}

TEST(queue_client_session, pipelined_transaction_with_starttls) {
    driver d(params());
    EXPECT_EQ(d.s.waiting_for(), client_wait::greeting);
    EXPECT_EQ(d.feed("220 mx.remote.test ESMTP"), client_step::send);
    EXPECT_EQ(d.out, "EHLO relay.example.test\r\n");
    EXPECT_EQ(d.feed(ehlo_full), client_step::send);
    EXPECT_EQ(d.out, "STARTTLS\r\n");
    EXPECT_EQ(d.feed("220 2.0.0 go ahead"), client_step::start_tls);
    EXPECT_TRUE(d.out.empty());
    std::string out;
    EXPECT_EQ(d.s.on_tls_established(out), client_step::send);
    EXPECT_EQ(out, "EHLO relay.example.test\r\n");
    EXPECT_TRUE(d.s.before_transaction());
    EXPECT_EQ(d.feed("250-mx.remote.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME"), client_step::send);
    EXPECT_EQ(d.out,
              "MAIL FROM:<alice@example.test> SIZE=100\r\n"
              "RCPT TO:<a@remote.test>\r\n"
              "RCPT TO:<b@remote.test>\r\n"
              "DATA\r\n");
    EXPECT_FALSE(d.s.before_transaction());
    EXPECT_EQ(d.feed("250 2.1.0 ok"), client_step::wait);
    EXPECT_EQ(d.feed("250 2.1.5 ok"), client_step::wait);
    EXPECT_EQ(d.feed("550 5.1.1 no such user"), client_step::wait);
    EXPECT_EQ(d.s.waiting_for(), client_wait::data_init);
    EXPECT_EQ(d.feed("354 go ahead"), client_step::send_data);
    EXPECT_EQ(d.s.waiting_for(), client_wait::data_end);
    EXPECT_EQ(d.feed("250 2.0.0 queued as X"), client_step::done);
    EXPECT_EQ(d.out, "QUIT\r\n");
    EXPECT_TRUE(d.s.tls_active());
    EXPECT_EQ(d.s.outcomes(), (std::vector<rcpt_outcome>{rcpt_outcome::delivered, rcpt_outcome::permanent}));
    EXPECT_EQ(d.s.replies()[0], (last_reply{250, "2.0.0", "mx.remote.test", "queued as X"}));
    EXPECT_EQ(d.s.replies()[1], (last_reply{550, "5.1.1", "mx.remote.test", "no such user"}));
}

TEST(queue_client_session, one_command_at_a_time_without_pipelining) {
    auto p = params();
    p.tls = tls_policy::none;
    driver d(p);
    d.feed("220 mx");
    EXPECT_EQ(d.feed("250-mx\r\n250-STARTTLS\r\n250 8BITMIME"), client_step::send);
    EXPECT_EQ(d.out, "MAIL FROM:<alice@example.test>\r\n") << "tls=none never starts TLS; no SIZE offered";
    EXPECT_EQ(d.feed("250 ok"), client_step::send);
    EXPECT_EQ(d.out, "RCPT TO:<a@remote.test>\r\n");
    EXPECT_EQ(d.feed("451 4.3.0 later"), client_step::send);
    EXPECT_EQ(d.out, "RCPT TO:<b@remote.test>\r\n");
    EXPECT_EQ(d.feed("250 ok"), client_step::send);
    EXPECT_EQ(d.out, "DATA\r\n");
    EXPECT_EQ(d.feed("354 go"), client_step::send_data);
    EXPECT_EQ(d.feed("452 4.3.1 disk full"), client_step::done);
    EXPECT_EQ(d.s.outcomes(), (std::vector<rcpt_outcome>{rcpt_outcome::temporary, rcpt_outcome::temporary}));
    EXPECT_EQ(d.s.replies()[0].code, 451);
    EXPECT_EQ(d.s.replies()[1].code, 452);
}

TEST(queue_client_session, helo_fallback_when_ehlo_is_refused) {
    auto p = params({"a@remote.test"});
    driver d(p);
    d.feed("220 old.server");
    EXPECT_EQ(d.feed("502 5.5.1 what?"), client_step::send);
    EXPECT_EQ(d.out, "HELO relay.example.test\r\n");
    EXPECT_EQ(d.feed("250 old.server"), client_step::send);
    EXPECT_EQ(d.out, "MAIL FROM:<alice@example.test>\r\n");
    EXPECT_FALSE(d.s.caps().esmtp);
}

TEST(queue_client_session, host_failures_before_the_transaction) {
    {
        driver d(params());
        EXPECT_EQ(d.feed("554 5.7.1 go away"), client_step::done);
        EXPECT_EQ(d.out, "QUIT\r\n");
        EXPECT_TRUE(d.s.before_transaction());
        ASSERT_TRUE(d.s.host_error());
        EXPECT_EQ(d.s.host_error()->code, 554);
    }
    {
        driver d(params());
        d.feed("220 mx");
        EXPECT_EQ(d.feed("421 4.3.2 shutting down"), client_step::done);
        EXPECT_TRUE(d.out.empty()) << "no QUIT after 421";
        EXPECT_EQ(d.s.host_error()->code, 421);
    }
    {
        auto p = params();
        p.tls = tls_policy::required;
        driver d(p);
        d.feed("220 mx");
        EXPECT_EQ(d.feed("250-mx\r\n250 PIPELINING"), client_step::done);
        EXPECT_EQ(d.out, "QUIT\r\n");
        ASSERT_TRUE(d.s.host_error());
        EXPECT_EQ(d.s.host_error()->status, "4.7.4");
        EXPECT_NE(d.s.host_error()->diagnostic.find("did not offer STARTTLS"), std::string::npos);
    }
    {
        auto p = params();
        p.tls = tls_policy::required;
        driver d(p);
        d.feed("220 mx");
        d.feed("250-mx\r\n250 STARTTLS");
        EXPECT_EQ(d.feed("454 4.7.0 TLS not available"), client_step::done);
        EXPECT_EQ(d.s.host_error()->code, 454);
    }
}

TEST(queue_client_session, opportunistic_tls_goes_on_in_plaintext_when_refused) {
    driver d(params({"a@remote.test"}));
    d.feed("220 mx");
    d.feed("250-mx\r\n250 STARTTLS");
    EXPECT_EQ(d.feed("454 4.7.0 TLS not available"), client_step::send);
    EXPECT_EQ(d.out, "MAIL FROM:<alice@example.test>\r\n");
    EXPECT_FALSE(d.s.tls_active());
}

TEST(queue_client_session, mail_refused_fails_every_recipient) {
    auto p = params();
    driver d(p);
    d.feed("220 mx");
    d.feed("250-mx\r\n250 PIPELINING");
    EXPECT_EQ(d.feed("553 5.1.8 bad sender"), client_step::wait);
    EXPECT_EQ(d.feed("503 5.5.1 no MAIL"), client_step::wait);
    EXPECT_EQ(d.feed("503 5.5.1 no MAIL"), client_step::wait);
    EXPECT_EQ(d.feed("503 5.5.1 no valid recipients"), client_step::done);
    EXPECT_EQ(d.s.outcomes(), (std::vector<rcpt_outcome>{rcpt_outcome::permanent, rcpt_outcome::permanent}));
    EXPECT_EQ(d.s.replies()[1].code, 553) << "the MAIL reply is each recipient's reason";
}

TEST(queue_client_session, all_recipients_refused_but_data_accepted_sends_a_lone_dot) {
    driver d(params({"a@remote.test"}));
    d.feed("220 mx");
    d.feed("250-mx\r\n250 PIPELINING");
    d.feed("250 ok");
    d.feed("550 5.1.1 unknown");
    EXPECT_EQ(d.feed("354 go ahead"), client_step::send);
    EXPECT_EQ(d.out, ".\r\n");
    EXPECT_EQ(d.feed("554 5.5.1 no valid recipients"), client_step::done);
    EXPECT_EQ(d.s.outcomes(), (std::vector<rcpt_outcome>{rcpt_outcome::permanent}));
    EXPECT_EQ(d.s.replies()[0].code, 550);
}

TEST(queue_client_session, size_limit_and_smtputf8_fail_without_sending) {
    {
        auto p = params({"a@remote.test"});
        p.message_size = 1001;
        driver d(p);
        d.feed("220 mx");
        EXPECT_EQ(d.feed(ehlo_full), client_step::send);  // STARTTLS first
        std::string out;
        d.feed("220 go");
        d.s.on_tls_established(out);
        EXPECT_EQ(d.feed("250-mx\r\n250 SIZE 1000"), client_step::done);
        EXPECT_EQ(d.out, "QUIT\r\n");
        EXPECT_EQ(d.s.outcomes()[0], rcpt_outcome::permanent);
        EXPECT_EQ(d.s.replies()[0].status, "5.3.4");
    }
    {
        auto p = params({"j\xc3\xb6rg@remote.test"});
        driver d(p);
        d.feed("220 mx");
        EXPECT_EQ(d.feed("250-mx\r\n250 8BITMIME"), client_step::done);
        EXPECT_EQ(d.s.replies()[0].status, "5.6.7");
    }
    {
        auto p = params({"j\xc3\xb6rg@remote.test"});
        p.message_8bit = true;
        driver d(p);
        d.feed("220 mx");
        EXPECT_EQ(d.feed("250-mx\r\n250-SMTPUTF8\r\n250-SIZE\r\n250 8BITMIME"), client_step::send);
        EXPECT_EQ(d.out, "MAIL FROM:<alice@example.test> SIZE=100 BODY=8BITMIME SMTPUTF8\r\n");
    }
}

TEST(queue_client_session, null_sender_and_unresolved_recipients) {
    auto p = params();
    p.sender.clear();
    driver d(p);
    d.feed("220 mx");
    d.feed("250 mx");
    EXPECT_EQ(d.out, "MAIL FROM:<>\r\n");
    d.feed("250 ok");
    d.feed("250 ok");
    // The connection breaks here: the caller gives the rest its error.
    d.s.fail_unresolved({0, "4.4.2", "mx.remote.test", "lost connection"});
    EXPECT_EQ(d.s.outcomes(), (std::vector<rcpt_outcome>{rcpt_outcome::temporary, rcpt_outcome::temporary}));
    EXPECT_EQ(d.s.replies()[1].diagnostic, "lost connection");
}

TEST(queue_client_session, server_closing_mid_transaction) {
    driver d(params());
    d.feed("220 mx");
    d.feed("250 mx");
    d.feed("250 ok");
    d.feed("550 5.1.1 no");
    EXPECT_EQ(d.feed("421 4.4.2 timeout"), client_step::done);
    EXPECT_EQ(d.s.outcomes(), (std::vector<rcpt_outcome>{rcpt_outcome::permanent, rcpt_outcome::temporary}));
    EXPECT_EQ(d.s.replies()[1].code, 421);
}
