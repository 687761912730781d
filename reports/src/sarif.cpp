#include "mailharness/reports/sarif.hpp"

#include <map>
#include <ostream>

#include <nlohmann/json.hpp>

#include "mailharness/reports/conformance.hpp"

namespace mailharness::reports {

using json = nlohmann::json;

json to_sarif(const sarif_tool& tool, const std::vector<sarif_finding>& findings) {
    json rules = json::array(), results = json::array();
    std::map<std::string, std::size_t> index;
    for (const auto& f : findings) {
        auto [it, fresh] = index.try_emplace(f.rule_id, rules.size());
        if (fresh) {
            json rule = {{"id", f.rule_id}, {"shortDescription", {{"text", f.rule_name.empty() ? f.rule_id : f.rule_name}}}};
            if (!f.help_uri.empty()) rule["helpUri"] = f.help_uri;
            if (!f.tags.empty()) rule["properties"] = {{"tags", f.tags}};
            rules.push_back(std::move(rule));
        }
        json r = {{"ruleId", f.rule_id}, {"ruleIndex", it->second}, {"level", f.level}, {"message", {{"text", f.message}}}};
        if (!f.uri.empty()) {
            json loc = {{"artifactLocation", {{"uri", f.uri}}}};
            if (f.line > 0) loc["region"] = {{"startLine", f.line}};
            r["locations"] = json::array({{{"physicalLocation", std::move(loc)}}});
        }
        results.push_back(std::move(r));
    }
    json driver = {{"name", tool.name}, {"rules", std::move(rules)}};
    if (!tool.version.empty()) driver["version"] = tool.version;
    if (!tool.information_uri.empty()) driver["informationUri"] = tool.information_uri;
    return {{"$schema", sarif_schema_uri},
            {"version", "2.1.0"},
            {"runs", json::array({{{"tool", {{"driver", std::move(driver)}}}, {"results", std::move(results)}}})}};
}

void write_sarif(std::ostream& out, const sarif_tool& tool, const std::vector<sarif_finding>& findings) {
    out << to_sarif(tool, findings).dump(2, ' ', false, json::error_handler_t::replace) << '\n';
}

std::vector<sarif_finding> conformance_findings(const conformance_run& r) {
    std::vector<sarif_finding> out;
    for (const auto& c : r.cases) {
        if (c.outcome != "failed") continue;
        std::string message = c.message.empty() ? c.title : c.message;
        if (!c.rfc.empty()) message += " (" + c.level + ", " + c.rfc + ")";
        if (!r.target.empty()) message += " on " + r.target;
        out.push_back({.rule_id = c.id,
                       .rule_name = c.title,
                       .level = c.level == "MUST" ? "error" : c.level == "SHOULD" ? "warning" : "note",
                       .message = std::move(message),
                       .uri = c.file,
                       .line = c.line,
                       .tags = c.tags});
        out.back().tags.push_back(c.category);
    }
    return out;
}

}  // namespace mailharness::reports
