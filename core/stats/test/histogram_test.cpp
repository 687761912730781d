#include "mailharness/stats/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using namespace mailharness::stats;

// Log-normal latencies around 2 ms with a long tail, in microseconds, some beyond 60 s.
std::vector<std::uint64_t> lognormal_samples(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> dist(std::log(2000.0), 1.6);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v) x = static_cast<std::uint64_t>(dist(rng));
    return v;
}

// HdrHistogram's percentile of exact samples: the ceil(p/100 * n)-th smallest (at least the 1st).
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

TEST(histogram_settings, validation) {
    EXPECT_FALSE(validate({}));
    EXPECT_EQ(validate({.lowest_discernible = 0}), errc::bad_settings);
    EXPECT_EQ(validate({.lowest_discernible = 10, .highest_trackable = 19}), errc::bad_settings);
    EXPECT_FALSE(validate({.lowest_discernible = 10, .highest_trackable = 20}));
    EXPECT_EQ(validate({.significant_digits = 0}), errc::bad_settings);
    EXPECT_EQ(validate({.significant_digits = 6}), errc::bad_settings);
    EXPECT_FALSE(validate({.significant_digits = 5}));
    EXPECT_EQ(validate({.highest_trackable = UINT64_MAX}), errc::bad_settings);
    EXPECT_FALSE(validate({.highest_trackable = (1ull << 62) - 1, .significant_digits = 5}));
    // A unit so large that unit << sub-bucket bits leaves the word.
    EXPECT_EQ(validate({.lowest_discernible = 1ull << 60, .highest_trackable = 1ull << 61}), errc::bad_settings);
    EXPECT_EQ(validate({.lowest_discernible = 1ull << 55, .highest_trackable = 1ull << 61}), errc::bad_settings);
    EXPECT_FALSE(validate({.lowest_discernible = 1ull << 54, .highest_trackable = 1ull << 61}));
    EXPECT_THROW(histogram({.lowest_discernible = 0}), std::invalid_argument);
    EXPECT_EQ(make_error_code(errc::bad_index).category().name(), std::string("mailharness.stats"));
}

TEST(histogram_layout, default_memory_is_fixed_and_small) {
    histogram h;
    // 19 buckets of 128 sub-buckets (+ the lower half of the first): 2560 counters, 20 KiB.
    EXPECT_EQ(h.counts_size(), 2560u);
    EXPECT_EQ(counts_length({}), 2560u);
    EXPECT_LT(h.index_of(60'000'000), h.counts_size());
}

// Proof of the error bound over the whole range 0 .. highest_trackable: the buckets tile the
// range without gaps or overlap (so every value lies in exactly one, and the arithmetic maps it
// there), and in each bucket the worst case, its lowest value reported as its highest, is off by
// less than one unit (exact for lowest_discernible 1) or by at most 10^-digits. Checked for the
// default settings, where that is the 1% bound, and a few others.
void prove_error_bound(const histogram_settings& s) {
    SCOPED_TRACE(std::to_string(s.lowest_discernible) + ".." + std::to_string(s.highest_trackable) + " digits " +
                 std::to_string(s.significant_digits));
    histogram h(s);
    const double bound = std::pow(10.0, -s.significant_digits);
    const std::size_t last = h.index_of(s.highest_trackable);
    ASSERT_LT(last, h.counts_size());
    std::uint64_t unit = 1;
    while (unit * 2 <= s.lowest_discernible) unit *= 2;
    std::uint64_t expect_lowest = 0;
    for (std::size_t i = 0; i <= last; ++i) {
        const std::uint64_t lo = h.lowest_at(i), hi = h.highest_at(i);
        ASSERT_EQ(lo, expect_lowest) << "gap or overlap at index " << i;
        ASSERT_LE(lo, hi);
        ASSERT_EQ(h.index_of(lo), i);
        ASSERT_EQ(h.index_of(std::min(hi, s.highest_trackable)), i);
        ASSERT_EQ(h.lowest_equivalent(lo + (hi - lo) / 2), lo);
        ASSERT_EQ(h.highest_equivalent(lo + (hi - lo) / 2), hi);
        // Either within one unit (exact when the unit is 1) or within the relative bound.
        if (hi - lo >= unit) {
            ASSERT_LE(static_cast<double>(hi - lo), bound * static_cast<double>(lo)) << "index " << i;
        }
        expect_lowest = hi + 1;
    }
    EXPECT_GT(expect_lowest, s.highest_trackable);  // the tiling reaches the top
}

