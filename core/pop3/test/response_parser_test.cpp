#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mailharness/pop3/response.hpp"
#include "printable.hpp"
#include "split_feed.hpp"

using mailharness::test::for_each_split;
namespace pop3 = mailharness::pop3;
using pop3::errc;
using pop3::expect;
using pop3::status;

namespace {

struct resp {
    status st = status::none;
    std::string code;
    std::string text;
    std::string body;
    bool multi_line = false;
    bool bare_lf = false;

    bool operator==(const resp&) const = default;
};

std::ostream& operator<<(std::ostream& os, const resp& r) {
    return os << "{st=" << static_cast<int>(r.st) << " code='" << r.code << "' text='"
              << pop3::test::printable(r.text) << "' body='" << pop3::test::printable(r.body, 200)
              << "' multi=" << r.multi_line << " bare_lf=" << r.bare_lf << "}";
}

struct run_result {
    std::vector<resp> responses;
    std::error_code error;
    std::size_t leftover = 0;  // bytes not consumed after the last expected response
};

// Feeds the chunks, starting a new response with the next expectation whenever one is done.
// Checks on the way that the streamed body chunks add up to the body and that the counters agree.
run_result run(const std::vector<std::string_view>& chunks, const std::vector<expect>& expects,
               pop3::response_limits limits = {}) {
    pop3::response_parser p(limits);
    run_result r;
    std::size_t next = 0;
    p.start(expects.at(next));
    std::string streamed;
    for (auto chunk : chunks) {
        while (!chunk.empty()) {
            if (next == expects.size()) {
                r.leftover += chunk.size();
                break;
            }
            std::error_code ec;
            std::size_t n = p.put(chunk, ec);
            EXPECT_LE(n, chunk.size());
            chunk.remove_prefix(n);
            if (ec) {
                r.error = ec;
                std::error_code again;
                EXPECT_EQ(p.put("+OK\r\n", again), 0u);  // errors are sticky
                EXPECT_EQ(again, ec);
                return r;
            }
            EXPECT_GT(n, 0u);
            streamed.append(p.body_chunk());
            if (p.done()) {
                const auto& g = p.get();
                EXPECT_EQ(g.body_size, streamed.size());
                if (limits.keep_body) {
                    EXPECT_EQ(g.body, streamed);
                }
                EXPECT_EQ(g.body_line_count, pop3::body_lines(streamed).size() -
                                                 (streamed.empty() || streamed.ends_with("\r\n") ? 0 : 1));
                r.responses.push_back({g.status, g.resp_code, g.text, streamed, g.multi_line, g.bare_lf});
                streamed.clear();
                if (++next < expects.size()) p.start(expects[next]);
            }
        }
    }
    return r;
}

struct response_case {
    std::string name;
    std::vector<expect> expects;
    std::string input;
    std::vector<resp> expected;
    std::error_code error = {};
    pop3::response_limits limits = {};
};

std::ostream& operator<<(std::ostream& os, const response_case& c) { return os << c.name; }

class pop3_response_table : public ::testing::TestWithParam<response_case> {};

TEST_P(pop3_response_table, whole_and_split_at_every_byte) {
    const auto& c = GetParam();
    for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
        auto r = run(chunks, c.expects, c.limits);
        ASSERT_EQ(r.error, c.error) << "chunks=" << chunks.size();
        ASSERT_EQ(r.responses, c.expected) << "chunks=" << chunks.size();
        ASSERT_EQ(r.leftover, 0u) << "chunks=" << chunks.size();
    });
}

const auto single = expect::single_line;
const auto multi = expect::multi_line;

resp ok(std::string text, std::string code = {}) { return {status::ok, std::move(code), std::move(text)}; }
resp err(std::string text, std::string code = {}) { return {status::err, std::move(code), std::move(text)}; }
resp cont(std::string text) { return {status::continuation, {}, std::move(text)}; }
resp body(std::string text, std::string b, bool bare_lf = false) {
    return {status::ok, {}, std::move(text), std::move(b), true, bare_lf};
}

