// Renderers of a run's results (results.hpp): the text summary printed at the end of a run,
// JUnit XML with one test case per threshold (for CI), and a self-contained HTML report with
// inline SVG charts (no scripts or styles fetched from anywhere).
#pragma once

#include <ostream>

#include "mailharness/load/results.hpp"

namespace mailharness::load {

/// Human summary: per workload counters and rates, a latency table per metric (count, p50, p90,
/// p99, p99.9, max), errors by kind, thresholds with their observed values.
void write_summary(std::ostream& out, const results& r);

/// JUnit XML: a testsuite "mailload <scenario>" with a testcase per threshold, failed with the
/// observed value when it did not hold; an aborted run adds a failed "run" testcase.
void write_junit(std::ostream& out, const results& r);

/// The HTML report: summary tables and SVG charts of throughput and errors over time, iterations
/// in progress, latency percentiles over time per metric, and the percentile spectrum. Every
/// chart is an <svg class="chart" data-chart="..."> whose data series are <path class="series">
/// elements (a chart without data says "no data" and has none); a few lines of inline script
/// store the drawn length of each chart's series in its data-drawn attribute when a browser
/// renders the page, which the headless Chromium test reads to find empty charts.
void write_html(std::ostream& out, const results& r);

/// XML/HTML escaping of text and attribute values.
std::string xml_escape(std::string_view s);

}  // namespace mailharness::load
