#include "mailharness/imap/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "printable.hpp"
#include "split_feed.hpp"

using mailharness::test::for_each_split;
namespace imap = mailharness::imap;
using imap::errc;
using imap::event;

namespace {

std::string set_str(const imap::sequence_set& s) {
    std::string out;
    imap::write_sequence_set(out, s);
    return out;
}

std::string list_str(const std::vector<std::string_view>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::string(v[i]);
    return out + "]";
}

std::string date_str(const imap::date& d) {
    std::string out;
    imap::write_date(out, d);
    return out;
}

std::string section_str(const imap::section& s) {
    std::string out;
    for (std::size_t i = 0; i < s.part.size(); ++i) out += (i ? "." : "") + std::to_string(s.part[i]);
    const char* names[] = {"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"};
    if (s.text != imap::section_text::none) out += std::string(s.part.empty() ? "" : ".") + names[static_cast<int>(s.text)];
    if (!s.fields.empty()) out += " " + list_str(s.fields);
    return out;
}

std::string att_str(const imap::fetch_att& a) {
    const char* names[] = {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
                           "RFC822.TEXT", "BODY", "BODYSTRUCTURE", "UID", "", "MODSEQ"};
    if (a.item != imap::fetch_item::body_section) return names[static_cast<int>(a.item)];
    std::string out = a.peek ? "BODY.PEEK[" : "BODY[";
    out += section_str(a.section) + "]";
    if (a.partial) out += "<" + std::to_string(a.offset) + "." + std::to_string(a.length) + ">";
    return out;
}

std::string key_str(const imap::search_args& s, std::uint32_t n) {
    const auto& k = s.keys.at(n);
    using K = imap::search_key_kind;
    std::string out;
    auto children = [&]() {
        std::string c;
        for (auto i = k.first_child; i != imap::no_node; i = s.keys.at(i).next_sibling) c += " " + key_str(s, i);
        return c;
    };
    switch (k.kind) {
        case K::sequence_set: return set_str(s.sets.at(k.set));
        case K::uid: return "UID " + set_str(s.sets.at(k.set));
        case K::group: return "(" + children().substr(1) + ")";
        case K::not_: case K::or_: return "{" + std::string(imap::to_string(k.kind)) + children() + "}";
        case K::before: case K::on: case K::since: case K::sentbefore: case K::senton: case K::sentsince:
            return std::string(imap::to_string(k.kind)) + " " + date_str(k.date);
        case K::larger: case K::smaller: return std::string(imap::to_string(k.kind)) + " " + std::to_string(k.number);
        case K::header: return "HEADER '" + std::string(k.field) + "' '" + std::string(k.value) + "'";
        case K::modseq:
            out = "MODSEQ";
            if (!k.field.empty()) out += " '" + std::string(k.field) + "' " + std::string(k.value);
            return out + " " + std::to_string(k.number);
        default:
            out = std::string(imap::to_string(k.kind));
            if (!k.value.empty()) out += " '" + std::string(k.value) + "'";
            return out;
    }
}

std::string describe(const imap::command& c) {
    std::string out = std::string(c.tag) + " " + (c.uid ? "UID " : "") + std::string(imap::to_string(c.verb));
    std::visit(
        [&](const auto& a) {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, imap::authenticate_args>) {
                out += " mech=" + std::string(a.mechanism);
                if (a.initial_response) out += " ir='" + std::string(*a.initial_response) + "'";
            } else if constexpr (std::is_same_v<T, imap::login_args>) {
                out += " user='" + std::string(a.user) + "' pass='" + std::string(a.password) + "'";
            } else if constexpr (std::is_same_v<T, imap::mailbox_args>) {
                out += " mbox='" + std::string(a.mailbox) + "'";
            } else if constexpr (std::is_same_v<T, imap::select_args>) {
                out += " mbox='" + std::string(a.mailbox) + "'" + (a.condstore ? " condstore" : "");
            } else if constexpr (std::is_same_v<T, imap::rename_args>) {
                out += " from='" + std::string(a.from) + "' to='" + std::string(a.to) + "'";
            } else if constexpr (std::is_same_v<T, imap::list_args>) {
                out += " ref='" + std::string(a.reference) + "' pat='" + std::string(a.pattern) + "'";
            } else if constexpr (std::is_same_v<T, imap::status_args>) {
                out += " mbox='" + std::string(a.mailbox) + "' items=";
                for (auto i : a.items) out += std::string(imap::to_string(i)) + ",";
            } else if constexpr (std::is_same_v<T, imap::append_args>) {
                out += " mbox='" + std::string(a.mailbox) + "' flags=" + list_str(a.flags);
                if (a.internal_date) {
                    std::string d;
                    imap::write_date_time(d, *a.internal_date);
                    out += " date=" + d;
                }
                out += " size=" + std::to_string(a.size) + (a.non_sync ? " nonsync" : " sync");
            } else if constexpr (std::is_same_v<T, imap::search_args>) {
                if (a.esearch) out += " return=" + std::to_string(a.return_options);
                if (!a.charset.empty()) out += " charset=" + std::string(a.charset);
                out += " keys=";
                for (auto i = a.first_key; i != imap::no_node; i = a.keys.at(i).next_sibling) out += "[" + key_str(a, i) + "]";
            } else if constexpr (std::is_same_v<T, imap::fetch_args>) {
                out += " set=" + set_str(a.set);
                if (a.macro != imap::fetch_macro::none) out += " macro=" + std::to_string(static_cast<int>(a.macro));
                out += " atts=";
                for (const auto& att : a.atts) out += "[" + att_str(att) + "]";
                if (a.changedsince) out += " changedsince=" + std::to_string(*a.changedsince);
            } else if constexpr (std::is_same_v<T, imap::store_args>) {
                out += " set=" + set_str(a.set);
                if (a.unchangedsince) out += " unchangedsince=" + std::to_string(*a.unchangedsince);
                out += std::string(" mode=") + "=+-"[static_cast<int>(a.mode)] + (a.silent ? " silent" : "") +
                       " flags=" + list_str(a.flags);
            } else if constexpr (std::is_same_v<T, imap::copy_args>) {
                out += " set=" + set_str(a.set) + " mbox='" + std::string(a.mailbox) + "'";
            } else if constexpr (std::is_same_v<T, imap::expunge_args>) {
                out += " set=" + set_str(a.set);
            } else if constexpr (std::is_same_v<T, imap::enable_args>) {
                out += " caps=" + list_str(a.capabilities);
            } else if constexpr (std::is_same_v<T, imap::id_args>) {
                if (a.nil) out += " nil";
                for (const auto& [k, v] : a.params) out += " " + std::string(k) + "=" + (v ? "'" + std::string(*v) + "'" : "NIL");
            }
        },
        c.args);
    return out;
}