INSTANTIATE_TEST_SUITE_P(
    single_line, pop3_response_table,
    ::testing::Values(
        // RFC 1939 section 7 greeting with APOP timestamp.
        response_case{"greeting", {single}, "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
                      {ok("POP3 server ready <1896.697170952@dbc.mtview.ca.us>")}},
        response_case{"bare_ok", {single}, "+OK\r\n", {ok("")}},
        response_case{"ok_space", {single}, "+OK \r\n", {ok("")}},
        response_case{"err", {single}, "-ERR no such message\r\n", {err("no such message")}},
        response_case{"err_alone", {single}, "-ERR\r\n", {err("")}},
        // RFC 2449 section 8 extended response codes.
        response_case{"in_use", {single}, "-ERR [IN-USE] Do you have another POP session running?\r\n",
                      {err("Do you have another POP session running?", "IN-USE")}},
        response_case{"sys_temp", {single}, "-ERR [SYS/TEMP] try later\r\n", {err("try later", "SYS/TEMP")}},
        response_case{"code_only", {single}, "-ERR [AUTH]\r\n", {err("", "AUTH")}},
        response_case{"code_on_ok", {single}, "+OK [UTF8] ok\r\n", {ok("ok", "UTF8")}},
        response_case{"unclosed_code", {single}, "+OK [bad code\r\n", {ok("[bad code")}},
        response_case{"code_glued_to_text", {single}, "+OK [A]x\r\n", {ok("[A]x")}},
        response_case{"empty_level", {single}, "-ERR [SYS/] x\r\n", {err("[SYS/] x")}},
        response_case{"empty_code", {single}, "-ERR [] x\r\n", {err("[] x")}},
        // RFC 5034 section 4 continuations.
        response_case{"continuation", {single}, "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n",
                      {cont("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+")}},
        response_case{"empty_continuation", {single}, "+ \r\n", {cont("")}},
        response_case{"plus_alone", {single}, "+\r\n", {cont("")}},
        response_case{"continuation_to_multi", {multi}, "+ abc=\r\n", {cont("abc=")}},
        response_case{"bare_lf_status", {single}, "+OK hi\n", {{status::ok, {}, "hi", {}, false, true}}},
        response_case{"longest_status", {single}, "+OK " + std::string(506, 'x') + "\r\n",
                      {ok(std::string(506, 'x'))}}));

INSTANTIATE_TEST_SUITE_P(
    multi_line, pop3_response_table,
    ::testing::Values(
        // RFC 1939 section 5 and 7 examples.
        response_case{"list", {multi}, "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
                      {body("2 messages (320 octets)", "1 120\r\n2 200\r\n")}},
        response_case{"uidl", {multi}, "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
                      {body("", "1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n")}},
        response_case{"retr", {multi}, "+OK 120 octets\r\nSubject: x\r\n\r\nbody\r\n.\r\n",
                      {body("120 octets", "Subject: x\r\n\r\nbody\r\n")}},
        response_case{"empty_body", {multi}, "+OK\r\n.\r\n", {body("", "")}},
        response_case{"err_has_no_body", {multi}, "-ERR no such message\r\n", {err("no such message")}},
        response_case{"dot_stuffing", {multi}, "+OK\r\n..\r\n...\r\n..x\r\n.x\r\n .\r\nx.\r\n.\r\n",
                      {body("", ".\r\n..\r\n.x\r\nx\r\n .\r\nx.\r\n")}},
        response_case{"empty_lines", {multi}, "+OK\r\n\r\n\r\n.\r\n", {body("", "\r\n\r\n")}},
        // Only CRLF "." CRLF ends the body; ".\n" is a stuffed line ending in a bare LF.
        response_case{"bare_lf_in_body", {multi}, "+OK\r\na\nb\r\n.\n.\r\n.\r\n",
                      {body("", "a\nb\r\n\n.\r\n", true)}},
        response_case{"bare_cr_in_body", {multi}, "+OK\r\na\rb\r\n.\r\r\n.\r\n", {body("", "a\rb\r\n\r\r\n")}},
        response_case{"body_line_at_limit", {multi}, "+OK\r\n12345678\r\n..234567\r\n.\r\n",
                      {body("", "12345678\r\n.234567\r\n")}, {}, {.max_line_length = 8}},
        response_case{"body_at_size_limit", {multi}, "+OK\r\n1234\r\n..6\r\n.\r\n",
                      {body("", "1234\r\n.6\r\n")}, {}, {.max_body_size = 10}},
        // Pipelining (RFC 2449 section 6.6): responses back to back in one stream.
        response_case{"pipelined", {single, multi, single, multi},
                      "+OK\r\n+OK 1 messages\r\n1 5\r\n.\r\n-ERR [SYS/PERM] no\r\n+OK\r\n.\r\n",
                      {ok(""), body("1 messages", "1 5\r\n"), err("no", "SYS/PERM"), body("", "")}},
        // RFC 2449 section 5 example.
        response_case{"capa", {multi},
                      "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\n"
                      "LOGIN-DELAY 900\r\nPIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n"
                      ".\r\n",
                      {body("Capability list follows",
                            "TOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\n"
                            "PIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n")}}));

