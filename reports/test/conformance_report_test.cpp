// The conformance run model and its renderers (summary, JUnit, TAP and JSON moved here from
// conformance/test/report_test.cpp), the HTML page and the matrix.
#include "mailharness/reports/conformance.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <sstream>

using namespace mailharness::reports;

namespace {

conformance_run sample() {
    conformance_run r{.started_at = "2025-01-02T03:04:05Z", .target = "127.0.0.1:25", .tls = "starttls", .version = "0.1.0"};
    r.cases.push_back({.id = "a-must", .title = "greeting", .protocol = "smtp", .rfc = "RFC 5321 4.1.1", .level = "MUST",
                       .category = "protocol", .outcome = "passed"});
    r.cases.push_back({.id = "b-should", .title = "relay <probe>", .protocol = "smtp", .rfc = "RFC 5321 3.6", .level = "SHOULD",
                       .category = "security", .tags = {"relay"}, .outcome = "failed", .message = "reply <5>",
                       .file = "b.yaml", .line = 7, .duration_ms = 20, .transcript = "C: RCPT\nS: 250 \x01ok\n",
                       .decisive = {"C: RCPT TO:<x@example.net>", "S: 250 ok"}});
    r.cases.push_back({.id = "c-skip", .title = "pipelining", .protocol = "smtp", .rfc = "RFC 2920", .level = "MUST",
                       .category = "protocol", .outcome = "skipped", .message = "no PIPELINING"});
    return r;
}

template <class F>
std::string render(F&& f) {
    std::ostringstream s;
    f(s);
    return s.str();
}

}  // namespace

TEST(conformance_report, summary_ends_with_counts_line) {
    const auto text = render([](std::ostream& o) { write_conformance_summary(o, sample()); });
    EXPECT_TRUE(text.ends_with("\n1 passed, 1 failed, 1 skipped\n")) << text;
    EXPECT_NE(text.find("  b-should [SHOULD, RFC 5321 3.6] relay <probe>\n    reply <5> (b.yaml:7)\n"), std::string::npos) << text;
}

TEST(conformance_report, junit_tap_json) {
    const auto r = sample();
    const auto junit = render([&](std::ostream& o) { write_conformance_junit(o, r); });
    const auto tap = render([&](std::ostream& o) { write_conformance_tap(o, r); });
    const auto json = render([&](std::ostream& o) { write_conformance_json(o, r); });
    EXPECT_NE(junit.find("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"0.02\""), std::string::npos) << junit;
    EXPECT_NE(junit.find("<testcase classname=\"smtp.security\" name=\"b-should\" file=\"b.yaml\" time=\"0.02\">"), std::string::npos) << junit;
    EXPECT_NE(junit.find("<failure message=\"reply &lt;5&gt;\" type=\"SHOULD\">relay &lt;probe&gt; [RFC 5321 3.6]</failure>"), std::string::npos);
    EXPECT_EQ(junit.find('\x01'), std::string::npos);  // control bytes are not valid XML
    EXPECT_NE(tap.find("1..3\nok 1 - a-must"), std::string::npos) << tap;
    EXPECT_NE(tap.find("not ok 2 - b-should relay <probe>\n  ---\n  message: \"reply <5>\"\n  rfc: \"RFC 5321 3.6\"\n  level: SHOULD\n  at: \"b.yaml:7\"\n  ...\n"),
              std::string::npos) << tap;
    EXPECT_NE(tap.find("ok 3 - c-skip pipelining # SKIP no PIPELINING"), std::string::npos) << tap;
    const auto doc = nlohmann::json::parse(json);
    EXPECT_EQ(doc["format"], "mailharness.mailconform.results/1");
    EXPECT_EQ(doc["summary"]["failed"], 1);
    EXPECT_EQ(doc["cases"][1]["outcome"], "failed");
    EXPECT_EQ(doc["cases"][1]["line"], 7);
    EXPECT_EQ(doc["cases"][1]["decisive"][1], "S: 250 ok");
    EXPECT_EQ(doc["run"]["target"], "127.0.0.1:25");
}

TEST(conformance_report, json_round_trip_and_the_format_before_run_existed) {
    const auto r = sample();
    conformance_run back;
    std::string error;
    ASSERT_TRUE(from_json(to_json(r), back, error)) << error;
    EXPECT_EQ(to_json(back), to_json(r));
    // mailconform's JSON before "format", "run" and "decisive": still read
    auto old = to_json(r);
    old.erase("format");
    old.erase("run");
    for (auto& c : old["cases"]) c.erase("decisive");
    ASSERT_TRUE(from_json(old, back, error)) << error;
    EXPECT_EQ(back.cases.size(), 3u);
    EXPECT_TRUE(back.target.empty());
    // refusals
    EXPECT_FALSE(from_json(nlohmann::json::parse(R"({"format":"mailharness.mailload.results/1"})"), back, error));
    EXPECT_FALSE(from_json(nlohmann::json::parse(R"({"summary":{},"cases":[{"id":"x"}]})"), back, error));
    EXPECT_NE(error.find("title"), std::string::npos) << error;
    auto bad = to_json(r);
    bad["cases"][0]["outcome"] = "maybe";
    EXPECT_FALSE(from_json(bad, back, error));
    // a case id given twice (fuzz/seeds/reports_conformance/duplicate_id)
    auto twice = to_json(r);
    twice["cases"][1]["id"] = "a-must";
    EXPECT_FALSE(from_json(twice, back, error));
    EXPECT_NE(error.find("a-must is given twice"), std::string::npos) << error;
}

