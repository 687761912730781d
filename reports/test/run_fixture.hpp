// Small load runs built in code the way the engine lays them out, for the reports tests.
#pragma once

#include <string>

#include "mailharness/load/results.hpp"

namespace mailharness::reports::test {

/// A run of `seconds` seconds of one workload "w" with metrics smtp.connect and smtp.data:
/// `per_second` iterations a second, each with latencies around 1 ms and 5 ms times `slowdown`
/// (spread over 1..2x), `failed_per_second` of them failed.
inline load::results make_run(const std::string& started_at, double slowdown = 1.0, unsigned per_second = 100, unsigned seconds = 10,
                              unsigned failed_per_second = 0, const std::string& scenario = "smoke") {
    load::results r;
    r.scenario = scenario;
    r.seed = 1;
    r.run.started_at = started_at;
    r.run.duration_s = seconds;
    r.run.planned_duration_s = seconds;
    r.run.shard = {0, 1};
    r.run.shards = {0};
    r.run.threads = 2;
    r.run.version = "0.1.0";
    r.workloads = {{"w", "smtp", "127.0.0.1:25 (tls none)", "closed, 4 VUs for 10s"}};
    for (unsigned s = 0; s < seconds; ++s) {
        load::second_sample x;
        x.second = s;
        stats::histogram connect, data;
        for (unsigned i = 0; i < per_second; ++i) {
            const double spread = 1.0 + static_cast<double>(i) / per_second;
            connect.record(static_cast<std::uint64_t>(1000 * spread * slowdown));
            data.record(static_cast<std::uint64_t>(5000 * spread * slowdown));
        }
        (void)r.latency[{"w", "smtp.connect"}].merge(connect);
        (void)r.latency[{"w", "smtp.data"}].merge(data);
        x.latency["w/smtp.connect"] = load::compact_histogram::from(connect);
        x.latency["w/smtp.data"] = load::compact_histogram::from(data);
        x.workloads["w"] = {per_second, failed_per_second, per_second - failed_per_second, 4};
        auto& c = r.counters["w"];
        c.iterations += per_second;
        c.failed += failed_per_second;
        c.messages += per_second - failed_per_second;
        c.connections += per_second;
        r.series.push_back(std::move(x));
    }
    if (failed_per_second)
        r.errors.push_back({"w", "smtp.rcpt", load::error_class::reply_5xx, 550, std::uint64_t(failed_per_second) * seconds, "550 no"});
    load::threshold t;
    std::string e;
    (void)load::parse_threshold("smtp.data p99 < 1s", t, e);
    r.thresholds = load::evaluate({t}, r);
    return r;
}

}  // namespace mailharness::reports::test
