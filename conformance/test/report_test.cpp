// The runner's results handed to reports/ (whose renderers have their tests there), and the
// exit-status rule.
#include "mailharness/conform/report.hpp"

#include <gtest/gtest.h>

using namespace mailharness::conform;

namespace {

struct fixture {
    test_case must_case, should_case, skip_case;
    std::vector<case_result> results;
    fixture() {
        must_case.id = "a-must";
        must_case.rfc = "RFC 5321 4.1.1";
        must_case.level = level::must;
        must_case.tags = {"session"};
        should_case.id = "b-should";
        should_case.level = level::should;
        should_case.category = category::security;
        should_case.file = "suites/smtp/b.yaml";
        skip_case.id = "c-skip";
        results.push_back({.tc = &must_case, .outcome = outcome::passed, .decisive = {"ignored when passed"}});
        results.push_back({.tc = &should_case, .outcome = outcome::failed, .message = "reply <5>", .line = 7,
                           .duration = std::chrono::milliseconds(12), .transcript = "C: RCPT\nS: 250 \x01ok\n",
                           .decisive = {"C: RCPT", "S: 250 ?ok"}});
        results.push_back({.tc = &skip_case, .outcome = outcome::skipped, .message = "no PIPELINING"});
    }
};

}  // namespace

TEST(conform_report, counts) {
    fixture f;
    const auto t = count(f.results);
    EXPECT_EQ(t.passed, 1);
    EXPECT_EQ(t.failed, 1);
    EXPECT_EQ(t.skipped, 1);
}

TEST(conform_report, fail_on_levels) {
    fixture f;
    EXPECT_FALSE(any_failure_at(f.results, level::must));
    EXPECT_TRUE(any_failure_at(f.results, level::should));
    EXPECT_TRUE(any_failure_at(f.results, level::may));
    f.results[0].outcome = outcome::failed;
    EXPECT_TRUE(any_failure_at(f.results, level::must));
}

TEST(conform_report, to_report_carries_every_field) {
    fixture f;
    const auto run = to_report(f.results, {.started_at = "2025-01-02T03:04:05Z", .target = "127.0.0.1:25", .tls = "starttls", .version = "0.1.0"});
    EXPECT_EQ(run.target, "127.0.0.1:25");
    EXPECT_EQ(run.started_at, "2025-01-02T03:04:05Z");
    ASSERT_EQ(run.cases.size(), 3u);
    EXPECT_EQ(run.cases[0].id, "a-must");
    EXPECT_EQ(run.cases[0].level, "MUST");
    EXPECT_EQ(run.cases[0].rfc, "RFC 5321 4.1.1");
    EXPECT_EQ(run.cases[0].tags, std::vector<std::string>{"session"});
    EXPECT_TRUE(run.cases[0].decisive.empty());  // only a failure has decisive lines
    const auto& b = run.cases[1];
    EXPECT_EQ(b.outcome, "failed");
    EXPECT_EQ(b.level, "SHOULD");
    EXPECT_EQ(b.category, "security");
    EXPECT_EQ(b.protocol, "smtp");
    EXPECT_EQ(b.line, 7);
    EXPECT_EQ(b.duration_ms, 12);
    EXPECT_EQ(b.file, "suites/smtp/b.yaml");
    EXPECT_EQ(b.decisive, (std::vector<std::string>{"C: RCPT", "S: 250 ?ok"}));
    EXPECT_EQ(run.cases[2].outcome, "skipped");
    EXPECT_EQ(run.cases[2].message, "no PIPELINING");
}
