#include "mailharness/imap/types.hpp"

#include <gtest/gtest.h>

#include <string>

namespace imap = mailharness::imap;
using imap::errc;

namespace {

TEST(imap_sequence_set, parse_and_write) {
    struct tc {
        std::string in;
        std::string out;
        std::error_code ec;
    };
    for (const auto& c : std::vector<tc>{
             {"1", "1", {}}, {"1:*", "1:*", {}}, {"*", "*", {}}, {"2,4:7,9,12:*", "2,4:7,9,12:*", {}},
             {"7:2", "7:2", {}}, {"*:4", "*:4", {}}, {"4294967295", "4294967295", {}},
             {"4294967296", "", errc::invalid_sequence_set}, {"0", "", errc::invalid_sequence_set},
             {"01", "", errc::invalid_sequence_set}, {"", "", errc::invalid_sequence_set},
             {"1,", "", errc::invalid_sequence_set}, {",1", "", errc::invalid_sequence_set},
             {"1:", "", errc::invalid_sequence_set}, {"1::2", "", errc::invalid_sequence_set},
             {"1:2:3", "", errc::invalid_sequence_set}, {"a", "", errc::invalid_sequence_set},
             {"-1", "", errc::invalid_sequence_set}}) {
        imap::sequence_set s;
        EXPECT_EQ(imap::parse_sequence_set(c.in, s), c.ec) << c.in;
        if (c.ec) continue;
        std::string out;
        imap::write_sequence_set(out, s);
        EXPECT_EQ(out, c.out);
    }
    imap::sequence_set s;
    EXPECT_EQ(imap::parse_sequence_set("1,2,3", s, 2), errc::sequence_set_too_large);
    ASSERT_FALSE(imap::parse_sequence_set("2,4:7,10:*", s));
    EXPECT_TRUE(s.contains(2, 20));
    EXPECT_FALSE(s.contains(3, 20));
    EXPECT_TRUE(s.contains(5, 20));
    EXPECT_TRUE(s.contains(20, 20));
    EXPECT_FALSE(s.contains(9, 20));
    ASSERT_FALSE(imap::parse_sequence_set("*:4", s));
    EXPECT_TRUE(s.contains(3, 3));  // "*:4" with * = 3 is 3:4
}

TEST(imap_date, parse) {
    imap::date d;
    EXPECT_FALSE(imap::parse_date("1-Feb-1994", d));
    EXPECT_EQ(d, (imap::date{1994, 2, 1}));
    EXPECT_FALSE(imap::parse_date("29-feb-2000", d));
    EXPECT_EQ(imap::parse_date("29-Feb-1900", d), errc::invalid_date);
    EXPECT_EQ(imap::parse_date("32-Jan-2000", d), errc::invalid_date);
    EXPECT_EQ(imap::parse_date("0-Jan-2000", d), errc::invalid_date);
    EXPECT_EQ(imap::parse_date("1-Jan-00", d), errc::invalid_date);
    EXPECT_EQ(imap::parse_date("001-Jan-2000", d), errc::invalid_date);
    EXPECT_EQ(imap::parse_date(" 1-Jan-2000", d), errc::invalid_date);
    std::string out;
    imap::write_date(out, {2000, 3, 4});
    EXPECT_EQ(out, "04-Mar-2000");
}

TEST(imap_date, date_time) {
    imap::date_time dt;
    ASSERT_FALSE(imap::parse_date_time("17-Jul-1996 02:44:25 -0700", dt));
    EXPECT_EQ(dt.date, (imap::date{1996, 7, 17}));
    EXPECT_EQ(dt.hour, 2);
    EXPECT_EQ(dt.second, 25);
    EXPECT_EQ(dt.zone_minutes, -420);
    ASSERT_FALSE(imap::parse_date_time(" 7-Feb-1994 21:52:25 +0130", dt));
    EXPECT_EQ(dt.zone_minutes, 90);
    ASSERT_FALSE(imap::parse_date_time("7-Feb-1994 21:52:25 +0000", dt));
    EXPECT_EQ(imap::parse_date_time("17-Jul-1996 24:44:25 -0700", dt), errc::invalid_date);
    EXPECT_EQ(imap::parse_date_time("17-Jul-1996 02:44:25 0700", dt), errc::invalid_date);
    EXPECT_EQ(imap::parse_date_time("17-Jul-1996 02:44:25 -07", dt), errc::invalid_date);
    std::string out;
    imap::write_date_time(out, {{1994, 2, 7}, 21, 52, 25, -480});
    EXPECT_EQ(out, "\" 7-Feb-1994 21:52:25 -0800\"");
}

TEST(imap_mutf7, decode) {
    struct tc {
        std::string in;
        std::string out;
        std::error_code ec;
    };
    for (const auto& c : std::vector<tc>{
             {"INBOX", "INBOX", {}},
             {"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", {}},
             {"&-", "&", {}},
             {"Entw&APw-rfe", "Entw\xc3\xbc" "rfe", {}},
             {"&2D3eAA-", "\xf0\x9f\x98\x80", {}},  // U+1F600 via surrogates
             {"&", "", errc::invalid_mailbox_name},
             {"&AGE-", "", errc::invalid_mailbox_name},     // "a" must not be encoded
             {"&U,BTFw-&ZeVnLIqe-", "", errc::invalid_mailbox_name},  // adjacent runs
             {"&2D0-", "", errc::invalid_mailbox_name},     // lone high surrogate
             {"&APw", "", errc::invalid_mailbox_name},
             {"&AP-", "", errc::invalid_mailbox_name},      // leftover bits
             {"&A/w-", "", errc::invalid_mailbox_name},     // "/" is not modified base64
             {"\xc3\xbc", "", errc::invalid_mailbox_name}}) {
        std::string out;
        EXPECT_EQ(imap::mutf7_decode(c.in, out), c.ec) << c.in;
        if (!c.ec) {
            EXPECT_EQ(out, c.out) << c.in;
            std::string back;
            EXPECT_FALSE(imap::mutf7_encode(out, back));
            EXPECT_EQ(back, c.in);
        }
    }
}

TEST(imap_mutf7, encode_rejects_bad_utf8) {
    std::string out = "x";
    EXPECT_EQ(imap::mutf7_encode("a\xc3", out), errc::invalid_mailbox_name);
    EXPECT_EQ(imap::mutf7_encode("\xed\xa0\x80", out), errc::invalid_mailbox_name);  // surrogate
    EXPECT_EQ(imap::mutf7_encode("\xc0\xaf", out), errc::invalid_mailbox_name);      // overlong
    EXPECT_EQ(out, "x");
    EXPECT_FALSE(imap::mutf7_encode("a&b", out));
    EXPECT_EQ(out, "xa&-b");
}

TEST(imap_flags, is_flag) {
    EXPECT_TRUE(imap::is_flag("\\Seen"));
    EXPECT_TRUE(imap::is_flag("$Junk"));
    EXPECT_FALSE(imap::is_flag("\\*"));
    EXPECT_FALSE(imap::is_flag("\\"));
    EXPECT_FALSE(imap::is_flag(""));
    EXPECT_FALSE(imap::is_flag("a]"));
    EXPECT_TRUE(imap::is_inbox("iNbOx"));
    EXPECT_FALSE(imap::is_inbox("INBOX/x"));
}

}  // namespace
