// Thresholds: pass/fail criteria on a run's results, e.g. "smtp.data p99 < 200ms" or
// "errors rate < 0.1%". A failed threshold makes mailload exit 1; one marked abort_on_fail stops
// the run as soon as it fails (after its delay).
//
// Grammar (whitespace between the three parts):
//   threshold := metric [ "{" workload "}" ] SP statistic SP op SP value
//   metric    := a latency metric ("smtp.data", "smtp.connect", "iteration", ... see README)
//              | "errors" | "errors." class      (class: refused timeout tls 4xx 5xx protocol
//                                                 network, or a reply code such as 550)
//              | "iterations" | "messages" | "dropped_iterations"
//   statistic := "p" number (0..100, e.g. p99.9) | "avg" | "min" | "max" | "count" | "rate"
//   op        := "<" | "<=" | ">" | ">=" | "==" | "!="
//   value     := a duration ("200ms") for latency statistics other than count and rate;
//                a percentage ("0.1%") or fraction for errors rate; "<number>/s" or a number for
//                the rate of latency samples and counters; a whole number for count.
//
// Meaning of rate: for errors it is the share of iterations that failed (with that class); for
// every other metric it is events per second of run time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/load/units.hpp"

namespace mailharness::load {

enum class threshold_stat : std::uint8_t { percentile, avg, min, max, count, rate };
enum class compare_op : std::uint8_t { lt, le, gt, ge, eq, ne };

/// What kind of metric a threshold names (decides the statistics and units allowed).
enum class metric_family : std::uint8_t {
    latency,  ///< a histogram of microseconds
    errors,   ///< failed iterations (all, or of one class)
    counter,  ///< a count of events
};

/// Longest threshold expression accepted.
inline constexpr std::size_t max_threshold_length = 256;

struct threshold {
    std::string expression;  ///< as written
    std::string metric;      ///< metric name without the {workload} selector
    std::string workload;    ///< empty: all workloads together
    metric_family family = metric_family::latency;
    threshold_stat stat = threshold_stat::percentile;
    double percentile = 0;   ///< for stat == percentile
    compare_op op = compare_op::lt;
    /// The bound in the statistic's unit: microseconds for latency values, a fraction (0..1)
    /// for errors rate, per second for other rates, a plain number for counts.
    double value = 0;
    /// Stop the run as soon as this threshold fails (checked once a second, after abort_delay).
    bool abort_on_fail = false;
    usec abort_delay{0};
};

/// Parses `text` into `out` (expression, metric, workload, family, stat, percentile, op, value;
/// abort settings untouched). On failure returns false, sets `error` to a one-line reason and
/// leaves `out` unchanged.
bool parse_threshold(std::string_view text, threshold& out, std::string& error);

/// Applies the comparison: `observed op value`.
bool compare(double observed, compare_op op, double value) noexcept;

const char* to_string(compare_op op) noexcept;
/// "p99", "avg", ...
std::string stat_name(const threshold& t);
/// A value in the threshold's unit for messages: "12.3ms", "0.05%", "120.0/s", "17".
std::string format_threshold_value(const threshold& t, double v);

}  // namespace mailharness::load
