#include "mailharness/imap/response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "printable.hpp"
#include "split_feed.hpp"

using mailharness::test::for_each_split;
namespace imap = mailharness::imap;
using imap::errc;
using imap::response_event;

namespace {

std::string value_str(const imap::response& r, std::uint32_t i) {
    const auto& v = r.values.at(i);
    using K = imap::data_value::kind;
    switch (v.type) {
        case K::atom: return std::string(v.text);
        case K::number: return "#" + std::to_string(v.number);
        case K::quoted: return "\"" + std::string(v.text) + "\"";
        case K::literal: return "{" + std::string(v.text) + "}";
        case K::streamed: return "<streamed " + std::to_string(v.number) + ">";
        case K::nil: return "NIL";
        case K::list: {
            std::string out = "(";
            bool first = true;
            for (auto c : imap::children(r, i)) {
                out += (first ? "" : " ") + value_str(r, c);
                first = false;
            }
            return out + ")";
        }
    }
    return "?";
}

std::string set_str(const imap::sequence_set& s) {
    std::string out;
    imap::write_sequence_set(out, s);
    return out;
}

std::string describe(const imap::response& r) {
    if (r.kind == imap::response_kind::continuation) return "+ " + std::string(r.text);
    std::string out = r.kind == imap::response_kind::tagged ? std::string(r.tag) : "*";
    if (r.status != imap::status::none) {
        out += " " + std::string(imap::to_string(r.status));
        if (r.code) {
            out += " [" + std::string(r.code->name);
            if (!r.code->text.empty()) out += "|" + std::string(r.code->text);
            if (r.code->number) out += " n=" + std::to_string(r.code->number);
            if (!r.code->set.empty()) out += " set=" + set_str(r.code->set);
            if (!r.code->set2.empty()) out += " set2=" + set_str(r.code->set2);
            for (auto w : r.code->list) out += " l=" + std::string(w);
            out += "]";
        }
        return out + " text=" + std::string(r.text);
    }
    if (r.number) out += " " + std::to_string(*r.number);
    out += " " + std::string(r.name);
    for (auto i = r.first; i != imap::no_value; i = r.values.at(i).next_sibling) out += " " + value_str(r, i);
    for (const auto& f : r.fetch) {
        out += " |" + std::string(f.name);
        if (f.item) out += ":" + std::to_string(static_cast<int>(*f.item));
        if (!f.section.empty()) out += " sec=" + std::string(f.section);
        if (f.origin) out += " origin=" + std::to_string(*f.origin);
        out += " v=" + value_str(r, f.value);
    }
    return out;
}

std::vector<std::string> run(const std::vector<std::string_view>& chunks, const imap::response_limits& limits) {
    imap::response_parser p(limits);
    std::vector<std::string> out;
    bool in_data = false;
    for (auto chunk : chunks) {
        while (!chunk.empty()) {
            auto [n, ev] = p.put(chunk);
            EXPECT_LE(n, chunk.size());
            if (ev == response_event::need_more) {
                EXPECT_EQ(n, chunk.size());
            }
            chunk.remove_prefix(n);
            if (ev != response_event::literal_data) in_data = false;
            switch (ev) {
                case response_event::need_more: break;
                case response_event::literal_data:
                    if (!in_data)
                        out.push_back("data(" + std::string(p.literal_item()) + "," +
                                      std::to_string(p.literal_message()) + "," + std::to_string(p.literal_size()) + "):");
                    out.back() += std::string(p.literal_data());
                    in_data = true;
                    break;
                case response_event::response: out.push_back(describe(p.get())); break;
                case response_event::error: out.push_back("error:" + p.error().message()); break;
            }
        }
    }
    return out;
}

struct response_case {
    std::string name;
    std::string input;
    std::vector<std::string> expected;
    imap::response_limits limits = {};
};

std::ostream& operator<<(std::ostream& os, const response_case& c) { return os << c.name; }

class imap_response_table : public ::testing::TestWithParam<response_case> {};

TEST_P(imap_response_table, whole_and_split_at_every_byte) {
    const auto& c = GetParam();
    for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
        auto got = run(chunks, c.limits);
        ASSERT_EQ(got, c.expected) << "chunks=" << chunks.size() << " input=" << imap::test::printable(c.input, 200);
    });
}

std::string err(errc e) { return "error:" + imap::make_error_code(e).message(); }

