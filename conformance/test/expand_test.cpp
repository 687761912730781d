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
