// Result renderers: human summary, JUnit XML, TAP 13 and JSON.
#pragma once

#include <iosfwd>
#include <vector>

#include "mailharness/conform/runner.hpp"

namespace mailharness::conform {

struct totals {
    int passed = 0, failed = 0, skipped = 0;
};
totals count(const std::vector<case_result>& results);

/// Failures listed with their RFC and message, then the last line, exactly
/// "N passed, N failed, N skipped".
void write_summary(std::ostream& out, const std::vector<case_result>& results);

/// JUnit XML: one <testsuite name="mailconform">, one <testcase> per case (classname = protocol.category),
/// <failure> / <skipped> with the message, the transcript in <system-out>.
void write_junit(std::ostream& out, const std::vector<case_result>& results);

/// TAP version 13: "ok N - id # SKIP reason" / "not ok N - id" with a YAML diagnostic block.
void write_tap(std::ostream& out, const std::vector<case_result>& results);

/// JSON: {"summary": {...}, "cases": [{id, title, protocol, rfc, level, category, tags, outcome,
/// message, file, line, duration_ms, transcript}]}.
void write_json(std::ostream& out, const std::vector<case_result>& results);

/// True when a failed case is at `fail_on` level or stricter (must < should < may).
bool any_failure_at(const std::vector<case_result>& results, level fail_on);

}  // namespace mailharness::conform