INSTANTIATE_TEST_SUITE_P(
    invalid, pop3_response_table,
    ::testing::Values(
        response_case{"no_status", {single}, "OK\r\n", {}, errc::invalid_status},
        response_case{"okay", {single}, "+OKAY\r\n", {}, errc::invalid_status},
        response_case{"lower_case", {single}, "+ok\r\n", {}, errc::invalid_status},
        response_case{"error", {single}, "-ERROR x\r\n", {}, errc::invalid_status},
        response_case{"empty_line", {single}, "\r\n", {}, errc::invalid_status},
        response_case{"imap_style", {single}, "* OK ready\r\n", {}, errc::invalid_status},
        response_case{"cr_in_status", {single}, "+OK a\rb\r\n", {}, errc::invalid_character},
        response_case{"nul_in_status", {single}, std::string("-ERR a\0b\r\n", 10), {}, errc::invalid_character},
        response_case{"status_too_long", {single}, "+OK " + std::string(507, 'x') + "\r\n", {},
                      errc::line_too_long},
        response_case{"status_way_too_long", {single}, "-ERR " + std::string(70000, 'x') + "\r\n", {},
                      errc::line_too_long},
        response_case{"body_line_too_long", {multi}, "+OK\r\n123456789\r\n.\r\n", {}, errc::line_too_long,
                      {.max_line_length = 8}},
        // Joined by bare LFs, a body line still counts as one line.
        response_case{"bare_lf_line_too_long", {multi}, "+OK\r\n1234\n5678\r\n.\r\n", {}, errc::line_too_long,
                      {.max_line_length = 8}},
        response_case{"body_too_large", {multi}, "+OK\r\n12345\r\n67890\r\n.\r\n", {}, errc::body_too_large,
                      {.max_body_size = 10}},
        response_case{"strict_bare_lf_status", {single}, "+OK\n", {}, errc::bare_lf, {.reject_bare_lf = true}},
        response_case{"strict_bare_lf_body", {multi}, "+OK\r\na\nb\r\n.\r\n", {}, errc::bare_lf,
                      {.reject_bare_lf = true}},
        response_case{"strict_bare_lf_terminator", {multi}, "+OK\r\na\r\n.\n", {}, errc::bare_lf,
                      {.reject_bare_lf = true}},
        response_case{"error_after_good_response", {single, single}, "+OK\r\nBAD\r\n", {ok("")},
                      errc::invalid_status}));

TEST(pop3_response_parser, stops_at_end_of_response) {
    pop3::response_parser p;
    p.start(expect::multi_line);
    std::string_view in = "+OK\r\nx\r\n.\r\n-ERR next\r\n";
    std::error_code ec;
    while (!p.done()) {
        std::size_t n = p.put(in, ec);
        ASSERT_FALSE(ec);
        in.remove_prefix(n);
    }
    EXPECT_EQ(in, "-ERR next\r\n");
    EXPECT_EQ(p.put(in, ec), 0u);  // the next response needs start()
    EXPECT_FALSE(ec);
    p.start(expect::single_line);
    EXPECT_EQ(p.put(in, ec), in.size());
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.get().status, status::err);
}

TEST(pop3_response_parser, greeting_needs_no_start) {
    pop3::response_parser p;
    std::error_code ec;
    p.put("+OK ready\r\n", ec);
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.get().text, "ready");
}

TEST(pop3_response_parser, status_visible_before_body_ends) {
    pop3::response_parser p;
    p.start(expect::multi_line);
    std::error_code ec;
    p.put("+OK 2 octets\r\n", ec);
    EXPECT_TRUE(p.got_status());
    EXPECT_FALSE(p.done());
    EXPECT_EQ(p.get().status, status::ok);
    EXPECT_EQ(p.get().text, "2 octets");
}

