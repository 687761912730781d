#include "mailharness/load/schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

using namespace mailharness::load;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

executor open_exec(double rate, usec d, arrival_process p) {
    executor e;
    e.kind = executor_kind::open;
    e.start = rate;
    e.stages = {{d, rate}};
    e.arrivals = p;
    return e;
}

}  // namespace

TEST(rng, deterministic_and_spread) {
    rng a(42), b(42), c(43);
    std::vector<std::uint64_t> va, vb, vc;
    for (int i = 0; i < 100; ++i) va.push_back(a.next()), vb.push_back(b.next()), vc.push_back(c.next());
    EXPECT_EQ(va, vb);
    EXPECT_NE(va, vc);
    // splitmix64's published first output for seed 0 (reference implementation).
    rng z(0);
    EXPECT_EQ(z.next(), 0xe220a8397b1dcdafull);
    rng u(7);
    double sum = 0;
    for (int i = 0; i < 100000; ++i) {
        const double x = u.uniform01();
        ASSERT_GE(x, 0.0);
        ASSERT_LT(x, 1.0);
        sum += x;
    }
    EXPECT_NEAR(sum / 100000, 0.5, 0.01);
    rng e(9);
    double esum = 0;
    for (int i = 0; i < 100000; ++i) esum += e.exponential(2.0);
    EXPECT_NEAR(esum / 100000, 2.0, 0.05);
    rng n(11);
    double nsum = 0, nsq = 0;
    for (int i = 0; i < 100000; ++i) {
        const double x = n.normal();
        nsum += x;
        nsq += x * x;
    }
    EXPECT_NEAR(nsum / 100000, 0.0, 0.02);
    EXPECT_NEAR(nsq / 100000, 1.0, 0.02);
    rng k(3);
    for (int i = 0; i < 1000; ++i) {
        const auto v = k.between(5, 7);
        ASSERT_GE(v, 5u);
        ASSERT_LE(v, 7u);
    }
    EXPECT_EQ(k.below(0), 0u);
    EXPECT_NE(stream_seed(1, 2, 3), stream_seed(1, 2, 4));
    EXPECT_EQ(stream_seed(1, 2, 3), stream_seed(1, 2, 3));
}

TEST(shard, parse_and_share) {
    shard_spec s;
    ASSERT_TRUE(parse_shard("0/4", s));
    EXPECT_EQ(s, (shard_spec{0, 4}));
    ASSERT_TRUE(parse_shard("3/4", s));
    EXPECT_EQ(s, (shard_spec{3, 4}));
    for (const char* bad : {"4/4", "1/0", "a/2", "1/", "/2", "1", "-1/2", "1/2x", "0/100001"})
        EXPECT_FALSE(parse_shard(bad, s)) << bad;
    for (std::uint64_t total : {0, 1, 7, 10, 1000}) {
        std::uint64_t sum = 0;
        for (std::uint32_t i = 0; i < 3; ++i) sum += share_of(total, i, 3);
        EXPECT_EQ(sum, total);
    }
    EXPECT_EQ(share_of(10, 0, 3), 4u);
    EXPECT_EQ(share_of(10, 2, 3), 3u);
}

TEST(closed_model, constant_vus) {
    executor e;
    e.start = 4;
    e.stages = {{seconds(5), 4}};
    EXPECT_EQ(max_vus(e), 4u);
    for (std::uint32_t v = 0; v < 4; ++v) EXPECT_EQ(vu_intervals(e, v), (std::vector<interval>{{usec(0), seconds(5)}}));
    EXPECT_TRUE(vu_intervals(e, 4).empty());
    EXPECT_DOUBLE_EQ(level_at(e, seconds(2)), 4);
    EXPECT_DOUBLE_EQ(level_at(e, seconds(6)), 0);
}

