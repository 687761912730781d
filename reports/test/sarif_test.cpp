// SARIF 2.1.0 output checked against the properties the specification requires (OASIS SARIF
// 2.1.0, section 3): sarifLog.version = "2.1.0" and runs; run.tool.driver.name;
// result.message.text; ruleIndex within tool.driver.rules and equal to the rule's id;
// physicalLocation.artifactLocation.uri; region.startLine >= 1; level one of the four values.
#include "mailharness/reports/sarif.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "mailharness/reports/conformance.hpp"

using namespace mailharness::reports;
using json = nlohmann::json;

namespace {

void expect_valid_sarif(const json& log) {
    ASSERT_TRUE(log.is_object());
    EXPECT_EQ(log.at("version"), "2.1.0");
    EXPECT_TRUE(log.at("$schema").get<std::string>().find("sarif-2.1.0") != std::string::npos);
    ASSERT_TRUE(log.at("runs").is_array());
    for (const auto& run : log.at("runs")) {
        const auto& driver = run.at("tool").at("driver");
        ASSERT_TRUE(driver.at("name").is_string());
        EXPECT_FALSE(driver.at("name").get<std::string>().empty());
        const auto& rules = driver.at("rules");
        std::set<std::string> ids;
        for (const auto& r : rules) EXPECT_TRUE(ids.insert(r.at("id").get<std::string>()).second) << "rule ids are unique";
        for (const auto& res : run.at("results")) {
            ASSERT_TRUE(res.at("message").at("text").is_string());
            const auto level = res.at("level").get<std::string>();
            EXPECT_TRUE(level == "error" || level == "warning" || level == "note" || level == "none") << level;
            const auto index = res.at("ruleIndex").get<std::size_t>();
            ASSERT_LT(index, rules.size());
            EXPECT_EQ(rules[index].at("id"), res.at("ruleId"));
            if (res.contains("locations")) {
                for (const auto& loc : res.at("locations")) {
                    const auto& pl = loc.at("physicalLocation");
                    EXPECT_TRUE(pl.at("artifactLocation").at("uri").is_string());
                    if (pl.contains("region")) {
                        EXPECT_GE(pl.at("region").at("startLine").get<int>(), 1);
                    }
                }
            }
        }
    }
}

}  // namespace

TEST(sarif, findings_make_a_valid_log) {
    const std::vector<sarif_finding> f = {
        {.rule_id = "fuzz_smtp_command", .rule_name = "SMTP command parser", .message = "crash: heap-buffer-overflow", .uri = "out/fuzz/crash-1"},
        {.rule_id = "open-relay", .help_uri = "https://www.rfc-editor.org/rfc/rfc5321#section-3.6", .level = "warning",
         .message = "relayed to example.net", .uri = "suites/smtp/relay.yaml", .line = 12, .tags = {"relay"}},
        {.rule_id = "fuzz_smtp_command", .message = "second crash"},
    };
    std::ostringstream o;
    write_sarif(o, {"mailfuzz", "0.1.0", "https://example.invalid"}, f);
    const auto log = json::parse(o.str());
    expect_valid_sarif(log);
    const auto& run = log["runs"][0];
    EXPECT_EQ(run["tool"]["driver"]["rules"].size(), 2u);  // one rule per distinct id
    EXPECT_EQ(run["results"].size(), 3u);
    EXPECT_EQ(run["results"][2]["ruleIndex"], 0);
    EXPECT_EQ(run["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"], 12);
    EXPECT_FALSE(run["results"][2].contains("locations"));
    EXPECT_EQ(run["tool"]["driver"]["rules"][1]["helpUri"], "https://www.rfc-editor.org/rfc/rfc5321#section-3.6");
}

TEST(sarif, an_empty_log_is_valid_too) {
    const auto log = to_sarif({"mailconform", "", ""}, {});
    expect_valid_sarif(log);
    EXPECT_TRUE(log["runs"][0]["results"].empty());
    EXPECT_FALSE(log["runs"][0]["tool"]["driver"].contains("version"));
}

TEST(sarif, conformance_failures_by_level) {
    conformance_run r{.target = "mx:25"};
    r.cases.push_back({.id = "p", .title = "t", .level = "MUST", .category = "protocol", .outcome = "passed"});
    r.cases.push_back({.id = "m", .title = "must case", .rfc = "RFC 5321 3.6", .level = "MUST", .category = "security",
                       .outcome = "failed", .message = "relayed", .file = "m.yaml", .line = 4});
    r.cases.push_back({.id = "s", .title = "should case", .level = "SHOULD", .category = "tls", .outcome = "failed", .message = "x"});
    r.cases.push_back({.id = "y", .title = "may case", .level = "MAY", .category = "protocol", .outcome = "failed"});
    const auto f = conformance_findings(r);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].level, "error");
    EXPECT_EQ(f[1].level, "warning");
    EXPECT_EQ(f[2].level, "note");
    EXPECT_EQ(f[0].message, "relayed (MUST, RFC 5321 3.6) on mx:25");
    EXPECT_EQ(f[2].message.substr(0, 8), "may case");  // no message: the title
    expect_valid_sarif(to_sarif({"mailconform", "0.1.0", ""}, f));
}
