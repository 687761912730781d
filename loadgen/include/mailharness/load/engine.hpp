// The mailload engine: runs a scenario against real servers and returns its results.
//
// Asynchronous (Asio, C++20 coroutines; no Asio in this header): one io_context and one thread
// per core, a coroutine per virtual user (closed model) or per iteration (open model), deadlines
// on every connect, read, write and handshake. Per-protocol session drivers run the actions
// (SMTP now); the engine runs executors, flows, think times and probabilities, records latency
// into per-thread histograms that are merged once a second, and stops early when a threshold
// marked abort_on_fail fails.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mailharness/load/results.hpp"
#include "mailharness/load/scenario.hpp"
#include "mailharness/load/schedule.hpp"

namespace mailharness::load {

/// A once-a-second view of a running test, for the live display.
struct progress {
    double elapsed_s = 0;
    double planned_s = 0;  ///< stages, without graceful stops
    struct workload_view {
        std::string name;
        std::uint64_t iterations = 0;  ///< so far
        std::uint64_t failed = 0;
        std::uint64_t messages = 0;
        std::uint64_t active = 0;      ///< iterations running at the end of the last second
        double iteration_rate = 0;     ///< in the last whole second
        double message_rate = 0;
        std::uint64_t p50_us = 0;      ///< iteration latency in the last whole second
        std::uint64_t p99_us = 0;
    };
    std::vector<workload_view> workloads;
    std::uint64_t errors = 0;
    bool aborting = false;
    std::string abort_reason;
};

struct run_options {
    /// Worker threads, each with its own io_context; 0: one per core.
    unsigned threads = 0;
    /// The share of every workload this process runs.
    shard_spec shard;
    /// Called from the engine's control thread about once a second.
    std::function<void(const progress&)> on_progress;
    /// Written into the results.
    std::string version;
    /// Test seam: extra time after the planned end before iterations are cut (on top of each
    /// executor's graceful_stop); 0 normally.
    usec extra_grace{0};
};

/// Runs `s`. Returns false with `error` set when the run cannot start (a target cannot be
/// resolved, a TLS file cannot be read, an eml folder fails); failures during the run are
/// results (errors by class), not a false return. Thresholds are evaluated in `out`.
bool run(const scenario& s, const run_options& options, results& out, std::string& error);

/// The open-file limit after raising the soft limit to the hard one (and the hard one as far
/// as the process may): what bounds concurrent connections.
std::uint64_t raise_file_limit() noexcept;

}  // namespace mailharness::load
