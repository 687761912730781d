#include "mailharness/smtp/data.hpp"

#include <gtest/gtest.h>

#include "mailharness/smtp/error.hpp"
#include "split_feed.hpp"

using namespace mailharness::smtp;
using mailharness::test::for_each_split;

namespace {

struct data_case {
    std::string wire;
    bool done;
    std::string content;
    std::size_t consumed;
    std::error_code result;
    bool normalize = false;
};

class data_table : public ::testing::TestWithParam<data_case> {};

TEST_P(data_table, whole_and_split) {
    const auto& c = GetParam();
    for_each_split(c.wire, [&](const std::vector<std::string_view>& chunks) {
        data_decoder d({.normalize_bare_line_endings = c.normalize});
        std::string out;
        std::size_t consumed = 0;
        for (auto chunk : chunks) {
            if (d.done()) break;
            consumed += d.put(chunk, out);
        }
        ASSERT_EQ(d.done(), c.done);
        EXPECT_EQ(out, c.content);
        if (c.done) {
            EXPECT_EQ(consumed, c.consumed);
            EXPECT_EQ(d.result(), c.result);
        }
    });
}

const std::error_code ok{};

INSTANTIATE_TEST_SUITE_P(
    table, data_table,
    ::testing::Values(
        data_case{".\r\n", true, "", 3, ok},
        data_case{"Subject: x\r\n\r\nbody\r\n.\r\n", true, "Subject: x\r\n\r\nbody\r\n", 23, ok},
        data_case{"a\r\n.\r\nMAIL FROM:<x@y>\r\n", true, "a\r\n", 6, ok},
        data_case{"..leading\r\n.\r\n", true, ".leading\r\n", 14, ok},
        data_case{"...\r\n.\r\n", true, "..\r\n", 8, ok},
        data_case{"a\r\n..\r\n.\r\n", true, "a\r\n.\r\n", 10, ok},
        data_case{"not.end\r\n.x\r\n.\r\n", true, "not.end\r\nx\r\n", 16, ok},
        // SMTP smuggling: none of these ends the data.
        data_case{"a\n.\nMAIL FROM:<evil@x>\r\n.\r\n", true, "a\n.\nMAIL FROM:<evil@x>\r\n", 27, errc::bare_lf_in_data},
        data_case{"a\r\n.\nb\r\n.\r\n", true, "a\r\n.\nb\r\n", 11, errc::bare_lf_in_data},
        data_case{"a\n.\r\nb\r\n.\r\n", true, "a\n.\r\nb\r\n", 11, errc::bare_lf_in_data},
        data_case{"a\r.\rb\r\n.\r\n", true, "a\r.\rb\r\n", 10, errc::bare_cr_in_data},
        data_case{"a\r\n.\rb\r\n.\r\n", true, "a\r\n\rb\r\n", 11, errc::bare_cr_in_data},
        data_case{"a\r.\r\nb\r\n.\r\n", true, "a\r.\r\nb\r\n", 11, errc::bare_cr_in_data},
        data_case{"a\n\r\n.\r\n", true, "a\n\r\n", 7, errc::bare_lf_in_data},
        data_case{"a\r\n\n.\r\n.\r\n", true, "a\r\n\n.\r\n", 10, errc::bare_lf_in_data},
        // Normalization rewrites bare endings as CRLF but still never ends early.
        data_case{"a\n.\nb\r\n.\r\n", true, "a\r\n.\r\nb\r\n", 10, ok, true},
        data_case{"a\rb\r\n.\r\n", true, "a\r\nb\r\n", 8, ok, true},
        data_case{"x\n..y\r\n.\r\n", true, "x\r\n.y\r\n", 10, ok, true},
        // Incomplete
        data_case{"no end\r\n.", false, "no end\r\n", 0, ok},
        data_case{"no end\r\n.\r", false, "no end\r\n", 0, ok}));

TEST(data_decoder, size_limit_reads_to_end_but_stops_storing) {
    data_decoder d({.max_message_size = 10});
    std::string out;
    std::string wire = std::string(100, 'x') + "\r\n.\r\nQUIT\r\n";
    std::size_t n = d.put(wire, out);
    ASSERT_TRUE(d.done());
    EXPECT_EQ(n, wire.size() - 6);
    EXPECT_EQ(out.size(), 10u);
    EXPECT_EQ(d.size(), 102u);
    EXPECT_EQ(d.result(), errc::message_too_big);
}

TEST(data_decoder, reset_starts_a_new_message) {
    data_decoder d;
    std::string out;
    d.put("a\nb\r\n.\r\n", out);
    EXPECT_EQ(d.bare_lf_count(), 1u);
    d.reset();
    out.clear();
    d.put("c\r\n.\r\n", out);
    EXPECT_TRUE(d.done());
    EXPECT_FALSE(d.result());
    EXPECT_EQ(out, "c\r\n");
}

TEST(data_encoder, stuffs_and_terminates) {
    EXPECT_EQ(encode_data("a\r\n.b\r\n"), "a\r\n..b\r\n.\r\n");
    EXPECT_EQ(encode_data(""), ".\r\n");
    EXPECT_EQ(encode_data("no newline"), "no newline\r\n.\r\n");
    EXPECT_EQ(encode_data(".\r\n"), "..\r\n.\r\n");
    EXPECT_EQ(encode_data("a\nb\rc"), "a\r\nb\r\nc\r\n.\r\n");
    EXPECT_EQ(encode_data("a\n.b", {.normalize_line_endings = false}), "a\n..b\r\n.\r\n");
    EXPECT_EQ(encode_data("x\r"), "x\r\n.\r\n");
}

TEST(data_codec, round_trip_every_split) {
    std::string msg = "From: a@b\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n";
    std::string wire = encode_data(msg);
    for_each_split(wire, [&](const std::vector<std::string_view>& chunks) {
        data_decoder d;
        std::string out;
        for (auto c : chunks) d.put(c, out);
        ASSERT_TRUE(d.done());
        EXPECT_EQ(out, msg);
    });
    // Encoder split too.
    for (std::size_t i = 0; i <= msg.size(); ++i) {
        data_encoder e;
        std::string w;
        e.put(std::string_view(msg).substr(0, i), w);
        e.put(std::string_view(msg).substr(i), w);
        e.finish(w);
        EXPECT_EQ(w, wire) << i;
    }
}

}  // namespace
