#include "mailharness/pop3/dot_stuffer.hpp"

#include <gtest/gtest.h>

#include "mailharness/pop3/response.hpp"
#include "printable.hpp"
#include "split_feed.hpp"

using namespace mailharness;
using namespace mailharness::pop3;

namespace {

std::string show(std::string_view s) { return mailharness::pop3::test::printable(s, 4096); }

struct stuff_case {
    const char* name;
    std::string_view input;
    std::optional<std::uint32_t> top;
    std::string_view expected;  // wire bytes, terminator included
};

const stuff_case cases[] = {
    {"empty message", "", {}, ".\r\n"},
    {"crlf lines", "a\r\nb\r\n", {}, "a\r\nb\r\n.\r\n"},
    {"bare lf becomes crlf", "a\nb\n", {}, "a\r\nb\r\n.\r\n"},
    {"mixed endings", "a\r\nb\nc\r\n", {}, "a\r\nb\r\nc\r\n.\r\n"},
    {"no final line ending", "a\nlast", {}, "a\r\nlast\r\n.\r\n"},
    {"final cr taken as line end", "a\r", {}, "a\r\n.\r\n"},
    {"lone cr is data", "a\rb\n", {}, "a\rb\r\n.\r\n"},
    {"cr cr lf", "a\r\r\nb", {}, "a\r\r\nb\r\n.\r\n"},
    {"leading dots stuffed", ".\n..x\r\n.\r\nx.\n", {}, "..\r\n...x\r\n..\r\nx.\r\n.\r\n"},
    {"dot first line no ending", ".", {}, "..\r\n.\r\n"},
    {"dot after lone cr line", "\r.\n", {}, "\r.\r\n.\r\n"},
    {"empty lines", "\n\r\n\n", {}, "\r\n\r\n\r\n.\r\n"},
    {"smuggling shape kept stuffed", "x\n.\nMAIL\n", {}, "x\r\n..\r\nMAIL\r\n.\r\n"},
    {"top 0: header and blank", "H: 1\nH: 2\n\nb1\nb2\n", 0u, "H: 1\r\nH: 2\r\n\r\n.\r\n"},
    {"top 1", "H: 1\r\n\r\nb1\r\nb2\r\n", 1u, "H: 1\r\n\r\nb1\r\n.\r\n"},
    {"top 2 dot lines", "H: 1\n\n.b1\n.\nb3\n", 2u, "H: 1\r\n\r\n..b1\r\n..\r\n.\r\n"},
    {"top more than body", "H: 1\n\nb1", 5u, "H: 1\r\n\r\nb1\r\n.\r\n"},
    {"top without blank line sends all", "H: 1\nH: 2", 0u, "H: 1\r\nH: 2\r\n.\r\n"},
    {"top crlf blank after lf header", "H\n\r\nX\n\nb\nc\n", 1u, "H\r\n\r\nX\r\n.\r\n"},
    {"top cr-only line is content", "H\n\rx\n\nb\nc\n", 1u, "H\r\n\rx\r\n\r\nb\r\n.\r\n"},
    {"top blank line as bare cr lf split", "H\r\n\r\nb\r\nc", 1u, "H\r\n\r\nb\r\n.\r\n"},
    {"top ends at message end with cr", "H\r\n\r\nb\r", 1u, "H\r\n\r\nb\r\n.\r\n"},
};

TEST(dot_stuffer, table_split_at_every_byte) {
    for (const auto& c : cases) {
        mailharness::test::for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
            dot_stuffer d(c.top);
            std::string out;
            for (auto chunk : chunks) d.write(chunk, out);
            d.finish(out);
            EXPECT_EQ(show(out), show(c.expected)) << c.name << " in " << chunks.size() << " chunks";
        });
    }
}

TEST(dot_stuffer, top_reports_done_and_ignores_the_rest) {
    dot_stuffer d(0u);
    std::string out;
    EXPECT_TRUE(d.write("Subject: x\r\n", out));
    EXPECT_FALSE(d.done());
    EXPECT_FALSE(d.write("\r\nbody\r\n", out));
    EXPECT_TRUE(d.done());
    EXPECT_FALSE(d.write("more\r\n", out));
    d.finish(out);
    EXPECT_EQ(out, "Subject: x\r\n\r\n.\r\n");
    // Ready for another body after finish().
    out.clear();
    d.write("a\n\nb\n", out);
    d.finish(out);
    EXPECT_EQ(out, "a\r\n\r\n.\r\n");
}

TEST(dot_stuffer, retr_never_done_and_reset_changes_mode) {
    dot_stuffer d;
    std::string out;
    EXPECT_TRUE(d.write("H\n\nb\n", out));
    EXPECT_FALSE(d.done());
    d.reset(0u);
    out.clear();
    d.write("H\n\nb\n", out);
    d.finish(out);
    EXPECT_EQ(out, "H\r\n\r\n.\r\n");
}

// The RETR output equals the codec's own body_writer, and the client-side parser gives the
// content back (with CRLF line endings).
TEST(dot_stuffer, agrees_with_body_writer_and_parser) {
    for (const auto& c : cases) {
        if (c.top) continue;
        std::string ref;
        write_body(ref, c.input);
        EXPECT_EQ(show(dot_stuff(c.input)), show(ref)) << c.name;
        response_parser p;
        p.start(expect::multi_line);
        std::string wire = "+OK\r\n" + dot_stuff(c.input);
        std::string_view in = wire;
        std::error_code ec;
        while (!p.done() && !in.empty()) {
            in.remove_prefix(p.put(in, ec));
            ASSERT_FALSE(ec) << c.name;
        }
        EXPECT_TRUE(p.done()) << c.name;
        EXPECT_TRUE(in.empty()) << c.name;
    }
}

}  // namespace