// Feeds the chunks as a server would and records every event as a line of text. Consecutive
// literal_data pieces are joined (their boundaries depend on the split).
std::vector<std::string> run(const std::vector<std::string_view>& chunks, const imap::command_limits& limits) {
    imap::command_parser p(limits);
    std::vector<std::string> out;
    bool in_data = false;
    for (auto chunk : chunks) {
        while (!chunk.empty()) {
            auto [n, ev] = p.put(chunk);
            EXPECT_LE(n, chunk.size());
            if (ev == event::need_more) {
                EXPECT_EQ(n, chunk.size());
            }
            chunk.remove_prefix(n);
            if (ev != event::literal_data) in_data = false;
            switch (ev) {
                case event::need_more: break;
                case event::continuation: out.push_back("+"); break;
                case event::append_begin:
                    out.push_back("append_begin " + describe(p.get()));
                    EXPECT_EQ(p.literal_done(), p.append().size == 0);
                    break;
                case event::literal_data:
                    EXPECT_FALSE(p.literal_data().empty());
                    if (!in_data) out.push_back("data:");
                    out.back() += std::string(p.literal_data());
                    in_data = true;
                    break;
                case event::command:
                    out.push_back(describe(p.get()));
                    if (p.get().verb == imap::verb::idle || p.get().verb == imap::verb::authenticate) p.expect_line();
                    break;
                case event::line: out.push_back("line:" + std::string(p.line())); break;
                case event::error:
                    out.push_back("error:" + p.error().message() + " tag=" + std::string(p.tag()));
                    EXPECT_EQ(p.error().category(), imap::imap_category());
                    break;
            }
        }
    }
    return out;
}

struct command_case {
    std::string name;
    std::string input;
    std::vector<std::string> expected;
    imap::command_limits limits = {};
};

std::ostream& operator<<(std::ostream& os, const command_case& c) { return os << c.name; }

class imap_command_table : public ::testing::TestWithParam<command_case> {};

