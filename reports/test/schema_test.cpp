// The published schemas (reports/schema/) against what the programs write, and the validator
// itself: it must find what is wrong, not only pass good documents.
#include "mailharness/reports/schema.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "mailharness/reports/conformance.hpp"
#include "run_fixture.hpp"

using namespace mailharness;
using namespace mailharness::reports;
using json = nlohmann::json;

namespace {

json schema(const std::string& name) {
    std::ifstream in(std::string(MH_REPORTS_SCHEMA_DIR) + "/" + name);
    EXPECT_TRUE(in) << name;
    return json::parse(in);
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
}

conformance_run conformance_sample() {
    conformance_run r{.started_at = "2025-01-02T03:04:05Z", .target = "127.0.0.1:25", .tls = "starttls", .version = "0.1.0"};
    r.cases.push_back({.id = "a", .title = "t", .protocol = "smtp", .rfc = "RFC 5321 4.1.1", .level = "MUST", .category = "protocol",
                       .tags = {"session"}, .outcome = "passed"});
    r.cases.push_back({.id = "b", .title = "t", .protocol = "smtp", .rfc = "RFC 5321 3.6", .level = "SHOULD", .category = "security",
                       .outcome = "failed", .message = "m", .file = "b.yaml", .line = 3, .duration_ms = 5, .transcript = "C: x\nS: 250 ok\n",
                       .decisive = {"C: x", "S: 250 ok"}});
    return r;
}

}  // namespace

TEST(schema, load_run_schema_accepts_mailloads_results_json) {
    const auto s = schema("load-run.schema.json");
    auto r = test::make_run("2025-01-01T00:00:00Z", 1.0, 50, 5, 2);
    r.run.aborted = true;
    r.run.abort_reason = "threshold";
    const json doc = json::parse(load::to_json_string(r));
    EXPECT_EQ(joined(validate(s, doc)), "");
    EXPECT_EQ(s["properties"]["format"]["const"], load::results_format);
}

TEST(schema, load_run_schema_finds_what_is_wrong) {
    const auto s = schema("load-run.schema.json");
    json doc = load::to_json(test::make_run("2025-01-01T00:00:00Z", 1.0, 50, 5, 2));
    doc.erase("series");
    doc["run"]["duration_s"] = "10";
    doc["errors"][0]["class"] = "5xy";
    doc["latency"][0]["histogram"]["counts"][0] = json::array({1, 2, 3});
    doc["workloads"][0]["counters"]["messages"] = -1;
    const auto problems = validate(s, doc);
    const auto text = joined(problems);
    EXPECT_EQ(problems.size(), 5u) << text;
    EXPECT_NE(text.find("/: missing series"), std::string::npos) << text;
    EXPECT_NE(text.find("/run/duration_s: not number"), std::string::npos) << text;
    EXPECT_NE(text.find("/errors/0/class: not one of"), std::string::npos) << text;
    EXPECT_NE(text.find("/latency/0/histogram/counts/0: more than 2 items"), std::string::npos) << text;
    EXPECT_NE(text.find("/workloads/0/counters/messages: below 0"), std::string::npos) << text;
}

TEST(schema, conformance_run_schema_accepts_mailconforms_json) {
    const auto s = schema("conformance-run.schema.json");
    std::ostringstream o;
    write_conformance_json(o, conformance_sample());
    EXPECT_EQ(joined(validate(s, json::parse(o.str()))), "");
    EXPECT_EQ(s["properties"]["format"]["const"], conformance_format);
    json bad = to_json(conformance_sample());
    bad["cases"][1]["level"] = "MUSTNT";
    bad["cases"][0].erase("decisive");
    const auto text = joined(validate(s, bad));
    EXPECT_NE(text.find("/cases/1/level: not one of MUST, SHOULD, MAY"), std::string::npos) << text;
    EXPECT_NE(text.find("/cases/0: missing decisive"), std::string::npos) << text;
}

TEST(schema, draft_schemas_are_marked_and_usable) {
    for (const char* name : {"probe-history.draft.schema.json", "fuzz-campaign.draft.schema.json"}) {
        const auto s = schema(name);
        EXPECT_TRUE(s["title"].get<std::string>().starts_with("DRAFT")) << name;
        EXPECT_NE(s["properties"]["format"]["const"].get<std::string>().find("/draft"), std::string::npos) << name;
        EXPECT_NO_THROW(validate(s, json::object())) << name;  // only implemented keywords
        EXPECT_FALSE(validate(s, json::object()).empty()) << name;
    }
    const auto probe = schema("probe-history.draft.schema.json");
    const json ok = json::parse(R"({"format":"mailharness.mailprobe.history/draft","target":"mx:25",
        "checks":[{"at":"2025-01-01T00:00:00Z","protocol":"smtp","state":"ok","response_us":1200,"certificate_days_left":40}]})");
    EXPECT_EQ(joined(validate(probe, ok)), "");
}

TEST(schema, validator_refuses_keywords_it_does_not_implement) {
    EXPECT_THROW(validate(json::parse(R"({"type":"string","pattern":"^a"})"), "a"), std::invalid_argument);
    EXPECT_THROW(validate(json::parse(R"({"$ref":"http://example.com/x"})"), 1), std::invalid_argument);
    EXPECT_EQ(validate(json::parse(R"({"type":["string","null"]})"), nullptr).size(), 0u);
    EXPECT_EQ(validate(json::parse(R"({"type":"object","additionalProperties":false})"), json::parse(R"({"x":1})")).size(), 1u);
}
