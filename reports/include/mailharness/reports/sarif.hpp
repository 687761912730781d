// SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format) for findings: fuzz and
// security findings, and the security cases a conformance run failed. One run, one tool.
// Required properties written (SARIF 2.1.0 section 3): sarifLog.version and runs;
// run.tool.driver.name; result.message.text; every result's ruleId names a rule in
// tool.driver.rules (ruleIndex points at it).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mailharness::reports {

struct conformance_run;

inline constexpr const char* sarif_schema_uri = "https://json.schemastore.org/sarif-2.1.0.json";

struct sarif_finding {
    std::string rule_id;      ///< stable id, e.g. a conformance case id or a fuzz target name
    std::string rule_name;    ///< short description of the rule
    std::string help_uri;     ///< optional: where the rule is explained (an RFC section)
    std::string level = "error";  ///< SARIF level: error | warning | note | none
    std::string message;      ///< what was found
    std::string uri;          ///< optional artifact: the case file, the crashing input
    int line = 0;             ///< optional 1-based line in `uri`
    std::vector<std::string> tags;
};

struct sarif_tool {
    std::string name;         ///< "mailconform", "mailfuzz"
    std::string version;
    std::string information_uri;
};

/// The SARIF log: {"$schema", "version": "2.1.0", "runs": [{"tool": {"driver": {name, version,
/// informationUri, rules}}, "results": [...]}]}. Rules are the distinct rule ids in order.
nlohmann::json to_sarif(const sarif_tool& tool, const std::vector<sarif_finding>& findings);
void write_sarif(std::ostream& out, const sarif_tool& tool, const std::vector<sarif_finding>& findings);

/// The failed cases of a conformance run as findings: MUST failures are errors, SHOULD
/// warnings, MAY notes; the case file and the failing step's line as location.
std::vector<sarif_finding> conformance_findings(const conformance_run& r);

}  // namespace mailharness::reports
