// Timetables of the executors, and the deterministic randomness behind them.
//
// Everything random in a run (arrival gaps, message sizes, users, recipients, think times,
// probabilities) comes from `rng` streams seeded from the scenario seed and a position (workload,
// virtual user and iteration, or arrival number), never from the clock or the thread. So a seed
// gives the same schedule and the same choices whatever the number of threads or shards:
// `--shard i/N` keeps the virtual users j with j % N == i and the arrivals k with k % N == i, and
// the union of the N shards is exactly the unsharded run.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "mailharness/load/scenario.hpp"

namespace mailharness::load {

/// splitmix64 (Steele, Lea, Flood 2014): small, fast, the same sequence on every platform
/// (the standard distributions are not specified bit for bit, so none are used).
class rng {
public:
    explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t next() noexcept;
    /// In [0, 1), 53 random bits.
    double uniform01() noexcept;
    /// In [0, n); 0 when n is 0.
    std::uint64_t below(std::uint64_t n) noexcept;
    /// In [lo, hi].
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept;
    /// Exponential with the given mean.
    double exponential(double mean) noexcept;
    /// Standard normal (Box-Muller).
    double normal() noexcept;
    /// True with probability p.
    bool chance(double p) noexcept { return p >= 1 || (p > 0 && uniform01() < p); }

private:
    std::uint64_t state_;
};

/// A seed for one stream, from the scenario seed and a position (mixing, not addition, so that
/// neighbouring positions give unrelated streams).
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0) noexcept;

/// Streams of a workload: what each seed position means.
enum class stream : std::uint64_t { arrivals = 1, vu_iteration = 2, arrival_iteration = 3 };

/// `--shard i/N`: this process runs share i (0-based) of N.
struct shard_spec {
    std::uint32_t index = 0;
    std::uint32_t count = 1;
    friend bool operator==(const shard_spec&, const shard_spec&) = default;
};

/// "i/N" with 0 <= i < N <= 100000. False on anything else.
bool parse_shard(std::string_view text, shard_spec& out) noexcept;

/// The part of `total` (VUs, max_in_flight) that share `i` of `n` gets: the items j < total with
/// j % n == i. The shares sum to total.
std::uint64_t share_of(std::uint64_t total, std::uint32_t i, std::uint32_t n) noexcept;

/// The executor's level (VUs or arrivals per second) at time t since the workload started
/// (after start_after): linear within each stage, from `start` to the first stage's target.
/// 0 outside [0, duration()].
double level_at(const executor& e, usec t) noexcept;

// ---- closed model ----

struct interval {
    usec start{0};
    usec end{0};
    friend bool operator==(const interval&, const interval&) = default;
};

/// The most VUs the executor ever asks for (ceiling of the highest level).
std::uint32_t max_vus(const executor& e) noexcept;

/// When virtual user `vu` (0-based, global) runs: the times where level_at(t) >= vu + 1, as
/// sorted, disjoint [start, end) intervals since the workload start. A VU stopped by a ramp-down
/// finishes its iteration (within graceful_ramp_down); one that is never needed has none.
std::vector<interval> vu_intervals(const executor& e, std::uint32_t vu);

// ---- open model ----

/// The arrival times of an open-model executor, in order: arrival k is due when the integral of
/// the rate from 0 reaches x_k, where x_k = k for evenly spaced arrivals and a sum of k + 1
/// exponential(1) gaps for a Poisson process (time-changed, so ramps stay exact). Generated on
/// the fly; every shard and thread runs the same sequence and keeps its own arrivals.
class arrival_schedule {
public:
    /// `seed`: the workload's arrivals stream.
    arrival_schedule(const executor& e, std::uint64_t seed);

    /// The next arrival: its number (0, 1, ...) and due time since the workload start. False
    /// once the next one would be at or after duration().
    bool next(std::uint64_t& index, usec& due);

    /// Expected number of arrivals (the integral of the rate over the executor).
    double expected_count() const noexcept { return total_; }

private:
    // Time (seconds) where the integral of the rate reaches x; negative when past the end.
    double invert(double x) noexcept;

    struct segment {
        double t0, duration, r0, r1, cum0;  // seconds, per second, integral before it
    };
    std::vector<segment> segments_;
    double total_ = 0;
    arrival_process process_;
    rng rng_;
    std::uint64_t index_ = 0;
    double x_ = 0;
    std::size_t seg_ = 0;
};

/// All arrivals of share `shard` (tests and tools; the engine walks arrival_schedule itself).
std::vector<usec> arrivals_of(const executor& e, std::uint64_t seed, shard_spec shard = {});

}  // namespace mailharness::load