INSTANTIATE_TEST_SUITE_P(
    status, imap_response_table,
    ::testing::Values(
        response_case{"greeting", "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Dovecot ready.\r\n",
                      {"* OK [CAPABILITY|IMAP4rev1 LITERAL+ SASL-IR l=IMAP4rev1 l=LITERAL+ l=SASL-IR] text=Dovecot ready."}},
        response_case{"tagged_ok", "a1 OK LOGIN completed\r\n", {"a1 OK text=LOGIN completed"}},
        response_case{"tagged_no_lower", "a2 no [TRYCREATE] no such mailbox\r\n", {"a2 NO [TRYCREATE] text=no such mailbox"}},
        response_case{"tagged_bad_no_text", "a3 BAD\r\n", {"a3 BAD text="}},
        response_case{"bye_preauth", "* BYE logging out\r\n* PREAUTH [ALERT] hi\r\n",
                      {"* BYE text=logging out", "* PREAUTH [ALERT] text=hi"}},
        response_case{"uidvalidity", "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n* OK [UIDNEXT 4392] x\r\n",
                      {"* OK [UIDVALIDITY|3857529045 n=3857529045] text=UIDs valid", "* OK [UIDNEXT|4392 n=4392] text=x"}},
        response_case{"appenduid", "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",
                      {"A003 OK [APPENDUID|38505 3955 n=38505 set=3955] text=APPEND completed"}},
        response_case{"copyuid", "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
                      {"A004 OK [COPYUID|38505 304,319:320 3956:3958 n=38505 set=304,319:320 set2=3956:3958] text=Done"}},
        response_case{"permanentflags", "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
                      {"* OK [PERMANENTFLAGS|(\\Deleted \\Seen \\*) l=\\Deleted l=\\Seen l=\\*] text=Limited"}},
        response_case{"highestmodseq", "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
                      {"* OK [HIGHESTMODSEQ|715194045007 n=715194045007] text=Highest"}},
        response_case{"read_write", "A142 OK [READ-WRITE] SELECT completed\r\n", {"A142 OK [READ-WRITE] text=SELECT completed"}},
        response_case{"status_text_with_braces_is_not_a_literal", "* OK so {5}\r\na OK x\r\n", {"* OK text=so {5}", "a OK text=x"}},
        response_case{"continuation", "+ Ready for literal data\r\n+ \r\n+\r\n+ YmFzZTY0\r\n",
                      {"+ Ready for literal data", "+ ", "+ ", "+ YmFzZTY0"}},
        response_case{"bad_uidvalidity", "* OK [UIDVALIDITY x] y\r\n* OK [UIDVALIDITY 0] y\r\n",
                      {err(errc::invalid_response_code), err(errc::invalid_response_code)}},
        response_case{"bad_copyuid", "a OK [COPYUID 1 2] y\r\n", {err(errc::invalid_response_code)}},
        response_case{"unclosed_code", "* OK [ALERT y\r\n", {err(errc::invalid_response_code)}},
        response_case{"tagged_preauth", "a PREAUTH x\r\n", {err(errc::invalid_response)}},
        response_case{"tagged_data", "a FETCH x\r\n", {err(errc::invalid_response)}},
        response_case{"garbage", "\r\n+x\r\n*\r\n\"a\" OK\r\n", {err(errc::invalid_response), err(errc::invalid_response),
                                                               err(errc::invalid_response), err(errc::invalid_response)}}));

