// Results of a mailload run: the source of truth every report is rendered from, saved as
// results.json (format "mailharness.mailload.results/1", described in loadgen/README.md).
//
// Latency is kept as HDR-style histograms (core/stats: 1 us .. 60 s, <= 1% error): per workload
// and metric for the whole run, and per second of the run for the time series. Histograms and
// counters merge by addition, so `mailload merge` of the N shards of a run gives exactly the
// counts, and so the percentiles, that one process seeing every sample would have reported.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mailharness/load/schedule.hpp"
#include "mailharness/load/threshold.hpp"
#include "mailharness/stats/histogram.hpp"

namespace mailharness::load {

inline constexpr std::string_view results_format = "mailharness.mailload.results/1";

/// Why an action failed.
enum class error_class : std::uint8_t {
    refused,    ///< the connection was refused (nothing listens, or a firewall said no)
    timeout,    ///< a connect, read, write or handshake passed its deadline
    tls,        ///< TLS handshake failed (certificate, protocol version, alert)
    reply_4xx,  ///< the server answered with a transient failure (code kept)
    reply_5xx,  ///< the server answered with a permanent failure (code kept)
    protocol,   ///< malformed or unexpected reply, a missing extension, a SASL failure
    network,    ///< reset, unexpected close, other socket errors
};
const char* to_string(error_class c) noexcept;
/// "refused", ..., "4xx", "5xx"; false when unknown.
bool parse_error_class(std::string_view s, error_class& out) noexcept;

/// The non-empty buckets of a default-settings histogram: what one second of one metric costs
/// in memory and in results.json (a few dozen numbers), and mergeable like the full histogram.
struct compact_histogram {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> counts;  ///< (bucket index, count), increasing
    std::uint64_t total = 0;
    std::uint64_t saturated = 0;
    std::uint64_t min = 0;
    std::uint64_t max = 0;

    static compact_histogram from(const stats::histogram& h);
    /// Adds `o` (both sorted by index).
    void add(const compact_histogram& o);
    /// The full histogram with these counts (and exactly this min and max).
    stats::histogram expand() const;
    bool empty() const noexcept { return total == 0; }
    friend bool operator==(const compact_histogram&, const compact_histogram&) = default;
};

struct workload_counters {
    std::uint64_t iterations = 0;   ///< flows finished, with or without error (not interrupted ones)
    std::uint64_t failed = 0;       ///< iterations that ended on an error
    std::uint64_t interrupted = 0;  ///< iterations cut by a ramp-down, the end of the run or an abort
    std::uint64_t dropped = 0;      ///< open model: arrivals dropped because the backlog was full
    std::uint64_t messages = 0;     ///< messages the server accepted (250 after DATA / BDAT LAST)
    std::uint64_t recipients = 0;   ///< recipients the server accepted
    std::uint64_t connections = 0;  ///< TCP connections established
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    void add(const workload_counters& o) noexcept;
    friend bool operator==(const workload_counters&, const workload_counters&) = default;
};

/// Errors of one kind: counted by workload, action (its metric name), class and reply code.
struct error_entry {
    std::string workload;
    std::string action;
    error_class cls = error_class::network;
    int code = 0;             ///< the reply code for 4xx/5xx, else 0
    std::uint64_t count = 0;
    std::string example;      ///< one message, e.g. "550 5.1.1 no such user" or "connection refused"
};

/// One second of a workload.
struct second_counts {
    std::uint64_t iterations = 0;
    std::uint64_t failed = 0;
    std::uint64_t messages = 0;
    std::uint64_t active = 0;  ///< iterations in progress at the end of the second (VUs busy / in flight)
    void add(const second_counts& o) noexcept;
    friend bool operator==(const second_counts&, const second_counts&) = default;
};

struct second_sample {
    std::uint32_t second = 0;  ///< since the start of the run
    std::map<std::string, second_counts> workloads;
    /// Latency of the second by "workload/metric".
    std::map<std::string, compact_histogram> latency;
};

struct threshold_result {
    threshold def;
    bool passed = false;
    bool no_data = false;     ///< the metric has no samples (counts as a failure)
    double observed = 0;      ///< in the threshold's unit (see threshold::value)
};

struct workload_info {
    std::string name;
    std::string protocol;
    std::string target;    ///< "host:port (tls mode)"
    std::string executor;  ///< e.g. "closed, 4 VUs for 5s" or "open, 20/s poisson for 5s"
};

struct run_info {
    std::string started_at;        ///< UTC, ISO 8601
    double duration_s = 0;         ///< measured, from start to the last iteration's end
    double planned_duration_s = 0; ///< the scenario's (after --duration)
    /// The split: count is N of --shard i/N (1 unsharded), index the (lowest) shard held.
    shard_spec shard;
    /// Every shard index these results hold, sorted: [i] for one shard, all of 0..N-1 after a
    /// complete merge.
    std::vector<std::uint32_t> shards;
    unsigned threads = 0;
    bool aborted = false;
    std::string abort_reason;
    std::string version;
};

struct results {
    std::string scenario;
    std::string description;
    std::string scenario_file;
    std::uint64_t seed = 0;
    run_info run;
    std::vector<workload_info> workloads;
    std::map<std::string, workload_counters> counters;  ///< by workload
    /// Whole-run latency by (workload, metric).
    std::map<std::pair<std::string, std::string>, stats::histogram> latency;
    std::vector<error_entry> errors;
    std::vector<second_sample> series;  ///< by increasing second
    std::vector<threshold_result> thresholds;

    /// Totals over all workloads.
    workload_counters total() const;
    std::uint64_t error_count() const;
    /// The histogram of `metric` over every workload, or one.
    stats::histogram aggregate(std::string_view metric, std::string_view workload = {}) const;
    /// Metric names that have samples, sorted, without duplicates.
    std::vector<std::string> metric_names() const;
};

/// The threshold's statistic on `r` (see threshold.hpp for units). `no_data` is set when the
/// metric has no samples or the run has no duration.
double observe(const threshold& t, const results& r, bool& no_data);

/// Evaluates every threshold definition in `defs` on `r`.
std::vector<threshold_result> evaluate(const std::vector<threshold>& defs, const results& r);

/// True when every threshold passed.
bool thresholds_passed(const results& r) noexcept;

nlohmann::json to_json(const results& r);
std::string to_json_string(const results& r);

/// Reads results.json, checking the format tag, every histogram (core/stats' checks) and the
/// threshold expressions. On error returns false with `error` set and `out` unspecified.
bool from_json(const nlohmann::json& j, results& out, std::string& error);
bool from_json_string(std::string_view text, results& out, std::string& error);

/// Combines shard results into one: counters, histograms and per-second series added, errors
/// summed by kind, duration the longest, thresholds evaluated again on the whole. The parts must
/// come from the same scenario (name, seed and shard count) and hold different shards.
bool merge(const std::vector<results>& parts, results& out, std::string& error);

}  // namespace mailharness::load