TEST_P(imap_command_table, whole_and_split_at_every_byte) {
    const auto& c = GetParam();
    for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
        auto got = run(chunks, c.limits);
        ASSERT_EQ(got, c.expected) << "chunks=" << chunks.size() << " input=" << imap::test::printable(c.input, 200);
    });
}

std::string err(errc e, std::string tag = "") { return "error:" + imap::make_error_code(e).message() + " tag=" + tag; }

INSTANTIATE_TEST_SUITE_P(
    simple, imap_command_table,
    ::testing::Values(
        command_case{"capability", "a1 CAPABILITY\r\n", {"a1 CAPABILITY"}},
        command_case{"lower_case_verb", "a1 noop\r\n", {"a1 NOOP"}},
        command_case{"bare_lf", "a1 LOGOUT\n", {"a1 LOGOUT"}},
        command_case{"pipelined", "a NOOP\r\nb CHECK\r\nc CLOSE\r\nd EXPUNGE\r\ne UNSELECT\r\nf NAMESPACE\r\n",
                     {"a NOOP", "b CHECK", "c CLOSE", "d EXPUNGE", "e UNSELECT", "f NAMESPACE"}},
        command_case{"starttls", "t STARTTLS\r\n", {"t STARTTLS"}},
        command_case{"login_atoms", "a LOGIN alice secret\r\n", {"a LOGIN user='alice' pass='secret'"}},
        command_case{"login_quoted_escapes", "a LOGIN \"al ice\" \"p\\\"w\\\\d\"\r\n",
                     {"a LOGIN user='al ice' pass='p\"w\\d'"}},
        command_case{"login_sync_literal", "a LOGIN {5}\r\nalice {6}\r\nse\r\nt!\r\n",
                     {"+", "+", "a LOGIN user='alice' pass='se\r\nt!'"}},
        command_case{"login_nonsync_literal", "a LOGIN {5+}\r\nalice {0+}\r\n\r\n", {"a LOGIN user='alice' pass=''"}},
        command_case{"login_empty_quoted", "a LOGIN \"\" \"\"\r\n", {"a LOGIN user='' pass=''"}},
        command_case{"authenticate", "a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n",
                     {"a AUTHENTICATE mech=PLAIN", "line:AGFsaWNlAHNlY3JldA=="}},
        command_case{"authenticate_sasl_ir", "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
                     {"a AUTHENTICATE mech=PLAIN ir='AGFsaWNlAHNlY3JldA=='"}},
        command_case{"authenticate_empty_ir", "a AUTHENTICATE EXTERNAL =\r\n", {"a AUTHENTICATE mech=EXTERNAL ir=''"}},
        command_case{"idle_done", "a IDLE\r\ndone\r\nb NOOP\r\n", {"a IDLE", "line:done", "b NOOP"}},
        command_case{"select_inbox_any_case", "a SELECT inBox\r\n", {"a SELECT mbox='INBOX'"}},
        command_case{"select_condstore", "a SELECT INBOX (CONDSTORE)\r\n", {"a SELECT mbox='INBOX' condstore"}},
        command_case{"examine_quoted", "a EXAMINE \"Sent Items\"\r\n", {"a EXAMINE mbox='Sent Items'"}},
        command_case{"mailbox_commands",
                     "a CREATE foo/bar\r\nb DELETE foo\r\nc SUBSCRIBE \"x y\"\r\nd UNSUBSCRIBE &AOQ-\r\n"
                     "e RENAME a b\r\n",
                     {"a CREATE mbox='foo/bar'", "b DELETE mbox='foo'", "c SUBSCRIBE mbox='x y'",
                      "d UNSUBSCRIBE mbox='&AOQ-'", "e RENAME from='a' to='b'"}},
        command_case{"list", "a LIST \"\" *\r\nb LIST ~/Mail/ %\r\nc LSUB \"#news.\" \"comp.mail.*\"\r\n",
                     {"a LIST ref='' pat='*'", "b LIST ref='~/Mail/' pat='%'", "c LSUB ref='#news.' pat='comp.mail.*'"}},
        command_case{"status", "a STATUS blurdybloop (UIDNEXT MESSAGES highestmodseq)\r\n",
                     {"a STATUS mbox='blurdybloop' items=UIDNEXT,MESSAGES,HIGHESTMODSEQ,"}},
        command_case{"copy_move", "a COPY 2:4 MEETING\r\nb UID MOVE 1,3:* Trash\r\n",
                     {"a COPY set=2:4 mbox='MEETING'", "b UID MOVE set=1,3:* mbox='Trash'"}},
        command_case{"uid_expunge", "a UID EXPUNGE 3000:3002\r\n", {"a UID EXPUNGE set=3000:3002"}},
        command_case{"enable", "a ENABLE CONDSTORE UTF8=ACCEPT\r\n", {"a ENABLE caps=[CONDSTORE,UTF8=ACCEPT]"}},
        command_case{"id", "a ID (\"name\" \"sodr\" \"version\" NIL)\r\nb ID NIL\r\n",
                     {"a ID name='sodr' version=NIL", "b ID nil"}},
        command_case{"tag_with_bracket", "a]1 NOOP\r\n", {"a]1 NOOP"}}));