INSTANTIATE_TEST_SUITE_P(
    data, imap_response_table,
    ::testing::Values(
        response_case{"exists_recent", "* 172 EXISTS\r\n* 1 RECENT\r\n* 44 EXPUNGE\r\n",
                      {"* 172 EXISTS", "* 1 RECENT", "* 44 EXPUNGE"}},
        response_case{"capability", "* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n",
                      {"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED"}},
        response_case{"flags", "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
                      {"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"}},
        response_case{"list", "* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n* LIST () NIL {5}\r\nIN\"BO\r\n",
                      {"* LIST (\\Noselect) \"/\" ~/Mail/foo", "* LIST () NIL {IN\"BO}"}},
        response_case{"status", "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
                      {"* STATUS blurdybloop (MESSAGES #231 UIDNEXT #44292)"}},
        response_case{"search", "* SEARCH 2 84 882\r\n* SEARCH\r\n", {"* SEARCH #2 #84 #882", "* SEARCH"}},
        response_case{"esearch", "* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3\r\n",
                      {"* ESEARCH (TAG \"A282\") UID MIN #2 COUNT #3"}},
        response_case{"namespace", "* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\"))\r\n",
                      {"* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\"))"}},
        response_case{"fetch_flags_uid", "* 12 FETCH (FLAGS (\\Seen) UID 4827313 MODSEQ (12121231000))\r\n",
                      {"* 12 FETCH (FLAGS (\\Seen) UID #4827313 MODSEQ (#12121231000)) |FLAGS:1 v=(\\Seen) "
                       "|UID:9 v=#4827313 |MODSEQ:11 v=(#12121231000)"}},
        response_case{"fetch_envelope",
                      "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary\" "
                      "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL NIL NIL NIL "
                      "\"<B27397-0100000@cac.washington.edu>\") INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286)\r\n",
                      {"* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary\" "
                       "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL NIL NIL NIL "
                       "\"<B27397-0100000@cac.washington.edu>\") INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE #4286)"
                       " |ENVELOPE:0 v=(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary\" "
                       "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL NIL NIL NIL "
                       "\"<B27397-0100000@cac.washington.edu>\") |INTERNALDATE:2 v=\"17-Jul-1996 02:44:25 -0700\" "
                       "|RFC822.SIZE:5 v=#4286"}},
        response_case{"fetch_body_literal", "* 3 FETCH (UID 7 BODY[HEADER.FIELDS (From \"To\")]<0> {8}\r\nFrom: ab)\r\n",
                      {"* 3 FETCH (UID #7 BODY[HEADER.FIELDS (From \"To\")]<0> {From: ab}) |UID:9 v=#7 "
                       "|BODY[HEADER.FIELDS (From \"To\")]<0>:10 sec=HEADER.FIELDS (From \"To\") origin=0 v={From: ab}"}},
        response_case{"fetch_body_streamed",
                      "* 3 FETCH (UID 7 BODY[] {12}\r\nHello\r\nWorld FLAGS ())\r\na OK done\r\n",
                      {"data(BODY[],3,12):Hello\r\nWorld",
                       "* 3 FETCH (UID #7 BODY[] <streamed 12> FLAGS ()) |UID:9 v=#7 |BODY[]:10 v=<streamed 12> |FLAGS:1 v=()",
                       "a OK text=done"},
                      {.max_buffered_literal = 11}},
        response_case{"fetch_two_literals", "* 1 FETCH (BODY[1] {2}\r\nab BODY[2] {0}\r\n)\r\n",
                      {"* 1 FETCH (BODY[1] {ab} BODY[2] {}) |BODY[1]:10 sec=1 v={ab} |BODY[2]:10 sec=2 v={}"}},
        response_case{"fetch_nil_body", "* 1 FETCH (BODY[1] NIL X-GM-THRID 5)\r\n",
                      {"* 1 FETCH (BODY[1] NIL X-GM-THRID #5) |BODY[1]:10 sec=1 v=NIL |X-GM-THRID v=#5"}},
        response_case{"fetch_odd_items", "* 1 FETCH (UID)\r\n", {err(errc::invalid_fetch_item)}},
        response_case{"fetch_no_list", "* 1 FETCH UID 5\r\n", {err(errc::invalid_fetch_item)}},
        response_case{"fetch_no_number", "* FETCH (UID 5)\r\n", {err(errc::invalid_fetch_item)}},
        response_case{"fetch_bad_origin", "* 1 FETCH (BODY[]<x> NIL)\r\n", {err(errc::invalid_fetch_item)}},
        response_case{"unbalanced", "* LIST (\\Noselect \"/\" x\r\n* 1 EXISTS\r\n", {err(errc::syntax_error), "* 1 EXISTS"}},
        response_case{"line_too_long", "* CAPABILITY IMAP4rev1 XXXXXXXXXXXXXXXXXXXXXX\r\n* 1 EXISTS\r\n",
                      {err(errc::line_too_long), "* 1 EXISTS"}, {.max_line_length = 20}},
        response_case{"literal_too_large_is_skipped", "* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n* 2 EXISTS\r\n",
                      {err(errc::literal_too_large), "* 2 EXISTS"}, {.max_literal_size = 9}},
        response_case{"error_then_literal_skipped", "* 1 FETCH (BODY[] \"x {3}\r\nabc\r\n* 2 EXISTS\r\n",
                      {err(errc::syntax_error), "* 2 EXISTS"}},
        response_case{"nonsync_literal_refused", "* LIST () NIL {1+}\r\nx\r\n", {err(errc::syntax_error), err(errc::invalid_response)}},
        response_case{"too_deep", "* X ((((1))))\r\n", {err(errc::too_deep)}, {.max_depth = 3}}));

TEST(imap_response_parser, one_mebibyte_body_streams_without_copy) {
    std::string body(1 << 20, 'x');
    std::string wire = "* 1 FETCH (UID 1 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body + ")\r\n";
    imap::response_parser p;
    std::string_view in = wire;
    std::size_t streamed = 0;
    while (true) {
        auto [n, ev] = p.put(in);
        if (ev == response_event::literal_data) {
            EXPECT_GE(p.literal_data().data(), wire.data());  // a view into the input
            streamed += p.literal_data().size();
        }
        in.remove_prefix(n);
        ASSERT_NE(ev, response_event::error);
        if (ev == response_event::response) break;
    }
    EXPECT_EQ(streamed, body.size());
    EXPECT_TRUE(in.empty());
    ASSERT_EQ(p.get().fetch.size(), 2u);
    EXPECT_EQ(p.get().values[p.get().fetch[1].value].number, body.size());
}

}  // namespace
