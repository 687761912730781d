// Trends across many runs (a CI history): each metric of every load run, sorted by the run's
// start time, and the verdict counts of conformance runs. Charts are drawn from at most
// max_chart_points points per series (html.hpp), however many runs there are.
#pragma once

#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "mailharness/load/results.hpp"
#include "mailharness/reports/conformance.hpp"

namespace mailharness::reports {

/// A run and the name it is shown under (its file).
/// (named_conformance_run is in conformance.hpp.)
using named_load_run = std::pair<std::string, load::results>;

/// Sorts by start time (ISO 8601 sorts as text), then by name.
void sort_by_start(std::vector<named_load_run>& runs);
void sort_by_start(std::vector<named_conformance_run>& runs);

/// The page: per scenario, charts of messages/s and iterations/s ("trend-throughput-<scenario>"),
/// the failed-iteration rate ("trend-errors-<scenario>"), and p50/p90/p99 of each metric
/// ("trend-<scenario>-<metric>") against the run number; for conformance runs, passed and failed
/// counts ("trend-conformance"); then a table of the runs. `load` and `conformance` must be
/// sorted (sort_by_start).
void write_trend_html(std::ostream& o, const std::vector<named_load_run>& load, const std::vector<named_conformance_run>& conformance);

}  // namespace mailharness::reports