INSTANTIATE_TEST_SUITE_P(
    append, imap_command_table,
    ::testing::Values(
        command_case{"sync", "A003 APPEND saved-messages (\\Seen) {12}\r\nHello\r\nWorld\r\n",
                     {"append_begin A003 APPEND mbox='saved-messages' flags=[\\Seen] size=12 sync", "data:Hello\r\nWorld",
                      "A003 APPEND mbox='saved-messages' flags=[\\Seen] size=12 sync"}},
        command_case{"nonsync_with_date", "A APPEND INBOX \" 7-Feb-1994 21:52:25 -0800\" {3+}\r\nabc\r\nB NOOP\r\n",
                     {"append_begin A APPEND mbox='INBOX' flags=[] date=\" 7-Feb-1994 21:52:25 -0800\" size=3 nonsync",
                      "data:abc", "A APPEND mbox='INBOX' flags=[] date=\" 7-Feb-1994 21:52:25 -0800\" size=3 nonsync",
                      "B NOOP"}},
        command_case{"flags_and_date", "A APPEND x (\\Seen $Junk) \"07-Feb-1994 21:52:25 +0100\" {1}\r\nz\r\n",
                     {"append_begin A APPEND mbox='x' flags=[\\Seen,$Junk] date=\" 7-Feb-1994 21:52:25 +0100\" size=1 sync",
                      "data:z", "A APPEND mbox='x' flags=[\\Seen,$Junk] date=\" 7-Feb-1994 21:52:25 +0100\" size=1 sync"}},
        command_case{"mailbox_literal", "A APPEND {5}\r\nDraft {2}\r\nhi\r\n",
                     {"+", "append_begin A APPEND mbox='Draft' flags=[] size=2 sync", "data:hi",
                      "A APPEND mbox='Draft' flags=[] size=2 sync"}},
        command_case{"empty_message", "A APPEND INBOX {0}\r\n\r\n",
                     {"append_begin A APPEND mbox='INBOX' flags=[] size=0 sync", "A APPEND mbox='INBOX' flags=[] size=0 sync"}},
        command_case{"message_holds_crlf_and_braces", "A APPEND INBOX {8+}\r\n{3}\r\n.\r\n\r\nB NOOP\r\n",
                     {"append_begin A APPEND mbox='INBOX' flags=[] size=8 nonsync", "data:{3}\r\n.\r\n",
                      "A APPEND mbox='INBOX' flags=[] size=8 nonsync", "B NOOP"}},
        // The message literal is streamed, so its size is bound by max_append_size, not max_literal_size.
        command_case{"bigger_than_literal_limit", "A APPEND INBOX {10}\r\n0123456789\r\n",
                     {"append_begin A APPEND mbox='INBOX' flags=[] size=10 sync", "data:0123456789",
                      "A APPEND mbox='INBOX' flags=[] size=10 sync"},
                     {.max_literal_size = 4}},
        command_case{"too_big_sync", "A APPEND INBOX {11}\r\nB NOOP\r\n", {err(errc::message_too_large, "A"), "B NOOP"},
                     {.max_append_size = 10}},
        command_case{"too_big_nonsync_is_skipped", "A APPEND INBOX {11+}\r\nhello world\r\nB NOOP\r\n",
                     {err(errc::message_too_large, "A"), "B NOOP"}, {.max_append_size = 10}},
        command_case{"bad_flag_before_sync_literal", "A APPEND INBOX (\\Seen \"x\") {11}\r\nB NOOP\r\n",
                     {err(errc::invalid_flag, "A"), "B NOOP"}},
        command_case{"bad_date", "A APPEND INBOX \"31-Feb-1994 21:52:25 +0100\" {1}\r\nB NOOP\r\n",
                     {err(errc::invalid_date, "A"), "B NOOP"}},
        command_case{"missing_literal", "A APPEND INBOX\r\n", {err(errc::missing_argument, "A")}},
        command_case{"message_not_literal", "A APPEND INBOX \"hello\" x\r\n", {err(errc::invalid_date, "A")}},
        command_case{"garbage_after_message", "A APPEND INBOX {1}\r\nx y\r\n",
                     {"append_begin A APPEND mbox='INBOX' flags=[] size=1 sync", "data:x", err(errc::too_many_tokens, "A")}}));

