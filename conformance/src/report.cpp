#include "mailharness/conform/report.hpp"

namespace mailharness::conform {

totals count(const std::vector<case_result>& results) {
    totals t;
    for (const auto& r : results) {
        if (r.outcome == outcome::passed) ++t.passed;
        else if (r.outcome == outcome::failed) ++t.failed;
        else ++t.skipped;
    }
    return t;
}

reports::conformance_run to_report(const std::vector<case_result>& results, const run_info& info) {
    reports::conformance_run run{.started_at = info.started_at, .target = info.target, .tls = info.tls, .version = info.version};
    for (const auto& r : results) {
        const auto& c = *r.tc;
        run.cases.push_back({.id = c.id,
                             .title = c.title,
                             .protocol = to_string(c.protocol),
                             .rfc = c.rfc,
                             .level = to_string(c.level),
                             .category = to_string(c.category),
                             .tags = c.tags,
                             .outcome = to_string(r.outcome),
                             .message = r.message,
                             .file = c.file,
                             .line = r.line,
                             .duration_ms = r.duration.count(),
                             .transcript = r.transcript,
                             .decisive = r.outcome == outcome::failed ? r.decisive : std::vector<std::string>{}});
    }
    return run;
}

bool any_failure_at(const std::vector<case_result>& results, level fail_on) {
    for (const auto& r : results) {
        if (r.outcome == outcome::failed && static_cast<int>(r.tc->level) <= static_cast<int>(fail_on)) return true;
    }
    return false;
}

}  // namespace mailharness::conform
