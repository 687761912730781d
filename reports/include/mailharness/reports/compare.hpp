// Comparing two runs of the same kind: a load run (per phase and percentile, throughput, error
// rate) against limits, and a conformance run (which cases changed verdict). mailreport compare
// renders these and exits 1 on a regression.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mailharness/load/results.hpp"
#include "mailharness/reports/conformance.hpp"

namespace mailharness::reports {

/// The percentiles compared, in order, and their names ("p50", ..., "max" for 100).
inline constexpr std::pair<const char*, double> compared_percentiles[] = {
    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"max", 100}};

/// How much worse a new run may be than its base. Fractions: 0.10 is 10%.
struct compare_limits {
    /// Largest latency growth per percentile name, for every metric (default: p99 10%).
    std::map<std::string, double> latency_growth{{"p99", 0.10}};
    /// Per metric ("smtp.data") and percentile: overrides latency_growth.
    std::map<std::string, std::map<std::string, double>> metric_growth;
    /// Largest drop of messages/s and iterations/s, overall and per workload (default 5%).
    double throughput_drop = 0.05;
    /// Largest rise of the failed-iteration rate, in percentage points (negative: unchecked).
    double error_rate_rise = -1;
    /// Latency changes smaller than this many microseconds never count (timer noise on
    /// sub-millisecond phases).
    double latency_floor_us = 0;
};

/// "10%", "0.5%", "10" (percent) -> 0.10, 0.005, 0.10; false when not a percentage in 0..1000.
bool parse_percent(std::string_view text, double& fraction);

/// A thresholds file (JSON, format "mailharness.mailreport.thresholds/1"):
/// {"latency": {"p99": "10%", "p50": "25%"}, "metrics": {"smtp.tls_handshake": {"p99": "30%"}},
///  "throughput_drop": "5%", "error_rate_rise": "1%", "latency_floor_us": 200}. Every key is
/// optional; what it gives replaces the default. False with `error` set on a bad file.
bool limits_from_json(const nlohmann::json& j, compare_limits& out, std::string& error);

struct change_row {
    std::string section;   ///< "latency", "throughput", "errors"
    std::string subject;   ///< the metric ("smtp.data") or "all" / a workload name
    std::string stat;      ///< "p99", "messages/s", "failed %"
    double base = 0, now = 0;
    double change = 0;     ///< (now - base) / base; for "failed %" the difference in points
    bool limited = false;  ///< a limit applies
    double limit = 0;      ///< the limit that applies (growth, drop or rise, as given)
    std::string verdict;   ///< "regression", "improvement", "ok", "info" (no limit), "new", "gone"
};

struct load_comparison {
    std::string base_name, new_name;  ///< started_at and scenario of each run
    std::vector<change_row> rows;
    bool regression = false;
};
load_comparison compare_load(const load::results& base, const load::results& now, const compare_limits& limits);

struct case_change {
    std::string id, title, level, rfc;
    std::string before, after;  ///< outcomes; "" when absent from that run
    std::string kind;           ///< "regression" (passed -> failed), "fixed", "changed", "new", "gone"
};
struct conformance_comparison {
    std::vector<case_change> changes;  ///< only cases whose verdict differs, in the new run's order
    conformance_run::totals before, after;
    bool regression = false;           ///< a case that passed now fails (or a new case fails)
};
conformance_comparison compare_conformance(const conformance_run& base, const conformance_run& now);

void write_load_comparison_markdown(std::ostream& o, const load_comparison& c);
/// The page: the verdict, the table of changes, and per metric the percentile spectrum of
/// both runs (charts "compare-<metric>") and the throughput over time of both ("compare-throughput").
void write_load_comparison_html(std::ostream& o, const load_comparison& c, const load::results& base, const load::results& now);
void write_conformance_comparison_markdown(std::ostream& o, const conformance_comparison& c);
void write_conformance_comparison_html(std::ostream& o, const conformance_comparison& c);

}  // namespace mailharness::reports