INSTANTIATE_TEST_SUITE_P(
    fetch, imap_command_table,
    ::testing::Values(
        command_case{"flags", "a FETCH 1:* FLAGS\r\n", {"a FETCH set=1:* atts=[FLAGS]"}},
        command_case{"macros", "a FETCH 1 ALL\r\nb FETCH 2 fast\r\nc FETCH * FULL\r\n",
                     {"a FETCH set=1 macro=1 atts=[FLAGS][INTERNALDATE][RFC822.SIZE][ENVELOPE]",
                      "b FETCH set=2 macro=2 atts=[FLAGS][INTERNALDATE][RFC822.SIZE]",
                      "c FETCH set=* macro=3 atts=[FLAGS][INTERNALDATE][RFC822.SIZE][ENVELOPE][BODY]"}},
        command_case{"list_of_atts",
                     "a UID FETCH 2,4:7 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE RFC822 "
                     "RFC822.HEADER RFC822.TEXT MODSEQ)\r\n",
                     {"a UID FETCH set=2,4:7 atts=[UID][FLAGS][INTERNALDATE][RFC822.SIZE][ENVELOPE][BODY]"
                      "[BODYSTRUCTURE][RFC822][RFC822.HEADER][RFC822.TEXT][MODSEQ]"}},
        command_case{"sections",
                     "a FETCH 1 (BODY[] BODY.PEEK[HEADER] BODY[TEXT] BODY[1.2.MIME] BODY[3] BODY[4.TEXT]<0.2048>)\r\n",
                     {"a FETCH set=1 atts=[BODY[]][BODY.PEEK[HEADER]][BODY[TEXT]][BODY[1.2.MIME]][BODY[3]]"
                      "[BODY[4.TEXT]<0.2048>]"}},
        command_case{"header_fields",
                     "a FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (From To \"Subject\")] body[1.HEADER.FIELDS.NOT (X)])\r\n",
                     {"a FETCH set=1:3 atts=[UID][BODY.PEEK[HEADER.FIELDS [From,To,Subject]]]"
                      "[BODY[1.HEADER.FIELDS.NOT [X]]]"}},
        command_case{"changedsince", "a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
                     {"a FETCH set=1:* atts=[FLAGS] changedsince=12345"}},
        command_case{"bad_att", "a FETCH 1 (FLAGS BOGUS)\r\n", {err(errc::invalid_fetch_attribute, "a")}},
        command_case{"mime_needs_part", "a FETCH 1 BODY[MIME]\r\n", {err(errc::invalid_fetch_attribute, "a")}},
        command_case{"zero_part", "a FETCH 1 BODY[0]\r\n", {err(errc::invalid_fetch_attribute, "a")}},
        command_case{"bad_partial", "a FETCH 1 BODY[]<5>\r\n", {err(errc::invalid_fetch_attribute, "a")}},
        command_case{"zero_length_partial", "a FETCH 1 BODY[]<5.0>\r\n", {err(errc::invalid_fetch_attribute, "a")}},
        command_case{"unclosed_section", "a FETCH 1 BODY[HEADER\r\n", {err(errc::syntax_error, "a")}},
        command_case{"bad_set", "a FETCH 1:0 FLAGS\r\nb FETCH 1,,2 FLAGS\r\nc FETCH x FLAGS\r\n",
                     {err(errc::invalid_sequence_set, "a"), err(errc::invalid_sequence_set, "b"),
                      err(errc::invalid_sequence_set, "c")}},
        command_case{"set_too_large", "a FETCH 1,2,3,4 FLAGS\r\nb FETCH 1,2,3 FLAGS\r\n",
                     {err(errc::sequence_set_too_large, "a"), "b FETCH set=1,2,3 atts=[FLAGS]"},
                     {.max_sequence_ranges = 3}},
        command_case{"macro_in_list", "a FETCH 1 (ALL)\r\n", {err(errc::invalid_fetch_attribute, "a")}},
        command_case{"empty_list", "a FETCH 1 ()\r\n", {err(errc::invalid_fetch_attribute, "a")}}));

