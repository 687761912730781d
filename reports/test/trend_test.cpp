// Trend pages and bounded charts: runs sorted by start time, a chart per metric, and never more
// than max_chart_points points in a series (a long CI history, a 24-hour soak).
#include "mailharness/reports/trend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "mailharness/reports/html.hpp"
#include "mailharness/reports/load.hpp"
#include "run_fixture.hpp"

using namespace mailharness;
using namespace mailharness::reports;

namespace {

std::vector<std::size_t> point_counts(const std::string& h) {
    const std::regex points("data-points=\"([0-9]+)\"");
    std::vector<std::size_t> out;
    for (auto it = std::sregex_iterator(h.begin(), h.end(), points); it != std::sregex_iterator(); ++it)
        out.push_back(std::stoul((*it)[1]));
    return out;
}

}  // namespace

TEST(downsample, keeps_ends_and_spikes_within_the_bound) {
    std::vector<std::pair<double, double>> pts;
    for (int i = 0; i < 100000; ++i) pts.emplace_back(i, i == 54321 ? 1e6 : 1.0 + (i % 7));
    const auto d = downsample(pts, 600);
    EXPECT_LE(d.size(), 600u);
    EXPECT_EQ(d.front(), pts.front());
    EXPECT_EQ(d.back(), pts.back());
    EXPECT_TRUE(std::is_sorted(d.begin(), d.end()));
    EXPECT_NE(std::find(d.begin(), d.end(), pts[54321]), d.end());  // the spike survives
    const std::vector<std::pair<double, double>> few{{1, 1}, {2, 2}};
    EXPECT_EQ(downsample(few, 600), few);
}

TEST(trend, runs_sorted_by_start_with_a_chart_per_metric) {
    std::vector<named_load_run> runs;
    for (int i = 9; i >= 0; --i) runs.emplace_back("run" + std::to_string(i) + ".json",
                                                   test::make_run("2025-01-0" + std::to_string(i) + "T00:00:00Z", 1.0 + i * 0.1, 50, 3));
    sort_by_start(runs);
    EXPECT_EQ(runs.front().first, "run0.json");
    EXPECT_EQ(runs.back().first, "run9.json");
    std::vector<named_conformance_run> conf(2);
    conf[0].second.started_at = "2025-01-02";
    conf[0].second.cases.push_back({.id = "a", .outcome = "passed"});
    conf[1].second.started_at = "2025-01-01";
    sort_by_start(conf);
    EXPECT_EQ(conf[0].second.started_at, "2025-01-01");
    std::ostringstream o;
    write_trend_html(o, runs, conf);
    const auto h = o.str();
    for (const char* id : {"trend-throughput-smoke", "trend-errors-smoke", "trend-smoke-smtp.data", "trend-smoke-smtp.connect", "trend-conformance"})
        EXPECT_NE(h.find(std::string("data-chart=\"") + id + "\""), std::string::npos) << id;
    EXPECT_EQ(h.find("no data"), std::string::npos);
    for (auto n : point_counts(h)) EXPECT_TRUE(n == 10 || n == 2) << n;
    // the p99 line goes up run after run: its last point is higher on the page (smaller y) than its first
    const auto chart = h.substr(h.find("data-chart=\"trend-smoke-smtp.data\""));
    const std::regex p99("data-name=\"p99\"[^>]*d=\"M[0-9.]+ ([0-9.]+)(?: L[0-9.]+ [0-9.]+)* L[0-9.]+ ([0-9.]+)\"");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(chart, m, p99));
    EXPECT_LT(std::stod(m[2]), std::stod(m[1]));
}

TEST(trend, a_long_history_is_drawn_with_bounded_points) {
    std::vector<named_load_run> runs;
    for (int i = 0; i < 2000; ++i) runs.emplace_back(std::to_string(i), test::make_run(std::to_string(100000 + i), 1.0, 10, 1));
    std::ostringstream o;
    write_trend_html(o, runs, {});
    const auto counts = point_counts(o.str());
    ASSERT_FALSE(counts.empty());
    for (auto n : counts) EXPECT_LE(n, max_chart_points);
    EXPECT_LT(o.str().size(), 2'000'000u);
}

TEST(trend, a_24_hour_soak_report_stays_small) {
    // 86,400 seconds of one workload: every chart downsampled to the bound.
    const auto r = test::make_run("2025-01-01T00:00:00Z", 1.0, 2, 86400);
    std::ostringstream o;
    write_load_html(o, r);
    const auto counts = point_counts(o.str());
    ASSERT_GE(counts.size(), 4u);
    for (auto n : counts) EXPECT_LE(n, max_chart_points);
    EXPECT_LT(o.str().size(), 1'500'000u);
}
