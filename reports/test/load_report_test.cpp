// mailload's renderers (moved here from loadgen/test/results_test.cpp), on small results built
// in code the way the engine lays them out.
#include "mailharness/reports/load.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "mailharness/reports/html.hpp"

using namespace mailharness::load;
using namespace mailharness::reports;
using mailharness::stats::histogram;

namespace {

threshold th(const std::string& text, const std::string& workload = {}) {
    threshold t;
    std::string e;
    EXPECT_TRUE(parse_threshold(text, t, e)) << e;
    if (!workload.empty()) t.workload = workload;
    return t;
}

// One shard's results with the samples given to it, laid out as the engine does: whole-run
// histograms plus a per-second series.
results shard_results(std::uint32_t index, std::uint32_t count, const std::vector<std::pair<std::uint32_t, std::uint64_t>>& samples) {
    results r;
    r.scenario = "merge-test";
    r.seed = 7;
    r.run.duration_s = 10 + index;  // shards end at slightly different times
    r.run.planned_duration_s = 10;
    r.run.shard = {index, count};
    r.run.shards = {index};
    r.run.threads = 2;
    r.run.started_at = "2024-01-01T00:00:0" + std::to_string(index) + "Z";
    r.workloads = {{"w", "smtp", "127.0.0.1:25 (tls none)", "closed, 4 VUs for 10s"}};
    auto& total = r.latency[{"w", "smtp.data"}];
    std::map<std::uint32_t, histogram> per_second;
    for (const auto& [sec, us] : samples) {
        total.record(us);
        per_second[sec].record(us);
        r.counters["w"].iterations++;
        r.counters["w"].messages++;
    }
    for (auto& [sec, h] : per_second) {
        second_sample s;
        s.second = sec;
        s.workloads["w"] = {h.count(), 0, h.count(), 1};
        s.latency["w/smtp.data"] = compact_histogram::from(h);
        r.series.push_back(std::move(s));
    }
    r.errors.push_back({"w", "smtp.rcpt", error_class::reply_5xx, 550, index + 1, "550 5.1.1 unknown user " + std::to_string(index)});
    r.thresholds = evaluate({th("smtp.data p99 < 500ms"), th("errors rate < 1%")}, r);
    return r;
}

}  // namespace

TEST(load_report, junit_has_a_case_per_threshold) {
    auto r = shard_results(0, 1, {{0, 100}, {1, 900'000}});
    r.thresholds = evaluate({th("smtp.data p99 < 500ms"), th("smtp.data p50 < 1s"), th("errors count == 1", "w")}, r);
    std::ostringstream o;
    write_load_junit(o, r);
    const auto x = o.str();
    EXPECT_NE(x.find("<testsuite name=\"mailload merge-test\" tests=\"3\" failures=\"1\""), std::string::npos) << x;
    EXPECT_NE(x.find("name=\"smtp.data p99 &lt; 500ms\""), std::string::npos) << x;
    EXPECT_NE(x.find("<failure message=\"observed 900.0ms\" type=\"threshold\">"), std::string::npos) << x;
    EXPECT_NE(x.find("name=\"errors count == 1 [w]\""), std::string::npos) << x;
    EXPECT_EQ(std::count(x.begin(), x.end(), '\x01'), 0);
    r.run.aborted = true;
    r.run.abort_reason = "threshold <x> & more";
    std::ostringstream o2;
    write_load_junit(o2, r);
    EXPECT_NE(o2.str().find("tests=\"4\" failures=\"2\""), std::string::npos);
    EXPECT_NE(o2.str().find("threshold &lt;x&gt; &amp; more"), std::string::npos);
}

TEST(load_report, html_has_charts_with_data) {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> samples;
    for (std::uint32_t s = 0; s < 10; ++s)
        for (int i = 1; i < 50; ++i) samples.emplace_back(s, i * 100 + s * 1000);
    auto r = shard_results(0, 1, samples);
    r.description = "<script>alert(1)</script>";
    std::ostringstream o;
    write_load_html(o, r);
    const auto h = o.str();
    EXPECT_EQ(h.find("<script>alert"), std::string::npos);  // escaped
    const std::regex chart("<svg class=\"chart\" data-chart=\"([^\"]+)\"");
    std::vector<std::string> ids;
    for (auto it = std::sregex_iterator(h.begin(), h.end(), chart); it != std::sregex_iterator(); ++it) ids.push_back((*it)[1]);
    EXPECT_EQ(ids, (std::vector<std::string>{"throughput", "active", "latency-smtp.data", "spectrum"}));
    // every chart has series with points
    std::size_t pos = 0;
    for (const auto& id : ids) {
        pos = h.find("data-chart=\"" + id + "\"", pos);
        const auto end = h.find("</svg>", pos);
        const auto body = h.substr(pos, end - pos);
        EXPECT_NE(body.find("<path class=\"series\""), std::string::npos) << id;
        EXPECT_EQ(body.find("no data"), std::string::npos) << id;
        EXPECT_NE(body.find(" L"), std::string::npos) << id;
    }
    EXPECT_NE(h.find("data-drawn"), std::string::npos);  // the self-check script
    // a run with nothing in it says so in its charts (and the browser test would fail it)
    results empty;
    empty.scenario = "empty";
    std::ostringstream e;
    write_load_html(e, empty);
    EXPECT_NE(e.str().find("no data"), std::string::npos);
    EXPECT_EQ(e.str().find("<path class=\"series\""), std::string::npos);
}

