// Verdicts of mailreport compare, both ways: a slower or thinner run is a regression, the same
// or a faster one is not; a case that passed and now fails is a conformance regression.
#include "mailharness/reports/compare.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "run_fixture.hpp"

using namespace mailharness;
using namespace mailharness::reports;

namespace {

const change_row* row(const load_comparison& c, const std::string& subject, const std::string& stat) {
    for (const auto& r : c.rows)
        if (r.subject == subject && r.stat == stat) return &r;
    return nullptr;
}

}  // namespace

TEST(compare, same_run_is_no_regression) {
    const auto base = test::make_run("2025-01-01T00:00:00Z");
    const auto c = compare_load(base, test::make_run("2025-01-02T00:00:00Z"), {});
    EXPECT_FALSE(c.regression);
    const auto* p99 = row(c, "smtp.data", "p99");
    ASSERT_NE(p99, nullptr);
    EXPECT_EQ(p99->verdict, "ok");
    EXPECT_DOUBLE_EQ(p99->change, 0);
    EXPECT_EQ(row(c, "smtp.data", "p50")->verdict, "info");  // no p50 limit by default
}

TEST(compare, slower_p99_is_a_regression_and_faster_an_improvement) {
    const auto base = test::make_run("2025-01-01T00:00:00Z");
    const auto slow = compare_load(base, test::make_run("2025-01-02T00:00:00Z", 1.5), {});
    EXPECT_TRUE(slow.regression);
    EXPECT_EQ(row(slow, "smtp.data", "p99")->verdict, "regression");
    EXPECT_NEAR(row(slow, "smtp.data", "p99")->change, 0.5, 0.03);
    const auto fast = compare_load(base, test::make_run("2025-01-02T00:00:00Z", 0.5), {});
    EXPECT_FALSE(fast.regression);
    EXPECT_EQ(row(fast, "smtp.data", "p99")->verdict, "improvement");
    // within the limit
    EXPECT_FALSE(compare_load(base, test::make_run("2025-01-02T00:00:00Z", 1.05), {}).regression);
    // a looser limit for the metric, a tighter one for p50
    compare_limits l;
    l.metric_growth["smtp.data"]["p99"] = 0.6;
    l.metric_growth["smtp.connect"]["p99"] = 0.6;
    EXPECT_FALSE(compare_load(base, test::make_run("x", 1.5), l).regression);
    l.latency_growth["p50"] = 0.2;
    EXPECT_TRUE(compare_load(base, test::make_run("x", 1.5), l).regression);
    // a floor: sub-floor changes never count
    compare_limits floor;
    floor.latency_floor_us = 1e6;
    EXPECT_FALSE(compare_load(base, test::make_run("x", 1.5), floor).regression);
}

TEST(compare, throughput_drop_and_error_rate) {
    const auto base = test::make_run("a", 1.0, 100);
    const auto c = compare_load(base, test::make_run("b", 1.0, 90), {});
    EXPECT_TRUE(c.regression);
    EXPECT_EQ(row(c, "all", "messages/s")->verdict, "regression");
    EXPECT_NEAR(row(c, "all", "messages/s")->change, -0.10, 1e-9);
    EXPECT_FALSE(compare_load(base, test::make_run("b", 1.0, 97), {}).regression);
    EXPECT_EQ(row(compare_load(base, test::make_run("b", 1.0, 120), {}), "all", "messages/s")->verdict, "improvement");
    // errors: information unless a limit is given
    const auto failing = test::make_run("b", 1.0, 100, 10, 3);
    compare_limits loose;
    loose.throughput_drop = 0.5;
    EXPECT_FALSE(compare_load(base, failing, loose).regression);
    EXPECT_EQ(row(compare_load(base, failing, loose), "all", "failed %")->verdict, "info");
    loose.error_rate_rise = 1;  // points
    EXPECT_TRUE(compare_load(base, failing, loose).regression);
}

