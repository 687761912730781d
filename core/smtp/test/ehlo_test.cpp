#include "mailharness/smtp/ehlo.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

using namespace mailharness::smtp;
using mailharness::test::for_each_split;

namespace {

struct ehlo_case {
    std::string wire;
    capabilities expected;
};

// Parses `wire` fed as `chunks` into one reply.
reply parse_reply(const std::vector<std::string_view>& chunks) {
    reply_parser p;
    for (auto chunk : chunks) {
        while (!chunk.empty() && !p.done()) {
            std::error_code ec;
            chunk.remove_prefix(p.put(chunk, ec));
            EXPECT_FALSE(ec) << ec.message();
            if (ec) return {};
        }
    }
    EXPECT_TRUE(p.done());
    return p.release();
}

void expect_same(const capabilities& got, const capabilities& want) {
    EXPECT_EQ(got.esmtp, want.esmtp);
    EXPECT_EQ(got.pipelining, want.pipelining);
    EXPECT_EQ(got.starttls, want.starttls);
    EXPECT_EQ(got.eightbitmime, want.eightbitmime);
    EXPECT_EQ(got.smtputf8, want.smtputf8);
    EXPECT_EQ(got.chunking, want.chunking);
    EXPECT_EQ(got.size, want.size);
    EXPECT_EQ(got.size_limit, want.size_limit);
    EXPECT_EQ(got.auth, want.auth);
    EXPECT_EQ(got.keywords, want.keywords);
}

class ehlo_table : public ::testing::TestWithParam<ehlo_case> {};

TEST_P(ehlo_table, whole_and_split) {
    const auto& c = GetParam();
    for_each_split(c.wire, [&](const std::vector<std::string_view>& chunks) {
        expect_same(parse_ehlo(parse_reply(chunks)), c.expected);
    });
}

INSTANTIATE_TEST_SUITE_P(
    table, ehlo_table,
    ::testing::Values(
        // The greeting line is not a keyword.
        ehlo_case{"250 mx.example\r\n", {.esmtp = true}},
        ehlo_case{"250-mx.remote.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 STARTTLS\r\n",
                  {.esmtp = true, .pipelining = true, .starttls = true, .eightbitmime = true, .smtputf8 = true,
                   .size = true, .size_limit = 1000,
                   .keywords = {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "STARTTLS"}}},
        // Keywords in any case; SIZE without a number has no fixed limit.
        ehlo_case{"250-mx\r\n250-size\r\n250-chunking\r\n250 pipelining\r\n",
                  {.esmtp = true, .pipelining = true, .chunking = true, .size = true,
                   .keywords = {"SIZE", "CHUNKING", "PIPELINING"}}},
        ehlo_case{"250-mx\r\n250 SIZE 12x\r\n", {.esmtp = true, .size = true, .keywords = {"SIZE"}}},
        // AUTH and the old AUTH= form: mechanisms upper case, each once, in order.
        ehlo_case{"250-mx\r\n250-AUTH PLAIN login\r\n250-AUTH=PLAIN LOGIN CRAM-MD5\r\n250 AUTH  SCRAM-SHA-256-PLUS \r\n",
                  {.esmtp = true,
                   .auth = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256-PLUS"},
                   .keywords = {"AUTH", "AUTH", "AUTH"}}},
        // A keyword is the whole word: PIPELININGX is not PIPELINING; unknown ones are listed.
        ehlo_case{"250-mx\r\n250-PIPELININGX\r\n250-X-EXPS GSSAPI\r\n250 ENHANCEDSTATUSCODES\r\n",
                  {.esmtp = true, .keywords = {"PIPELININGX", "X-EXPS", "ENHANCEDSTATUSCODES"}}},
        // Not 250: the lines are still read, esmtp is false (callers check the code first).
        ehlo_case{"251-mx\r\n251 PIPELINING\r\n", {.pipelining = true, .keywords = {"PIPELINING"}}},
        // Bare LF endings and an empty line.
        ehlo_case{"250-mx\n250-\n250 STARTTLS\n", {.esmtp = true, .starttls = true, .keywords = {"STARTTLS"}}}));

TEST(ehlo, split_line) {
    EXPECT_EQ(split_ehlo_line("SIZE 100").keyword, "SIZE");
    EXPECT_EQ(split_ehlo_line("SIZE 100").params, "100");
    EXPECT_EQ(split_ehlo_line("AUTH=PLAIN").keyword, "AUTH");
    EXPECT_EQ(split_ehlo_line("AUTH=PLAIN").params, "PLAIN");
    EXPECT_EQ(split_ehlo_line("STARTTLS").keyword, "STARTTLS");
    EXPECT_TRUE(split_ehlo_line("STARTTLS").params.empty());
}

TEST(ehlo, reuse_clears_everything_and_has) {
    capabilities c;
    parse_ehlo(parse_reply({"250-mx\r\n250-AUTH PLAIN\r\n250-SIZE 9\r\n250 CHUNKING\r\n"}), c);
    EXPECT_TRUE(c.has("CHUNKING"));
    EXPECT_FALSE(c.has("chunking")) << "has() takes the upper-case keyword";
    parse_ehlo(parse_reply({"250 mx\r\n"}), c);
    expect_same(c, capabilities{.esmtp = true});
    c.clear();
    expect_same(c, capabilities{});
}

}  // namespace
