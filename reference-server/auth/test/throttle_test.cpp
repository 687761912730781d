#include "mailharness/refmaild/auth/throttle.hpp"

#include <gtest/gtest.h>

using mailharness::refmaild::auth::throttle;
using namespace std::chrono_literals;

TEST(throttle, penalty_doubles_per_failure_up_to_the_maximum) {
    throttle t(100ms, 1000ms);
    EXPECT_EQ(t.penalty("192.0.2.1"), 0ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 100ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 200ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 400ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 800ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 1000ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 1000ms);
    // The penalty applies to the IP's next attempt whatever its outcome, on any connection.
    EXPECT_EQ(t.penalty("192.0.2.1"), 1000ms);
    EXPECT_EQ(t.penalty("192.0.2.2"), 0ms);
}

TEST(throttle, zero_base_disables_it) {
    throttle t(0ms, 1000ms);
    EXPECT_EQ(t.failed("192.0.2.1"), 0ms);
    EXPECT_EQ(t.penalty("192.0.2.1"), 0ms);
}

TEST(throttle, memory_is_bounded_under_a_spray_of_addresses) {
    throttle t(100ms, 1000ms, 1000);
    for (int i = 0; i < 10000; ++i) t.failed("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    EXPECT_LE(t.tracked(), 1000u);
}

TEST(throttle, a_success_after_the_penalty_starts_the_ip_again) {
    throttle t(100ms, 1000ms);
    t.failed("192.0.2.1");
    t.failed("192.0.2.1");
    EXPECT_EQ(t.penalty("192.0.2.1"), 200ms);  // the right password waits this long...
    t.succeeded("192.0.2.1");
    EXPECT_EQ(t.penalty("192.0.2.1"), 0ms);    // ...and then the IP is clean again
    EXPECT_EQ(t.failed("192.0.2.1"), 100ms);
}
