#include "mailharness/conform/report.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace mailharness::conform;

namespace {

struct fixture {
    test_case must_case, should_case, skip_case;
    std::vector<case_result> results;
    fixture() {
        must_case.id = "a-must";
        must_case.rfc = "RFC 5321 4.1.1";
        must_case.level = level::must;
        should_case.id = "b-should";
        should_case.level = level::should;
        skip_case.id = "c-skip";
        results.push_back({.tc = &must_case, .outcome = outcome::passed});
        results.push_back({.tc = &should_case, .outcome = outcome::failed, .message = "reply <5>", .line = 7,
                           .transcript = "S: 250 \x01ok\n"});
        results.push_back({.tc = &skip_case, .outcome = outcome::skipped, .message = "no PIPELINING"});
    }
};

}  // namespace

TEST(conform_report, summary_ends_with_counts_line) {
    fixture f;
    std::ostringstream s;
    write_summary(s, f.results);
    const auto text = s.str();
    EXPECT_TRUE(text.ends_with("\n1 passed, 1 failed, 1 skipped\n")) << text;
    EXPECT_NE(text.find("b-should"), std::string::npos);
}

TEST(conform_report, fail_on_levels) {
    fixture f;
    EXPECT_FALSE(any_failure_at(f.results, level::must));
    EXPECT_TRUE(any_failure_at(f.results, level::should));
    EXPECT_TRUE(any_failure_at(f.results, level::may));
    f.results[0].outcome = outcome::failed;
    EXPECT_TRUE(any_failure_at(f.results, level::must));
}

TEST(conform_report, junit_tap_json) {
    fixture f;
    std::ostringstream junit, tap, json;
    write_junit(junit, f.results);
    write_tap(tap, f.results);
    write_json(json, f.results);
    EXPECT_NE(junit.str().find("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""), std::string::npos) << junit.str();
    EXPECT_NE(junit.str().find("<failure message=\"reply &lt;5&gt;\""), std::string::npos);
    EXPECT_EQ(junit.str().find('\x01'), std::string::npos);  // control bytes are not valid XML
    EXPECT_NE(tap.str().find("1..3\nok 1 - a-must"), std::string::npos) << tap.str();
    EXPECT_NE(tap.str().find("not ok 2 - b-should"), std::string::npos);
    EXPECT_NE(tap.str().find("ok 3 - c-skip  # SKIP no PIPELINING"), std::string::npos) << tap.str();
    const auto doc = nlohmann::json::parse(json.str());
    EXPECT_EQ(doc["summary"]["failed"], 1);
    EXPECT_EQ(doc["cases"][1]["outcome"], "failed");
    EXPECT_EQ(doc["cases"][1]["line"], 7);
}