INSTANTIATE_TEST_SUITE_P(
    search, imap_command_table,
    ::testing::Values(
        command_case{"rfc3501_example", "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
                     {"A282 SEARCH keys=[FLAGGED][SINCE 01-Feb-1994][{NOT FROM 'Smith'}]"}},
        command_case{"charset", "A SEARCH CHARSET UTF-8 TEXT {4}\r\nXXXX\r\n",
                     {"+", "A SEARCH charset=UTF-8 keys=[TEXT 'XXXX']"}},
        command_case{"bad_charset", "A SEARCH CHARSET KOI8-R TEXT x\r\n", {err(errc::unsupported_charset, "A")}},
        command_case{"or_groups_sets",
                     "A UID SEARCH OR (SEEN 1:5) NOT (UID 7,9:* LARGER 1024) 2,4\r\n",
                     {"A UID SEARCH keys=[{OR (SEEN 1:5) {NOT (UID 7,9:* LARGER 1024)}}][2,4]"}},
        command_case{"all_flag_keys",
                     "A SEARCH ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT "
                     "UNFLAGGED UNSEEN KEYWORD $Junk UNKEYWORD foo\r\n",
                     {"A SEARCH keys=[ALL][ANSWERED][DELETED][DRAFT][FLAGGED][NEW][OLD][RECENT][SEEN][UNANSWERED]"
                      "[UNDELETED][UNDRAFT][UNFLAGGED][UNSEEN][KEYWORD '$Junk'][UNKEYWORD 'foo']"}},
        command_case{"string_keys",
                     "A SEARCH BCC a BODY b CC c FROM d SUBJECT \"e f\" TEXT g TO h HEADER Message-ID \"<x@y>\"\r\n",
                     {"A SEARCH keys=[BCC 'a'][BODY 'b'][CC 'c'][FROM 'd'][SUBJECT 'e f'][TEXT 'g'][TO 'h']"
                      "[HEADER 'Message-ID' '<x@y>']"}},
        command_case{"date_and_size_keys",
                     "A SEARCH BEFORE 29-Feb-2000 ON \"3-mar-2001\" SENTBEFORE 1-Jan-1999 SENTON 2-Jan-1999 "
                     "SENTSINCE 3-Jan-1999 SMALLER 10 LARGER 4294967296\r\n",
                     {"A SEARCH keys=[BEFORE 29-Feb-2000][ON 03-Mar-2001][SENTBEFORE 01-Jan-1999][SENTON 02-Jan-1999]"
                      "[SENTSINCE 03-Jan-1999][SMALLER 10][LARGER 4294967296]"}},
        command_case{"modseq", "A SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 MODSEQ 5\r\n",
                     {"A SEARCH keys=[MODSEQ '/flags/\\draft' all 620162338][MODSEQ 5]"}},
        command_case{"esearch_return", "A UID SEARCH RETURN (MIN COUNT) UNSEEN\r\nB SEARCH RETURN () ALL\r\n",
                     {"A UID SEARCH return=9 keys=[UNSEEN]", "B SEARCH return=4 keys=[ALL]"}},
        command_case{"bad_date", "A SEARCH SINCE 29-Feb-1999\r\nB SEARCH ON 1-Foo-2000\r\n",
                     {err(errc::invalid_date, "A"), err(errc::invalid_date, "B")}},
        command_case{"unknown_key", "A SEARCH FOO\r\n", {err(errc::invalid_search_key, "A")}},
        command_case{"missing_key_arg", "A SEARCH FROM\r\nB SEARCH OR SEEN\r\n",
                     {err(errc::missing_argument, "A"), err(errc::missing_argument, "B")}},
        command_case{"no_keys", "A SEARCH\r\n", {err(errc::missing_argument, "A")}},
        command_case{"deep_not", "A SEARCH NOT NOT NOT SEEN\r\n", {err(errc::too_deep, "A")}, {.max_depth = 3}},
        command_case{"string_as_key", "A SEARCH \"SEEN\"\r\n", {err(errc::invalid_search_key, "A")}}));

