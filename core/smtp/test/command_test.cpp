#include "mailharness/smtp/command.hpp"

#include <gtest/gtest.h>

#include "mailharness/line_framer.hpp"
#include "mailharness/smtp/error.hpp"
#include "split_feed.hpp"

using namespace mailharness::smtp;
using mailharness::line_framer;
using mailharness::test::for_each_split;

namespace {

struct cmd_case {
    std::string line;  // without CRLF
    verb v;
    std::error_code error;
    std::string argument = {};
};

class command_table : public ::testing::TestWithParam<cmd_case> {};

// Each case runs through the framer (as a server does), whole and split at every byte.
TEST_P(command_table, whole_and_split) {
    const auto& c = GetParam();
    std::string wire = c.line + "\r\n";
    for_each_split(wire, [&](const std::vector<std::string_view>& chunks) {
        line_framer framer({.max_line_length = 510});
        int lines = 0;
        for (auto chunk : chunks) {
            while (!chunk.empty()) {
                std::error_code lec;
                chunk.remove_prefix(framer.put(chunk, lec));
                if (!framer.has_line()) continue;
                ++lines;
                command cmd;
                auto ec = parse_command(framer.line(), cmd);
                ASSERT_EQ(ec, c.error) << c.line << " -> " << ec.message();
                EXPECT_EQ(cmd.cmd, c.v) << c.line;
                if (!ec) {
                    EXPECT_EQ(cmd.argument, c.argument) << c.line;
                }
            }
        }
        EXPECT_EQ(lines, 1);
    });
}

const std::error_code ok{};

INSTANTIATE_TEST_SUITE_P(
    table, command_table,
    ::testing::Values(
        cmd_case{"EHLO client.example.com", verb::ehlo, ok, "client.example.com"},
        cmd_case{"ehlo client.example.com", verb::ehlo, ok, "client.example.com"},
        cmd_case{"HELO [192.0.2.7]", verb::helo, ok, "[192.0.2.7]"},
        cmd_case{"EHLO", verb::ehlo, errc::missing_argument},
        cmd_case{"EHLO bad_name!", verb::ehlo, errc::invalid_domain},
        cmd_case{"MAIL FROM:<a@b.example>", verb::mail, ok, "FROM:<a@b.example>"},
        cmd_case{"mail from:<> BODY=8BITMIME", verb::mail, ok, "from:<> BODY=8BITMIME"},
        cmd_case{"MAIL FROM: <a@b.example>", verb::mail, ok, "FROM: <a@b.example>"},
        cmd_case{"MAIL FROM:<a@b.example> SIZE=100 SIZE=200", verb::mail, errc::duplicate_parameter},
        cmd_case{"MAIL FROM:<a@b.example> =x", verb::mail, errc::invalid_parameter},
        cmd_case{"MAIL FROM:<a@b.example> K=", verb::mail, errc::invalid_parameter},
        cmd_case{"MAIL TO:<a@b.example>", verb::mail, errc::syntax_error},
        cmd_case{"MAIL", verb::mail, errc::missing_argument},
        cmd_case{"MAIL FROM:", verb::mail, errc::missing_argument},
        cmd_case{"MAIL FROM:<a@b.example>junk", verb::mail, errc::invalid_path},
        cmd_case{"RCPT TO:<Postmaster>", verb::rcpt, ok, "TO:<Postmaster>"},
        cmd_case{"RCPT TO:<user%remote@local> NOTIFY=NEVER", verb::rcpt, ok, "TO:<user%remote@local> NOTIFY=NEVER"},
        cmd_case{"RCPT TO:<@relay:user@remote>", verb::rcpt, ok, "TO:<@relay:user@remote>"},
        cmd_case{"RCPT TO:<user@remote.>", verb::rcpt, errc::invalid_domain},
        cmd_case{"DATA", verb::data, ok},
        cmd_case{"DATA x", verb::data, errc::unexpected_argument},
        cmd_case{"RSET", verb::rset, ok}, cmd_case{"QUIT", verb::quit, ok},
        cmd_case{"QUIT   ", verb::quit, ok},
        cmd_case{"NOOP anything", verb::noop, ok, "anything"},
        cmd_case{"HELP", verb::help, ok},
        cmd_case{"VRFY root", verb::vrfy, ok, "root"},
        cmd_case{"EXPN", verb::expn, errc::missing_argument},
        cmd_case{"STARTTLS", verb::starttls, ok},
        cmd_case{"starttls now", verb::starttls, errc::unexpected_argument},
        cmd_case{"BDAT 1000", verb::bdat, ok, "1000"},
        cmd_case{"BDAT 0 LAST", verb::bdat, ok, "0 LAST"},
        cmd_case{"BDAT 12x", verb::bdat, errc::invalid_bdat_size},
        cmd_case{"BDAT 99999999999999999999999", verb::bdat, errc::invalid_bdat_size},
        cmd_case{"BDAT 10 FIRST", verb::bdat, errc::syntax_error},
        cmd_case{"AUTH PLAIN", verb::auth, ok, "PLAIN"},
        cmd_case{"AUTH PLAIN AGFsaWNlAHNlY3JldA==", verb::auth, ok, "PLAIN AGFsaWNlAHNlY3JldA=="},
        cmd_case{"AUTH SCRAM-SHA-256 =", verb::auth, ok, "SCRAM-SHA-256 ="},
        cmd_case{"AUTH bad/mech", verb::auth, errc::invalid_auth_mechanism},
        cmd_case{"AUTH", verb::auth, errc::missing_argument},
        cmd_case{"XYZZY", verb::unknown, errc::unknown_command},
        cmd_case{"MAILX FROM:<a@b>", verb::unknown, errc::unknown_command},
        cmd_case{" NOOP", verb::unknown, errc::syntax_error},
        cmd_case{"", verb::unknown, errc::empty_command}));

TEST(command, params_are_exposed) {
    command c;
    ASSERT_FALSE(parse_command("MAIL FROM:<a@b.example> SIZE=4096 BODY=8BITMIME SMTPUTF8", c));
    ASSERT_EQ(c.param_count, 3u);
    ASSERT_NE(c.param("size"), nullptr);
    EXPECT_EQ(c.param("size")->value, "4096");
    EXPECT_TRUE(c.param("SMTPUTF8") != nullptr && !c.param("SMTPUTF8")->has_value);
    EXPECT_EQ(c.param("RET"), nullptr);
    EXPECT_EQ(c.address.mailbox(), "a@b.example");
}

TEST(command, bdat_and_auth_fields) {
    command c;
    ASSERT_FALSE(parse_command("BDAT 4096 last", c));
    EXPECT_EQ(c.bdat_size, 4096u);
    EXPECT_TRUE(c.bdat_last);
    ASSERT_FALSE(parse_command("AUTH login dXNlcg==", c));
    EXPECT_EQ(c.auth_mechanism, "login");
    EXPECT_EQ(c.auth_initial, "dXNlcg==");
    EXPECT_TRUE(c.has_auth_initial);
}

TEST(command, limits) {
    command c;
    std::string many = "MAIL FROM:<a@b.example>";
    for (int i = 0; i < 11; ++i) many += " P" + std::to_string(i) + "=1";
    EXPECT_EQ(parse_command(many, c), errc::too_many_parameters);
    EXPECT_EQ(parse_command(std::string(511, 'A'), c), errc::line_too_long);
    EXPECT_FALSE(parse_command("EHLO bad_name!", c, {.check_helo_syntax = false}));
}

TEST(command, serializers_round_trip) {
    std::string out;
    append_helo(out, verb::ehlo, "client.example");
    append_mail(out, "a@b.example", "SIZE=10");
    append_mail(out, "");
    append_rcpt(out, "c@d.example");
    append_bdat(out, 42, true);
    append_auth(out, "PLAIN", "AGEAYg==");
    append_command(out, verb::quit);
    EXPECT_EQ(out,
              "EHLO client.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\nMAIL FROM:<>\r\n"
              "RCPT TO:<c@d.example>\r\nBDAT 42 LAST\r\nAUTH PLAIN AGEAYg==\r\nQUIT\r\n");
    line_framer f;
    std::string_view in = out;
    int n = 0;
    while (!in.empty()) {
        std::error_code ec;
        in.remove_prefix(f.put(in, ec));
        ASSERT_FALSE(ec);
        ASSERT_TRUE(f.has_line());
        command c;
        EXPECT_FALSE(parse_command(f.line(), c)) << f.line();
        ++n;
    }
    EXPECT_EQ(n, 7);
}

TEST(command, error_messages_are_named) {
    EXPECT_EQ(std::error_code(errc::unknown_command).message(), "command unrecognized");
    EXPECT_STREQ(std::error_code(errc::bare_lf_in_data).category().name(), "mailharness.smtp");
}

}  // namespace
