#include "mailharness/smtp/reply.hpp"

#include <gtest/gtest.h>

#include "mailharness/smtp/error.hpp"
#include "split_feed.hpp"

using namespace mailharness::smtp;
using mailharness::test::for_each_split;

namespace {

struct reply_case {
    std::string wire;
    int code;
    enhanced_status status;
    std::vector<std::string> lines;
    std::size_t consumed;
};

class reply_table : public ::testing::TestWithParam<reply_case> {};

TEST_P(reply_table, whole_and_split) {
    const auto& c = GetParam();
    for_each_split(c.wire, [&](const std::vector<std::string_view>& chunks) {
        reply_parser p;
        std::size_t consumed = 0;
        for (auto chunk : chunks) {
            while (!chunk.empty() && !p.done()) {
                std::error_code ec;
                std::size_t n = p.put(chunk, ec);
                ASSERT_FALSE(ec) << ec.message();
                chunk.remove_prefix(n);
                consumed += n;
            }
        }
        ASSERT_TRUE(p.done());
        EXPECT_EQ(consumed, c.consumed);
        EXPECT_EQ(p.get().code, c.code);
        EXPECT_EQ(p.get().status, c.status);
        EXPECT_EQ(p.get().lines, c.lines);
    });
}

INSTANTIATE_TEST_SUITE_P(
    table, reply_table,
    ::testing::Values(
        reply_case{"220 mx.example ESMTP\r\n", 220, {}, {"mx.example ESMTP"}, 22},
        reply_case{"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n", 250, {},
                   {"mx.example", "PIPELINING", "SIZE 1000", "8BITMIME"}, 61},
        reply_case{"250 2.1.0 Ok\r\n", 250, es(2, 1, 0), {"Ok"}, 14},
        reply_case{"550-5.7.1 Relay\r\n550 5.7.1 denied\r\n", 550, es(5, 7, 1), {"Relay", "denied"}, 35},
        reply_case{"354\r\n", 354, {}, {""}, 5},
        reply_case{"250 Ok\r\n250 next\r\n", 250, {}, {"Ok"}, 8},
        reply_case{"250 Ok\n", 250, {}, {"Ok"}, 7},
        reply_case{"451 5.1.1 mismatched class\r\n", 451, {}, {"5.1.1 mismatched class"}, 28},
        reply_case{"250-2.0.0 a\r\n250 b\r\n", 250, {}, {"2.0.0 a", "b"}, 20}));

TEST(reply_parser, rejects_garbage) {
    for (std::string bad : {"abc\r\n", "25\r\n", "250x\r\n", "650 no\r\n", "190 no\r\n", "260 x\r\n"}) {
        reply_parser p;
        std::error_code ec;
        p.put(bad, ec);
        EXPECT_EQ(ec, errc::invalid_reply) << bad;
    }
    reply_parser p;
    std::error_code ec;
    p.put("250-a\r\n251 b\r\n", ec);
    EXPECT_EQ(ec, errc::inconsistent_reply);
}

TEST(reply_parser, limits) {
    reply_parser p({.max_line_length = 10, .max_lines = 3});
    std::error_code ec;
    p.put("250 " + std::string(50, 'x') + "\r\n", ec);
    EXPECT_EQ(ec, errc::reply_too_long);
    reply_parser q({.max_line_length = 100, .max_lines = 3});
    q.put("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", ec);
    EXPECT_EQ(ec, errc::reply_too_long);
}

TEST(reply_parser, consecutive_replies) {
    reply_parser p;
    std::string wire = "250 a\r\n354 go\r\n";
    std::string_view in = wire;
    std::error_code ec;
    in.remove_prefix(p.put(in, ec));
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.release().code, 250);
    in.remove_prefix(p.put(in, ec));
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.get().code, 354);
    EXPECT_TRUE(in.empty());
}

TEST(reply_format, serializes) {
    EXPECT_EQ(format_reply(250, es(2, 1, 0), "Ok"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(format_reply(250, {}, "mx\nPIPELINING\nSIZE 10"), "250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    EXPECT_EQ(format_reply(554, es(5, 7, 1), "a\nb"), "554-5.7.1 a\r\n554 5.7.1 b\r\n");
    EXPECT_EQ(format_reply(354, {}, ""), "354 \r\n");
    reply r{.code = 221, .status = es(2, 0, 0), .lines = {"Bye"}};
    EXPECT_EQ(serialize(r), "221 2.0.0 Bye\r\n");
    // Round trip
    reply_parser p;
    std::error_code ec;
    p.put(format_reply(550, es(5, 1, 1), "No such user\nhere"), ec);
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.get().status, es(5, 1, 1));
    EXPECT_EQ(p.get().text(), "No such user\nhere");
}

TEST(enhanced_status, parse) {
    enhanced_status s;
    EXPECT_EQ(parse_enhanced_status("5.7.1 x", s), 6u);
    EXPECT_EQ(s, es(5, 7, 1));
    EXPECT_EQ(parse_enhanced_status("2.0.0", s), 5u);
    EXPECT_EQ(parse_enhanced_status("2.0.1000 x", s), 0u);
    EXPECT_EQ(parse_enhanced_status("3.0.0 x", s), 0u);
    EXPECT_EQ(parse_enhanced_status("4.4.7x", s), 0u);
    EXPECT_EQ(parse_enhanced_status("5.1.1 x", s, 4), 0u);
    EXPECT_EQ(es(4, 4, 7).to_string(), "4.4.7");
}

}  // namespace
