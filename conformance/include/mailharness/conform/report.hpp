// From the runner's results to the conformance run model of reports/ (which renders the
// summary, JUnit, TAP, JSON, Markdown and HTML), and the exit-status rule.
#pragma once

#include <string>
#include <vector>

#include "mailharness/conform/runner.hpp"
#include "mailharness/reports/conformance.hpp"

namespace mailharness::conform {

struct totals {
    int passed = 0, failed = 0, skipped = 0;
};
totals count(const std::vector<case_result>& results);

/// What the report says about the run besides its cases.
struct run_info {
    std::string started_at;  ///< UTC, ISO 8601
    std::string target;      ///< "host:port"
    std::string tls;         ///< none | starttls | implicit
    std::string version;     ///< mailconform's
};

/// The model reports/ renders and mailconform writes as JSON; `results` point into the suite.
reports::conformance_run to_report(const std::vector<case_result>& results, const run_info& info = {});

/// True when a failed case is at `fail_on` level or stricter (must < should < may).
bool any_failure_at(const std::vector<case_result>& results, level fail_on);

}  // namespace mailharness::conform