TEST(compare, limits_file_and_percentages) {
    double f = 0;
    EXPECT_TRUE(parse_percent("10%", f));
    EXPECT_DOUBLE_EQ(f, 0.10);
    EXPECT_TRUE(parse_percent("0.5", f));
    EXPECT_DOUBLE_EQ(f, 0.005);
    EXPECT_FALSE(parse_percent("ten", f));
    EXPECT_FALSE(parse_percent("-5%", f));
    EXPECT_FALSE(parse_percent("", f));
    compare_limits l;
    std::string e;
    ASSERT_TRUE(limits_from_json(nlohmann::json::parse(R"({"format":"mailharness.mailreport.thresholds/1",
        "latency":{"p50":"20%","max":"100%"},"metrics":{"smtp.data":{"p99":"30%"}},"throughput_drop":"2%","error_rate_rise":"1%",
        "latency_floor_us":150})"), l, e)) << e;
    EXPECT_EQ(l.latency_growth.size(), 2u);  // replaces the default p99
    EXPECT_DOUBLE_EQ(l.latency_growth["p50"], 0.2);
    EXPECT_DOUBLE_EQ(l.metric_growth["smtp.data"]["p99"], 0.3);
    EXPECT_DOUBLE_EQ(l.throughput_drop, 0.02);
    EXPECT_DOUBLE_EQ(l.error_rate_rise, 1);
    EXPECT_DOUBLE_EQ(l.latency_floor_us, 150);
    EXPECT_FALSE(limits_from_json(nlohmann::json::parse(R"({"latency":{"p42":"1%"}})"), l, e));
    EXPECT_NE(e.find("p42"), std::string::npos);
    EXPECT_FALSE(limits_from_json(nlohmann::json::parse(R"({"throughput":"1%"})"), l, e));
    EXPECT_FALSE(limits_from_json(nlohmann::json::parse(R"({"throughput_drop":"lots"})"), l, e));
}

TEST(compare, renderers_show_the_verdict) {
    const auto base = test::make_run("2025-01-01T00:00:00Z");
    const auto now = test::make_run("2025-01-02T00:00:00Z", 1.5);
    const auto c = compare_load(base, now, {});
    std::ostringstream md, html;
    write_load_comparison_markdown(md, c);
    write_load_comparison_html(html, c, base, now);
    EXPECT_NE(md.str().find("regression"), std::string::npos);
    EXPECT_NE(md.str().find("| latency | smtp.data | p99 |"), std::string::npos) << md.str();
    EXPECT_NE(md.str().find("**REGRESSION**"), std::string::npos);
    EXPECT_NE(html.str().find("data-regression=\"1\""), std::string::npos);
    for (const char* id : {"compare-throughput", "compare-smtp.data", "compare-smtp.connect"})
        EXPECT_NE(html.str().find(std::string("data-chart=\"") + id + "\""), std::string::npos) << id;
}

TEST(compare, conformance_cases_that_changed_verdict) {
    conformance_run base, now;
    auto add = [](conformance_run& r, std::string id, std::string outcome) {
        r.cases.push_back({.id = std::move(id), .title = "t", .protocol = "smtp", .rfc = "RFC", .level = "MUST", .category = "protocol",
                           .outcome = std::move(outcome)});
    };
    add(base, "same", "passed");
    add(base, "breaks", "passed");
    add(base, "fixed", "failed");
    add(base, "gone", "passed");
    add(now, "same", "passed");
    add(now, "breaks", "failed");
    add(now, "fixed", "passed");
    add(now, "new-pass", "passed");
    auto c = compare_conformance(base, now);
    EXPECT_TRUE(c.regression);
    std::vector<std::string> kinds;
    for (const auto& x : c.changes) kinds.push_back(x.id + ":" + x.kind);
    EXPECT_EQ(kinds, (std::vector<std::string>{"breaks:regression", "fixed:fixed", "new-pass:new", "gone:gone"}));
    // the other way round: the break is a fix, the fix a regression
    EXPECT_TRUE(compare_conformance(now, base).regression);
    // without the break: no regression
    now.cases[1].outcome = "passed";
    c = compare_conformance(base, now);
    EXPECT_FALSE(c.regression);
    std::ostringstream md, html;
    write_conformance_comparison_markdown(md, c);
    write_conformance_comparison_html(html, c);
    EXPECT_NE(md.str().find("| `fixed` | MUST | RFC | failed | passed | fixed |"), std::string::npos) << md.str();
    EXPECT_NE(html.str().find("data-regression=\"0\""), std::string::npos);
    // a new case that fails counts as a regression
    add(now, "new-fail", "failed");
    EXPECT_TRUE(compare_conformance(base, now).regression);
    EXPECT_FALSE(compare_conformance(base, base).regression);
    EXPECT_TRUE(compare_conformance(base, base).changes.empty());
}
