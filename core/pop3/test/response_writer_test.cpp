#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mailharness/pop3/capability.hpp"
#include "mailharness/pop3/response.hpp"
#include "printable.hpp"
#include "split_feed.hpp"

using mailharness::test::for_each_split;
namespace pop3 = mailharness::pop3;
using pop3::errc;
using pop3::status;

namespace {

TEST(pop3_response_writer, status_lines) {
    std::string out;
    EXPECT_FALSE(pop3::write_status(out, status::ok));
    EXPECT_FALSE(pop3::write_status(out, status::ok, "2 320"));
    EXPECT_FALSE(pop3::write_status(out, status::err, "busy", "SYS/TEMP"));
    EXPECT_FALSE(pop3::write_status(out, status::err, {}, "AUTH"));
    EXPECT_FALSE(pop3::write_status(out, status::continuation, "PDE4OTY+"));
    EXPECT_FALSE(pop3::write_status(out, status::continuation));
    EXPECT_EQ(out, "+OK\r\n+OK 2 320\r\n-ERR [SYS/TEMP] busy\r\n-ERR [AUTH]\r\n+ PDE4OTY+\r\n+ \r\n");
}

TEST(pop3_response_writer, refuses_bad_status_input) {
    std::string out;
    EXPECT_EQ(pop3::write_status(out, status::ok, "a\r\n+OK b"), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::err, std::string_view("a\0", 2)), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::err, "x", "SYS/"), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::err, "x", "A]B"), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::err, "x", "A B"), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::continuation, "x", "AUTH"), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::none, "x"), errc::invalid_argument);
    EXPECT_EQ(pop3::write_status(out, status::ok, std::string(507, 'x')), errc::line_too_long);
    EXPECT_EQ(out, "");
    EXPECT_FALSE(pop3::write_status(out, status::ok, std::string(506, 'x')));
    EXPECT_EQ(out.size(), 512u);
}

struct body_case {
    std::string input;
    std::string expected;
};

std::ostream& operator<<(std::ostream& os, const body_case& c) {
    return os << "'" << pop3::test::printable(c.input) << "'";
}

class pop3_body_writer_table : public ::testing::TestWithParam<body_case> {};

TEST_P(pop3_body_writer_table, whole_and_split_at_every_byte) {
    const auto& c = GetParam();
    for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
        pop3::body_writer w;
        std::string out;
        for (auto chunk : chunks) w.write(out, chunk);
        w.finish(out);
        ASSERT_EQ(out, c.expected) << "chunks=" << chunks.size();
    });
}

INSTANTIATE_TEST_SUITE_P(
    cases, pop3_body_writer_table,
    ::testing::Values(body_case{"", ".\r\n"},
                      body_case{"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
                      body_case{"a\nb\n", "a\r\nb\r\n.\r\n"},  // Maildir LF endings
                      body_case{"a\r\nb", "a\r\nb\r\n.\r\n"},  // unterminated last line
                      body_case{".\r\n", "..\r\n.\r\n"},
                      body_case{"..\n.x\n x.\n.", "...\r\n..x\r\n x.\r\n..\r\n.\r\n"},
                      body_case{"\r\n\r\n", "\r\n\r\n.\r\n"},
                      body_case{"a\rb\r\n", "a\rb\r\n.\r\n"},  // bare CR kept
                      body_case{"a\r\r\n", "a\r\r\n.\r\n"},
                      body_case{"\r.\n", "\r.\r\n.\r\n"},      // "." not at line start
                      body_case{"a\r", "a\r\n.\r\n"}));

// What write_body produces, the parser reads back: the body normalized to CRLF lines.
TEST(pop3_response_writer, body_round_trips_through_parser) {
    for (std::string_view b : {"", "x", ".", "..\r\n.\r\n", "line\nnext\r\n.\n", "a\rb\r\n\r\n"}) {
        std::string wire;
        ASSERT_FALSE(pop3::write_status(wire, status::ok, "follows"));
        pop3::write_body(wire, b);
        pop3::response_parser p;
        p.start(pop3::expect::multi_line);
        std::string_view in = wire;
        std::error_code ec;
        while (!in.empty() && !p.done()) {
            in.remove_prefix(p.put(in, ec));
            ASSERT_FALSE(ec) << ec.message();
        }
        ASSERT_TRUE(p.done());
        EXPECT_TRUE(in.empty());
        EXPECT_FALSE(p.get().bare_lf);

        std::string normalized;
        pop3::body_writer w;
        w.write(normalized, b);
        w.finish(normalized);
        normalized.resize(normalized.size() - 3);  // drop ".\r\n"
        std::string unstuffed;
        for (auto line : pop3::body_lines(normalized)) {
            if (line.starts_with('.')) line.remove_prefix(1);
            unstuffed.append(line).append("\r\n");
        }
        EXPECT_EQ(p.get().body, unstuffed) << "body='" << b << "'";
    }
}

TEST(pop3_capability, rfc2449_example) {
    std::string body =
        "TOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\nPIPELINING\r\n"
        "EXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n";
    std::error_code ec;
    auto caps = pop3::parse_capabilities(body, ec);
    EXPECT_FALSE(ec);
    ASSERT_EQ(caps.size(), 9u);
    EXPECT_EQ(caps[0].name, "TOP");
    EXPECT_TRUE(caps[0].params.empty());
    const auto* sasl = pop3::find_capability(caps, "sasl");
    ASSERT_NE(sasl, nullptr);
    EXPECT_EQ(sasl->params, (std::vector<std::string>{"CRAM-MD5", "KERBEROS_V4"}));
    const auto* delay = pop3::find_capability(caps, "LOGIN-DELAY");
    ASSERT_NE(delay, nullptr);
    EXPECT_EQ(delay->params, (std::vector<std::string>{"900"}));
    EXPECT_EQ(pop3::find_capability(caps, "STLS"), nullptr);
}

TEST(pop3_capability, sloppy_and_bad_lines) {
    std::error_code ec;
    auto caps = pop3::parse_capabilities("SASL  PLAIN LOGIN \r\n\r\n STLS\r\nX-\x01\r\nUTF8 USER\r\nSTLS", ec);
    EXPECT_EQ(ec, errc::invalid_capability);
    ASSERT_EQ(caps.size(), 3u);
    EXPECT_EQ(caps[0].params, (std::vector<std::string>{"PLAIN", "LOGIN"}));
    EXPECT_EQ(caps[1].name, "UTF8");
    EXPECT_EQ(caps[1].params, (std::vector<std::string>{"USER"}));
    EXPECT_EQ(caps[2].name, "STLS");

    caps = pop3::parse_capabilities("", ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(caps.empty());
}

TEST(pop3_capability, from_parsed_capa_response) {
    pop3::response_parser p;
    p.start(pop3::expect::multi_line);
    std::error_code ec;
    std::string_view in = "+OK\r\nSTLS\r\nSASL PLAIN\r\n.\r\n";
    while (!p.done()) in.remove_prefix(p.put(in, ec));
    auto caps = pop3::parse_capabilities(p.get().body, ec);
    EXPECT_FALSE(ec);
    EXPECT_NE(pop3::find_capability(caps, "stls"), nullptr);
}

}  // namespace
