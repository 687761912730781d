#include "mailharness/load/threshold.hpp"

#include <gtest/gtest.h>

using namespace mailharness::load;

TEST(threshold, parses_latency) {
    threshold t;
    std::string e;
    ASSERT_TRUE(parse_threshold("smtp.data p99 < 200ms", t, e)) << e;
    EXPECT_EQ(t.metric, "smtp.data");
    EXPECT_EQ(t.workload, "");
    EXPECT_EQ(t.family, metric_family::latency);
    EXPECT_EQ(t.stat, threshold_stat::percentile);
    EXPECT_DOUBLE_EQ(t.percentile, 99);
    EXPECT_EQ(t.op, compare_op::lt);
    EXPECT_DOUBLE_EQ(t.value, 200'000);
    EXPECT_EQ(t.expression, "smtp.data p99 < 200ms");

    ASSERT_TRUE(parse_threshold("iteration{submit} p99.9 <= 1.5s", t, e)) << e;
    EXPECT_EQ(t.metric, "iteration");
    EXPECT_EQ(t.workload, "submit");
    EXPECT_DOUBLE_EQ(t.percentile, 99.9);
    EXPECT_EQ(t.op, compare_op::le);
    EXPECT_DOUBLE_EQ(t.value, 1'500'000);

    ASSERT_TRUE(parse_threshold("smtp.connect avg > 10us", t, e)) << e;
    EXPECT_EQ(t.stat, threshold_stat::avg);
    EXPECT_EQ(t.op, compare_op::gt);
    ASSERT_TRUE(parse_threshold("smtp.ehlo count >= 10", t, e)) << e;
    EXPECT_EQ(t.stat, threshold_stat::count);
    EXPECT_DOUBLE_EQ(t.value, 10);
    ASSERT_TRUE(parse_threshold("smtp.message rate > 100/s", t, e)) << e;
    EXPECT_EQ(t.stat, threshold_stat::rate);
    EXPECT_DOUBLE_EQ(t.value, 100);
}

TEST(threshold, parses_errors_and_counters) {
    threshold t;
    std::string e;
    ASSERT_TRUE(parse_threshold("errors rate < 0.1%", t, e)) << e;
    EXPECT_EQ(t.family, metric_family::errors);
    EXPECT_DOUBLE_EQ(t.value, 0.001);
    ASSERT_TRUE(parse_threshold("errors rate < 0.05", t, e)) << e;
    EXPECT_DOUBLE_EQ(t.value, 0.05);
    ASSERT_TRUE(parse_threshold("errors.timeout count == 0", t, e)) << e;
    EXPECT_EQ(t.metric, "errors.timeout");
    EXPECT_EQ(t.op, compare_op::eq);
    ASSERT_TRUE(parse_threshold("errors.550 count != 3", t, e)) << e;
    ASSERT_TRUE(parse_threshold("messages rate >= 1000/s", t, e)) << e;
    EXPECT_EQ(t.family, metric_family::counter);
    ASSERT_TRUE(parse_threshold("iterations count > 5", t, e)) << e;
}

TEST(threshold, keeps_abort_settings) {
    threshold t;
    t.abort_on_fail = true;
    t.abort_delay = std::chrono::seconds(3);
    std::string e;
    ASSERT_TRUE(parse_threshold("errors rate < 1%", t, e));
    EXPECT_TRUE(t.abort_on_fail);
    EXPECT_EQ(t.abort_delay, std::chrono::seconds(3));
}

TEST(threshold, refuses_bad_expressions) {
    const struct {
        const char* text;
        const char* why;
    } bad[] = {
        {"", "empty"},
        {"smtp.data", "missing statistic"},
        {"smtp.data p99", "expected a comparison"},
        {"smtp.data p99 <", "missing value"},
        {"smtp.data p99 < 200", "needs a duration"},
        {"smtp.data p101 < 1s", "bad percentile"},
        {"smtp.data pX < 1s", "bad percentile"},
        {"smtp.data median < 1s", "unknown statistic"},
        {"smtp.data p99 =< 1s", "expected a comparison"},
        {"smtp.data p99 < 1s extra", "unexpected text"},
        {"errors p99 < 1s", "only the statistics count and rate"},
        {"errors rate < 200%", "bad percentage"},
        {"errors rate < 2", "percentage"},
        {"errors.bogus rate < 1%", "unknown error class"},
        {"messages rate > fast", "events per second"},
        {"iterations count > 1.5", "whole number"},
        {"smtp.data{} p99 < 1s", "workload selector"},
        {"smtp.data{a b} p99 < 1s", "workload selector"},
        {"smtp data p99 < 1s", "unknown statistic"},
        {"smtp.data p99 < -1s", "needs a duration"},
        {"smtp.data\x01 p99 < 1s", "control"},
    };
    for (const auto& b : bad) {
        threshold t;
        t.metric = "unchanged";
        std::string e;
        EXPECT_FALSE(parse_threshold(b.text, t, e)) << b.text;
        EXPECT_NE(e.find(b.why), std::string::npos) << b.text << " -> " << e;
        EXPECT_EQ(t.metric, "unchanged");
    }
    threshold t;
    std::string e;
    EXPECT_FALSE(parse_threshold(std::string(300, 'a') + " p99 < 1s", t, e));
}

TEST(threshold, compare_and_format) {
    EXPECT_TRUE(compare(1, compare_op::lt, 2));
    EXPECT_FALSE(compare(2, compare_op::lt, 2));
    EXPECT_TRUE(compare(2, compare_op::le, 2));
    EXPECT_TRUE(compare(3, compare_op::gt, 2));
    EXPECT_TRUE(compare(2, compare_op::ge, 2));
    EXPECT_TRUE(compare(2, compare_op::eq, 2));
    EXPECT_TRUE(compare(1, compare_op::ne, 2));
    threshold t;
    std::string e;
    ASSERT_TRUE(parse_threshold("errors rate < 0.1%", t, e));
    EXPECT_EQ(format_threshold_value(t, 0.001), "0.1%");
    ASSERT_TRUE(parse_threshold("smtp.data p99.9 < 200ms", t, e));
    EXPECT_EQ(stat_name(t), "p99.9");
    EXPECT_EQ(format_threshold_value(t, 12'400), "12.4ms");
}
