#include "mailharness/line_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "split_feed.hpp"

using mailharness::line_errc;
using mailharness::line_framer;
using mailharness::test::for_each_split;

namespace {

struct frame_result {
    std::vector<std::string> lines;
    std::vector<std::error_code> errors;  // one per event: line delivered or error raised
    std::size_t buffered = 0;
};

frame_result run(const std::vector<std::string_view>& chunks, std::size_t max = 998) {
    line_framer f({.max_line_length = max});
    frame_result r;
    for (auto chunk : chunks) {
        while (!chunk.empty()) {
            std::error_code ec;
            std::size_t n = f.put(chunk, ec);
            EXPECT_GT(n, 0u);
            EXPECT_LE(n, chunk.size());
            chunk.remove_prefix(n);
            if (f.has_line()) {
                r.lines.emplace_back(f.line());
                r.errors.push_back(ec);
            } else if (ec) {
                r.lines.emplace_back("<error>");
                r.errors.push_back(ec);
            }
        }
    }
    r.buffered = f.buffered();
    return r;
}

struct line_case {
    std::string input;
    std::vector<std::string> lines;
    std::vector<std::error_code> errors;
    std::size_t max = 998;
};

class line_table : public ::testing::TestWithParam<line_case> {};

TEST_P(line_table, whole_and_split_at_every_byte) {
    const auto& c = GetParam();
    for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
        auto r = run(chunks, c.max);
        ASSERT_EQ(r.lines, c.lines) << "chunks=" << chunks.size();
        ASSERT_EQ(r.errors, c.errors) << "chunks=" << chunks.size();
    });
}

const std::error_code ok{};

INSTANTIATE_TEST_SUITE_P(
    cases, line_table,
    ::testing::Values(
        line_case{"EHLO x\r\n", {"EHLO x"}, {ok}},
        line_case{"A\r\nB\r\n\r\n", {"A", "B", ""}, {ok, ok, ok}},
        line_case{"bare\nnext\r\n", {"bare", "next"}, {line_errc::bare_lf, ok}},
        line_case{"\n", {""}, {line_errc::bare_lf}},
        line_case{"a\rb\r\n", {"a\rb"}, {line_errc::bare_cr}},
        line_case{"a\r\r\n", {"a\r"}, {line_errc::bare_cr}},
        line_case{"12345\r\n", {"12345"}, {ok}, 5},
        line_case{"123456\r\nok\r\n", {"<error>", "ok"}, {line_errc::line_too_long, ok}, 5},
        line_case{"1234567890123\r\nok\r\n", {"<error>", "ok"}, {line_errc::line_too_long, ok}, 5},
        line_case{"12345\n", {"12345"}, {line_errc::bare_lf}, 5},
        line_case{"incomplete", {}, {}}));

TEST(line_framer, too_long_reports_length_and_discards_rest) {
    line_framer f({.max_line_length = 10});
    std::string big(100, 'x');
    std::error_code ec;
    std::size_t n = f.put(big, ec);
    EXPECT_EQ(ec, line_errc::line_too_long);
    EXPECT_EQ(n, big.size());
    EXPECT_EQ(f.length_seen(), 100u);
    EXPECT_TRUE(f.discarding());
    n = f.put("yyy\r\nnext\r\n", ec);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(f.has_line());
    EXPECT_EQ(n, 5u);
    f.put("next\r\n", ec);
    ASSERT_TRUE(f.has_line());
    EXPECT_EQ(f.line(), "next");
}

TEST(line_framer, too_long_across_chunks_trips_before_end_of_line) {
    line_framer f({.max_line_length = 512});
    std::error_code ec;
    std::size_t fed = 0;
    bool tripped = false;
    for (int i = 0; i < 100 && !tripped; ++i) {
        fed += f.put(std::string(64, 'A'), ec);
        tripped = ec == line_errc::line_too_long;
    }
    EXPECT_TRUE(tripped);
    EXPECT_EQ(fed, 576u);  // 9 chunks: the limit trips on the chunk that crosses 512
    EXPECT_EQ(f.length_seen(), 576u);
    EXPECT_LE(f.buffered(), 512u);
}

TEST(line_framer, line_view_points_into_input_when_whole) {
    line_framer f;
    std::string in = "NOOP\r\n";
    std::error_code ec;
    f.put(in, ec);
    ASSERT_TRUE(f.has_line());
    EXPECT_EQ(f.line().data(), in.data());
}

TEST(line_framer, reset_drops_partial_line) {
    line_framer f;
    std::error_code ec;
    f.put("STARTTLS\r\nRSET", ec);
    f.put("RSET", ec);
    EXPECT_EQ(f.buffered(), 4u);
    f.reset();
    EXPECT_EQ(f.buffered(), 0u);
    f.put("EHLO\r\n", ec);
    ASSERT_TRUE(f.has_line());
    EXPECT_EQ(f.line(), "EHLO");
}

TEST(line_framer, error_category_names_values) {
    EXPECT_EQ(std::error_code(line_errc::line_too_long).message(), "line too long");
    EXPECT_STREQ(std::error_code(line_errc::bare_lf).category().name(), "mailharness.line");
}

}  // namespace
