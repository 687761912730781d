#include "mailharness/refmaild/maildir_name.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace mailharness::refmaild::store;

namespace {

struct name_case {
    std::string name;
    std::string base;
    std::optional<std::uint64_t> size, vsize;
    std::uint64_t secs;
    std::optional<std::uint32_t> usecs;
    std::optional<std::uint64_t> pid;
    bool q;
    std::string host;
    std::string flags;  // letters
};

}  // namespace

TEST(maildir_name, parse_table) {
    const std::vector<name_case> cases = {
        // refmaild's own delivery names
        {"1700000000.M123456P42Q7.mx.example,S=1234", "1700000000.M123456P42Q7.mx.example,S=1234", 1234, {},
         1700000000, 123456, 42, true, "mx.example", ""},
        {"1700000000.M123456P42Q7.mx.example,S=1234:2,", "1700000000.M123456P42Q7.mx.example,S=1234", 1234, {},
         1700000000, 123456, 42, true, "mx.example", ""},
        // Dovecot's names: S= physical, W= virtual size, flags and keywords
        {"1700000001.M5P99.host,S=100,W=103:2,FRSab", "1700000001.M5P99.host,S=100,W=103", 100, 103, 1700000001, 5,
         99, false, "host", "FRSab"},
        {"1700000001.M5P99.host,W=103,S=100:2,S", "1700000001.M5P99.host,W=103,S=100", 100, 103, 1700000001, 5, 99,
         false, "host", "S"},
        // Postfix / qmail style unique parts
        {"1700000002.V801I1234M567.mail.example.org:2,T", "1700000002.V801I1234M567.mail.example.org", {}, {},
         1700000002, 567, {}, false, "mail.example.org", "T"},
        {"1700000003.4242_1.host", "1700000003.4242_1.host", {}, {}, 1700000003, {}, {}, false, "host", ""},
        // escaped host with a comma in it; the size still parses
        {"1.M1P1Q1.a\\054b,S=5", "1.M1P1Q1.a\\054b,S=5", 5, {}, 1, 1, 1, true, "a\\054b", ""},
        // malformed: no hints, still a message
        {"", "", {}, {}, 0, {}, {}, false, "", ""},
        {"garbage", "garbage", {}, {}, 0, {}, {}, false, "", ""},
        {":2,S", "", {}, {}, 0, {}, {}, false, "", "S"},
        {"x,S=12a", "x,S=12a", {}, {}, 0, {}, {}, false, "", ""},
        {"x,S=", "x,S=", {}, {}, 0, {}, {}, false, "", ""},
        {"x,S=99999999999999999999999", "x,S=99999999999999999999999", {}, {}, 0, {}, {}, false, "", ""},
        {"x,S=1:2,S,S=2", "x,S=1", 1, {}, 0, {}, {}, false, "", "S"},
        {"1.M9999999P1.h", "1.M9999999P1.h", {}, {}, 1, {}, 1, false, "h", ""},  // usecs out of range
        {"1.2.h:1,experimental", "1.2.h", {}, {}, 1, {}, {}, false, "h", ""},
        {"1.2.h:2,S:2,T", "1.2.h", {}, {}, 1, {}, {}, false, "h", "S"},  // ':' in the info: not a flag
        {"1.2.h:2,Z!a", "1.2.h", {}, {}, 1, {}, {}, false, "h", "Za"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const maildir_name n = parse_maildir_name(c.name);
        EXPECT_EQ(n.base, c.base);
        EXPECT_EQ(maildir_base(c.name), c.base);
        EXPECT_EQ(n.size, c.size);
        EXPECT_EQ(n.vsize, c.vsize);
        EXPECT_EQ(n.secs, c.secs);
        EXPECT_EQ(n.usecs, c.usecs);
        EXPECT_EQ(n.pid, c.pid);
        EXPECT_EQ(n.has_delivery_count, c.q);
        EXPECT_EQ(n.host, c.host);
        EXPECT_EQ(n.flags.letters(), c.flags);
    }
}

TEST(maildir_name, info_kinds) {
    EXPECT_FALSE(parse_maildir_name("a").has_info);
    EXPECT_TRUE(parse_maildir_name("a:2,").has_info);
    EXPECT_TRUE(parse_maildir_name("a:2,").info_has_flags);
    EXPECT_TRUE(parse_maildir_name("a:1,x").has_info);
    EXPECT_FALSE(parse_maildir_name("a:1,x").info_has_flags);
}

TEST(maildir_name, flag_set_letters_sorted_and_unique) {
    flag_set f = flag_trashed | flag_seen | flag_draft | flag_set::of('b') | flag_set::of('a') | flag_seen;
    EXPECT_EQ(f.letters(), "DSTab");
    EXPECT_TRUE(f.has('S'));
    EXPECT_FALSE(f.has('F'));
    EXPECT_FALSE(f.has('!'));
    EXPECT_TRUE(flag_set::of('!').empty());
    f.remove(flag_seen);
    EXPECT_EQ(f.letters(), "DTab");
}

TEST(maildir_name, set_flags_table) {
    struct set_case {
        std::string name;
        flag_set flags;
        std::string expected;
    };
    const std::vector<set_case> cases = {
        {"1.M1P1Q1.h,S=3", flag_seen, "1.M1P1Q1.h,S=3:2,S"},
        {"1.M1P1Q1.h,S=3:2,", flag_seen | flag_replied, "1.M1P1Q1.h,S=3:2,RS"},
        {"1.M1P1Q1.h,S=3:2,RS", {}, "1.M1P1Q1.h,S=3:2,"},
        {"b:2,S", flag_trashed | flag_draft | flag_flagged | flag_set::of('c') | flag_set::of('a'), "b:2,DFTac"},
        // experimental info replaced
        {"b:1,whatever", flag_seen, "b:2,S"},
        // non-letter flag characters and a further flag set are kept
        {"b:2,S!,extra", flag_seen | flag_flagged, "b:2,!FS,extra"},
        {"b:2,,extra", {}, "b:2,,extra"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(set_flags(c.name, c.flags), c.expected);
        // The new name parses back to the flags set (plus nothing else) and keeps the base.
        const auto back = parse_maildir_name(c.expected);
        EXPECT_EQ(back.flags, c.flags);
        EXPECT_EQ(back.base, maildir_base(c.name));
        // Setting the same flags again changes nothing.
        EXPECT_EQ(set_flags(c.expected, c.flags), c.expected);
    }
    EXPECT_EQ(add_flags("b:2,S", flag_replied), "b:2,RS");
    EXPECT_EQ(add_flags("b", flag_seen), "b:2,S");
    EXPECT_EQ(remove_flags("b:2,RS", flag_seen), "b:2,R");
    EXPECT_EQ(remove_flags("b", flag_seen), "b:2,");
}

TEST(maildir_name, dovecot_sort_order) {
    // Seconds first (numerically, not as text), then microseconds, then the base.
    EXPECT_LT(maildir_sort_compare("9.M1P1.h", "10.M0P1.h"), 0);
    EXPECT_LT(maildir_sort_compare("10.M2P1.h", "10.M10P1.h"), 0);
    EXPECT_GT(maildir_sort_compare("10.M10P1.h", "10.M2P1.h"), 0);
    EXPECT_LT(maildir_sort_compare("10.M5P1Q1.h", "10.M5P1Q2.h"), 0);
    EXPECT_EQ(maildir_sort_compare("10.M5P1.h:2,S", "10.M5P1.h:2,"), 0);  // same base
    EXPECT_LT(maildir_sort_compare("garbage", "1.M1P1.h"), 0);           // no time sorts as 0

    std::vector<std::string> v = {"20.M1P1.h", "3.M7P1.h", "3.M10P1.h", "100.M0P1.h", "3.M7P0.h"};
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return maildir_sort_compare(a, b) < 0; });
    EXPECT_EQ(v, (std::vector<std::string>{"3.M7P0.h", "3.M7P1.h", "3.M10P1.h", "20.M1P1.h", "100.M0P1.h"}));
}

TEST(maildir_name, never_crashes_on_any_short_input) {
    // Every string of up to 3 characters from an alphabet with the separators.
    const std::string alpha = ".,:=2SWMPQ9a";
    std::string s;
    for (char a : alpha)
        for (char b : alpha)
            for (char c : alpha) {
                s = {a, b, c};
                const auto n = parse_maildir_name(s);
                EXPECT_LE(n.base.size(), s.size());
                const auto renamed = set_flags(s, n.flags);
                EXPECT_EQ(parse_maildir_name(renamed).base, n.base);
            }
    const std::string longname(5000, 'x');
    EXPECT_EQ(parse_maildir_name(longname + ",S=5:2,S").base, longname + ",S=5");
    EXPECT_FALSE(parse_maildir_name(longname + ",S=5:2,S").size);
}