TEST(closed_model, ramping_stages) {
    // 0 -> 10 VUs in 10 s, hold 10 s, down to 0 in 10 s, then back up to 2 in 10 s.
    executor e;
    e.start = 0;
    e.stages = {{seconds(10), 10}, {seconds(10), 10}, {seconds(10), 0}, {seconds(10), 2}};
    EXPECT_EQ(max_vus(e), 10u);
    EXPECT_DOUBLE_EQ(level_at(e, seconds(5)), 5);
    EXPECT_DOUBLE_EQ(level_at(e, seconds(25)), 5);
    // VU 0 needs level >= 1: from 1 s to 29 s, and again from 35 s to the end.
    EXPECT_EQ(vu_intervals(e, 0), (std::vector<interval>{{seconds(1), seconds(29)}, {seconds(35), seconds(40)}}));
    // VU 1 needs 2: from 2 s to 28 s, and exactly at 40 s (nothing).
    EXPECT_EQ(vu_intervals(e, 1), (std::vector<interval>{{seconds(2), seconds(28)}}));
    EXPECT_EQ(vu_intervals(e, 9), (std::vector<interval>{{seconds(10), seconds(20)}}));
    EXPECT_TRUE(vu_intervals(e, 10).empty());
    // The number of VUs the intervals say are active matches floor(level) at every second.
    for (int t = 0; t < 40; ++t) {
        int active = 0;
        for (std::uint32_t v = 0; v < 10; ++v)
            for (const auto& i : vu_intervals(e, v))
                if (seconds(t) + milliseconds(500) >= i.start && seconds(t) + milliseconds(500) < i.end) ++active;
        EXPECT_EQ(active, static_cast<int>(std::floor(level_at(e, seconds(t) + milliseconds(500))))) << "t=" << t;
    }
}

TEST(open_model, uniform_arrivals_are_evenly_spaced) {
    const auto e = open_exec(10, seconds(2), arrival_process::uniform);
    const auto a = arrivals_of(e, 1);
    ASSERT_EQ(a.size(), 20u);
    for (std::size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k], milliseconds(100 * static_cast<int>(k)));
    EXPECT_EQ(arrivals_of(e, 2), a);  // no randomness in uniform arrivals
}

TEST(open_model, poisson_is_deterministic_per_seed) {
    const auto e = open_exec(1000, seconds(10), arrival_process::poisson);
    const auto a = arrivals_of(e, 7), b = arrivals_of(e, 7), c = arrivals_of(e, 8);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    // 10,000 expected; a Poisson count has sd 100, so 5 sd is 500.
    EXPECT_NEAR(static_cast<double>(a.size()), 10000.0, 500.0);
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
    // Gaps are exponential: mean 1 ms, and about e^-1 of them are longer than the mean.
    std::size_t longer = 0;
    for (std::size_t k = 1; k < a.size(); ++k) longer += (a[k] - a[k - 1]) > milliseconds(1);
    EXPECT_NEAR(static_cast<double>(longer) / static_cast<double>(a.size()), std::exp(-1.0), 0.02);
    // Deterministic across processes too: the first arrival of seed 7 is fixed by splitmix64.
    EXPECT_EQ(a.front(), arrivals_of(e, 7).front());
}

TEST(open_model, ramp_follows_the_integral_of_the_rate) {
    executor e;
    e.kind = executor_kind::open;
    e.start = 0;
    e.stages = {{seconds(10), 100}, {seconds(10), 100}, {seconds(10), 0}};
    e.arrivals = arrival_process::uniform;
    const auto a = arrivals_of(e, 1);
    // 500 + 1000 + 500 arrivals; by 5 s the integral is 125.
    ASSERT_EQ(a.size(), 2000u);
    const auto before5 = std::count_if(a.begin(), a.end(), [](usec t) { return t < seconds(5); });
    EXPECT_NEAR(static_cast<double>(before5), 125.0, 1.0);
    const auto in_hold = std::count_if(a.begin(), a.end(), [](usec t) { return t >= seconds(10) && t < seconds(20); });
    EXPECT_NEAR(static_cast<double>(in_hold), 1000.0, 1.0);
    arrival_schedule s(e, 1);
    EXPECT_DOUBLE_EQ(s.expected_count(), 2000.0);

    e.arrivals = arrival_process::poisson;
    const auto p = arrivals_of(e, 3);
    EXPECT_NEAR(static_cast<double>(p.size()), 2000.0, 5 * std::sqrt(2000.0));
    const auto p5 = std::count_if(p.begin(), p.end(), [](usec t) { return t < seconds(5); });
    EXPECT_NEAR(static_cast<double>(p5), 125.0, 5 * std::sqrt(125.0));
}

TEST(open_model, shards_partition_the_schedule) {
    const auto e = open_exec(500, seconds(4), arrival_process::poisson);
    const auto all = arrivals_of(e, 99);
    std::vector<usec> joined;
    for (std::uint32_t i = 0; i < 4; ++i) {
        const auto part = arrivals_of(e, 99, {i, 4});
        EXPECT_NEAR(static_cast<double>(part.size()), static_cast<double>(all.size()) / 4, 1.0);
        joined.insert(joined.end(), part.begin(), part.end());
    }
    std::sort(joined.begin(), joined.end());
    EXPECT_EQ(joined, all);
}

TEST(open_model, zero_rate_has_no_arrivals) {
    const auto e = open_exec(0, seconds(5), arrival_process::poisson);
    EXPECT_TRUE(arrivals_of(e, 1).empty());
}
