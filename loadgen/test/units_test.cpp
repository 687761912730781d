#include "mailharness/load/units.hpp"

#include <gtest/gtest.h>

using namespace mailharness::load;
using std::chrono::microseconds;

TEST(units, durations) {
    const struct {
        const char* text;
        long long us;
    } good[] = {
        {"0", 0},          {"250ms", 250'000},  {"1s", 1'000'000}, {"1.5s", 1'500'000}, {"1m30s", 90'000'000},
        {"2h", 7'200'000'000LL}, {"10us", 10}, {" 3s ", 3'000'000}, {"0.5ms", 500}, {"1h1m1s1ms1us", 3'661'001'001LL},
    };
    for (const auto& g : good) {
        usec d{-1};
        ASSERT_TRUE(parse_duration(g.text, d)) << g.text;
        EXPECT_EQ(d.count(), g.us) << g.text;
    }
    for (const char* bad : {"", "5", "-1s", "1x", "s", ".5s", "5.s", "1e3s", "101d", "2401h", "1s2", "1 s",
                            "99999999999999999999999999h"}) {
        usec d{42};
        EXPECT_FALSE(parse_duration(bad, d)) << bad;
        EXPECT_EQ(d.count(), 42) << bad;
    }
    usec d{};
    EXPECT_FALSE(parse_duration(std::string(100, '1') + "s", d));
}

TEST(units, sizes) {
    const struct {
        const char* text;
        std::uint64_t n;
    } good[] = {{"0", 0}, {"4096", 4096}, {"4KiB", 4096}, {"4KB", 4000}, {"1.5KiB", 1536}, {"1MiB", 1048576},
                {"2MB", 2'000'000}, {"1GiB", 1073741824}, {"10 B", 10}};
    for (const auto& g : good) {
        std::uint64_t v = 7;
        ASSERT_TRUE(parse_size(g.text, v)) << g.text;
        EXPECT_EQ(v, g.n) << g.text;
    }
    for (const char* bad : {"", "1.5", "-4", "4k", "4kib", "KiB", "2TiB", "4096x"}) {
        std::uint64_t v = 7;
        EXPECT_FALSE(parse_size(bad, v)) << bad;
        EXPECT_EQ(v, 7u);
    }
}

TEST(units, rates) {
    double r = 0;
    ASSERT_TRUE(parse_rate("100/s", r));
    EXPECT_DOUBLE_EQ(r, 100);
    ASSERT_TRUE(parse_rate("600/m", r));
    EXPECT_DOUBLE_EQ(r, 10);
    ASSERT_TRUE(parse_rate("7200/h", r));
    EXPECT_DOUBLE_EQ(r, 2);
    ASSERT_TRUE(parse_rate("2.5", r));
    EXPECT_DOUBLE_EQ(r, 2.5);
    for (const char* bad : {"", "/s", "10/d", "-1/s", "1e9/s", "abc"}) EXPECT_FALSE(parse_rate(bad, r)) << bad;
}

TEST(units, formatting) {
    EXPECT_EQ(format_micros(830), "830us");
    EXPECT_EQ(format_micros(1250), "1.25ms");
    EXPECT_EQ(format_micros(12'400), "12.4ms");
    EXPECT_EQ(format_micros(1'250'000), "1.25s");
    EXPECT_EQ(format_micros(123'000'000), "2m03s");
    EXPECT_EQ(format_size(4096), "4.0KiB");
    EXPECT_EQ(format_size(100), "100B");
}
