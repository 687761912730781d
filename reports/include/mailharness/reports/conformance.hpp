// The results model of a conformance run (mailconform's JSON, format
// "mailharness.mailconform.results/1", schema reports/schema/conformance-run.schema.json) and
// its renderers: terminal summary, JUnit XML, TAP 13, JSON, Markdown, the HTML page (cases
// grouped by protocol and category) and a matrix page (case x server) over several runs.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mailharness::reports {

inline constexpr std::string_view conformance_format = "mailharness.mailconform.results/1";

struct conformance_case {
    std::string id;
    std::string title;
    std::string protocol;   ///< "smtp", "pop3", "imap"
    std::string rfc;        ///< e.g. "RFC 5321 4.1.1.1"
    std::string level;      ///< "MUST", "SHOULD", "MAY"
    std::string category;   ///< "protocol", "security", "tls"
    std::vector<std::string> tags;
    std::string outcome;    ///< "passed", "failed", "skipped"
    std::string message;    ///< why it failed or was skipped; empty when passed
    std::string file;       ///< the case file
    int line = 0;           ///< line of the failing step in `file`, 0 when not a step
    std::int64_t duration_ms = 0;
    std::string transcript; ///< "C: ..." / "S: ..." / "-- ..." lines of the conversation
    /// For a failure: the transcript lines that decided it (the last exchange before the
    /// failing step gave up). Empty otherwise, and in files written before it existed.
    std::vector<std::string> decisive;
};

struct conformance_run {
    std::string started_at;  ///< UTC, ISO 8601; empty in files written before it existed
    std::string target;      ///< "host:port"
    std::string tls;         ///< none | starttls | implicit
    std::string version;     ///< mailconform's version
    std::vector<conformance_case> cases;

    struct totals {
        int passed = 0, failed = 0, skipped = 0;
    };
    totals count() const;
};

/// The JSON mailconform writes: {"format", "run": {...}, "summary": {passed, failed, skipped},
/// "cases": [{id, title, protocol, rfc, level, category, tags, outcome, message, file, line,
/// duration_ms, transcript, decisive}]}.
nlohmann::json to_json(const conformance_run& r);
/// Reads that JSON, and the format before "format" and "run" existed (summary + cases). False
/// with `error` set on anything else, and when a case id is given twice (found by fuzzing:
/// comparisons key cases by id).
bool from_json(const nlohmann::json& j, conformance_run& out, std::string& error);

/// Failures listed with their RFC and message, then the last line, exactly
/// "N passed, N failed, N skipped".
void write_conformance_summary(std::ostream& out, const conformance_run& r);
/// JUnit XML: one <testsuite name="mailconform">, one <testcase> per case (classname =
/// protocol.category), <failure> / <skipped> with the message, the transcript in <system-out>.
void write_conformance_junit(std::ostream& out, const conformance_run& r);
/// TAP version 13: "ok N - id title # SKIP reason" / "not ok N - id title" with a YAML block.
void write_conformance_tap(std::ostream& out, const conformance_run& r);
/// to_json(r), indented by 2, invalid UTF-8 (server bytes) replaced.
void write_conformance_json(std::ostream& out, const conformance_run& r);
/// Markdown for a CI job summary: counts, then a table of failures (id, level, RFC, message).
void write_conformance_markdown(std::ostream& out, const conformance_run& r);
/// The HTML page: counts, then cases grouped by protocol and category, each with its RFC
/// reference, level and verdict; a failure shows its message and the decisive transcript lines
/// (the whole transcript folded below).
void write_conformance_html(std::ostream& out, const conformance_run& r);

/// One server's run in a matrix: its column name and results.
using named_conformance_run = std::pair<std::string, conformance_run>;
/// Case x server: one row per case id in any run (first-seen order), one column per run.
void write_conformance_matrix_html(std::ostream& out, const std::vector<named_conformance_run>& runs);

}  // namespace mailharness::reports