TEST(histogram_layout, relative_error_at_most_one_percent_over_whole_range) {
    prove_error_bound({});  // 1 us .. 60 s, 2 digits: the mailload setting
    prove_error_bound({.lowest_discernible = 1, .highest_trackable = 3'600'000'000, .significant_digits = 3});
    prove_error_bound({.lowest_discernible = 1000, .highest_trackable = 60'000'000'000, .significant_digits = 2});
    prove_error_bound({.lowest_discernible = 7, .highest_trackable = 15, .significant_digits = 1});
    prove_error_bound({.lowest_discernible = 1, .highest_trackable = (1ull << 62) - 1, .significant_digits = 2});
    prove_error_bound({.lowest_discernible = 1ull << 54, .highest_trackable = (1ull << 62) - 1, .significant_digits = 2});
}

TEST(histogram_layout, every_small_value_and_random_large_values_within_one_percent) {
    histogram h;
    for (std::uint64_t v = 1; v < (1u << 20); ++v) {
        const std::uint64_t hi = h.highest_equivalent(v);
        ASSERT_LE(h.lowest_equivalent(v), v);
        ASSERT_GE(hi, v);
        ASSERT_LE(static_cast<double>(hi - v), 0.01 * static_cast<double>(v)) << v;
    }
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::uint64_t> any(1, 60'000'000);
    for (int n = 0; n < 200'000; ++n) {
        const std::uint64_t v = any(rng);
        const std::uint64_t hi = h.highest_equivalent(v);
        ASSERT_GE(hi, v);
        ASSERT_LE(static_cast<double>(hi - v), 0.01 * static_cast<double>(v)) << v;
    }
    EXPECT_EQ(h.highest_equivalent(255), 255u);  // exact below 2^8
    EXPECT_EQ(h.highest_equivalent(256), 257u);
}

TEST(histogram, empty_queries_are_zero) {
    histogram h;
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
    EXPECT_EQ(h.stddev(), 0.0);
    EXPECT_EQ(h.value_at_percentile(50), 0u);
    EXPECT_TRUE(h.percentile_spectrum().empty());
}

TEST(histogram, zero_is_a_value) {
    histogram h;
    h.record(0);
    h.record(0);
    h.record(10);
    EXPECT_EQ(h.count(), 3u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.value_at_percentile(0), 0u);
    EXPECT_EQ(h.value_at_percentile(66), 0u);
    EXPECT_EQ(h.value_at_percentile(67), 10u);
    EXPECT_EQ(h.count_at_index(h.index_of(0)), 2u);
}

TEST(histogram, saturation_clamps_and_counts) {
    histogram h;
    h.record(5);
    h.record(60'000'001);
    h.record_n(UINT64_MAX, 3);
    EXPECT_EQ(h.count(), 5u);
    EXPECT_EQ(h.saturated_count(), 4u);
    EXPECT_EQ(h.max(), 60'000'000u);
    EXPECT_EQ(h.value_at_percentile(100), 60'000'000u);
    EXPECT_EQ(h.count_at_index(h.index_of(60'000'000)), 4u);
    h.record_n(7, 0);
    EXPECT_EQ(h.count(), 5u);
}

TEST(histogram, percentiles_follow_hdr_semantics) {
    histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.value_at_percentile(0), 1u);
    EXPECT_EQ(h.value_at_percentile(0.5), 1u);
    EXPECT_EQ(h.value_at_percentile(1), 1u);
    EXPECT_EQ(h.value_at_percentile(1.01), 2u);
    EXPECT_EQ(h.value_at_percentile(50), 50u);
    EXPECT_EQ(h.value_at_percentile(99), 99u);
    EXPECT_EQ(h.value_at_percentile(99.5), 100u);
    EXPECT_EQ(h.value_at_percentile(100), 100u);
    EXPECT_EQ(h.value_at_percentile(-3), 1u);
    EXPECT_EQ(h.value_at_percentile(250), 100u);
    EXPECT_EQ(h.value_at_percentile(std::numeric_limits<double>::quiet_NaN()), 1u);
    // p / 100 * n can land a hair above an integer in floating point (99.9 / 100 * 1000 is
    // 999.0000000000001); that must still mean the 999th sample, not the 1000th.
    histogram g;
    for (std::uint64_t v = 1; v <= 1000; ++v) g.record(v);
    ASSERT_GT(99.9 / 100 * 1000, 999.0);
    EXPECT_EQ(g.value_at_percentile(99.9), 999u);
    EXPECT_EQ(g.value_at_percentile(1.1), 11u);
    EXPECT_EQ(g.value_at_percentile(0.9), 9u);
}

TEST(histogram, reported_value_is_highest_equivalent_clamped_to_max) {
    histogram h;
    h.record(1001);  // bucket [1000, 1003]
    h.record(1002);
    EXPECT_EQ(h.lowest_equivalent(1001), 1000u);
    EXPECT_EQ(h.highest_equivalent(1001), 1003u);
    EXPECT_EQ(h.value_at_percentile(50), 1002u);  // clamped to max
    h.record(5000);
    EXPECT_EQ(h.value_at_percentile(50), 1003u);
    EXPECT_EQ(h.value_at_percentile(0), 1001u);  // p = 0: the lowest equivalent, clamped to min
}

TEST(histogram, percentiles_within_one_percent_of_exact) {
    auto samples = lognormal_samples(200'000, 1);
    histogram h;
    for (auto v : samples) h.record(v);
    for (auto& v : samples) v = std::min<std::uint64_t>(v, 60'000'000);
    std::sort(samples.begin(), samples.end());
    for (int i = 0; i <= 1000; ++i) {
        const double p = i / 10.0;
        const std::uint64_t exact = exact_percentile(samples, p);
        const std::uint64_t got = h.value_at_percentile(p);
        ASSERT_EQ(got, std::clamp(h.highest_equivalent(exact), samples.front(), samples.back())) << p;
        ASSERT_LE(static_cast<double>(got - exact), 0.01 * static_cast<double>(exact)) << p;
    }
    for (double p : {99.9, 99.99, 99.999}) {
        const std::uint64_t exact = exact_percentile(samples, p);
        EXPECT_EQ(h.value_at_percentile(p), std::clamp(h.highest_equivalent(exact), samples.front(), samples.back()));
    }
}

TEST(histogram, mean_and_stddev) {
    histogram h;
    for (std::uint64_t v : {2, 4, 4, 4, 5, 5, 7, 9}) h.record(v);
    EXPECT_DOUBLE_EQ(h.mean(), 5.0);
    EXPECT_DOUBLE_EQ(h.stddev(), 2.0);

    auto samples = lognormal_samples(100'000, 2);
    histogram g;
    double sum = 0;
    for (auto v : samples) {
        v = std::min<std::uint64_t>(v, 60'000'000);
        g.record(v);
        sum += static_cast<double>(v);
    }
    const double exact_mean = sum / static_cast<double>(samples.size());
    EXPECT_NEAR(g.mean(), exact_mean, 0.005 * exact_mean);
    double sq = 0;
    for (auto v : samples) {
        const double d = static_cast<double>(std::min<std::uint64_t>(v, 60'000'000)) - exact_mean;
        sq += d * d;
    }
    const double exact_sd = std::sqrt(sq / static_cast<double>(samples.size()));
    EXPECT_NEAR(g.stddev(), exact_sd, 0.01 * exact_sd);
}

TEST(histogram, merge_of_shards_equals_one_histogram) {
    auto samples = lognormal_samples(400'000, 3);
    for (std::uint64_t v : {61'000'000ull, 900'000'000ull, 0ull}) samples.insert(samples.begin() + 1000 * v % 7919, v);
    histogram all;
    std::vector<histogram> shards(4);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        all.record(samples[i]);
        shards[(i * 2654435761u >> 7) % 4].record(samples[i]);  // uneven, interleaved split
    }
    histogram merged;
    for (const auto& s : {shards[2], shards[0], shards[3], shards[1]}) ASSERT_FALSE(merged.merge(s));
    EXPECT_TRUE(merged == all);
    EXPECT_EQ(merged.count(), all.count());
    EXPECT_EQ(merged.saturated_count(), all.saturated_count());
    EXPECT_GT(all.saturated_count(), 0u);
    EXPECT_EQ(merged.min(), all.min());
    EXPECT_EQ(merged.max(), all.max());
    EXPECT_EQ(merged.mean(), all.mean());
    EXPECT_EQ(merged.stddev(), all.stddev());
    for (int i = 0; i <= 100'000; ++i) {
        const double p = i / 1000.0;
        ASSERT_EQ(merged.value_at_percentile(p), all.value_at_percentile(p)) << p;
    }
    const auto a = merged.percentile_spectrum(), b = all.percentile_spectrum();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].percentile, b[i].percentile);
        EXPECT_EQ(a[i].value, b[i].value);
        EXPECT_EQ(a[i].count_at_or_below, b[i].count_at_or_below);
    }
    // Merging an empty histogram changes nothing; merging into an empty one copies.
    histogram empty;
    ASSERT_FALSE(merged.merge(empty));
    EXPECT_TRUE(merged == all);
    ASSERT_FALSE(empty.merge(all));
    EXPECT_TRUE(empty == all);
}

TEST(histogram, merge_refuses_other_settings) {
    histogram a, b({.highest_trackable = 1'000'000});
    a.record(5);
    b.record(6);
    EXPECT_EQ(a.merge(b), errc::incompatible_settings);
    EXPECT_EQ(a.count(), 1u);
    EXPECT_EQ(a.max(), 5u);
}

TEST(histogram, reset_keeps_settings) {
    histogram h({.highest_trackable = 1000});
    h.record(2000);
    h.reset();
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.saturated_count(), 0u);
    EXPECT_TRUE(h == histogram({.highest_trackable = 1000}));
}

// HdrHistogram's recordValueWithExpectedInterval, one sample at a time.
void record_corrected_naive(histogram& h, std::uint64_t value, std::uint64_t interval) {
    h.record(value);
    if (interval == 0 || value <= interval) return;
    for (std::uint64_t missing = value - interval; missing >= interval; missing -= interval) h.record(missing);
}

TEST(histogram, coordinated_omission_correction_matches_hdr) {
    struct { std::uint64_t value, interval; } cases[] = {
        {100, 0}, {100, 100}, {100, 200}, {199, 100}, {200, 100}, {201, 100}, {1000, 1}, {1000, 3},
        {10'000, 100}, {123'457, 1000}, {5'000'000, 777}, {59'999'999, 10'000}, {60'000'000, 1'000'000},
        {90'000'000, 1'000'000}, {75'000'000, 7}, {61'000'000, 30'000'000}, {UINT64_MAX / 4, 1'000'000'000'000},
    };
    for (const auto& c : cases) {
        histogram fast, slow;
        fast.record(3);
        slow.record(3);
        fast.record_corrected(c.value, c.interval);
        record_corrected_naive(slow, c.value, c.interval);
        EXPECT_TRUE(fast == slow) << c.value << " every " << c.interval << ": " << fast.count() << " vs "
                                  << slow.count();
    }
}

TEST(histogram, coordinated_omission_restores_the_stall) {
    // A 10 ms loop that stalls once for 1 s: without correction p99 hides the stall; with it the
    // missed 99 requests are counted with the latencies they would have seen.
    histogram raw, corrected;
    for (int i = 0; i < 1000; ++i) {
        raw.record(1000);
        corrected.record_corrected(1000, 10'000);
    }
    raw.record(1'000'000);
    corrected.record_corrected(1'000'000, 10'000);
    EXPECT_EQ(raw.count(), 1001u);
    EXPECT_EQ(corrected.count(), 1001u + 99u);
    EXPECT_EQ(raw.value_at_percentile(99), raw.highest_equivalent(1000));
    EXPECT_GT(corrected.value_at_percentile(99), 10'000u);
    EXPECT_EQ(corrected.min(), 1000u);
}

TEST(histogram, spectrum_walks_half_distances) {
    histogram h;
    for (std::uint64_t v = 1; v <= 10'000; ++v) h.record(v);
    const auto s = h.percentile_spectrum(5);
    ASSERT_GE(s.size(), 12u);
    const double expect[] = {0, 10, 20, 30, 40, 50, 55, 60, 65, 70, 75, 77.5};
    for (std::size_t i = 0; i < std::size(expect); ++i) EXPECT_DOUBLE_EQ(s[i].percentile, expect[i]);
    EXPECT_EQ(s.front().value, 1u);
    EXPECT_EQ(s.back().percentile, 100.0);
    EXPECT_EQ(s.back().value, 10'000u);
    EXPECT_EQ(s.back().count_at_or_below, 10'000u);
    for (std::size_t i = 1; i < s.size(); ++i) {
        EXPECT_GE(s[i].percentile, s[i - 1].percentile);
        EXPECT_GE(s[i].value, s[i - 1].value);
        EXPECT_EQ(s[i].value, h.value_at_percentile(s[i].percentile));
    }
    histogram one;
    one.record(42);
    const auto t = one.percentile_spectrum(0);
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[0].value, 42u);
    EXPECT_EQ(t[1].value, 42u);
}

TEST(histogram, bucket_iteration) {
    histogram h;
    h.record_n(3, 2);
    h.record(1'000'000);
    h.record(1'000'001);
    std::vector<bucket> seen;
    h.for_each_bucket([&](const bucket& b) { seen.push_back(b); });
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].lowest, 3u);
    EXPECT_EQ(seen[0].highest, 3u);
    EXPECT_EQ(seen[0].count, 2u);
    EXPECT_LE(seen[1].lowest, 1'000'000u);
    EXPECT_GE(seen[1].highest, 1'000'001u);
    EXPECT_EQ(seen[1].count, 2u);
    EXPECT_EQ(seen[1].index, h.index_of(1'000'000));
}

TEST(histogram_json, round_trip) {
    histogram h;
    for (auto v : lognormal_samples(50'000, 4)) h.record(v);
    h.record(0);
    const std::string text = to_json_string(h);
    histogram back({.highest_trackable = 10});
    ASSERT_FALSE(from_json_string(text, back));
    EXPECT_TRUE(back == h);
    EXPECT_EQ(back.value_at_percentile(99.9), h.value_at_percentile(99.9));
    EXPECT_EQ(to_json_string(back), text);
    EXPECT_LT(text.size(), 16'000u);  // sparse: a few hundred [index,count] pairs

    histogram other({.lowest_discernible = 100, .highest_trackable = 1'000'000'000, .significant_digits = 3});
    other.record(12345);
    histogram back2;
    ASSERT_FALSE(from_json(to_json(other), back2));
    EXPECT_TRUE(back2 == other);

    histogram empty, back3;
    back3.record(1);
    ASSERT_FALSE(from_json_string(to_json_string(empty), back3));
    EXPECT_TRUE(back3 == empty);
}

TEST(histogram_json, form) {
    histogram h;
    h.record(5);
    h.record_n(300, 2);
    h.record(70'000'000);
    ASSERT_EQ(h.index_of(300), 278u);
    ASSERT_EQ(h.index_of(60'000'000), 2532u);
    EXPECT_EQ(to_json(h), nlohmann::json::parse(R"({"format":"mailharness.histogram/1","lowest":1,
        "highest":60000000,"digits":2,"total":4,"saturated":1,"min":5,"max":60000000,
        "counts":[[5,1],[278,2],[2532,1]]})"));
    const auto j = to_json(h);
    EXPECT_EQ(j.at("counts").size(), 3u);
    EXPECT_EQ(j.at("counts")[0], nlohmann::json::parse("[5,1]"));
    EXPECT_EQ(j.at("counts")[1][0], h.index_of(300));
    EXPECT_EQ(j.at("counts")[1][1], 2);
    EXPECT_EQ(j.at("counts")[2][0], h.index_of(60'000'000));
    EXPECT_EQ(j.at("saturated"), 1);
}

TEST(histogram_json, bad_input_is_an_error_and_leaves_target_alone) {
    const std::string head = R"({"format":"mailharness.histogram/1","lowest":1,"highest":60000000,"digits":2,)";
    struct { std::string text; errc expected; } cases[] = {
        {"", errc::malformed_json},
        {"{", errc::malformed_json},
        {"[1,2", errc::malformed_json},
        {"null", errc::bad_format},
        {"[]", errc::bad_format},
        {R"({"format":"hdr","lowest":1})", errc::bad_format},
        {head + R"("total":0,"saturated":0})", errc::bad_format},                        // no counts
        {head + R"("total":0,"saturated":0,"counts":{}})", errc::bad_format},
        {head + R"("total":-1,"saturated":0,"counts":[]})", errc::bad_format},
        {head + R"("total":1.5,"saturated":0,"counts":[]})", errc::bad_format},
        {head + R"("total":"1","saturated":0,"counts":[]})", errc::bad_format},
        {head + R"("total":1,"saturated":0,"counts":[[3,1]]})", errc::bad_format},       // no min/max
        {head + R"("total":1,"saturated":0,"min":3,"max":3,"counts":[[3]]})", errc::bad_format},
        {head + R"("total":1,"saturated":0,"min":3,"max":3,"counts":[[3,1,1]]})", errc::bad_format},
        {head + R"("total":1,"saturated":0,"min":3,"max":3,"counts":[[-3,1]]})", errc::bad_format},
        {head + R"("total":1,"saturated":0,"min":3,"max":3,"counts":[3,1]})", errc::bad_format},
        {head + R"("total":1,"saturated":0,"min":3,"max":3,"counts":[[2560,1]]})", errc::bad_index},
        {head + R"("total":1,"saturated":0,"min":3,"max":3,"counts":[[18446744073709551615,1]]})", errc::bad_index},
        {head + R"("total":2,"saturated":0,"min":3,"max":3,"counts":[[3,1],[3,1]]})", errc::bad_index},
        {head + R"("total":2,"saturated":0,"min":3,"max":4,"counts":[[4,1],[3,1]]})", errc::bad_index},
        {head + R"("total":0,"saturated":0,"counts":[[3,0]]})", errc::bad_count},
        {head + R"("total":0,"saturated":0,"min":3,"max":4,"counts":[]})", errc::inconsistent},
        {head + R"("total":2,"saturated":0,"min":3,"max":4,)"
                R"("counts":[[3,18446744073709551615],[4,18446744073709551615]]})", errc::bad_count},
        {head + R"("total":2,"saturated":0,"min":3,"max":3,"counts":[[3,1]]})", errc::inconsistent},
        {head + R"("total":1,"saturated":0,"min":4,"max":4,"counts":[[3,1]]})", errc::inconsistent},
        {head + R"("total":2,"saturated":0,"min":4,"max":3,"counts":[[3,1],[4,1]]})", errc::inconsistent},
        {head + R"("total":1,"saturated":1,"min":3,"max":3,"counts":[[3,1]]})", errc::inconsistent},
        {head + R"("total":1,"saturated":2,"min":60000000,"max":60000000,"counts":[[2532,1]]})", errc::inconsistent},
        {head + R"("total":1,"saturated":0,"min":99999999,"max":99999999,"counts":[[2532,1]]})", errc::inconsistent},
        {head + R"("total":0,"saturated":1,"counts":[]})", errc::inconsistent},
        {R"({"format":"mailharness.histogram/1","lowest":0,"highest":60000000,"digits":2,"total":0,"saturated":0,"counts":[]})",
         errc::bad_settings},
        {R"({"format":"mailharness.histogram/1","lowest":1,"highest":60000000,"digits":9,"total":0,"saturated":0,"counts":[]})",
         errc::bad_settings},
        {R"({"format":"mailharness.histogram/1","lowest":1,"highest":4611686018427387903,"digits":5,"total":0,"saturated":0,"counts":[]})",
         errc::too_large},
    };
    for (const auto& c : cases) {
        histogram h;
        h.record(77);
        const histogram before = h;
        EXPECT_EQ(from_json_string(c.text, h), c.expected) << c.text;
        EXPECT_TRUE(h == before) << c.text;
    }
    // The good neighbour of those cases parses.
    histogram h;
    EXPECT_FALSE(from_json_string(head + R"("total":2,"saturated":1,"min":3,"max":60000000,)"
                                         R"("counts":[[3,1],[2532,1]]})",
                                  h));
    EXPECT_EQ(h.saturated_count(), 1u);
    EXPECT_EQ(h.value_at_percentile(100), 60'000'000u);
}

}  // namespace
