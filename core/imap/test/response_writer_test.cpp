#include "mailharness/imap/response_writer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "mailharness/imap/response.hpp"

namespace imap = mailharness::imap;
using imap::errc;
using imap::status;

namespace {

// Parses `wire` as exactly one response.
imap::response parse_one(const std::string& wire, imap::response_parser& p) {
    auto [n, ev] = p.put(wire);
    EXPECT_EQ(ev, imap::response_event::response) << wire;
    EXPECT_EQ(n, wire.size()) << wire;
    return p.get();
}

TEST(imap_response_writer, status) {
    std::string out;
    EXPECT_FALSE(imap::write_status(out, "a1", status::ok, "APPENDUID 38505 3955", "APPEND completed"));
    EXPECT_FALSE(imap::write_status(out, "", status::ok, {}, "ready"));
    EXPECT_FALSE(imap::write_status(out, "a2", status::no));
    EXPECT_FALSE(imap::write_status(out, "", status::bye, {}, "bye"));
    EXPECT_EQ(out, "a1 OK [APPENDUID 38505 3955] APPEND completed\r\n* OK ready\r\na2 NO NO\r\n* BYE bye\r\n");
    std::string bad;
    EXPECT_EQ(imap::write_status(bad, "a", status::ok, {}, "x\r\ny OK"), errc::invalid_argument);
    EXPECT_EQ(imap::write_status(bad, "a", status::ok, "ALERT] x", "y"), errc::invalid_argument);
    EXPECT_EQ(imap::write_status(bad, "a+", status::ok), errc::invalid_argument);
    EXPECT_EQ(imap::write_status(bad, "a", status::bye), errc::invalid_argument);
    EXPECT_EQ(imap::write_status(bad, "a", status::none), errc::invalid_argument);
    EXPECT_EQ(imap::write_untagged(bad, "x\n"), errc::invalid_argument);
    EXPECT_EQ(imap::write_continuation(bad, "x\r"), errc::invalid_argument);
    EXPECT_EQ(bad, "");
    EXPECT_FALSE(imap::write_continuation(bad));
    EXPECT_EQ(bad, "+ \r\n");
}

TEST(imap_response_writer, strings) {
    struct tc {
        std::string in, astring, string;
    };
    for (const auto& c : std::vector<tc>{
             {"abc", "abc", "\"abc\""},
             {"", "\"\"", "\"\""},
             {"NIL", "\"NIL\"", "\"NIL\""},
             {"a b", "\"a b\"", "\"a b\""},
             {"a\"b\\", "\"a\\\"b\\\\\"", "\"a\\\"b\\\\\""},
             {"x]", "x]", "\"x]\""},
             {"a\r\nb", "{4}\r\na\r\nb", "{4}\r\na\r\nb"},
             {"\xc3\xa9", "{2}\r\n\xc3\xa9", "{2}\r\n\xc3\xa9"},
             {std::string(1025, 'a') + " ", "{1026}\r\n" + std::string(1025, 'a') + " ",
              "{1026}\r\n" + std::string(1025, 'a') + " "}}) {
        std::string a, s;
        imap::write_astring(a, c.in);
        imap::write_string(s, c.in);
        EXPECT_EQ(a, c.astring) << c.in;
        EXPECT_EQ(s, c.string) << c.in;
    }
    std::string n;
    imap::write_nstring(n, std::nullopt);
    EXPECT_EQ(n, "NIL");
}

TEST(imap_response_writer, mailbox) {
    std::string out;
    EXPECT_FALSE(imap::write_mailbox(out, "inbox"));
    out.push_back(' ');
    EXPECT_FALSE(imap::write_mailbox(out, "Entw\xc3\xbc" "rfe"));
    out.push_back(' ');
    EXPECT_FALSE(imap::write_mailbox(out, "A & B"));
    out.push_back(' ');
    EXPECT_FALSE(imap::write_mailbox(out, "Entw\xc3\xbc" "rfe", true));
    EXPECT_EQ(out, "INBOX Entw&APw-rfe \"A &- B\" {9}\r\nEntw\xc3\xbc" "rfe");
    EXPECT_EQ(imap::write_mailbox(out, "\xff"), errc::invalid_mailbox_name);
}

TEST(imap_response_writer, fetch_round_trip) {
    imap::envelope env;
    env.date = "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)";
    env.subject = "IMAP4rev1 WG mtg summary and minutes";
    env.from = {{"Terry Gray", std::nullopt, "gray", "cac.washington.edu"}};
    env.to = {{std::nullopt, std::nullopt, "imap", "cac.washington.edu"}};
    env.message_id = "<B27397-0100000@cac.washington.edu>";
    imap::body_part text{.type = "TEXT", .subtype = "PLAIN", .params = {{"CHARSET", "US-ASCII"}}, .encoding = "7BIT",
                         .size = 3028, .lines = 92};

    std::string out;
    imap::fetch_writer w(out, 12);
    w.uid(4827313);
    w.flags({"\\Seen", "$Junk"});
    w.internaldate({{1996, 7, 17}, 2, 44, 25, -420});
    w.rfc822_size(4286);
    w.modseq(12121231000);
    w.envelope(env);
    w.body(text);
    w.bodystructure(text);
    w.body_section("BODY[HEADER]", "From: x\r\n\r\n");
    w.body_section("BODY[2]", std::nullopt);
    w.finish();
    EXPECT_EQ(out,
              "* 12 FETCH (UID 4827313 FLAGS (\\Seen $Junk) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
              "RFC822.SIZE 4286 MODSEQ (12121231000) ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
              "\"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
              "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
              "\"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) NIL NIL NIL "
              "\"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
              "\"7BIT\" 3028 92) BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 "
              "NIL NIL NIL) BODY[HEADER] {11}\r\nFrom: x\r\n\r\n BODY[2] NIL)\r\n");

    imap::response_parser p;
    auto r = parse_one(out, p);
    ASSERT_EQ(r.fetch.size(), 10u);
    EXPECT_EQ(r.values[r.fetch[0].value].number, 4827313u);
    EXPECT_EQ(r.values[r.fetch[8].value].text, "From: x\r\n\r\n");
    EXPECT_EQ(r.fetch[8].section, "HEADER");
}

TEST(imap_response_writer, multipart_bodystructure) {
    imap::body_part mp{.type = "multipart", .subtype = "mixed", .params = {{"boundary", "b1"}}};
    mp.parts.push_back({.size = 10, .lines = 1});
    mp.parts.push_back({.type = "image", .subtype = "png", .encoding = "base64", .size = 400,
                        .disposition = std::make_pair(std::string("attachment"),
                                                      std::vector<std::pair<std::string, std::string>>{{"filename", "a.png"}})});
    std::string out;
    imap::write_value(out, imap::to_value(mp, true));
    EXPECT_EQ(out,
              "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1 NIL NIL NIL) (\"image\" \"png\" NIL NIL NIL \"base64\" 400 "
              "NIL (\"attachment\" (\"filename\" \"a.png\")) NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL)");
    std::string b;
    imap::write_value(b, imap::to_value(mp, false));
    EXPECT_EQ(b, "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1) (\"image\" \"png\" NIL NIL NIL \"base64\" 400) \"mixed\")");
}

TEST(imap_response_writer, bodystructure_languages_and_location) {
    imap::body_part b{.size = 1, .lines = 1, .languages = {"en", "de"}, .location = "http://x.test/a"};
    std::string out;
    imap::write_value(out, imap::to_value(b, true));
    EXPECT_EQ(out, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1 NIL NIL (\"en\" \"de\") \"http://x.test/a\")");
    imap::body_part mp{.type = "multipart", .subtype = "mixed", .send_location = true};
    mp.parts.push_back({});
    out.clear();
    imap::write_value(out, imap::to_value(mp, true));
    EXPECT_EQ(out, "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0 NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)");
    out.clear();
    imap::write_value(out, imap::to_value(mp, false));
    EXPECT_EQ(out, "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0) \"mixed\")");
}

TEST(imap_response_writer, status_round_trip) {
    std::string out;
    ASSERT_FALSE(imap::write_status(out, "A4", status::ok, "COPYUID 38505 304,319:320 3956:3958", "Done"));
    imap::response_parser p;
    auto r = parse_one(out, p);
    ASSERT_TRUE(r.code);
    EXPECT_EQ(r.code->number, 38505u);
    EXPECT_EQ(r.code->set2.ranges.size(), 1u);
    EXPECT_EQ(r.tag, "A4");
}

}  // namespace
