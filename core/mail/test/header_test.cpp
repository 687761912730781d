#include "mailharness/mail/header.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

using namespace mailharness;
using namespace mailharness::mail;

namespace {

struct parsed {
    std::error_code ec;
    bool done = false;
    std::vector<header_field> fields;
    std::size_t header_size = 0;
};

// Feeds the chunks, stopping at the end of the header or an error, then finish().
parsed feed(const std::vector<std::string_view>& chunks, header_limits limits = {}) {
    header_parser p(limits);
    parsed r;
    for (auto c : chunks) {
        p.put(c, r.ec);
        if (r.ec || p.done()) break;
    }
    if (!r.ec && !p.done()) p.finish(r.ec);
    r.done = p.done();
    r.fields = p.fields();
    r.header_size = p.header_size();
    return r;
}

struct good_case {
    std::string input;
    std::vector<std::pair<std::string, std::string>> fields;
    std::size_t header_size;
};

TEST(mail_header, parses_fields_whole_and_split_at_every_byte) {
    const std::vector<good_case> cases = {
        {"From: a@b.test\r\nTo: c@d.test\r\n\r\nbody\r\n", {{"From", " a@b.test"}, {"To", " c@d.test"}}, 32},
        {"Subject: one\r\n two\r\n\tthree\r\n\r\n", {{"Subject", " one\r\n two\r\n\tthree"}}, 30},
        {"X:\r\n\r\n", {{"X", ""}}, 6},
        {"A: 1\nB: 2\n\nbody", {{"A", " 1"}, {"B", " 2"}}, 11},
        // No empty line: a line that is not a field starts the body.
        {"From: a@b.test\r\nthis is body\r\n", {{"From", " a@b.test"}}, 16},
        {"From: a@b.test\r\nBad Name: x\r\n", {{"From", " a@b.test"}}, 16},
        // Header only, without a final line ending.
        {"From: a@b.test\r\nSubject: x", {{"From", " a@b.test"}, {"Subject", " x"}}, 26},
        // Body first: no header at all.
        {"\r\nbody\r\n", {}, 2},
        {"", {}, 0},
        // A continuation with no field before it is body.
        {" leading\r\nFrom: x\r\n\r\n", {}, 0},
    };
    for (const auto& c : cases) {
        test::for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
            auto r = feed(chunks);
            ASSERT_FALSE(r.ec) << c.input;
            ASSERT_TRUE(r.done) << c.input;
            ASSERT_EQ(r.fields.size(), c.fields.size()) << c.input;
            for (std::size_t i = 0; i < c.fields.size(); ++i) {
                EXPECT_EQ(r.fields[i].name, c.fields[i].first) << c.input;
                EXPECT_EQ(r.fields[i].value, c.fields[i].second) << c.input;
            }
            EXPECT_EQ(r.header_size, c.header_size) << c.input;
        });
    }
}

TEST(mail_header, limits_are_distinct_fatal_errors_for_every_split) {
    std::string big = "Subject: " + std::string(200, 'x') + "\r\n\r\n";
    test::for_each_split(big, [&](const std::vector<std::string_view>& chunks) {
        auto r = feed(chunks, {.max_size = 100});
        EXPECT_EQ(r.ec, header_errc::header_too_big);
        EXPECT_FALSE(r.done);
    });
    // Exactly at the limit is fine.
    auto exact = feed({big}, {.max_size = big.size()});
    EXPECT_FALSE(exact.ec);
    std::string many;
    for (int i = 0; i < 5; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    many += "\r\n";
    test::for_each_split(many, [&](const std::vector<std::string_view>& chunks) {
        auto r = feed(chunks, {.max_fields = 4});
        EXPECT_EQ(r.ec, header_errc::too_many_fields);
    });
    EXPECT_FALSE(feed({many}, {.max_fields = 5}).ec);
    // An endless line without a newline is bounded too.
    header_parser p({.max_size = 64});
    std::error_code ec;
    std::string chunk(16, 'a');
    for (int i = 0; i < 10 && !ec; ++i) p.put(chunk, ec);
    EXPECT_EQ(ec, header_errc::header_too_big);
    EXPECT_EQ(p.put("more", ec), 0u);
}

TEST(mail_header, put_stops_at_the_body) {
    header_parser p;
    std::error_code ec;
    std::string m = "A: 1\r\n\r\nbody A: 2\r\n";
    EXPECT_EQ(p.put(m, ec), 8u);
    EXPECT_TRUE(p.done());
    EXPECT_EQ(p.body_offset(), 8u);
    EXPECT_EQ(p.put("C: 3\r\n", ec), 0u);
    EXPECT_EQ(p.fields().size(), 1u);
}

TEST(mail_header, find_is_case_insensitive_and_unfold_joins_lines) {
    std::vector<header_field> f;
    ASSERT_FALSE(parse_header("reply-TO: <x@y.test>\r\nSubject: a\r\n  b \r\n\r\n", f));
    header_parser p;
    std::error_code ec;
    p.put("reply-TO: <x@y.test>\r\nSubject: a\r\n  b \r\n\r\n", ec);
    ASSERT_NE(p.find("Reply-To"), nullptr);
    EXPECT_EQ(p.find("From"), nullptr);
    EXPECT_EQ(p.count("SUBJECT"), 1u);
    EXPECT_EQ(p.count("Received"), 0u);
    EXPECT_EQ(unfold(p.find("subject")->value), "a  b");
    EXPECT_EQ(unfold(" x\n y"), "x y");
    EXPECT_TRUE(is_field_name("X-Spam"));
    EXPECT_FALSE(is_field_name("X Spam"));
    EXPECT_FALSE(is_field_name(""));
    EXPECT_EQ(make_error_code(header_errc::header_too_big).message(), "message header too big");
}

}  // namespace