INSTANTIATE_TEST_SUITE_P(
    store, imap_command_table,
    ::testing::Values(
        command_case{"replace", "A STORE 2:4 FLAGS (\\Deleted)\r\n", {"A STORE set=2:4 mode== flags=[\\Deleted]"}},
        command_case{"add_silent_no_list", "A UID STORE 1 +FLAGS.SILENT \\Seen $Label1\r\n",
                     {"A UID STORE set=1 mode=+ silent flags=[\\Seen,$Label1]"}},
        command_case{"remove_empty", "A STORE * -flags ()\r\n", {"A STORE set=* mode=- flags=[]"}},
        command_case{"unchangedsince", "A STORE 7 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
                     {"A STORE set=7 unchangedsince=320162338 mode=+ silent flags=[\\Deleted]"}},
        command_case{"bad_item", "A STORE 1 FLAGZ (\\Seen)\r\n", {err(errc::invalid_argument, "A")}},
        command_case{"bad_flag", "A STORE 1 FLAGS (\\*)\r\n", {err(errc::invalid_flag, "A")}},
        command_case{"quoted_flag", "A STORE 1 FLAGS (\"x\")\r\n", {err(errc::invalid_flag, "A")}}));

INSTANTIATE_TEST_SUITE_P(
    errors, imap_command_table,
    ::testing::Values(
        command_case{"empty_line", "\r\nA NOOP\r\n", {err(errc::invalid_tag), "A NOOP"}},
        command_case{"no_command", "A\r\n", {err(errc::missing_command, "A")}},
        command_case{"unknown", "A FROB x\r\nB UID NOOP\r\n", {err(errc::unknown_command, "A"), err(errc::unknown_command, "B")}},
        command_case{"plus_tag", "+ NOOP\r\n", {err(errc::invalid_tag)}},
        command_case{"star_tag", "* NOOP\r\n", {err(errc::invalid_tag)}},
        command_case{"extra_args", "A NOOP x\r\n", {err(errc::too_many_tokens, "A")}},
        command_case{"double_space", "A  NOOP\r\nB LOGIN a  b\r\n", {err(errc::syntax_error, "A"), err(errc::syntax_error, "B")}},
        command_case{"trailing_space", "A NOOP \r\n", {err(errc::syntax_error, "A")}},
        command_case{"unterminated_quote", "A LOGIN \"x y\r\n", {err(errc::syntax_error, "A")}},
        command_case{"bad_escape", "A LOGIN \"x\\y\" z\r\n", {err(errc::syntax_error, "A")}},
        command_case{"nul", std::string("A LOGIN a\0b c\r\n", 15), {err(errc::invalid_character, "A")}},
        command_case{"bare_cr", "A LOGIN a\rb c\r\n", {err(errc::invalid_character, "A")}},
        command_case{"eight_bit_refused", "A LOGIN \xc3\xa9 x\r\n", {err(errc::invalid_character, "A")}, {.allow_8bit = false}},
        command_case{"eight_bit_accepted", "A LOGIN \xc3\xa9 x\r\n", {"A LOGIN user='\xc3\xa9' pass='x'"}},
        command_case{"unbalanced", "A STATUS x (MESSAGES\r\nB STATUS x MESSAGES)\r\n",
                     {err(errc::syntax_error, "A"), err(errc::syntax_error, "B")}},
        command_case{"too_deep", "A ID ((((x))))\r\n", {err(errc::too_deep, "A")}, {.max_depth = 3}},
        command_case{"too_many_arguments", "A ENABLE a b c d\r\nB ENABLE a b\r\n",
                     {err(errc::too_many_arguments, "A"), "B ENABLE caps=[a,b]"}, {.max_arguments = 4}},
        command_case{"bad_status_item", "A STATUS x (FOO)\r\n", {err(errc::invalid_status_item, "A")}},
        command_case{"bad_select_param", "A SELECT x (QRESYNC)\r\n", {err(errc::invalid_argument, "A")}},
        command_case{"bad_auth_ir", "A AUTHENTICATE PLAIN abc!\r\n", {err(errc::invalid_argument, "A")}},
        command_case{"literal_not_at_end", "A LOGIN {5} x\r\n", {err(errc::syntax_error, "A")}},
        command_case{"literal_too_large_sync", "A LOGIN {5}\r\nB NOOP\r\n", {err(errc::literal_too_large, "A"), "B NOOP"},
                     {.max_literal_size = 4}},
        command_case{"literal_too_large_nonsync_skipped", "A LOGIN {5+}\r\nB NOO x\r\nC NOOP\r\n",
                     {err(errc::literal_too_large, "A"), "C NOOP"}, {.max_literal_size = 4}},
        command_case{"literal_size_overflow", "A LOGIN {99999999999999999999999}\r\nB NOOP\r\n",
                     {err(errc::literal_too_large, "A"), "B NOOP"}},
        command_case{"sync_literal_after_error_ends_command", "A FROB {5}\r\nB NOOP\r\n",
                     {err(errc::unknown_command, "A"), "B NOOP"}},
        command_case{"nonsync_literal_after_error_is_skipped", "A FROB {6+}\r\nB NOOP\r\nC NOOP\r\n",
                     {err(errc::unknown_command, "A"), "C NOOP"}},
        command_case{"literal_as_sequence_set", "A FETCH {1+}\r\n1 FLAGS\r\n", {err(errc::invalid_sequence_set, "A")}},
        command_case{"line_too_long", "A LOGIN aaaaaaaaaaaaaaaaaaaa b\r\nB NOOP\r\n",
                     {err(errc::line_too_long, "A"), "B NOOP"}, {.max_line_length = 16}},
        command_case{"line_exactly_at_limit", "A LOGIN abcd efg\r\n", {"A LOGIN user='abcd' pass='efg'"},
                     {.max_line_length = 16}},
        command_case{"line_one_over_limit", "A LOGIN abcd efgh\r\nB NOOP\r\n", {err(errc::line_too_long, "A"), "B NOOP"},
                     {.max_line_length = 16}},
        command_case{"line_too_long_no_tag", "AAAAAAAAAAAAAAAAAAAAAAAA\r\nB NOOP\r\n",
                     {err(errc::line_too_long), "B NOOP"}, {.max_line_length = 16}},
        // Literal contents do not count against the line length, the fragments around them do.
        command_case{"line_length_counts_fragments", "A LOGIN {3+}\r\nabc {3+}\r\ndef\r\nB LOGIN {3+}\r\nabc {30+}\r\n"
                     "012345678901234567890123456789\r\nC NOOP\r\n",
                     {"A LOGIN user='abc' pass='def'", "B LOGIN user='abc' pass='012345678901234567890123456789'", "C NOOP"},
                     {.max_line_length = 20, .max_literal_size = 30}},
        command_case{"overlong_line_ending_in_nonsync_literal", "A LOGIN aaaaaaaaaaaaaaaaaaaa {3+}\r\nx\r\n\r\nB NOOP\r\n",
                     {err(errc::line_too_long, "A"), "B NOOP"}, {.max_line_length = 16}},
        command_case{"overlong_line_ending_in_sync_literal", "A LOGIN aaaaaaaaaaaaaaaaaaaa {3}\r\nB NOOP\r\n",
                     {err(errc::line_too_long, "A"), "B NOOP"}, {.max_line_length = 16}},
        command_case{"idle_line_too_long", "A IDLE\r\nDONEDONEDONEDONEDONE\r\nB NOOP\r\n",
                     {"A IDLE", err(errc::line_too_long), "B NOOP"}, {.max_line_length = 16}}));

