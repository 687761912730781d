#include "mailharness/smtp/path.hpp"

#include <gtest/gtest.h>

#include "mailharness/smtp/error.hpp"

using namespace mailharness::smtp;

namespace {

struct path_case {
    std::string input;
    std::size_t consumed;
    std::string local;
    std::string domain;
    std::uint32_t flags;
};

class path_ok : public ::testing::TestWithParam<path_case> {};

TEST_P(path_ok, parses) {
    const auto& c = GetParam();
    path p;
    std::error_code ec;
    std::size_t n = parse_path(c.input, p, ec);
    ASSERT_FALSE(ec) << c.input << ": " << ec.message();
    EXPECT_EQ(n, c.consumed) << c.input;
    EXPECT_EQ(p.local_part, c.local) << c.input;
    EXPECT_EQ(p.domain, c.domain) << c.input;
    EXPECT_EQ(p.flags, c.flags) << c.input;
}

INSTANTIATE_TEST_SUITE_P(
    table, path_ok,
    ::testing::Values(
        path_case{"<>", 2, "", "", null_path},
        path_case{"<user@example.com>", 18, "user", "example.com", 0},
        path_case{"<user@example.com> SIZE=10", 18, "user", "example.com", 0},
        path_case{"<first.last+tag@sub.example.org>", 32, "first.last+tag", "sub.example.org", 0},
        path_case{"<Postmaster>", 12, "Postmaster", "", postmaster},
        path_case{"<\"john doe\"@example.com>", 24, "\"john doe\"", "example.com", quoted_local},
        path_case{"<\"user@remote\"@local>", 21, "\"user@remote\"", "local", quoted_local | at_in_local},
        path_case{"<user%remote@local>", 19, "user%remote", "local", percent_hack},
        path_case{"<remote!user@local>", 19, "remote!user", "local", bang_path},
        path_case{"<@local:user@remote>", 20, "user", "remote", source_route},
        path_case{"<@a.example,@b.example:user@c.example>", 38, "user", "c.example", source_route},
        path_case{"<user@[192.0.2.1]>", 18, "user", "[192.0.2.1]", address_literal | ipv4_literal},
        path_case{"<user@[IPv6:2001:db8::1]>", 25, "user", "[IPv6:2001:db8::1]", address_literal | ipv6_literal},
        path_case{"<user@[x-tag:stuff]>", 20, "user", "[x-tag:stuff]", address_literal | general_literal},
        path_case{"<\xc3\xa9l\xc3\xa8ve@\xc3\xa9" "cole.example>", 24, "\xc3\xa9l\xc3\xa8ve", "\xc3\xa9""cole.example", utf8},
        path_case{"user@example.com", 16, "user", "example.com", no_brackets},
        path_case{"<\"a\\\"b\"@x.org>", 14, "\"a\\\"b\"", "x.org", quoted_local}));

struct bad_case {
    std::string input;
    errc error;
};

class path_bad : public ::testing::TestWithParam<bad_case> {};

TEST_P(path_bad, rejected) {
    const auto& c = GetParam();
    path p;
    std::error_code ec;
    EXPECT_EQ(parse_path(c.input, p, ec), 0u);
    EXPECT_EQ(ec, c.error) << c.input << " gave " << ec.message();
}

INSTANTIATE_TEST_SUITE_P(
    table, path_bad,
    ::testing::Values(
        bad_case{"", errc::invalid_path}, bad_case{"<", errc::invalid_path},
        bad_case{"<user@example.com", errc::invalid_path},
        bad_case{"<user@example.com.>", errc::invalid_domain},
        bad_case{"<user@.example.com>", errc::invalid_domain},
        bad_case{"<user@exa_mple.com>", errc::invalid_domain},
        bad_case{"<user@-example.com>", errc::invalid_domain},
        bad_case{"<.user@example.com>", errc::invalid_path},
        bad_case{"<user.@example.com>", errc::invalid_path},
        bad_case{"<us..er@example.com>", errc::invalid_path},
        bad_case{"<user>", errc::invalid_path},
        bad_case{"<user@>", errc::invalid_domain},
        bad_case{"<\"unterminated@example.com>", errc::invalid_path},
        bad_case{"<user@[300.1.1.1]>", errc::invalid_address_literal},
        bad_case{"<user@[IPv6:zz::1]>", errc::invalid_address_literal},
        bad_case{"<user@[1.2.3.4>", errc::invalid_address_literal},
        bad_case{"<@:user@x>", errc::invalid_domain},
        bad_case{"<\xff@example.com>", errc::invalid_utf8},
        bad_case{"<\xc0\xaf@example.com>", errc::invalid_utf8},
        bad_case{"<us er@example.com>", errc::invalid_path}));

TEST(path, length_limits) {
    path p;
    std::error_code ec;
    std::string local(65, 'a');
    parse_path("<" + local + "@x.org>", p, ec);
    EXPECT_EQ(ec, errc::local_part_too_long);
    std::string dom;
    for (int i = 0; i < 50; ++i) dom += "abcdef.";
    dom += "org";
    parse_path("<a@" + dom + ">", p, ec);
    EXPECT_EQ(ec, errc::domain_too_long);
    std::string label(64, 'a');
    parse_path("<a@" + label + ".org>", p, ec);
    EXPECT_EQ(ec, errc::invalid_domain);
}

TEST(path, strict_brackets) {
    path p;
    std::error_code ec;
    parse_path("user@example.com", p, ec, {.allow_missing_brackets = false});
    EXPECT_EQ(ec, errc::invalid_path);
}

TEST(path, unquoted_and_mailbox) {
    path p;
    std::error_code ec;
    parse_path("<\"us\\\"er@x\"@Example.COM>", p, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(p.unquoted_local_part(), "us\"er@x");
    EXPECT_EQ(p.lowercase_domain(), "example.com");
    EXPECT_EQ(p.mailbox(), "\"us\\\"er@x\"@Example.COM");
}

TEST(path, every_prefix_of_valid_path_is_rejected_or_shorter) {
    // Truncations must fail cleanly (no reads past the end, no false success with full length).
    std::string full = "<@a.example,@b.example:\"x y\"@[IPv6:2001:db8::1]>";
    for (std::size_t i = 0; i < full.size(); ++i) {
        path p;
        std::error_code ec;
        std::size_t n = parse_path(std::string_view(full).substr(0, i), p, ec);
        EXPECT_TRUE(ec || n <= i) << i;
        EXPECT_TRUE(ec) << "prefix " << i << " accepted";
    }
}

TEST(domain, validity) {
    EXPECT_TRUE(is_valid_domain("example.com"));
    EXPECT_TRUE(is_valid_domain("a"));
    EXPECT_TRUE(is_valid_domain("xn--bcher-kva.example"));
    EXPECT_FALSE(is_valid_domain("example.com."));
    EXPECT_FALSE(is_valid_domain("a..b"));
    EXPECT_FALSE(is_valid_domain("b\xc3\xbc" "cher.example", false));
    EXPECT_TRUE(is_valid_domain("b\xc3\xbc" "cher.example", true));
}

}  // namespace