TEST(pop3_response_parser, body_can_be_streamed_without_keeping_it) {
    for_each_split("+OK\r\n..a\r\nb\r\n.\r\n", [](const std::vector<std::string_view>& chunks) {
        pop3::response_parser p({.keep_body = false});
        p.start(expect::multi_line);
        std::string streamed;
        for (auto c : chunks) {
            while (!c.empty()) {
                std::error_code ec;
                c.remove_prefix(p.put(c, ec));
                ASSERT_FALSE(ec);
                streamed.append(p.body_chunk());
            }
        }
        ASSERT_TRUE(p.done());
        EXPECT_EQ(streamed, ".a\r\nb\r\n");
        EXPECT_EQ(p.get().body, "");
        EXPECT_EQ(p.get().body_size, 7u);
        EXPECT_EQ(p.get().body_line_count, 2u);
    });
}

TEST(pop3_response_parser, release_moves_the_response_out) {
    pop3::response_parser p;
    p.start(expect::multi_line);
    std::error_code ec;
    std::string_view in = "+OK\r\nline\r\n.\r\n";
    while (!in.empty()) in.remove_prefix(p.put(in, ec));
    ASSERT_TRUE(p.done());
    pop3::response r = p.release();
    EXPECT_EQ(r.body, "line\r\n");
    EXPECT_EQ(p.get().body, "");
    EXPECT_EQ(p.put("+OK\r\n", ec), 0u);
}

TEST(pop3_response_parser, start_recovers_after_error) {
    pop3::response_parser p;
    std::error_code ec;
    p.put("garbage\r\n", ec);
    EXPECT_EQ(ec, errc::invalid_status);
    p.start(expect::single_line);
    p.put("+OK\r\n", ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(p.done());
}

TEST(pop3_response_parser, expectation_follows_the_command) {
    EXPECT_EQ(pop3::expect_for(pop3::verb::retr, 1), expect::multi_line);
    EXPECT_EQ(pop3::expect_for(pop3::verb::list, 1), expect::single_line);
    pop3::command c;
    ASSERT_FALSE(pop3::parse_command("UIDL", c));
    EXPECT_EQ(pop3::expect_for(c), expect::multi_line);
}

TEST(pop3_status_line, parses_without_the_parser) {
    pop3::status_line s;
    ASSERT_FALSE(pop3::parse_status_line("-ERR [LOGIN-DELAY] wait", s));
    EXPECT_EQ(s.status, status::err);
    EXPECT_EQ(s.resp_code, "LOGIN-DELAY");
    EXPECT_EQ(s.text, "wait");
    EXPECT_EQ(pop3::parse_status_line("+OKAY", s), errc::invalid_status);
    EXPECT_EQ(s.status, status::none);
}

TEST(pop3_status_line, resp_code_levels) {
    EXPECT_EQ(pop3::resp_code_levels("SYS/TEMP"), (std::vector<std::string_view>{"SYS", "TEMP"}));
    EXPECT_EQ(pop3::resp_code_levels("IN-USE"), (std::vector<std::string_view>{"IN-USE"}));
    EXPECT_TRUE(pop3::resp_code_levels("").empty());
}

TEST(pop3_status_line, apop_timestamp) {
    EXPECT_EQ(pop3::apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
              "<1896.697170952@dbc.mtview.ca.us>");
    EXPECT_EQ(pop3::apop_timestamp("a <b> c <1.2@h> d"), "<1.2@h>");
    EXPECT_EQ(pop3::apop_timestamp("a <x <1.2@h>"), "<1.2@h>");
    EXPECT_EQ(pop3::apop_timestamp("ready"), "");
    EXPECT_EQ(pop3::apop_timestamp("<no at sign>"), "");
    EXPECT_EQ(pop3::apop_timestamp("<1.2@h"), "");
}

TEST(pop3_status_line, body_lines) {
    EXPECT_EQ(pop3::body_lines("a\r\n\r\nb\nc\r\n"), (std::vector<std::string_view>{"a", "", "b\nc"}));
    EXPECT_TRUE(pop3::body_lines("").empty());
    EXPECT_EQ(pop3::body_lines("a\r\nb"), (std::vector<std::string_view>{"a", "b"}));
}

}  // namespace
