#include "mailharness/conform/expand.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using mailharness::conform::expand;
using mailharness::conform::variables;

TEST(conform_expand, variables_arithmetic_repeat_and_dollars) {
    const variables v{{"d", "example.test"}, {"size", "1000"}};
    EXPECT_EQ(expand("EHLO ${d}", v), "EHLO example.test");
    EXPECT_EQ(expand("SIZE=${size+1}", v), "SIZE=1001");
    EXPECT_EQ(expand("${size+-1000}", v), "0");
    EXPECT_EQ(expand("NOOP ${repeat:3:ab}!", v), "NOOP ababab!");
    EXPECT_EQ(expand("${repeat:0:x}", v), "");
    EXPECT_EQ(expand("^250 .*$", v), "^250 .*$");  // a lone '$' stays (regex anchors)
    EXPECT_EQ(expand("$${d}", v), "${d}");
    EXPECT_EQ(expand("", v), "");
}

TEST(conform_expand, errors) {
    const variables v{{"d", "example.test"}};
    EXPECT_THROW(expand("${nope}", v), std::invalid_argument);
    EXPECT_THROW(expand("${d+1}", v), std::invalid_argument);  // not an integer
    EXPECT_THROW(expand("${d", v), std::invalid_argument);
    EXPECT_THROW(expand("${repeat:x:a}", v), std::invalid_argument);
    EXPECT_THROW(expand("${repeat:2000000:a}", v), std::invalid_argument);
}

// Found while writing fuzz/conform_case: a value captured from a server's reply at the edge of
// long long (e.g. "SIZE 9223372036854775807" for ${limit+1}) overflowed the addition (undefined).
TEST(conform_expand, arithmetic_out_of_range_is_an_error) {
    const variables v{{"big", "9223372036854775807"}, {"small", "-9223372036854775808"}};
    EXPECT_EQ(expand("${big+0}", v), "9223372036854775807");
    EXPECT_EQ(expand("${big+-1}", v), "9223372036854775806");
    EXPECT_THROW(expand("${big+1}", v), std::invalid_argument);
    EXPECT_THROW(expand("${small+-1}", v), std::invalid_argument);
    EXPECT_EQ(expand("${small+1}", v), "-9223372036854775807");
}

// A case cannot make the runner build a payload of gigabytes: the result is bounded (16 MiB).
TEST(conform_expand, result_is_bounded) {
    const variables v{{"d", "example.test"}};
    const std::string repeat16 = "${repeat:1000000:" + std::string(16, 'x') + "}";
    EXPECT_EQ(expand(repeat16, v).size(), 16'000'000u);
    EXPECT_THROW(expand("${repeat:1000000:" + std::string(17, 'x') + "}", v), std::invalid_argument);
    EXPECT_THROW(expand("${repeat:1000000:" + std::string(4096, 'x') + "}", v), std::invalid_argument);
    EXPECT_THROW(expand(repeat16 + repeat16, v), std::invalid_argument);
    EXPECT_THROW(expand(repeat16 + std::string(800'000, 'y'), v), std::invalid_argument);
    EXPECT_LE(mailharness::conform::max_expanded_size, 16u << 20);
}