TEST(imap_command_parser, append_streams_in_pieces_without_buffering) {
    imap::command_parser p({.max_line_length = 1024});
    std::string head = "A APPEND INBOX {1048576+}\r\n";
    auto r = p.put(head);
    ASSERT_EQ(r.event, event::append_begin);
    ASSERT_EQ(r.consumed, head.size());
    EXPECT_EQ(p.append().size, 1048576u);
    std::string piece(4096, 'x');
    std::size_t total = 0;
    while (total < 1048576) {
        r = p.put(piece);
        ASSERT_EQ(r.event, event::literal_data);
        ASSERT_EQ(p.literal_data().data(), piece.data());  // a view into the caller's buffer
        total += r.consumed;
    }
    EXPECT_TRUE(p.literal_done());
    r = p.put("\r\n");
    ASSERT_EQ(r.event, event::command);
    EXPECT_EQ(std::get<imap::append_args>(p.get().args).size, 1048576u);
}

TEST(imap_command_parser, reset_drops_partial_command) {
    imap::command_parser p;
    EXPECT_EQ(p.put("A LOGIN x").event, event::need_more);
    p.reset();
    auto r = p.put("B NOOP\r\n");
    ASSERT_EQ(r.event, event::command);
    EXPECT_EQ(p.get().tag, "B");
}

TEST(imap_command_parser, idle_done) {
    EXPECT_TRUE(imap::is_idle_done("DONE"));
    EXPECT_TRUE(imap::is_idle_done("done"));
    EXPECT_FALSE(imap::is_idle_done("DONE "));
    EXPECT_TRUE(imap::is_sasl_cancel("*"));
}

}  // namespace
