#include "mailharness/pop3/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mailharness/line_framer.hpp"
#include "printable.hpp"
#include "split_feed.hpp"

using mailharness::line_errc;
using mailharness::line_framer;
using mailharness::test::for_each_split;
namespace pop3 = mailharness::pop3;
using pop3::errc;
using pop3::verb;

namespace {

struct parsed {
    std::error_code ec;
    verb v = verb::unknown;
    std::vector<std::string> args;
    std::uint32_t message = 0;
    std::uint32_t lines = 0;

    bool operator==(const parsed&) const = default;
};

std::ostream& operator<<(std::ostream& os, const parsed& p) {
    os << "{" << p.ec.message() << ", " << pop3::to_string(p.v) << ", [";
    for (const auto& a : p.args) os << "'" << pop3::test::printable(a) << "' ";
    return os << "], " << p.message << ", " << p.lines << "}";
}

// Frames the chunks as a server would (line_framer with command limits), parses each line.
std::vector<parsed> run(const std::vector<std::string_view>& chunks, const pop3::command_limits& limits) {
    line_framer framer(pop3::command_line_limits(limits));
    std::vector<parsed> out;
    for (auto chunk : chunks) {
        while (!chunk.empty()) {
            std::error_code fec;
            std::size_t n = framer.put(chunk, fec);
            EXPECT_GT(n, 0u);
            chunk.remove_prefix(n);
            if (fec == line_errc::line_too_long) {
                out.push_back({.ec = errc::line_too_long});
                continue;
            }
            if (!framer.has_line()) continue;
            pop3::command c;
            parsed p;
            p.ec = pop3::parse_command(framer.line(), c, limits);
            p.v = c.verb;
            if (!p.ec) {
                for (auto a : c.arguments()) {
                    // Arguments are views into the line, never copies.
                    EXPECT_GE(a.data(), framer.line().data());
                    EXPECT_LE(a.data() + a.size(), framer.line().data() + framer.line().size());
                    p.args.emplace_back(a);
                }
                p.message = c.message;
                p.lines = c.lines;
            }
            out.push_back(std::move(p));
        }
    }
    return out;
}

struct command_case {
    std::string line;  // without CRLF
    parsed expected;
    pop3::command_limits limits = {};
};

std::ostream& operator<<(std::ostream& os, const command_case& c) {
    return os << "'" << pop3::test::printable(c.line) << "'";
}

class pop3_command_table : public ::testing::TestWithParam<command_case> {};

TEST_P(pop3_command_table, whole_and_split_at_every_byte) {
    const auto& c = GetParam();
    std::string input = c.line + "\r\n";
    for_each_split(input, [&](const std::vector<std::string_view>& chunks) {
        auto r = run(chunks, c.limits);
        ASSERT_EQ(r.size(), 1u) << "chunks=" << chunks.size();
        ASSERT_EQ(r[0], c.expected) << "chunks=" << chunks.size();
    });
}

parsed ok(verb v, std::vector<std::string> args = {}, std::uint32_t message = 0, std::uint32_t lines = 0) {
    return {.v = v, .args = std::move(args), .message = message, .lines = lines};
}
parsed fails(errc e, verb v = verb::unknown) { return {.ec = e, .v = v}; }

const std::string s40(40, 'a');
const std::string s41(41, 'a');

// RFC 1939 section 7 and 9 examples, RFC 2449, RFC 2595, RFC 5034, RFC 6856.
INSTANTIATE_TEST_SUITE_P(
    valid, pop3_command_table,
    ::testing::Values(
        command_case{"USER mrose", ok(verb::user, {"mrose"})},
        command_case{"user frated", ok(verb::user, {"frated"})},
        command_case{"PASS secret", ok(verb::pass, {"secret"})},
        command_case{"PASS my secret  pass ", ok(verb::pass, {"my secret  pass "})},
        command_case{"pass " + std::string(248, 'p'), ok(verb::pass, {std::string(248, 'p')})},
        command_case{"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                     ok(verb::apop, {"mrose", "c4c9334bac560ecc979e58001b3e22fb"})},
        command_case{"STAT", ok(verb::stat)},
        command_case{"stat", ok(verb::stat)},
        command_case{"StAt ", ok(verb::stat)},
        command_case{"LIST", ok(verb::list)},
        command_case{"LIST 2", ok(verb::list, {"2"}, 2)},
        command_case{"LIST 002 ", ok(verb::list, {"002"}, 2)},
        command_case{"RETR 1", ok(verb::retr, {"1"}, 1)},
        command_case{"RETR 2147483648", ok(verb::retr, {"2147483648"}, 2147483648u)},
        command_case{"DELE 1", ok(verb::dele, {"1"}, 1)},
        command_case{"NOOP", ok(verb::noop)},
        command_case{"RSET", ok(verb::rset)},
        command_case{"QUIT", ok(verb::quit)},
        command_case{"TOP 1 10", ok(verb::top, {"1", "10"}, 1, 10)},
        command_case{"top 1 0", ok(verb::top, {"1", "0"}, 1, 0)},
        command_case{"UIDL", ok(verb::uidl)},
        command_case{"UIDL 2", ok(verb::uidl, {"2"}, 2)},
        command_case{"CAPA", ok(verb::capa)},
        command_case{"STLS", ok(verb::stls)},
        command_case{"UTF8", ok(verb::utf8)},
        command_case{"AUTH PLAIN", ok(verb::auth, {"PLAIN"})},
        command_case{"auth cram-md5", ok(verb::auth, {"cram-md5"})},
        command_case{"AUTH PLAIN =", ok(verb::auth, {"PLAIN", "="})},
        command_case{"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", ok(verb::auth, {"PLAIN", "dGVzdAB0ZXN0AHRlc3Q="})},
        // The initial response is bounded by the line only (RFC 5034 section 4).
        command_case{"AUTH X " + std::string(200, 'A'), ok(verb::auth, {"X", std::string(200, 'A')})},
        command_case{"USER " + s40, ok(verb::user, {s40})},
        command_case{"USER j\xc3\xbcrgen", ok(verb::user, {"j\xc3\xbcrgen"})}));

INSTANTIATE_TEST_SUITE_P(
    invalid, pop3_command_table,
    ::testing::Values(
        command_case{"", fails(errc::empty_line)},
        command_case{"FOO", fails(errc::unknown_command)},
        command_case{"LAST", fails(errc::unknown_command)},
        command_case{"RETRX 1", fails(errc::unknown_command)},
        command_case{"TOP1 1", fails(errc::unknown_command)},
        command_case{"R\xc3\xa9TR 1", fails(errc::unknown_command)},
        command_case{" STAT", fails(errc::invalid_syntax)},
        command_case{"  ", fails(errc::invalid_syntax)},
        command_case{"RETR  1", fails(errc::invalid_syntax, verb::retr)},
        command_case{"TOP 1  2", fails(errc::invalid_syntax, verb::top)},
        command_case{"STAT ", fails(errc::invalid_syntax, verb::stat), {.allow_trailing_space = false}},
        command_case{"LIST 1 ", fails(errc::invalid_syntax, verb::list), {.allow_trailing_space = false}},
        command_case{"RETR", fails(errc::missing_argument, verb::retr)},
        command_case{"RETR ", fails(errc::missing_argument, verb::retr)},
        command_case{"DELE", fails(errc::missing_argument, verb::dele)},
        command_case{"TOP 1", fails(errc::missing_argument, verb::top)},
        command_case{"USER", fails(errc::missing_argument, verb::user)},
        command_case{"PASS", fails(errc::missing_argument, verb::pass)},
        command_case{"PASS ", fails(errc::missing_argument, verb::pass)},
        command_case{"APOP mrose", fails(errc::missing_argument, verb::apop)},
        command_case{"AUTH", fails(errc::missing_argument, verb::auth)},
        command_case{"STAT 1", fails(errc::too_many_arguments, verb::stat)},
        command_case{"QUIT now", fails(errc::too_many_arguments, verb::quit)},
        command_case{"RETR 1 2", fails(errc::too_many_arguments, verb::retr)},
        command_case{"LIST 1 2", fails(errc::too_many_arguments, verb::list)},
        command_case{"USER a b", fails(errc::too_many_arguments, verb::user)},
        command_case{"TOP 1 2 3", fails(errc::too_many_arguments, verb::top)},
        command_case{"AUTH PLAIN a b", fails(errc::too_many_arguments, verb::auth)},
        command_case{"RETR 0", fails(errc::invalid_number, verb::retr)},
        command_case{"LIST 0", fails(errc::invalid_number, verb::list)},
        command_case{"RETR -1", fails(errc::invalid_number, verb::retr)},
        command_case{"RETR +1", fails(errc::invalid_number, verb::retr)},
        command_case{"RETR 1a", fails(errc::invalid_number, verb::retr)},
        command_case{"DELE x", fails(errc::invalid_number, verb::dele)},
        command_case{"RETR 2147483649", fails(errc::invalid_number, verb::retr)},
        command_case{"RETR 4294967297", fails(errc::invalid_number, verb::retr)},
        command_case{"RETR 99999999999999999999999999", fails(errc::invalid_number, verb::retr)},
        command_case{"TOP 1 -1", fails(errc::invalid_number, verb::top)},
        command_case{"TOP 0 1", fails(errc::invalid_number, verb::top)},
        command_case{"TOP 1 x", fails(errc::invalid_number, verb::top)},
        command_case{"RETR 5", fails(errc::invalid_number, verb::retr), {.max_number = 4}},
        command_case{"USER " + s41, fails(errc::argument_too_long, verb::user)},
        command_case{"RETR " + std::string(41, '1'), fails(errc::argument_too_long, verb::retr)},
        command_case{"AUTH " + s41, fails(errc::argument_too_long, verb::auth)},
        command_case{"AUTH PL@IN", fails(errc::invalid_argument, verb::auth)},
        command_case{"AUTH " + std::string(21, 'A'), fails(errc::invalid_argument, verb::auth)},
        command_case{"AUTH PLAIN abc", fails(errc::invalid_argument, verb::auth)},
        command_case{"AUTH PLAIN a=bc", fails(errc::invalid_argument, verb::auth)},
        command_case{"AUTH PLAIN a===", fails(errc::invalid_argument, verb::auth)},
        command_case{"APOP mrose c4c9334bac560ecc979e58001b3e22f", fails(errc::invalid_argument, verb::apop)},
        command_case{"APOP mrose c4c9334bac560ecc979e58001b3e22fg", fails(errc::invalid_argument, verb::apop)},
        command_case{"RETR\t1", fails(errc::invalid_character)},
        command_case{std::string("US\0ER a", 7), fails(errc::invalid_character)},
        command_case{"NOOP\r", fails(errc::invalid_character)},
        command_case{"USER j\xc3\xbcrgen", fails(errc::invalid_character), {.allow_8bit = false}},
        // 254 octets: one past the RFC 2449 limit of 255 with CRLF.
        command_case{"PASS " + std::string(249, 'p'), fails(errc::line_too_long)},
        command_case{"NOOP " + std::string(600, 'x'), fails(errc::line_too_long)},
        command_case{"RETR 1", fails(errc::line_too_long), {.max_line_length = 5}}));

TEST(pop3_command, several_lines_in_one_stream) {
    std::string input = "USER mrose\r\nPASS a b\r\n\r\nSTAT\r\nRETR 0\r\nQUIT\r\n";
    for_each_split(input, [&](const std::vector<std::string_view>& chunks) {
        auto r = run(chunks, {});
        std::vector<parsed> expected{ok(verb::user, {"mrose"}), ok(verb::pass, {"a b"}), fails(errc::empty_line),
                                     ok(verb::stat), fails(errc::invalid_number, verb::retr), ok(verb::quit)};
        ASSERT_EQ(r, expected);
    });
}

TEST(pop3_command, keyword_kept_for_error_replies) {
    pop3::command c;
    EXPECT_EQ(pop3::parse_command("XTND XMIT", c), errc::unknown_command);
    EXPECT_EQ(c.keyword, "XTND");
    EXPECT_EQ(c.verb, verb::unknown);
    EXPECT_EQ(pop3::parse_command("retr abc", c), errc::invalid_number);
    EXPECT_EQ(c.keyword, "retr");
    EXPECT_EQ(c.verb, verb::retr);
    EXPECT_EQ(c.message, 0u);
}

TEST(pop3_command, parse_overwrites_previous_result) {
    pop3::command c;
    ASSERT_FALSE(pop3::parse_command("TOP 3 4", c));
    ASSERT_FALSE(pop3::parse_command("STAT", c));
    EXPECT_EQ(c.arg_count, 0u);
    EXPECT_EQ(c.message, 0u);
    EXPECT_EQ(c.lines, 0u);
}

TEST(pop3_command, verb_names) {
    EXPECT_EQ(pop3::to_string(verb::retr), "RETR");
    EXPECT_EQ(pop3::to_string(verb::top), "TOP");
    EXPECT_EQ(pop3::to_string(verb::unknown), "");
    EXPECT_EQ(pop3::parse_verb("uTf8"), verb::utf8);
    EXPECT_EQ(pop3::parse_verb("STLSX"), verb::unknown);
    EXPECT_EQ(pop3::parse_verb(""), verb::unknown);
}

TEST(pop3_command, multiline_expectations) {
    EXPECT_TRUE(pop3::expects_multiline(verb::list, 0));
    EXPECT_FALSE(pop3::expects_multiline(verb::list, 1));
    EXPECT_TRUE(pop3::expects_multiline(verb::uidl, 0));
    EXPECT_FALSE(pop3::expects_multiline(verb::uidl, 1));
    EXPECT_TRUE(pop3::expects_multiline(verb::retr, 1));
    EXPECT_TRUE(pop3::expects_multiline(verb::top, 2));
    EXPECT_TRUE(pop3::expects_multiline(verb::capa, 0));
    for (verb v : {verb::user, verb::pass, verb::apop, verb::stat, verb::dele, verb::noop, verb::rset, verb::quit,
                   verb::stls, verb::auth, verb::utf8, verb::unknown}) {
        EXPECT_FALSE(pop3::expects_multiline(v, 1)) << pop3::to_string(v);
    }
    pop3::command c;
    ASSERT_FALSE(pop3::parse_command("LIST", c));
    EXPECT_TRUE(pop3::expects_multiline(c));
}

TEST(pop3_command_writer, writes_keyword_and_arguments) {
    std::string out;
    EXPECT_FALSE(pop3::write_command(out, verb::stat));
    EXPECT_FALSE(pop3::write_command(out, verb::retr, {"1"}));
    EXPECT_FALSE(pop3::write_command(out, verb::top, {"1", "10"}));
    EXPECT_FALSE(pop3::write_command(out, verb::pass, {"my secret"}));
    EXPECT_FALSE(pop3::write_command(out, "XTND", {"XMIT"}));
    EXPECT_EQ(out, "STAT\r\nRETR 1\r\nTOP 1 10\r\nPASS my secret\r\nXTND XMIT\r\n");
}

TEST(pop3_command_writer, refuses_injection_and_bad_arguments) {
    std::string out;
    EXPECT_EQ(pop3::write_command(out, verb::user, {"a\r\nDELE 1"}), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, verb::user, {"a\nb"}), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, verb::pass, {std::string_view("a\0b", 3)}), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, verb::user, {"a b"}), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, verb::retr, {""}), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, verb::unknown), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, "", {}), errc::invalid_argument);
    EXPECT_EQ(pop3::write_command(out, "NO OP", {}), errc::invalid_argument);
    EXPECT_EQ(out, "");
}