TEST(conformance_report, html_groups_cases_and_shows_the_decisive_lines) {
    auto r = sample();
    r.cases.push_back({.id = "d-tls", .title = "TLS 1.3", .protocol = "smtp", .rfc = "RFC 8996", .level = "MUST",
                       .category = "tls", .outcome = "passed"});
    const auto h = render([&](std::ostream& o) { write_conformance_html(o, r); });
    EXPECT_NE(h.find("<h1>mailconform: 127.0.0.1:25</h1>"), std::string::npos);
    EXPECT_NE(h.find("<h2 data-protocol=\"smtp\">"), std::string::npos);
    // categories in run order, each once
    const auto protocol = h.find("data-category=\"protocol\""), security = h.find("data-category=\"security\""),
               tls = h.find("data-category=\"tls\"");
    ASSERT_NE(protocol, std::string::npos);
    EXPECT_LT(protocol, security);
    EXPECT_LT(security, tls);
    EXPECT_EQ(h.find("data-category=\"protocol\"", protocol + 1), std::string::npos);
    // the failure: RFC, level, verdict, message and decisive lines, escaped
    const auto row = h.substr(h.find("<tr id=\"b-should\""));
    EXPECT_NE(row.find("RFC 5321 3.6"), std::string::npos);
    EXPECT_NE(row.find("SHOULD"), std::string::npos);
    EXPECT_NE(row.find("<td class=\"fail\">failed</td>"), std::string::npos);
    EXPECT_NE(row.find("<pre class=\"transcript decisive\">C: RCPT TO:&lt;x@example.net&gt;\nS: 250 ok\n</pre>"), std::string::npos) << row;
    EXPECT_EQ(h.find("<probe>"), std::string::npos);
    EXPECT_EQ(h.find('\x01'), std::string::npos);
    // a passing case shows no transcript
    const auto pass_row = h.substr(h.find("<tr id=\"a-must\""), 400);
    EXPECT_EQ(pass_row.substr(0, pass_row.find("</tr>")).find("transcript"), std::string::npos);
}

TEST(conformance_report, markdown_lists_failures) {
    const auto md = render([](std::ostream& o) { write_conformance_markdown(o, sample()); });
    EXPECT_NE(md.find("1 passed, 1 failed, 1 skipped"), std::string::npos) << md;
    EXPECT_NE(md.find("| `b-should` | SHOULD | RFC 5321 3.6 | security | reply &lt;5&gt; |"), std::string::npos) << md;
    EXPECT_EQ(md.find("a-must"), std::string::npos);
}

TEST(conformance_report, matrix_has_a_row_per_case_and_a_column_per_server) {
    auto a = sample();
    auto b = sample();
    b.cases[1].outcome = "passed";
    b.cases.push_back({.id = "e-only-b", .title = "x", .protocol = "smtp", .rfc = "RFC 1", .level = "MAY", .category = "protocol",
                       .outcome = "failed"});
    const auto h = render([&](std::ostream& o) { write_conformance_matrix_html(o, {{"refmaild", a}, {"postfix", b}}); });
    const std::regex row("<tr id=\"([^\"]+)\"");
    std::vector<std::string> ids;
    for (auto it = std::sregex_iterator(h.begin(), h.end(), row); it != std::sregex_iterator(); ++it) ids.push_back((*it)[1]);
    EXPECT_EQ(ids, (std::vector<std::string>{"a-must", "b-should", "c-skip", "e-only-b"}));
    EXPECT_NE(h.find(">refmaild<br>"), std::string::npos);
    EXPECT_NE(h.find(">postfix<br>"), std::string::npos);
    const auto b_row = h.substr(h.find("<tr id=\"b-should\""));
    EXPECT_NE(b_row.find("<td class=\"fail\""), std::string::npos);
    EXPECT_LT(b_row.find("<td class=\"fail\""), b_row.find("<td class=\"pass\""));  // refmaild column first
    EXPECT_NE(b_row.substr(0, b_row.find("</tr>")).find("<b>no</b>"), std::string::npos);
    const auto e_row = h.substr(h.find("<tr id=\"e-only-b\""));
    EXPECT_EQ(e_row.find("<td class=\"skip\">-</td>"), e_row.find("<td class=\"skip\""));  // absent from refmaild
}
