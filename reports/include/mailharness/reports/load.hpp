// Renderers of a load run (mailload's results.json, load::results): the terminal summary, JUnit
// XML with a test case per threshold, a Markdown summary for a CI job page, and the HTML report.
#pragma once

#include <ostream>

#include "mailharness/load/results.hpp"

namespace mailharness::reports {

/// Human summary: per workload counters and rates, a latency table per metric (count, p50, p90,
/// p99, p99.9, max), errors by kind, thresholds with their observed values.
void write_load_summary(std::ostream& out, const load::results& r);

/// JUnit XML: a testsuite "mailload <scenario>" with a testcase per threshold, failed with the
/// observed value when it did not hold; an aborted run adds a failed "run" testcase.
void write_load_junit(std::ostream& out, const load::results& r);

/// GitHub-flavoured Markdown (a CI job summary): the verdict, workloads, latency per metric,
/// errors and thresholds as tables.
void write_load_markdown(std::ostream& out, const load::results& r);

/// The HTML report (html.hpp's style): summary tables and SVG charts of throughput and errors
/// over time, iterations in progress, latency percentiles over time per metric, and the
/// percentile spectrum.
void write_load_html(std::ostream& out, const load::results& r);

}  // namespace mailharness::reports