TEST(pop3_command_writer, deliberately_wrong_arity_is_allowed) {
    std::string out;
    EXPECT_FALSE(pop3::write_command(out, verb::retr));
    EXPECT_EQ(out, "RETR\r\n");
    pop3::command c;
    EXPECT_EQ(pop3::parse_command(std::string_view(out).substr(0, out.size() - 2), c), errc::missing_argument);
}

TEST(pop3_command_writer, round_trips_parsed_commands) {
    for (std::string_view line : {"user mrose", "PASS a  b ", "apop x c4c9334bac560ecc979e58001b3e22fb", "top 1 0",
                                  "LIST ", "auth plain =", "uidl 7"}) {
        pop3::command c;
        ASSERT_FALSE(pop3::parse_command(line, c)) << line;
        std::string out;
        ASSERT_FALSE(pop3::write_command(out, c)) << line;
        ASSERT_TRUE(out.ends_with("\r\n"));
        pop3::command again;
        ASSERT_FALSE(pop3::parse_command(std::string_view(out).substr(0, out.size() - 2), again)) << out;
        EXPECT_EQ(again.verb, c.verb);
        EXPECT_TRUE(std::equal(c.arguments().begin(), c.arguments().end(), again.arguments().begin(),
                               again.arguments().end()));
        EXPECT_EQ(again.message, c.message);
        EXPECT_EQ(again.lines, c.lines);
    }
}

TEST(pop3_errc, category_names_values) {
    EXPECT_STREQ(std::error_code(errc::unknown_command).category().name(), "mailharness.pop3");
    EXPECT_EQ(std::error_code(errc::unknown_command).message(), "unknown command");
    EXPECT_EQ(std::error_code(errc::body_too_large).message(), "multi-line body too large");
    EXPECT_NE(std::error_code(errc::line_too_long), std::error_code(mailharness::line_errc::line_too_long));
    for (int v = 1; v <= static_cast<int>(errc::invalid_capability); ++v) {
        EXPECT_NE(pop3::pop3_category().message(v), "unknown pop3 error") << v;
    }
}

}  // namespace
